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
	"strconv"
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

// behindProxy makes the test client's loopback peer a trusted proxy, so
// that X-Forwarded-For tells clients apart.
func behindProxy(o *web.Options) {
	o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
}

// from is the header of a request a trusted proxy forwards for ip.
func from(ip string) []string { return []string{"X-Forwarded-For", ip} }

// failUntil posts wrong passwords for email from ip until n of them have
// been checked (and refused with 401), moving the clock past each delay the
// throttle answers with 429 and Retry-After.
func failUntil(t *testing.T, f *fixture, c *client, email, ip string, n int) {
	t.Helper()
	for checked, tries := 0, 0; checked < n; tries++ {
		if tries > 4*n {
			t.Fatalf("after %d tries only %d failures were checked", tries, checked)
		}
		res, body := c.post("/login", url.Values{"email": {email}, "password": {fmt.Sprintf("guess %d", tries)}}, from(ip)...)
		switch res.StatusCode {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			secs, err := strconv.Atoi(res.Header.Get("Retry-After"))
			if err != nil || secs < 1 || !strings.Contains(body, "Too many failed sign-ins") {
				t.Fatalf("429 without a clear message or Retry-After (%q):\n%s", res.Header.Get("Retry-After"), body)
			}
			f.advance(time.Duration(secs) * time.Second)
		default:
			t.Fatalf("wrong password %d: status %d", tries, res.StatusCode)
		}
	}
}

// Fifty wrong passwords for one account from one client slow that client
// down on that account, and never lock the account's owner out: the right
// password from another client signs in at once.
func TestLoginThrottleNoLockout(t *testing.T) {
	f := setup(t, behindProxy)
	f.setPassword("aino.handler@example.com")
	attacker := f.anonymous()
	failUntil(t, f, attacker, "aino.handler@example.com", "203.0.113.9", 50)

	// The attacker's next try waits, whatever the password.
	res, body := attacker.post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {password}}, from("203.0.113.9")...)
	wantStatus(t, "the attacker, right after", res, body, http.StatusTooManyRequests)
	if secs, _ := strconv.Atoi(res.Header.Get("Retry-After")); secs < 60 {
		t.Fatalf("after 50 failures the delay is only %d s", secs)
	}
	// The owner, elsewhere, is not slowed at all.
	res, body = f.anonymous().post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {password}}, from("198.51.100.20")...)
	wantStatus(t, "the owner from another client", res, body, http.StatusSeeOther)
	// A forged first X-Forwarded-For entry does not make the attacker
	// someone else: the trusted proxy's entry is the last one.
	res, body = attacker.post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {"guess"}},
		"X-Forwarded-For", "198.51.100.20, 203.0.113.9")
	wantStatus(t, "a forged X-Forwarded-For", res, body, http.StatusTooManyRequests)
}

// A few typos cost nothing; then each failure doubles the wait, and
// signing in forgets them.
func TestLoginThrottleDelaysGrow(t *testing.T) {
	f := setup(t, behindProxy)
	f.setPassword("aino.handler@example.com")
	c := f.anonymous()
	try := func(pw string) (*http.Response, string) {
		t.Helper()
		return c.post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {pw}}, from("203.0.113.9")...)
	}
	for i := range 3 {
		res, body := try(fmt.Sprintf("typo %d", i))
		wantStatus(t, fmt.Sprintf("typo %d", i+1), res, body, http.StatusUnauthorized)
	}
	var delays []int
	for i := range 6 {
		res, body := try(fmt.Sprintf("guess %d", i))
		wantStatus(t, fmt.Sprintf("guess %d", i+1), res, body, http.StatusUnauthorized)
		res, body = try(password)
		wantStatus(t, fmt.Sprintf("right password after guess %d", i+1), res, body, http.StatusTooManyRequests)
		secs, _ := strconv.Atoi(res.Header.Get("Retry-After"))
		delays = append(delays, secs)
		f.advance(time.Duration(secs) * time.Second)
	}
	if delays[0] != 1 {
		t.Fatalf("first delay %d s, want 1", delays[0])
	}
	for i := 1; i < len(delays); i++ {
		if delays[i] != 2*delays[i-1] {
			t.Fatalf("delays do not double: %v", delays)
		}
	}
	res, body := try(password)
	wantStatus(t, "after the last delay", res, body, http.StatusSeeOther)
	// Signed in: the pair starts again from zero.
	c = f.anonymous()
	res, body = try("typo")
	wantStatus(t, "a typo after signing in", res, body, http.StatusUnauthorized)
	res, body = try(password)
	wantStatus(t, "right after it", res, body, http.StatusSeeOther)
}

// A client gets a budget of failures over all addresses; past it, that
// client waits for the window, others do not.
func TestLoginThrottleClientBudget(t *testing.T) {
	f := setup(t, behindProxy)
	f.setPassword("ben.payroll@example.com")
	spray := f.anonymous()
	for i := range 100 {
		res, body := spray.post("/login", url.Values{"email": {fmt.Sprintf("spray%d@example.com", i)}, "password": {"x"}}, from("203.0.113.9")...)
		wantStatus(t, fmt.Sprintf("spray %d", i), res, body, http.StatusUnauthorized)
	}
	res, body := spray.post("/login", url.Values{"email": {"ben.payroll@example.com"}, "password": {password}}, from("203.0.113.9")...)
	wantStatus(t, "past the budget", res, body, http.StatusTooManyRequests)
	// An IPv6 client is counted by its /64: moving within it does not help.
	for i := range 100 {
		res, body := spray.post("/login", url.Values{"email": {fmt.Sprintf("spray%d@example.com", i)}, "password": {"x"}},
			from(fmt.Sprintf("2001:db8:1:2::%x", i+1))...)
		wantStatus(t, fmt.Sprintf("v6 spray %d", i), res, body, http.StatusUnauthorized)
	}
	res, body = spray.post("/login", url.Values{"email": {"ben.payroll@example.com"}, "password": {password}}, from("2001:db8:1:2:ffff::1")...)
	wantStatus(t, "another address of the same /64", res, body, http.StatusTooManyRequests)
	res, body = f.anonymous().post("/login", url.Values{"email": {"ben.payroll@example.com"}, "password": {password}}, from("203.0.113.10")...)
	wantStatus(t, "another client", res, body, http.StatusSeeOther)
	f.advance(61 * time.Minute)
	res, body = spray.post("/login", url.Values{"email": {"ben.payroll@example.com"}, "password": {password}}, from("203.0.113.9")...)
	wantStatus(t, "after the window", res, body, http.StatusSeeOther)
}

// Two instances on one database share the counters: failing on one slows
// the same pair on the other.
func TestLoginThrottleSharedByInstances(t *testing.T) {
	f := setup(t, behindProxy)
	f.setPassword("aino.handler@example.com")
	g := f.second(behindProxy)
	failUntil(t, f, f.anonymous(), "aino.handler@example.com", "203.0.113.9", 6)
	res, body := g.anonymous().post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {password}}, from("203.0.113.9")...)
	wantStatus(t, "the other instance", res, body, http.StatusTooManyRequests)
	res, body = g.anonymous().post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {password}}, from("198.51.100.20")...)
	wantStatus(t, "the other instance, another client", res, body, http.StatusSeeOther)
}

// Without trusted_proxies, X-Forwarded-For is ignored even from loopback:
// a local process is not a proxy just because it is local.
func TestLoginForwardedForIgnoredByDefault(t *testing.T) {
	f := setup(t)
	f.setPassword("aino.handler@example.com")
	failUntil(t, f, f.anonymous(), "aino.handler@example.com", "203.0.113.9", 6)
	res, body := f.anonymous().post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {password}}, from("198.51.100.20")...)
	wantStatus(t, "a claimed other client", res, body, http.StatusTooManyRequests)
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
		// The test client connects from loopback, listed as the proxy.
		f := setup(t, behindProxy)
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
