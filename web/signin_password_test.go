package web_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"postdesk/store"
	"postdesk/web"
)

func TestCheckNewPassword(t *testing.T) {
	for _, c := range []struct {
		pw   string
		want error
	}{
		{"short one", web.ErrWeakPassword},
		{"qwertyuiop", web.ErrCommonPassword},       // on the list as it is
		{"Password2024!", web.ErrCommonPassword},    // a listed word with digits and punctuation added
		{"Baseball1234", web.ErrCommonPassword},     // the same, capitalised
		{"1234567890", web.ErrCommonPassword},       // digits only
		{"aaaaaaaaaaaa", web.ErrCommonPassword},     // one character repeated
		{"aino.handler2024", web.ErrCommonPassword}, // the address's local part
		{strings.Repeat("x", 1025), web.ErrLongPassword},
		{"correct horse battery", nil},
		{"tilitoimisto kahvila", nil},
	} {
		if err := web.CheckNewPassword(c.pw, "aino.handler@example.com"); !errors.Is(err, c.want) {
			t.Errorf("%q: %v, want %v", c.pw, err, c.want)
		}
	}
	if err := web.SetPassword(t.Context(), nil, "aino.handler@example.com", "password123"); !errors.Is(err, web.ErrCommonPassword) {
		t.Errorf("SetPassword took a common password: %v", err)
	}
}

// Changing one's own password needs the current one, refuses a weak new
// one, and ends every other session.
func TestChangeOwnPassword(t *testing.T) {
	f := setup(t, behindProxy)
	here := f.login("aino.handler@example.com")
	elsewhere := f.login("aino.handler@example.com")

	res, body := here.get("/settings")
	wantStatus(t, "settings", res, body, http.StatusOK)
	if !strings.Contains(body, `action="/settings/password"`) {
		t.Fatalf("no password form:\n%s", body)
	}
	change := func(current, pw, repeat string) (*http.Response, string) {
		t.Helper()
		return here.post("/settings/password", url.Values{"current": {current}, "new": {pw}, "repeat": {repeat}})
	}
	res, body = change("not it", "a much better passphrase", "a much better passphrase")
	wantStatus(t, "wrong current password", res, body, http.StatusUnauthorized)
	res, body = change(password, "Password2024!", "Password2024!")
	wantStatus(t, "common new password", res, body, http.StatusBadRequest)
	if !strings.Contains(body, "too common") {
		t.Fatalf("no reason given:\n%s", body)
	}
	res, body = change(password, "a much better passphrase", "a much better passphrase!")
	wantStatus(t, "repetition differs", res, body, http.StatusBadRequest)
	res, body = change(password, "a much better passphrase", "a much better passphrase")
	wantStatus(t, "change", res, body, http.StatusSeeOther)
	_, body = here.follow(res)
	if !strings.Contains(body, "Password changed") {
		t.Fatalf("no confirmation:\n%s", body)
	}

	// This browser stays signed in; the other one is out.
	if res, _ := here.get("/"); res.StatusCode != http.StatusOK {
		t.Fatalf("the changing session ended: %d", res.StatusCode)
	}
	if res, _ := elsewhere.get("/"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("another session survived the change: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = f.anonymous().post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {password}})
	wantStatus(t, "the old password", res, "", http.StatusUnauthorized)
	res, _ = f.anonymous().post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {"a much better passphrase"}})
	wantStatus(t, "the new password", res, "", http.StatusSeeOther)

	es, err := f.st.SigninEvents(f.ctx, store.SigninFilter{Email: "aino.handler@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var changed, failed int
	for _, e := range es {
		switch e.Event {
		case store.EventPasswordChanged:
			changed++
		case store.EventSignInFailed:
			failed++
		}
	}
	if changed != 1 || failed < 2 {
		t.Fatalf("audit: %d password changes, %d failures", changed, failed)
	}
}

// A forgotten password is reset by a link the real outbox worker mails:
// it works once, for 30 minutes, and asking for one answers the same for
// an unknown address.
func TestPasswordResetByLink(t *testing.T) {
	f := setup(t, behindProxy)
	f.setPassword("aino.handler@example.com")
	inbox := f.startMail()
	c := f.anonymous()

	res, body := c.get("/login")
	wantStatus(t, "sign-in page", res, body, http.StatusOK)
	if !strings.Contains(body, `href="/reset"`) {
		t.Fatalf("no way to a reset from the sign-in page:\n%s", body)
	}
	done := web.LinkDone("aino.handler@example.com")
	res, known := c.post("/reset", url.Values{"email": {"Aino.Handler@example.com"}})
	wantStatus(t, "reset request", res, known, http.StatusOK)
	awaitLink(t, done, "known address")
	m := awaitMail(t, inbox, "reset link")
	if len(m.to) != 1 || m.to[0] != "aino.handler@example.com" {
		t.Fatalf("mail to %v", m.to)
	}
	link := linkIn(t, m)
	if !strings.Contains(link, "/reset/") {
		t.Fatalf("link %s", link)
	}
	path := strings.TrimPrefix(link, f.srv.URL)

	// Unknown address: the same answer, and no mail.
	doneUnknown := web.LinkDone("nobody@example.com")
	res, unknown := c.post("/reset", url.Values{"email": {"nobody@example.com"}})
	wantStatus(t, "unknown address", res, unknown, http.StatusOK)
	if unknown != known {
		t.Fatalf("answers differ:\n%s\n----\n%s", known, unknown)
	}
	awaitLink(t, doneUnknown, "unknown address")
	var n int
	if err := f.st.Pool().QueryRow(f.ctx, `SELECT count(*) FROM outbox WHERE recipient = 'nobody@example.com'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("mail queued for an unknown address: %d %v", n, err)
	}

	// Opening the link does not use it; a weak password leaves it usable.
	res, body = c.get(path)
	wantStatus(t, "open the link", res, body, http.StatusOK)
	res, body = c.get(path)
	wantStatus(t, "open the link again", res, body, http.StatusOK)
	res, body = c.post(path, url.Values{"new": {"qwertyuiop"}, "repeat": {"qwertyuiop"}})
	wantStatus(t, "weak password", res, body, http.StatusBadRequest)
	signedIn := f.login("aino.handler@example.com")
	res, body = c.post(path, url.Values{"new": {"a brand new passphrase"}, "repeat": {"a brand new passphrase"}})
	wantStatus(t, "set the password", res, body, http.StatusSeeOther)
	_, body = c.follow(res)
	if !strings.Contains(body, "Your new password is set") {
		t.Fatalf("no confirmation on the sign-in page:\n%s", body)
	}
	if res, _ := signedIn.get("/"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("a session survived the reset: %d", res.StatusCode)
	}
	res, _ = f.anonymous().post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {"a brand new passphrase"}})
	wantStatus(t, "sign in with the new password", res, "", http.StatusSeeOther)

	// Used: refused.
	res, body = c.post(path, url.Values{"new": {"yet another passphrase"}, "repeat": {"yet another passphrase"}})
	wantStatus(t, "second use", res, body, http.StatusGone)

	// Expired: refused.
	done = web.LinkDone("aino.handler@example.com")
	c.post("/reset", url.Values{"email": {"aino.handler@example.com"}})
	awaitLink(t, done, "second request")
	path = strings.TrimPrefix(linkIn(t, awaitMail(t, inbox, "second reset link")), f.srv.URL)
	f.advance(31 * time.Minute)
	res, body = c.get(path)
	wantStatus(t, "expired link", res, body, http.StatusGone)
	res, body = c.post(path, url.Values{"new": {"yet another passphrase"}, "repeat": {"yet another passphrase"}})
	wantStatus(t, "expired link posted", res, body, http.StatusGone)
	// A made-up token: refused alike.
	res, body = c.get("/reset/pdl_" + strings.Repeat("A", 43))
	wantStatus(t, "made-up link", res, body, http.StatusGone)
}

// Links cannot be used to flood a mailbox: at most five an hour to one
// address, and twenty requests an hour from one client, all answered alike.
func TestLinkRequestLimits(t *testing.T) {
	f := setup(t, behindProxy)
	f.setPassword("aino.handler@example.com")
	f.setPassword("ben.payroll@example.com")
	c := f.anonymous()
	ask := func(email, ip string) {
		t.Helper()
		done := web.LinkDone(email)
		res, body := c.post("/reset", url.Values{"email": {email}}, from(ip)...)
		wantStatus(t, "reset request", res, body, http.StatusOK)
		awaitLink(t, done, email)
	}
	for range 6 {
		ask("aino.handler@example.com", "203.0.113.9")
	}
	if n := f.queued(store.TemplatePasswordReset, "aino.handler@example.com"); n != 5 {
		t.Fatalf("%d reset mails queued for one address within the hour, want 5", n)
	}
	for i := range 14 {
		ask(fmt.Sprintf("nobody%d@example.com", i), "203.0.113.9")
	}
	ask("ben.payroll@example.com", "203.0.113.9") // the client's 21st request
	if n := f.queued(store.TemplatePasswordReset, "ben.payroll@example.com"); n != 0 {
		t.Fatalf("a client past its 20 requests had %d mails queued", n)
	}
	ask("ben.payroll@example.com", "198.51.100.20")
	if n := f.queued(store.TemplatePasswordReset, "ben.payroll@example.com"); n != 1 {
		t.Fatalf("another client: %d mails queued, want 1", n)
	}
}
