package web_test

import (
	"bytes"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"postdesk/store"
	"postdesk/web"
)

var (
	secretRE   = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
	recoveryRE = regexp.MustCompile(`<code>([a-z2-7]{5}-[a-z2-7]{5})</code>`)
)

// now is the web side's clock.
func (f *fixture) now() time.Time { return time.Now().Add(time.Duration(f.offset.Load())) }

// code is the TOTP code of secret at the web side's time.
func (f *fixture) code(secret string) string {
	f.t.Helper()
	c, err := totp.GenerateCode(secret, f.now())
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// passwordOnly signs in with the password and returns the client with the
// CSRF token of the page it was sent to.
func (f *fixture) passwordOnly(email string) (*client, string) {
	f.t.Helper()
	f.setPassword(email)
	c := f.anonymous()
	res, body := c.post("/login", url.Values{"email": {email}, "password": {password}})
	wantStatus(f.t, "password", res, body, http.StatusSeeOther)
	to := res.Header.Get("Location")
	_, body = c.get(to)
	if m := csrfRE.FindStringSubmatch(body); m != nil {
		c.csrf = m[1]
	}
	return c, to
}

// TOTP: enrolment with a QR code and ten recovery codes shown once; then a
// password sign-in asks for a code; a valid one signs in, a reused one is
// refused, and a recovery code works once.
func TestTOTPEnrolAndSignIn(t *testing.T) {
	f := setup(t)
	c := f.login("aino.handler@example.com")
	_, body := c.get("/settings")
	if !strings.Contains(body, `href="/settings/mfa"`) {
		t.Fatalf("no way to a second factor from the settings:\n%s", body)
	}
	res, body := c.post("/settings/mfa/start", nil)
	wantStatus(t, "start", res, body, http.StatusSeeOther)
	res, body = c.get("/settings/mfa")
	wantStatus(t, "enrolment page", res, body, http.StatusOK)
	secret := secretRE.FindStringSubmatch(body)[1]
	if !strings.Contains(body, `src="/settings/mfa/qr.png"`) {
		t.Fatalf("no QR code:\n%s", body)
	}
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/settings/mfa/qr.png", nil)
	res, qr := c.do(req)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("QR code: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if img, err := png.Decode(bytes.NewReader([]byte(qr))); err != nil || img.Bounds().Dx() < 200 {
		t.Fatalf("QR code is no image: %v", err)
	}
	var stored []byte
	if err := f.st.Pool().QueryRow(f.ctx, `SELECT secret FROM user_mfa WHERE user_id = $1`, f.actor("aino.handler@example.com").User.ID).Scan(&stored); err != nil || bytes.Contains(stored, []byte(secret)) {
		t.Fatalf("the TOTP secret is stored in the clear (%v)", err)
	}
	res, body = c.post("/settings/mfa/confirm", url.Values{"code": {"000000"}})
	wantStatus(t, "a wrong first code", res, body, http.StatusBadRequest)
	enrolCode := f.code(secret)
	res, body = c.post("/settings/mfa/confirm", url.Values{"code": {enrolCode}})
	wantStatus(t, "confirm", res, body, http.StatusOK)
	codes := recoveryRE.FindAllStringSubmatch(body, -1)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10:\n%s", len(codes), body)
	}
	var hashes int
	if err := f.st.Pool().QueryRow(f.ctx, `SELECT count(*) FROM mfa_recovery WHERE length(hash) = 32 AND position(convert_to($1, 'UTF8') in hash) = 0`,
		codes[0][1]).Scan(&hashes); err != nil || hashes != 10 {
		t.Fatalf("%d recovery code hashes stored (%v), want 10", hashes, err)
	}
	_, body = c.get("/settings/mfa")
	if strings.Contains(body, codes[0][1]) {
		t.Fatal("the recovery codes are shown again")
	}

	// The password alone no longer signs in.
	d := f.anonymous()
	res, _ = d.post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {password}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login/mfa" {
		t.Fatalf("password sign-in: %d to %s, want the code form", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = d.get("/")
	if res.Header.Get("Location") != "/login/mfa" {
		t.Fatalf("the inbox before the code: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	_, body = d.get("/login/mfa")
	d.csrf = csrfRE.FindStringSubmatch(body)[1]
	// The code used to enrol, again: refused.
	res, body = d.post("/login/mfa", url.Values{"code": {enrolCode}})
	wantStatus(t, "a reused code", res, body, http.StatusUnauthorized)
	f.advance(totpStep)
	res, body = d.post("/login/mfa", url.Values{"code": {f.code(secret)}})
	wantStatus(t, "a valid code", res, body, http.StatusSeeOther)
	if res, _ := d.get("/"); res.StatusCode != http.StatusOK {
		t.Fatalf("inbox after the code: %d", res.StatusCode)
	}

	// A recovery code works once.
	rc := strings.ToUpper(codes[3][1]) // as people type them
	for i, want := range []int{http.StatusSeeOther, http.StatusUnauthorized} {
		e, to := f.passwordOnly("aino.handler@example.com")
		if to != "/login/mfa" {
			t.Fatalf("password sign-in went to %s", to)
		}
		res, body := e.post("/login/mfa", url.Values{"code": {rc}})
		wantStatus(t, "recovery code, use "+string(rune('1'+i)), res, body, want)
	}

	es, err := f.st.SigninEvents(f.ctx, store.SigninFilter{Email: "aino.handler@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]int{}
	for _, e := range es {
		events[e.Event+"/"+e.Method]++
	}
	if events["mfa_enrolled/totp"] != 1 || events["signin/totp"] != 1 || events["signin/recovery"] != 1 || events["signin/password"] != 4 ||
		events["signin_failed/totp"] != 1 || events["signin_failed/recovery"] != 1 {
		t.Fatalf("audit: %v", events)
	}
}

// totpStep is one TOTP time step.
const totpStep = 30 * time.Second

// require_mfa: a member of such a role, at the next sign-in, reaches
// nothing but the enrolment until a second factor is set up.
func TestRequireMFA(t *testing.T) {
	f := setup(t, func(o *web.Options) { o.SignIn.RequireMFA = []string{"leads"} })
	c, to := f.passwordOnly("lea.lead@example.com")
	if to != "/settings/mfa" {
		t.Fatalf("sign-in went to %s, want the enrolment", to)
	}
	for _, p := range []string{"/", "/new", "/settings"} {
		if res, _ := c.get(p); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/settings/mfa" {
			t.Fatalf("%s before enrolling: %d %s", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	res, body := c.get("/settings/mfa")
	if !strings.Contains(body, "Your role requires a second factor") || !secretRE.MatchString(body) {
		t.Fatalf("enrolment page (%d):\n%s", res.StatusCode, body)
	}
	secret := secretRE.FindStringSubmatch(body)[1]
	res, body = c.post("/settings/mfa/confirm", url.Values{"code": {f.code(secret)}})
	wantStatus(t, "enrol", res, body, http.StatusOK)
	if res, _ := c.get("/"); res.StatusCode != http.StatusOK {
		t.Fatalf("inbox after enrolling: %d", res.StatusCode)
	}
	// Aino's role has no such rule: her password alone still signs in.
	if _, to := f.passwordOnly("aino.handler@example.com"); to != "/" {
		t.Fatalf("aino went to %s", to)
	}
}
