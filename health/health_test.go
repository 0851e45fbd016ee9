package health

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"postdesk/store"
	"postdesk/store/storetest"
)

func get(t *testing.T, srv *httptest.Server, path string) (int, Report) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r Report
	if path == "/readyz" {
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, r
}

func TestProbes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	now := time.Now()
	c := &Checker{St: st, Mailboxes: []Mailbox{{Name: "payroll", MaxAge: time.Minute}}, Now: func() time.Time { return now }}
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	if code, _ := get(t, srv, "/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	code, r := get(t, srv, "/readyz")
	if code != 503 || r.Ready || r.Checks["database"] != "ok" || r.Checks["migrations"] != "ok" ||
		!strings.Contains(strings.Join(r.Problems, ";"), "mailbox payroll: never polled") {
		t.Fatalf("before the first poll: %d %+v", code, r)
	}
	if err := st.SetMailboxHealth(ctx, "payroll", store.MailboxHealth{Connected: true, LastSuccess: now.Add(-10 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if code, r := get(t, srv, "/readyz"); code != 200 || !r.Ready {
		t.Fatalf("after a poll: %d %+v", code, r)
	}
	st.SetMailboxHealth(ctx, "payroll", store.MailboxHealth{Connected: false, LastError: "login failed"})
	now = now.Add(2 * time.Minute)
	code, r = get(t, srv, "/readyz")
	if code != 503 || !strings.Contains(strings.Join(r.Problems, ";"), "login failed") {
		t.Fatalf("a stale mailbox: %d %+v", code, r)
	}
}

func TestNotReadyWithoutSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := (&Checker{St: st}).Check(ctx)
	if r.Ready || r.Checks["migrations"] != "fail" {
		t.Fatalf("an empty database: %+v", r)
	}
}

// A refused login makes the mailbox not ready at once, with the reason,
// not only once its last success is stale.
func TestReadyzAuthFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	now := time.Now()
	c := &Checker{St: st, Mailboxes: []Mailbox{{Name: "payroll", MaxAge: time.Hour}}, Now: func() time.Time { return now }}
	st.SetMailboxHealth(ctx, "payroll", store.MailboxHealth{Connected: true, LastSuccess: now.Add(-time.Minute)})
	refused := AuthFailurePrefix + "login as payroll@example.com: oauth2 token endpoint https://login.example.com/token refused: invalid_client: bad secret"
	st.SetMailboxHealth(ctx, "payroll", store.MailboxHealth{LastError: refused})
	r := c.Check(ctx)
	if r.Ready || r.Checks["mailbox payroll"] != "fail" || !strings.Contains(strings.Join(r.Problems, ";"), "invalid_client: bad secret") {
		t.Fatalf("after a refused login: %+v", r)
	}
}

// The purge's IMAP deletion queue is shown in /readyz, and a copy waiting
// over a week is flagged, without making the instance unready.
func TestReadyzShowsDeletionBacklog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	c := &Checker{St: st}
	if r := c.Check(ctx); r.IMAPDeletions == nil || r.IMAPDeletions.Pending != 0 || r.Checks["imap_deletions"] != "ok" {
		t.Fatalf("empty queue: %+v %+v", r, r.IMAPDeletions)
	}
	if _, err := st.Pool().Exec(ctx, `INSERT INTO imap_deletions (mailbox, uid_validity, uid, category, created_at)
		VALUES ('payroll', 1, 7, 'payroll', now() - interval '8 days'), ('payroll', 1, 8, 'payroll', now())`); err != nil {
		t.Fatal(err)
	}
	r := c.Check(ctx)
	if !r.Ready || r.IMAPDeletions.Pending != 2 || r.IMAPDeletions.OldestSeconds < 8*24*3600 || r.Checks["imap_deletions"] != "overdue" {
		t.Fatalf("queue with an overdue copy: %+v %+v", r, r.IMAPDeletions)
	}
}
