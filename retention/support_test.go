package retention_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"postdesk/config"
	"postdesk/conversation"
	"postdesk/store"
	"postdesk/store/storetest"
	"postdesk/threading"
)

// The organisation of the tests: mail to payroll@ is fetched from the
// mailbox "payroll" (INBOX, after: seen), mail to hr@ from "hr" (folder HR,
// after: move:HR-done).
const orgConfig = `
database_url: postgres://unused
secret: 0123456789abcdef0123456789abcdef
smtp: {host: 127.0.0.1, port: 2525, tls: none}
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team]}
  - {key: sick-leave, name: Sick leave, addresses: [hr@example.com], roles: [payroll-team]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
users:
  - {email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team]}
`

type env struct {
	ctx context.Context
	st  *store.Store
	svc *conversation.Service
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{ctx: context.Background(), st: storetest.New(t)}
	c, _, err := config.Parse("org.yaml", []byte(orgConfig), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.ApplyConfig(e.ctx, c); err != nil {
		t.Fatal(err)
	}
	sg, err := threading.NewSigner([]byte(c.Secret))
	if err != nil {
		t.Fatal(err)
	}
	e.svc = conversation.New(e.st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg,
		Logger: slog.New(slog.DiscardHandler)})
	return e
}

// second opens another Store on the same database: another instance.
func (e *env) second(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(e.ctx, e.st.Pool().Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

func (e *env) count(t testing.TB, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := e.st.Pool().QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (e *env) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if _, err := e.st.Pool().Exec(e.ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// customerMail is a new request from its own customer.
func customerMail(to, id string) []byte {
	return fmt.Appendf(nil, "From: Customer %[2]s <%[2]s@customer.example>\r\nTo: %[1]s\r\nSubject: Question %[2]s\r\n"+
		"Message-ID: <%[2]s@customer.example>\r\nDate: Mon, 02 Nov 2026 09:00:00 +0000\r\n\r\nPlease help with %[2]s.\r\n", to, id)
}

// receive stores a mail through the conversation rules, as ingest does.
func (e *env) receive(t testing.TB, mailbox string, uv, uid uint32, raw []byte) int64 {
	t.Helper()
	r, err := e.svc.Receive(e.ctx, conversation.Inbound{Mailbox: mailbox, UIDValidity: uv, UID: uid, Raw: raw, DefaultCategory: "payroll"})
	if err != nil {
		t.Fatalf("receive %s/%d: %v", mailbox, uid, err)
	}
	return r.ConversationID
}

// expire makes conversations five years idle: past every retention here.
func (e *env) expire(t testing.TB, ids ...int64) {
	t.Helper()
	e.exec(t, `UPDATE conversations SET updated_at = now() - interval '5 years' WHERE id = ANY($1)`, ids)
}

func (e *env) purgeAudits(t testing.TB) []map[string]any {
	t.Helper()
	rows, err := e.st.Pool().Query(e.ctx, `SELECT detail FROM audit WHERE action = 'purge' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ds []map[string]any
	for rows.Next() {
		var d map[string]any
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	return ds
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

// logRecorder is a slog handler that keeps the messages, so tests can wait
// for one.
type logRecorder struct {
	mu   *sync.Mutex
	msgs *[]string
	tag  string
}

func newLogRecorder(tag string) (*slog.Logger, *logRecorder) {
	r := &logRecorder{mu: &sync.Mutex{}, msgs: &[]string{}, tag: tag}
	return slog.New(r), r
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	*r.msgs = append(*r.msgs, b.String())
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) has(substr string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range *r.msgs {
		if strings.Contains(m, substr) {
			return true
		}
	}
	return false
}

func (r *logRecorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tag + ": " + strings.Join(*r.msgs, "\n"+r.tag+": ")
}

func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
