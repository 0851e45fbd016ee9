package web_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"postdesk/config"
	"postdesk/store"
	"postdesk/web"
)

const (
	opClientID     = "postdesk"
	opClientSecret = "provider-client-secret"
	opPassword     = "provider password"
)

// startProvider runs zitadel's example OpenID provider (pkg/op with its
// example storage and login form) on a free loopback port, with these
// people, and registers postdesk's client for the given redirect URL. It
// returns the issuer.
func startProvider(t *testing.T, redirect string, people map[string]bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + l.Addr().String()
	users := map[string]*storage.User{}
	i := 0
	for email, verified := range people {
		i++
		id := "user" + string(rune('0'+i))
		users[id] = &storage.User{ID: id, Username: email, Password: opPassword, FirstName: "Test", LastName: "Person",
			Email: email, EmailVerified: verified}
	}
	b, err := json.Marshal(users)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	us, err := storage.StoreFromFile(file)
	if err != nil {
		t.Fatal(err)
	}
	st := storage.NewStorageWithClients(us, map[string]*storage.Client{
		opClientID: storage.WebClient(opClientID, opClientSecret, redirect),
	})
	srv := &http.Server{Handler: exampleop.SetupServer(issuer, st, nil, false), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return issuer
}

// ssoSetup is a fixture whose web side signs in through a provider that
// knows aino and lea (verified), a stranger postdesk does not know, and
// an unverified address of a postdesk user; lea's role requires single
// sign-on.
func ssoSetup(t *testing.T) *fixture {
	t.Helper()
	var issuer string
	f := setup(t, func(o *web.Options) {
		issuer = startProvider(t, o.PublicURL+"/login/oidc/callback", map[string]bool{
			"aino.handler@example.com": true, "lea.lead@example.com": true,
			"stranger@example.org": true, "ben.payroll@example.com": false,
		})
		o.SignIn.OIDC = &config.OIDC{Issuer: issuer, ClientID: opClientID, ClientSecret: opClientSecret,
			Scopes: []string{"email", "profile"}, ButtonLabel: "Sign in with Example ID"}
		o.SignIn.RequireSSO = []string{"leads"}
	})
	return f
}

// ssoLogin goes through the provider's login form in the browser.
func (p *page) ssoLogin(email, cond string) {
	p.t.Helper()
	p.open("/login")
	p.click("#sso", "document.querySelector('input[name=username]') !== null")
	p.do("provider login",
		chromedp.SetValue(chromedp.CSS("input[name=username]"), email),
		chromedp.SetValue(chromedp.CSS("input[name=password]"), opPassword))
	p.click("button[type=submit]", cond)
}

// Single sign-on end to end in Chromium against a real provider: a known,
// verified address signs in; an unknown one and an unverified one are
// refused with a clear page; a sign-in whose state is not this browser's
// is refused; require_sso refuses the password form.
func TestBrowserOIDC(t *testing.T) {
	f := ssoSetup(t)
	dir := artifacts(t)
	p := newPage(t, f, dir, 1280, 900, false)

	p.open("/login")
	p.wantText("the button", "Sign in with Example ID")
	p.ssoLogin("aino.handler@example.com", "location.pathname === '/' && location.port === '"+port(f.srv.URL)+"'")
	p.wantText("signed in", "Inbox")
	p.shot("signed-in")
	if got := eval[string](p, "document.querySelector('.who .name').innerText"); got != "Aino Handler" {
		t.Fatalf("signed in as %q", got)
	}

	q := newPage(t, f, dir, 1280, 900, false)
	q.ssoLogin("stranger@example.org", "document.getElementById('signin-message') !== null")
	q.wantText("unknown address", "You are not signed in", "There is no postdesk account for stranger@example.org")
	q.shot("unknown")
	q.ssoLogin("ben.payroll@example.com", "document.getElementById('signin-message') !== null")
	q.wantText("unverified address", "has not verified your email address ben.payroll@example.com")
	q.open("/")
	if eval[string](q, "location.pathname") != "/login" {
		t.Fatal("a refused sign-in left a session")
	}

	// Tampered state: the browser comes back with the state of a flow it
	// did not start last (its cookie holds a newer one).
	q.open("/login")
	q.click("#sso", "document.querySelector('input[name=username]') !== null")
	firstFlow := eval[string](q, "location.href")
	q.open("/login")
	q.click("#sso", "document.querySelector('input[name=username]') !== null")
	q.do("back to the first flow's login form", chromedp.Navigate(firstFlow))
	q.waitFor("the first flow's login form", "document.querySelector('input[name=username]') !== null")
	q.do("provider login",
		chromedp.SetValue(chromedp.CSS("input[name=username]"), "aino.handler@example.com"),
		chromedp.SetValue(chromedp.CSS("input[name=password]"), opPassword))
	q.click("button[type=submit]", "document.getElementById('signin-message') !== null")
	q.wantText("tampered state", "This sign-in could not be verified")
	q.shot("tampered-state")

	// require_sso: lea's right password is refused; single sign-on works.
	r := newPage(t, f, dir, 1280, 900, false)
	f.setPassword("lea.lead@example.com")
	r.open("/login")
	r.do("password", chromedp.SetValue(chromedp.CSS("input[name=email]"), "lea.lead@example.com"),
		chromedp.SetValue(chromedp.CSS("input[name=password]"), password))
	r.click("form[action='/login'] button[type=submit]", "document.querySelector('.error') !== null")
	r.wantText("require_sso", "Your organisation requires single sign-on")
	r.shot("require-sso")
	r.ssoLogin("lea.lead@example.com", "location.pathname === '/' && location.port === '"+port(f.srv.URL)+"'")
	r.wantText("lea signed in", "Inbox")

	es, err := f.st.SigninEvents(f.ctx, store.SigninFilter{})
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]int{}
	for _, e := range es {
		events[e.Event+"/"+e.Method]++
	}
	if events["signin/oidc"] != 2 || events["signin_failed/oidc"] != 3 || events["signin_failed/password"] != 1 {
		t.Fatalf("audit: %v", events)
	}
}

func port(u string) string {
	pu, _ := url.Parse(u)
	return pu.Port()
}

// The state in the callback is checked byte for byte: a real provider's
// answer with one character of its state changed signs nobody in, and
// the same answer unchanged does.
func TestOIDCStateTampered(t *testing.T) {
	f := ssoSetup(t)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), f.srv.URL+"/login/oidc/callback") {
				return http.ErrUseLastResponse // stop where the provider sends the browser back
			}
			return nil
		}}
	get := func(u string) *http.Response {
		t.Helper()
		res, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	res := get(f.srv.URL + "/login/oidc")
	form := res.Request.URL // the provider's login form, after its redirects
	id := form.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("not at the provider's login form: %s", form)
	}
	res, err := hc.PostForm(form.Scheme+"://"+form.Host+"/login/username", url.Values{"id": {id},
		"username": {"aino.handler@example.com"}, "password": {opPassword}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, err := res.Location()
	if err != nil || !strings.HasPrefix(back.String(), f.srv.URL+"/login/oidc/callback") {
		t.Fatalf("the provider did not send us back: %v %v", back, err)
	}
	tampered := *back
	q := tampered.Query()
	st := q.Get("state")
	last := "A"
	if st[len(st)-1] == 'A' {
		last = "B"
	}
	q.Set("state", st[:len(st)-1]+last)
	tampered.RawQuery = q.Encode()

	// The tampered answer first: refused, and the flow is over.
	res, err = hc.Get(tampered.String())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered state: %d, want 403", res.StatusCode)
	}
	res = get(back.String())
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("the untampered answer after the flow was refused: %d, want 403", res.StatusCode)
	}
	// A fresh flow, untouched: signed in.
	res = get(f.srv.URL + "/login/oidc")
	form = res.Request.URL
	res, err = hc.PostForm(form.Scheme+"://"+form.Host+"/login/username", url.Values{"id": {form.Query().Get("authRequestID")},
		"username": {"aino.handler@example.com"}, "password": {opPassword}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, _ = res.Location()
	noFollow := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = noFollow.Get(back.String())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("untampered: %d to %s", res.StatusCode, res.Header.Get("Location"))
	}
}
