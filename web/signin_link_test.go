package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"postdesk/store"
	"postdesk/web"
)

// customer makes a customer (a user with no role, as mail ingest makes
// them) with a conversation of their own.
func (f *fixture) customer(email, name, subject string) *store.Conversation {
	f.t.Helper()
	if _, err := f.st.EnsureUser(f.ctx, email, name); err != nil {
		f.t.Fatal(err)
	}
	return f.open(email, "payroll", subject)
}

// queued counts the outbox rows of a template to an address.
func (f *fixture) queued(template, to string) int {
	f.t.Helper()
	var n int
	if err := f.st.Pool().QueryRow(f.ctx, `SELECT count(*) FROM outbox WHERE template = $1 AND recipient = $2`, template, to).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// A customer asks for a sign-in link on the login page; the real outbox
// worker mails it; opened in the browser it signs them in to their
// conversation, once. A used, an expired and a made-up link are refused,
// a link signs in only the address it was sent to, and asking answers the
// same for an unknown address and for staff (who get no link).
func TestBrowserCustomerSignInLink(t *testing.T) {
	f := setup(t)
	cara := f.customer("cara.customer@acme.example", "Cara Customer", "My October salary")
	dan := f.customer("dan.customer@example.com", "Dan Customer", "Dan's tax card")
	inbox := f.startMail()
	dir := artifacts(t)
	p := newPage(t, f, dir, 1280, 900, false)

	done := web.LinkDone("cara.customer@acme.example")
	p.open("/login")
	p.do("ask for a link", chromedp.SetValue(chromedp.CSS("#link-request input[name=email]"), "cara.customer@acme.example"))
	p.click("#link-request button[type=submit]", "document.getElementById('signin-message') !== null")
	p.wantText("the answer", "If postdesk knows this address, a link is on its way")
	known := p.text()
	awaitLink(t, done, "cara")
	m := awaitMail(t, inbox, "cara's sign-in link")
	if len(m.to) != 1 || m.to[0] != "cara.customer@acme.example" {
		t.Fatalf("mail to %v", m.to)
	}
	if txt := mailText(t, m.raw); !strings.Contains(txt, "30 minutes") || !strings.Contains(txt, "#"+strconv.FormatInt(cara.Number, 10)) {
		t.Fatalf("the mail does not say how long or for what:\n%s", txt)
	}
	path := strings.TrimPrefix(linkIn(t, m), f.srv.URL)
	if !strings.HasPrefix(path, "/link/") {
		t.Fatalf("link %s", path)
	}
	var stored int
	if err := f.st.Pool().QueryRow(f.ctx, `SELECT count(*) FROM signin_links WHERE hash = sha256(convert_to($1, 'UTF8'))`,
		strings.TrimPrefix(path, "/link/")).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("the link's hash is not what is stored: %d %v", stored, err)
	}

	p.open(path)
	p.wantText("the link's page", "Sign in as cara.customer@acme.example")
	p.shot("link")
	convPath := "/conversations/" + strconv.FormatInt(cara.ID, 10)
	p.click("#link-form button[type=submit]", "location.pathname === '"+convPath+"'")
	p.wantText("the conversation", "My October salary")
	p.shot("signed-in")
	// The session sees what the visibility rule lets Cara see: not Dan's.
	p.open("/conversations/" + strconv.FormatInt(dan.ID, 10))
	p.wantText("another customer's conversation", "Not found")
	p.open("/")
	if strings.Contains(p.text(), "Dan's tax card") {
		t.Fatalf("Cara's inbox lists Dan's conversation:\n%s", p.text())
	}

	// Used once: refused, in another browser too.
	q := newPage(t, f, dir, 1280, 900, false)
	q.open(path)
	q.wantText("second use", "This link is no longer valid")
	res, body := f.anonymous().post(path, nil)
	wantStatus(t, "second use posted", res, body, http.StatusGone)

	// Unknown address and a staff address: the same answer, no mail.
	for _, who := range []string{"nobody@example.com", "aino.handler@example.com"} {
		done := web.LinkDone(who)
		q.open("/login")
		q.do("ask for a link", chromedp.SetValue(chromedp.CSS("#link-request input[name=email]"), who))
		q.click("#link-request button[type=submit]", "document.getElementById('signin-message') !== null")
		if got := q.text(); got != known {
			t.Fatalf("%s: the answer differs:\n%s\n----\n%s", who, known, got)
		}
		awaitLink(t, done, who)
		if n := f.queued(store.TemplateSigninLink, who); n != 0 {
			t.Fatalf("%s: %d sign-in links queued", who, n)
		}
	}

	// Expired: refused.
	c := f.anonymous()
	done = web.LinkDone("cara.customer@acme.example")
	c.post("/login/link", url.Values{"email": {"cara.customer@acme.example"}})
	awaitLink(t, done, "cara again")
	expired := strings.TrimPrefix(linkIn(t, awaitMail(t, inbox, "cara's second link")), f.srv.URL)
	f.advance(31 * time.Minute)
	res, body = c.get(expired)
	wantStatus(t, "expired link", res, body, http.StatusGone)
	res, body = c.post(expired, nil)
	wantStatus(t, "expired link posted", res, body, http.StatusGone)

	// Bound to the address it was sent to: once Dan's address is another,
	// his link signs nobody in.
	done = web.LinkDone("dan.customer@example.com")
	c.post("/login/link", url.Values{"email": {"dan.customer@example.com"}})
	awaitLink(t, done, "dan")
	danLink := strings.TrimPrefix(linkIn(t, awaitMail(t, inbox, "dan's link")), f.srv.URL)
	if _, err := f.st.Pool().Exec(f.ctx, `UPDATE users SET email = 'dan.new@example.com' WHERE email = 'dan.customer@example.com'`); err != nil {
		t.Fatal(err)
	}
	res, body = c.post(danLink, nil)
	wantStatus(t, "a link for another address", res, body, http.StatusGone)
	res, body = c.post("/link/pdl_"+strings.Repeat("A", 43), nil)
	wantStatus(t, "a made-up link", res, body, http.StatusGone)

	es, err := f.st.SigninEvents(f.ctx, store.SigninFilter{Email: "cara.customer@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	var links, signins int
	for _, e := range es {
		if e.Event == store.EventLinkRequested {
			links++
		}
		if e.Event == store.EventSignIn && e.Method == "link" {
			signins++
		}
	}
	if links != 2 || signins != 1 {
		t.Fatalf("audit: %d link requests, %d link sign-ins", links, signins)
	}
}
