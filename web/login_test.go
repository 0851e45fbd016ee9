package web_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"postdesk/store"
	"postdesk/store/storetest"
	"postdesk/web"
)

func TestLoginSameAnswerForUnknownUserAndWrongPassword(t *testing.T) {
	f := setup(t)
	f.setPassword("aino.handler@example.com")
	try := func(email, pw string) (int, string) {
		t.Helper()
		res, body := f.anonymous().post("/login", url.Values{"email": {email}, "password": {pw}})
		// The form shows the address back; take it out to compare the rest.
		return res.StatusCode, strings.ReplaceAll(body, email, "EMAIL")
	}
	wrongStatus, wrong := try("aino.handler@example.com", "not the password")
	unknownStatus, unknown := try("nobody@example.com", "not the password")
	noPwStatus, noPw := try("ben.payroll@example.com", "not the password") // no password set
	if wrongStatus != http.StatusUnauthorized || unknownStatus != wrongStatus || noPwStatus != wrongStatus {
		t.Fatalf("statuses: wrong password %d, unknown user %d, no password %d; want all 401", wrongStatus, unknownStatus, noPwStatus)
	}
	if wrong != unknown || wrong != noPw {
		t.Fatalf("answers differ:\nwrong password:\n%s\nunknown user:\n%s", wrong, unknown)
	}
	if !strings.Contains(wrong, "Wrong email address or password.") {
		t.Fatalf("no error message:\n%s", wrong)
	}
	// And the right password signs in.
	res, _ := f.anonymous().post("/login", url.Values{"email": {"Aino.Handler@example.com"}, "password": {password}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("sign-in: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestLoginRateLimit(t *testing.T) {
	f := setup(t)
	f.setPassword("aino.handler@example.com")
	f.setPassword("ben.payroll@example.com")
	c := f.anonymous()
	for i := range 5 {
		res, _ := c.post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {"guess " + string(rune('a'+i))}})
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i+1, res.StatusCode)
		}
	}
	// The sixth try is refused before the password is looked at, even the right one.
	res, body := c.post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {password}})
	wantStatus(t, "sixth try", res, body, http.StatusTooManyRequests)
	if !strings.Contains(body, "Too many failed sign-ins") || res.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without a clear message or Retry-After:\n%s", body)
	}
	// Another address from the same IP is still under its own limit...
	res, _ = c.post("/login", url.Values{"email": {"ben.payroll@example.com"}, "password": {password}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("another user: %d", res.StatusCode)
	}
	// ...and once the window has passed, the right password works again.
	f.advance(16 * time.Minute)
	res, _ = c.post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {password}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the window: %d", res.StatusCode)
	}

	// Per IP: 20 failures over many addresses block every address.
	ip := f.anonymous()
	for i := range 20 {
		res, _ := ip.post("/login", url.Values{"email": {"spray" + string(rune('a'+i)) + "@example.com"}, "password": {"x"}})
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("spray %d: %d", i, res.StatusCode)
		}
	}
	res, _ = ip.post("/login", url.Values{"email": {"ben.payroll@example.com"}, "password": {password}})
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 20 failures from one IP: %d, want 429", res.StatusCode)
	}

	// Behind a reverse proxy on loopback, clients are told apart by the
	// address the proxy appends to X-Forwarded-For; what the client put
	// before it does not count.
	for i := range 20 {
		res, _ := ip.post("/login", url.Values{"email": {"proxied" + string(rune('a'+i)) + "@example.com"}, "password": {"x"}},
			"X-Forwarded-For", "203.0.113.9")
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("proxied spray %d: %d", i, res.StatusCode)
		}
	}
	res, _ = ip.post("/login", url.Values{"email": {"ben.payroll@example.com"}, "password": {password}}, "X-Forwarded-For", "198.51.100.1, 203.0.113.9")
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a forged first X-Forwarded-For entry escaped the limit: %d", res.StatusCode)
	}
	res, _ = ip.post("/login", url.Values{"email": {"ben.payroll@example.com"}, "password": {password}}, "X-Forwarded-For", "203.0.113.10")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("another client behind the proxy: %d, want a sign-in", res.StatusCode)
	}
}

func TestLogoutEndsSession(t *testing.T) {
	f := setup(t)
	c := f.login("aino.handler@example.com")
	u, _ := url.Parse(f.srv.URL)
	old := c.hc.Jar.Cookies(u)
	res, _ := c.post("/logout", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	// The browser is told to forget the cookie; replay the old one anyway.
	replay := f.anonymous()
	replay.hc.Jar.SetCookies(u, old)
	res, _ = replay.get("/")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("old cookie after logout: %d to %q, want a redirect to /login", res.StatusCode, res.Header.Get("Location"))
	}
	var n int
	if err := f.st.Pool().QueryRow(f.ctx, `SELECT count(*) FROM sessions`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("sessions left: %d (%v)", n, err)
	}
}

func TestSessionCookie(t *testing.T) {
	f := setup(t)
	f.setPassword("aino.handler@example.com")
	res, _ := f.anonymous().post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {password}})
	var sc *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "postdesk_session" {
			sc = c
		}
	}
	if sc == nil {
		t.Fatalf("no postdesk_session cookie in %q", res.Header.Values("Set-Cookie"))
	}
	if !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.Secure || sc.Domain != "" {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/, no Domain, not Secure over http", sc)
	}
	// The database keeps only the SHA-256 of the 32-byte id.
	id, err := base64.RawURLEncoding.DecodeString(sc.Value)
	if err != nil || len(id) != 32 {
		t.Fatalf("session id %q: %d bytes (%v), want 32", sc.Value, len(id), err)
	}
	sum := sha256.Sum256(id)
	var stored []byte
	if err := f.st.Pool().QueryRow(f.ctx, `SELECT hash FROM sessions`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if string(stored) != string(sum[:]) {
		t.Fatal("the sessions table does not hold the hash of the cookie's id")
	}

	// With an https public URL the cookie is __Host- and Secure.
	h, err := web.New(&web.Options{Store: f.st, Service: f.svc, PublicURL: "https://desk.example.com", Secret: testSecret,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = noRedirect.PostForm(srv.URL+"/login", url.Values{"email": {"aino.handler@example.com"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	sc = nil
	for _, c := range res.Cookies() {
		if c.Name == "__Host-postdesk" {
			sc = c
		}
	}
	if sc == nil || !sc.Secure || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.Domain != "" {
		t.Fatalf("https cookie %+v (Set-Cookie %q): want __Host-postdesk, Secure, HttpOnly, SameSite=Lax, Path=/", sc, res.Header.Values("Set-Cookie"))
	}
}

func TestSessionExpiry(t *testing.T) {
	f := setup(t)
	c := f.login("aino.handler@example.com")
	// Sliding: activity every 11 hours keeps the session for a day and more.
	for range 3 {
		f.advance(11 * time.Hour)
		if res, _ := c.get("/"); res.StatusCode != http.StatusOK {
			t.Fatalf("after 11 idle hours: %d, want 200", res.StatusCode)
		}
	}
	// 12 idle hours end it.
	f.advance(12*time.Hour + time.Minute)
	if res, _ := c.get("/"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("after 12 idle hours: %d, want a redirect to sign in", res.StatusCode)
	}
	// Absolute: 7 days after sign-in, however active.
	c = f.login("aino.handler@example.com")
	for i := range 15 {
		f.advance(11 * time.Hour)
		if res, _ := c.get("/"); res.StatusCode != http.StatusOK {
			t.Fatalf("after %d active hours: %d, want 200", (i+1)*11, res.StatusCode)
		}
	}
	f.advance(4 * time.Hour)
	if res, _ := c.get("/"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("169 hours after sign-in: %d, want the session ended", res.StatusCode)
	}
}

func TestSetPasswordAndHash(t *testing.T) {
	f := setup(t)
	if err := web.SetPassword(f.ctx, f.st, "aino.handler@example.com", "short"); !errors.Is(err, web.ErrWeakPassword) {
		t.Fatalf("short password: %v, want ErrWeakPassword", err)
	}
	if err := web.SetPassword(f.ctx, f.st, "nobody@example.com", password); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	c := f.login("aino.handler@example.com")
	if err := web.SetPassword(f.ctx, f.st, "aino.handler@example.com", "another long password"); err != nil {
		t.Fatal(err)
	}
	if res, _ := c.get("/"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("a new password must end the old sessions: %d", res.StatusCode)
	}
	u, _ := f.st.UserByEmail(f.ctx, "aino.handler@example.com")
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(u.PasswordHash, "another") {
		t.Fatalf("stored hash %q", u.PasswordHash)
	}

	h1, _ := web.HashPassword("same password")
	h2, _ := web.HashPassword("same password")
	if h1 == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if ok, err := web.CheckPassword(h1, "same password"); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, _ := web.CheckPassword(h1, "same passwore"); ok {
		t.Fatal("wrong password accepted")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		strings.Replace(h1, "m=19456", "m=99999999", 1), strings.Replace(h1, "t=2", "t=0", 1)} {
		if ok, err := web.CheckPassword(bad, "same password"); ok || err == nil {
			t.Errorf("hash %q: %v %v, want an error", bad, ok, err)
		}
	}
}

// Credentials follow the config: when serve applies a file that no longer
// names a user, or takes a role from one, their web sessions and API tokens
// end at once; everyone else's go on, and applying the same file again ends
// nothing.
func TestConfigChangeEndsCredentials(t *testing.T) {
	f := setup(t)
	type creds struct {
		page *client
		api  *apiClient
	}
	who := map[string]creds{}
	for _, email := range []string{"ben.payroll@example.com", "lea.lead@example.com", "mika.manager@acme.example"} {
		who[email] = creds{page: f.login(email), api: f.api(email)}
	}
	// ben is gone from the file; lea keeps payroll-team but loses leads.
	next := strings.Replace(testConfig, "  - {email: ben.payroll@example.com, name: Ben Payroll, roles: [payroll-team]}\n", "", 1)
	next = strings.Replace(next, "roles: [payroll-team, leads]", "roles: [payroll-team]", 1)
	if next == testConfig || strings.Contains(next, "ben.payroll") || strings.Contains(next, "[payroll-team, leads]") {
		t.Fatal("the changed file is not changed")
	}
	for range 2 { // the second application changes nothing more
		if err := f.st.ApplyConfig(f.ctx, storetest.Config(t, next)); err != nil {
			t.Fatal(err)
		}
	}
	for email, ended := range map[string]bool{"ben.payroll@example.com": true, "lea.lead@example.com": true, "mika.manager@acme.example": false} {
		c := who[email]
		res, body := c.page.get("/")
		if ended {
			wantStatus(t, email+" old session", res, body, http.StatusSeeOther)
			if loc := res.Header.Get("Location"); loc != "/login" {
				t.Fatalf("%s: old session sent to %q", email, loc)
			}
		} else {
			wantStatus(t, email+" session", res, body, http.StatusOK)
		}
		res, body = c.api.call("GET", "/conversations", nil, nil)
		want := http.StatusOK
		if ended {
			want = http.StatusUnauthorized
		}
		wantStatus(t, email+" token", res, body, want)
	}
	// Signing in again gives what the file grants now: lea, no longer a lead,
	// is not offered legal hold.
	conv := f.open("cara.customer@acme.example", "payroll", "Salary")
	f.mu.Lock()
	f.pwSet = map[string]bool{} // passwords stay; sign in with the same one
	f.mu.Unlock()
	lea := f.login("lea.lead@example.com")
	_, body := lea.get(fmt.Sprintf("/conversations/%d", conv.ID))
	if strings.Contains(body, "/hold") {
		t.Fatal("lea is still offered legal hold")
	}
}

// Behind a TLS-terminating proxy, X-Forwarded-Proto: https makes the
// session cookie Secure, but only when the proxy is trusted: from any other
// peer the header is ignored.
func TestForwardedProtoOnlyFromTrustedProxies(t *testing.T) {
	signIn := func(t *testing.T, f *fixture, header ...string) *http.Cookie {
		t.Helper()
		f.setPassword("aino.handler@example.com")
		res, body := f.anonymous().post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {password}}, header...)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d\n%s", res.StatusCode, body)
		}
		for _, c := range res.Cookies() {
			if c.Name == "postdesk_session" {
				return c
			}
		}
		t.Fatalf("no postdesk_session cookie in %q", res.Header.Values("Set-Cookie"))
		return nil
	}
	t.Run("trusted", func(t *testing.T) {
		// The test client connects from loopback, the default trusted proxy.
		f := setup(t)
		if c := signIn(t, f, "X-Forwarded-Proto", "https"); !c.Secure {
			t.Errorf("cookie %+v behind a trusted https proxy: want Secure", c)
		}
		if c := signIn(t, f, "X-Forwarded-Proto", "http"); c.Secure {
			t.Errorf("cookie %+v with X-Forwarded-Proto: http: want not Secure", c)
		}
		if c := signIn(t, f); c.Secure {
			t.Errorf("cookie %+v without the header: want not Secure", c)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		f := setup(t, func(o *web.Options) { o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
		if c := signIn(t, f, "X-Forwarded-Proto", "https"); c.Secure {
			t.Errorf("cookie %+v: X-Forwarded-Proto from an untrusted peer was believed", c)
		}
	})
}
