package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"postdesk/internal/dovecottest"
	"postdesk/push"
	"postdesk/store"
	"postdesk/store/storetest"
	"postdesk/web"
)

// Live updates through the whole service: a mail appended to the category's
// mailbox on a real Dovecot is fetched by the running `postdesk serve`,
// announced by PostgreSQL and pushed to an inbox page open in Chromium,
// which shows it within a second without anyone touching the page.
func TestLiveInboxShowsNewMail(t *testing.T) {
	t.Parallel()
	chromium := liveChromium(t)
	dbURL := storetest.EmptyURL(t)
	listen := freePort(t)
	// Dovecot tells serve of new mail as it is stored (imap_push), as a
	// deployment that wants mail at once is set up: its IDLE answers only
	// half a second after the mail, which leaves too little of the second.
	const secret = "push-secret-0123456789abcdef-0123456789"
	dc := dovecottest.StartWith(t, &dovecottest.Options{
		PushScript:   push.DovecotScript,
		PushSettings: map[string]string{"postdesk_push_url": "http://" + listen + push.Path, "postdesk_push_secret": secret},
	})
	f := filepath.Join(t.TempDir(), "postdesk.yaml")
	// A poll interval far beyond the test's second: the mail must come by
	// push (or IDLE) and the page by the stream, not by a poll or a reload.
	if err := os.WriteFile(f, []byte(fmt.Sprintf(`
listen: %s
database_url: env:TEST_DATABASE_URL
secret: env:TEST_SECRET
smtp: {host: 127.0.0.1, port: %d, tls: none}
imap_push: {secret: %s}
mailboxes:
  - {name: payroll, host: %s, port: %d, tls: none, username: %s, password: %s, category: payroll, poll_interval: 5m}
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
users:
  - {email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team], language: fi}
`, listen, closedPort(t), secret, dc.Host, dc.Port, dovecottest.DefaultUser.Name, dovecottest.DefaultUser.Password)), 0o600); err != nil {
		t.Fatal(err)
	}
	serveCmd, logs, exited := startServe(t, dbURL, f)
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := web.SetPassword(ctx, st, "aino.handler@example.com", "correct horse battery"); err != nil {
		t.Fatal(err)
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-background-networking", true))
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	// The first action starts the browser on tab itself: a timeout's
	// context would close it when it ends.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	run := func(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(tab, timeout)
		defer cancel()
		if err := chromedp.Do(c, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	waitJS := func(what, cond string, timeout time.Duration) {
		t.Helper()
		c, cancel := context.WithTimeout(tab, timeout+2*time.Second)
		defer cancel()
		if _, err := chromedp.Run(c, chromedp.Poll[bool](cond, chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(timeout))); err != nil {
			text, _ := chromedp.Run(tab, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
			t.Fatalf("%s: %s not within %v: %v\n%s", what, cond, timeout, err, text)
		}
	}
	base := "http://" + listen
	run("sign in", 30*time.Second,
		chromedp.EmulateViewport(1366, 900),
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("input[name=email]")),
		chromedp.SetValue(chromedp.CSS("input[name=email]"), "aino.handler@example.com"),
		chromedp.SetValue(chromedp.CSS("input[name=password]"), "correct horse battery"),
		chromedp.Click(chromedp.CSS("form[action='/login'] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#panel-views")))
	waitJS("the inbox listens", "document.documentElement.dataset.liveOpen === '1' && location.pathname === '/'", 10*time.Second)
	if got, _ := chromedp.Run(tab, chromedp.Evaluate[string]("document.querySelector('#live-list').innerText")); strings.Contains(got, "Palkka puuttuu") {
		t.Fatalf("the mail is listed before it was sent:\n%s", got)
	}

	raw := strings.ReplaceAll(`From: Cara Customer <cara.customer@acme.example>
To: payroll@example.com
Subject: Palkka puuttuu lokakuulta
Message-ID: <live.1@acme.example>
Date: Mon, 02 Nov 2026 09:00:00 +0200

Lokakuun palkastani puuttuu ylityökorvaus.
`, "\n", "\r\n")
	appended := time.Now()
	dc.Append(t, dovecottest.DefaultUser.Name, "INBOX", []byte(raw))
	// The second counts from the APPEND's answer; Poll watches the page's
	// DOM for the row, and the page itself is never touched.
	waitJS("the new mail in the open inbox",
		"!!document.querySelector('#live-list') && document.querySelector('#live-list').innerText.indexOf('Palkka puuttuu lokakuulta') >= 0",
		time.Second-time.Since(appended))
	took := time.Since(appended)
	var stored time.Time
	if err := st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		p, err := tx.ConversationByNumber(ctx, 1000)
		if err == nil {
			stored = p.CreatedAt
		}
		return err
	}); err != nil {
		t.Logf("stored: %v", err)
	}
	t.Logf("the mail was stored %v and on the page %v after the APPEND", stored.Sub(appended).Round(time.Millisecond), took.Round(time.Millisecond))
	if took > time.Second {
		t.Fatalf("the mail took %v to appear", took)
	}
	// It came in place, bold as news, and counted in the panel.
	run("the row is unread and counted", 5*time.Second, chromedp.WaitVisible(chromedp.CSS("#live-list li.unread .dot")))
	if got, _ := chromedp.Run(tab, chromedp.Evaluate[string]("document.querySelector('#panel-views a[data-view=open] .count [aria-hidden]').textContent")); got != "1" {
		t.Fatalf("the Open view counts %q", got)
	}
	shot(tab, t)

	// The open stream does not hold up a shutdown: it ends with the
	// service, well within serve's 15 s grace.
	if err := serveCmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not stop with a stream open:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Fatalf("serve did not stop cleanly:\n%s", logs.String())
	}
}

// shot keeps a screenshot under $POSTDESK_ARTIFACTS.
func shot(tab context.Context, t *testing.T) {
	if dir := os.Getenv("POSTDESK_ARTIFACTS"); dir != "" {
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err == nil {
			out := filepath.Join(dir, t.Name())
			if os.MkdirAll(out, 0o755) == nil {
				os.WriteFile(filepath.Join(out, "01-new-mail-live.png"), png, 0o644) //nolint:errcheck
			}
		}
	}
}

// liveChromium finds the browser as the web package's tests do.
func liveChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("POSTDESK_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("chromium is not installed: run `scripts/install-deps chromium`")
	return ""
}
