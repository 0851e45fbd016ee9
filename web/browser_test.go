package web_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"postdesk/conversation"
	"postdesk/store"
)

// The browser tests drive Debian's headless Chromium from Go. One browser
// runs per test binary; each test gets tabs in browser contexts of its own
// (separate cookie jars, so two users can be signed in at once). Screenshots
// of every step go to $POSTDESK_ARTIFACTS/<test> (default: under the test's
// temporary folder), and the folder is logged.

var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.Exit(code)
}

// chromiumPath finds the browser: $POSTDESK_CHROMIUM, /usr/bin/chromium, or
// chromium on PATH.
func chromiumPath() (string, error) {
	if p := os.Getenv("POSTDESK_CHROMIUM"); p != "" {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	return "", errors.New("chromium is not installed (looked for $POSTDESK_CHROMIUM, /usr/bin/chromium and chromium on PATH): " +
		"run `scripts/install-deps chromium` (Debian package chromium) to install it")
}

func startBrowser() {
	path, err := chromiumPath()
	if err != nil {
		browser.err = err
		return
	}
	dir, err := os.MkdirTemp("", "postdesk-chromium-")
	if err != nil {
		browser.err = err
		return
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	browser.cancel = func() {
		cancelCtx()
		cancelAlloc()
		os.RemoveAll(dir)
	}
	if err := chromedp.Do(ctx); err != nil {
		browser.err = fmt.Errorf("start chromium %s: %w", path, err)
		return
	}
	browser.ctx = ctx
}

// tab opens a tab in a fresh browser context (its own cookies) at a viewport size.
func tab(t *testing.T, width, height int64, mobile bool) context.Context {
	t.Helper()
	browser.once.Do(startBrowser)
	if browser.err != nil {
		t.Fatalf("browser tests need Chromium: %v", browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	opts := []chromedp.EmulateViewportOption{}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait, chromedp.EmulateScale(2))
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height, opts...)); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return ctx
}

// artifacts is where a test's screenshots go.
func artifacts(t *testing.T) string {
	t.Helper()
	base := os.Getenv("POSTDESK_ARTIFACTS")
	if base == "" {
		base = filepath.Join(t.TempDir(), "artifacts")
	}
	dir := filepath.Join(base, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", dir)
	return dir
}

// page drives one tab for a test, with screenshots.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
}

func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// eval runs a script expression in the page.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// open loads a page and waits until it is complete.
func (p *page) open(path string) {
	p.t.Helper()
	p.do("open "+path, chromedp.Navigate(p.base+path))
	p.waitFor("load "+path, "document.readyState === 'complete'")
}

// waitFor polls a condition across navigations (a poll inside the page would
// end with the page).
func (p *page) waitFor(what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("(function(){ try { return !!("+cond+"); } catch (e) { return false; } })()"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
			p.t.Fatalf("%s: timed out waiting for %s (last error %v); page text:\n%s", what, cond, err, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// click presses an element that loads a new page, and waits for that page to
// be complete and to satisfy cond.
func (p *page) click(sel, cond string) {
	p.t.Helper()
	eval[chromedp.Void](p, "window.__postdeskOld = true")
	p.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
	p.waitFor("after clicking "+sel, "!window.__postdeskOld && document.readyState === 'complete' && ("+cond+")")
}

// text is the visible text of the page's main element.
func (p *page) text() string {
	return eval[string](p, "document.querySelector('main').innerText")
}

func (p *page) wantText(what string, want ...string) {
	p.t.Helper()
	got := p.text()
	for _, w := range want {
		if !strings.Contains(got, w) {
			p.t.Fatalf("%s: the page does not show %q:\n%s", what, w, got)
		}
	}
}

// shot saves a full-page PNG screenshot.
func (p *page) shot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *page) login(email string) {
	p.t.Helper()
	p.open("/login")
	p.do("sign in",
		chromedp.SetValue(chromedp.CSS("input[name=email]"), email),
		chromedp.SetValue(chromedp.CSS("input[name=password]"), password))
	p.click("form[action='/login'] button[type=submit]", "location.pathname === '/'")
}

func newPage(t *testing.T, f *fixture, dir string, width, height int64, mobile bool) *page {
	return &page{t: t, ctx: tab(t, width, height, mobile), base: f.srv.URL, dir: dir}
}

// A staff member sends a new message with an attachment from the form; it
// opens a conversation as a mail would, and its receivers are notified.
func TestBrowserStaffSendsNewMessage(t *testing.T) {
	f := setup(t)
	f.setPassword("aino.handler@example.com")
	dir := artifacts(t)
	p := newPage(t, f, dir, 1280, 900, false)

	p.open("/login")
	p.wantText("login page", "Sign in", "Email address", "Password")
	p.shot("01-login")
	p.do("wrong password",
		chromedp.SetValue(chromedp.CSS("input[name=email]"), "aino.handler@example.com"),
		chromedp.SetValue(chromedp.CSS("input[name=password]"), "not my password"))
	p.click("form[action='/login'] button[type=submit]", "document.querySelector('.error')")
	p.wantText("wrong password", "Wrong email address or password.")
	p.shot("01b-login-failed")
	p.login("aino.handler@example.com")
	p.wantText("inbox", "Inbox", "No conversations yet")
	p.shot("02-inbox-empty")

	p.click(".bar a[href='/new']", "location.pathname === '/new'")
	p.wantText("new message form", "Send new message", "Short description", "Category", "Receivers", "Company", "Attachments")
	// The script presets the receivers of the chosen category.
	p.do("pick Sick leave", chromedp.SetValue(chromedp.CSS("#category"), "sick-leave"))
	eval[chromedp.Void](p, "document.getElementById('category').dispatchEvent(new Event('change'))")
	if !eval[bool](p, "document.querySelector('input[value=hr-team]').checked && !document.querySelector('input[value=payroll-team]').checked") {
		t.Fatal("choosing Sick leave did not tick HR team only")
	}
	p.do("pick Payroll", chromedp.SetValue(chromedp.CSS("#category"), "payroll"))
	eval[chromedp.Void](p, "document.getElementById('category').dispatchEvent(new Event('change'))")
	if !eval[bool](p, "document.querySelector('input[value=payroll-team]').checked && !document.querySelector('input[value=hr-team]').checked") {
		t.Fatal("choosing Payroll did not tick Payroll team only")
	}

	file := filepath.Join(t.TempDir(), "payslip-october.txt")
	if err := os.WriteFile(file, []byte("Basic salary 3200.00\nOvertime 0.00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.do("fill in the form",
		chromedp.SendKeys(chromedp.CSS("input[name=subject]"), "Payslip for October needs a correction"),
		chromedp.SendKeys(chromedp.CSS("input[name=company]"), "Acme Oy"),
		chromedp.SendKeys(chromedp.CSS("textarea[name=body]"), "Hello,\nthe overtime is missing; the payslip is attached."),
		chromedp.SetUploadFiles(chromedp.CSS("input[type=file]"), []string{file}))
	p.shot("03-new-form-filled")
	p.click("#new-form button.primary", "location.pathname.startsWith('/conversations/')")
	p.wantText("the new conversation", "Your message was sent as #", "Payslip for October needs a correction",
		"the overtime is missing", "payslip-october.txt", "Routed to Payroll team", "Acme Oy")
	p.shot("04-conversation-opened")

	// Same conversation and notifications as an email would make.
	page, err := f.svc.List(f.ctx, f.actor("aino.handler@example.com"), conversation.Filter{})
	if err != nil || len(page.Conversations) != 1 {
		t.Fatalf("conversations: %v %v", page, err)
	}
	c := page.Conversations[0]
	v, err := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Messages[0].Attachments) != 1 || v.Messages[0].Attachments[0].Filename != "payslip-october.txt" {
		t.Fatalf("attachments %+v", v.Messages[0].Attachments)
	}
	items, err := f.st.OutboxFor(f.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var notified []string
	for _, it := range items {
		if it.Template == store.TemplateNewConversation {
			notified = append(notified, it.Recipient)
		}
	}
	if strings.Join(notified, ",") != "ben.payroll@example.com,lea.lead@example.com" {
		t.Fatalf("notified %v, want the other members of Payroll team", notified)
	}

	// The same pages on a phone.
	m := newPage(t, f, dir, 390, 844, true)
	m.login("aino.handler@example.com")
	m.shot("05-phone-inbox")
	m.open("/new")
	m.shot("06-phone-new-form")
	m.open(fmt.Sprintf("/conversations/%d", c.ID))
	m.wantText("phone conversation", "Payslip for October needs a correction")
	m.shot("07-phone-conversation")
}

// A customer's conversation: staff take it, answer and mark it Solved; the
// customer signs in and sees the answer.
func TestBrowserHandleAndAnswer(t *testing.T) {
	f := setup(t)
	f.setPassword("aino.handler@example.com")
	f.setPassword("cara.customer@acme.example")
	c := f.open("cara.customer@acme.example", "payroll", "Overtime missing from October salary")
	dir := artifacts(t)
	path := fmt.Sprintf("/conversations/%d", c.ID)

	staff := newPage(t, f, dir, 1280, 900, false)
	staff.login("aino.handler@example.com")
	staff.wantText("staff inbox", "Overtime missing from October salary", "New")
	staff.shot("01-staff-inbox")
	staff.click("a[href='"+path+"']", "location.pathname === '"+path+"'")
	staff.wantText("conversation", "Hello, my salary was wrong.", "Routed to Payroll team", "nobody yet", "Add myself as Handler")
	staff.shot("02-staff-conversation")

	staff.click("form[action$='/take'] button", "document.querySelector('.flash')")
	staff.wantText("taken", "You are now the Handler.", "Aino Handler is now the Handler", "Aino Handler (you)")
	staff.shot("03-staff-took-ownership")

	staff.do("type the answer", chromedp.SendKeys(chromedp.CSS("textarea[name=body]"),
		"Hi Cara, the overtime will be paid with the November salary."))
	staff.click("form[action$='/reply'] button[type=submit]", "document.querySelector('.flash')")
	staff.wantText("replied", "Your reply was sent to the customer.", "the overtime will be paid with the November salary", "Waiting for customer")
	staff.shot("04-staff-replied")

	staff.do("open the note form", chromedp.Click(chromedp.CSS("details.note-form summary")))
	staff.do("type a note", chromedp.SendKeys(chromedp.CSS("textarea[name=note]"), "Overtime sheet checked: 6 hours."))
	staff.shot("05-staff-writes-note")
	staff.click("form[action$='/note'] button[type=submit]", "document.querySelector('.flash')")
	staff.wantText("noted", "The internal note was added.", "INTERNAL NOTE", "Overtime sheet checked: 6 hours.")

	staff.click("form[action$='/solve'] button", "document.querySelector('.flash')")
	staff.wantText("solved", "Marked Solved.", "Marked Solved by Aino Handler", "Solved")
	staff.shot("06-staff-solved")
	if got := f.conv(c.ID); got.Status != store.StatusSolved {
		t.Fatalf("status %s, want solved", got.Status)
	}

	customer := newPage(t, f, dir, 390, 844, true)
	customer.login("cara.customer@acme.example")
	customer.open("/?view=solved") // the archive: solved, it is in no other view
	customer.wantText("customer inbox", "Overtime missing from October salary", "Solved")
	customer.shot("07-customer-inbox-phone")
	customer.click("a[href='"+path+"']", "location.pathname === '"+path+"'")
	customer.wantText("customer conversation", "Hi Cara, the overtime will be paid with the November salary.", "Aino Handler", "Solved")
	if txt := customer.text(); strings.Contains(txt, "Add myself as Handler") || strings.Contains(txt, "Overtime sheet checked") ||
		strings.Contains(strings.ToLower(txt), "internal note") || strings.Contains(txt, "Roles that receive this conversation") {
		t.Fatalf("the customer is offered staff actions:\n%s", txt)
	}
	customer.shot("08-customer-sees-answer-phone")

	desk := newPage(t, f, dir, 1280, 900, false)
	desk.login("cara.customer@acme.example")
	desk.open(path)
	desk.shot("09-customer-sees-answer-desktop")
}

// The hostile mail in a real browser: nothing in it runs (no dialog opens),
// the remote image stays away until asked for, the inline image shows.
func TestBrowserHostileMail(t *testing.T) {
	f := setup(t)
	f.setPassword("aino.handler@example.com")
	r, err := f.svc.Receive(f.ctx, conversation.Inbound{Mailbox: "payroll", UIDValidity: 1, UID: 1,
		Raw: []byte(strings.ReplaceAll(hostileMail, "\n", "\r\n")), DefaultCategory: "payroll"})
	if err != nil {
		t.Fatal(err)
	}
	dir := artifacts(t)
	p := newPage(t, f, dir, 1280, 900, false)
	var dialogs atomic.Int32
	events := chromedp.Events(p.ctx, cdppage.JavascriptDialogOpening)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			dialogs.Add(1)
			t.Logf("dialog opened: %q", ev.Message)
			chromedp.Call(p.ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: true}) //nolint:errcheck
		}
	}()
	p.login("aino.handler@example.com")
	path := fmt.Sprintf("/conversations/%d", r.ConversationID)
	p.open(path)
	p.wantText("hostile mail", "a fine link", "Show images", "[image: logo]")
	p.waitFor("the inline cid: image loads from its attachment",
		"(function(){ var i = document.querySelector('.mailhtml img'); return !!i && i.complete && i.naturalWidth === 1; })()")
	p.shot("01-hostile-mail")
	p.click(".images a", "location.search === '?images=1'")
	p.wantText("with images", "Hide them")
	p.shot("02-hostile-mail-images")
	p.open("/")
	p.shot("03-inbox")
	time.Sleep(200 * time.Millisecond)
	if n := dialogs.Load(); n != 0 {
		t.Fatalf("%d script dialog(s) opened: the mail's script ran", n)
	}
}
