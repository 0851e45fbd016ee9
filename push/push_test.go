package push_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"postdesk/internal/dovecottest"
	"postdesk/push"
	"postdesk/store"
	"postdesk/store/storetest"
)

const secret = "a-push-secret-of-some-32-bytes-or-more"

// sent records the wake-ups a handler sends.
type sent struct {
	mu    sync.Mutex
	names []string
	err   error
}

func (s *sent) NotifyMailbox(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.names = append(s.names, name)
	return nil
}

func (s *sent) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.names
	s.names = nil
	return n
}

var mailboxes = []push.Mailbox{
	{Name: "payroll", Username: "payroll@example.test"}, // INBOX
	{Name: "hr", Username: "hr@example.test", Folder: "Saapuneet"},
	{Name: "hr-inbox", Username: "HR@example.test", Folder: "inbox"},
}

func call(t *testing.T, h http.Handler, method, auth, body string) int {
	t.Helper()
	r := httptest.NewRequest(method, push.Path, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

func TestHandlerAuthenticates(t *testing.T) {
	n := &sent{}
	h, err := push.NewHandler(secret, mailboxes, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"user":"payroll@example.test","folder":"INBOX"}`
	basic := func(user, pass string) string {
		r := httptest.NewRequest("GET", "/", nil)
		r.SetBasicAuth(user, pass)
		return r.Header.Get("Authorization")
	}
	for _, c := range []struct {
		name, method, auth string
		want               int
	}{
		{"no credentials", "POST", "", 401},
		{"wrong bearer", "POST", "Bearer " + secret + "x", 401},
		{"a prefix of the secret", "POST", "Bearer " + secret[:10], 401},
		{"wrong basic password", "PUT", basic("dovecot", "nope"), 401},
		{"other scheme", "POST", "Token " + secret, 401},
		{"GET", "GET", "Bearer " + secret, 405},
		{"bearer", "POST", "Bearer " + secret, 204},
		{"bearer, any case", "POST", "bearer " + secret, 204},
		{"basic, as the OX driver sends it", "PUT", basic("dovecot", secret), 204},
	} {
		if got := call(t, h, c.method, c.auth, body); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
		woke := n.take()
		if c.want == 204 && !slices.Equal(woke, []string{"payroll"}) {
			t.Errorf("%s: woke %v, want [payroll]", c.name, woke)
		}
		if c.want != 204 && len(woke) > 0 {
			t.Errorf("%s: refused, yet woke %v", c.name, woke)
		}
	}
	if _, err := push.NewHandler("", mailboxes, n, nil); err == nil {
		t.Error("an empty secret was accepted")
	}
}

func TestHandlerMatchesUserAndFolder(t *testing.T) {
	n := &sent{}
	h, err := push.NewHandler(secret, mailboxes, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + secret
	for _, c := range []struct {
		body string
		code int
		want []string
	}{
		{`{"user":"payroll@example.test","folder":"INBOX"}`, 204, []string{"payroll"}},
		{`{"user":"Payroll@Example.test","folder":"inbox"}`, 204, []string{"payroll"}},
		// The OX driver sends only INBOX deliveries and may leave the folder out.
		{`{"user":"payroll@example.test","event":"messageNew","imap-uid":7}`, 204, []string{"payroll"}},
		{`{"user":"payroll@example.test","folder":"Sent"}`, 204, nil},
		{`{"user":"hr@example.test","folder":"Saapuneet"}`, 204, []string{"hr"}},
		{`{"user":"hr@example.test","folder":"saapuneet"}`, 204, nil}, // only INBOX ignores case
		{`{"user":"hr@example.test","folder":"INBOX"}`, 204, []string{"hr-inbox"}},
		{`{"user":"stranger@example.test","folder":"INBOX"}`, 204, nil},
		{`{"folder":"INBOX"}`, 400, nil},
		{`not json`, 400, nil},
		{`{"user":"payroll@example.test","folder":"INBOX","snippet":"` + strings.Repeat("x", 70<<10) + `"}`, 413, nil},
	} {
		if got := call(t, h, "POST", auth, c.body); got != c.code {
			t.Errorf("%.60s: status %d, want %d", c.body, got, c.code)
		}
		if got := n.take(); !slices.Equal(got, c.want) {
			t.Errorf("%.60s: woke %v, want %v", c.body, got, c.want)
		}
	}
	n.err = errors.New("database away")
	if got := call(t, h, "POST", auth, `{"user":"payroll@example.test","folder":"INBOX"}`); got != 503 {
		t.Errorf("wake-up failed: status %d, want 503", got)
	}
}

// TestDovecotScriptPushesEveryAppend runs the shipped Lua script in a real
// Dovecot: each APPEND reaches the handler, which sends the mailbox's name
// to every listening instance through PostgreSQL.
func TestDovecotScriptPushesEveryAppend(t *testing.T) {
	st := storetest.New(t)
	h, err := push.NewHandler(secret, []push.Mailbox{
		{Name: "payroll", Username: dovecottest.DefaultUser.Name},
		{Name: "payroll-archive", Username: dovecottest.DefaultUser.Name, Folder: "Arkisto"},
	}, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	dc := dovecottest.StartWith(t, &dovecottest.Options{
		PushScript: push.DovecotScript,
		PushSettings: map[string]string{
			"postdesk_push_url":    srv.URL + push.Path,
			"postdesk_push_secret": secret,
		},
	})

	ctx, cancel := context.WithCancel(context.Background())
	got, ready := make(chan string, 100), make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.ListenPayload(ctx, map[string]func(string){
			store.ChannelMailbox: func(p string) {
				if p != "" {
					got <- p
				}
			},
		}, func() { ready <- struct{}{} }, nil)
	}()
	defer func() { cancel(); <-done }()
	<-ready

	next := func(want string) {
		t.Helper()
		select {
		case p := <-got:
			if p != want {
				t.Fatalf("woke %q, want %q", p, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no wake-up for %s; dovecot log:\n%s", want, dc.Log())
		}
	}
	mail := func(subject string) []byte {
		return []byte("From: Aino Example <aino@example.test>\r\nTo: payroll@example.test\r\nSubject: " + subject +
			"\r\nMessage-ID: <" + subject + "@example.test>\r\n\r\nHei!\r\n")
	}
	for _, s := range []string{"first", "second"} {
		dc.Append(t, dovecottest.DefaultUser.Name, "INBOX", mail(s))
		next("payroll")
	}
	dc.Append(t, dovecottest.DefaultUser.Name, "Arkisto", mail("archived"))
	next("payroll-archive")
	// A folder nobody watches is pushed too, and wakes nobody.
	dc.Append(t, dovecottest.DefaultUser.Name, "Muut", mail("other"))
	dc.Append(t, dovecottest.DefaultUser.Name, "INBOX", mail("third"))
	next("payroll")
}
