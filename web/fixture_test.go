package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"postdesk/conversation"
	"postdesk/store"
	"postdesk/store/storetest"
	"postdesk/threading"
	"postdesk/web"
)

// The organisation the tests run is storetest.TestOrg.
const testConfig = storetest.TestOrg

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// password is every test user's password.
const password = "correct horse battery"

type fixture struct {
	t      *testing.T
	ctx    context.Context
	st     *store.Store
	svc    *conversation.Service
	srv    *httptest.Server
	offset atomic.Int64 // added to the clock, to move time forward
	mu     sync.Mutex
	pwSet  map[string]bool
}

// setup starts the whole web side over a database of its own; mods change
// the web options.
func setup(t *testing.T, mods ...func(*web.Options)) *fixture {
	t.Helper()
	return setupOrg(t, testConfig, mods...)
}

// setupOrg is setup over another organisation.
func setupOrg(t *testing.T, org string, mods ...func(*web.Options)) *fixture {
	t.Helper()
	t.Parallel()
	st, _ := storetest.Org(t, org)
	f := &fixture{t: t, ctx: context.Background(), st: st, pwSet: map[string]bool{}}
	sg, err := threading.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = conversation.New(f.st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg})
	var h http.Handler
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(f.srv.Close)
	opts := &web.Options{Store: f.st, Service: f.svc, PublicURL: f.srv.URL, Secret: testSecret,
		Logger: slog.New(slog.DiscardHandler),
		Now:    func() time.Time { return time.Now().Add(time.Duration(f.offset.Load())) }}
	for _, mod := range mods {
		mod(opts)
	}
	h, err = web.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// advance moves the web side's clock forward.
func (f *fixture) advance(d time.Duration) { f.offset.Add(int64(d)) }

func (f *fixture) actor(email string) *conversation.Actor {
	f.t.Helper()
	a, err := f.svc.ActorByEmail(f.ctx, email)
	if err != nil {
		f.t.Fatalf("actor %s: %v", email, err)
	}
	return a
}

// open starts a conversation from a user, through the rules.
func (f *fixture) open(email, category, subject string, files ...store.NewAttachment) *store.Conversation {
	f.t.Helper()
	c, err := f.svc.Open(f.ctx, f.actor(email), conversation.NewRequest{Category: category, Subject: subject,
		Body: "Hello, my salary was wrong.", Attachments: files})
	if err != nil {
		f.t.Fatalf("open: %v", err)
	}
	return c
}

func (f *fixture) conv(id int64) *store.Conversation {
	f.t.Helper()
	c, err := f.st.ConversationByID(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// setPassword gives a user the test password (once per fixture).
func (f *fixture) setPassword(email string) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pwSet[email] {
		return
	}
	if err := web.SetPassword(f.ctx, f.st, email, password); err != nil {
		f.t.Fatalf("set password %s: %v", email, err)
	}
	f.pwSet[email] = true
}

// client is a browser-like HTTP client: a cookie jar, no automatic redirects.
type client struct {
	f    *fixture
	hc   *http.Client
	csrf string
}

func (f *fixture) anonymous() *client {
	jar, _ := cookiejar.New(nil)
	return &client{f: f, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// login signs a user in through the form and picks up the CSRF token.
func (f *fixture) login(email string) *client {
	f.t.Helper()
	f.setPassword(email)
	c := f.anonymous()
	res, body := c.post("/login", url.Values{"email": {email}, "password": {password}})
	if res.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("login %s: %d\n%s", email, res.StatusCode, body)
	}
	c.refreshCSRF()
	return c
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) refreshCSRF() {
	c.f.t.Helper()
	res, body := c.get("/")
	m := csrfRE.FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		c.f.t.Fatalf("no CSRF token on the inbox (%d)", res.StatusCode)
	}
	c.csrf = m[1]
}

func (c *client) do(req *http.Request) (*http.Response, string) {
	c.f.t.Helper()
	res, err := c.hc.Do(req)
	if err != nil {
		c.f.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.f.t.Fatal(err)
	}
	return res, string(b)
}

func (c *client) get(path string) (*http.Response, string) {
	c.f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.f.srv.URL+path, nil)
	if err != nil {
		c.f.t.Fatal(err)
	}
	return c.do(req)
}

// post sends a form, with the session's CSRF token unless one is given.
func (c *client) post(path string, v url.Values, header ...string) (*http.Response, string) {
	c.f.t.Helper()
	if v == nil {
		v = url.Values{}
	}
	if c.csrf != "" && !v.Has("csrf") {
		v.Set("csrf", c.csrf)
	}
	req, err := http.NewRequest(http.MethodPost, c.f.srv.URL+path, strings.NewReader(v.Encode()))
	if err != nil {
		c.f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(req)
}

type upload struct {
	name, contentType string
	data              []byte
}

// postMultipart sends a multipart form with files under "files".
func (c *client) postMultipart(path string, v url.Values, files ...upload) (*http.Response, string) {
	c.f.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if c.csrf != "" && !v.Has("csrf") {
		v.Set("csrf", c.csrf)
	}
	for k, vals := range v {
		for _, val := range vals {
			mw.WriteField(k, val) //nolint:errcheck
		}
	}
	for _, fl := range files {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{`form-data; name="files"; filename="` + fl.name + `"`}
		h["Content-Type"] = []string{fl.contentType}
		w, err := mw.CreatePart(h)
		if err != nil {
			c.f.t.Fatal(err)
		}
		w.Write(fl.data) //nolint:errcheck
	}
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, c.f.srv.URL+path, &buf)
	if err != nil {
		c.f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

// follow reads the page a redirect points to.
func (c *client) follow(res *http.Response) (*http.Response, string) {
	c.f.t.Helper()
	if res.StatusCode != http.StatusSeeOther {
		c.f.t.Fatalf("status %d, want 303", res.StatusCode)
	}
	return c.get(res.Header.Get("Location"))
}

// apiClient calls the JSON API with a user's bearer token.
type apiClient struct {
	f     *fixture
	token string
}

func (f *fixture) api(email string) *apiClient {
	f.t.Helper()
	tok, err := f.st.CreateAPIToken(f.ctx, f.actor(email).User.ID, "test")
	if err != nil {
		f.t.Fatal(err)
	}
	return &apiClient{f: f, token: tok}
}

// call sends a request; body, when not nil, is sent as JSON. out, when not
// nil, receives the decoded answer.
func (a *apiClient) call(method, path string, body any, out any) (*http.Response, string) {
	a.f.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.f.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.f.srv.URL+"/api/v1"+path, r)
	if err != nil {
		a.f.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			a.f.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	return res, string(b)
}

func wantStatus(t *testing.T, what string, res *http.Response, body string, want int) {
	t.Helper()
	if res.StatusCode != want {
		if len(body) > 2000 {
			body = body[:2000] + "..."
		}
		t.Fatalf("%s: status %d, want %d\n%s", what, res.StatusCode, want, body)
	}
}
