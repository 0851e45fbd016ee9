package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"postdesk/conversation"
	"postdesk/health"
	"postdesk/ingest/mailparse"
	"postdesk/internal/dovecottest"
	"postdesk/metrics"
	"postdesk/store/storetest"
	"postdesk/threading"
)

// The failure taxonomy, the go-live import and the hostile-header fuzz
// target, against real Dovecot and PostgreSQL (and the in-memory store for
// the retry rules alone).

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want class
	}{
		{"serialization failure", &pgconn.PgError{Code: "40001"}, transient},
		{"deadlock", fmt.Errorf("insert: %w", &pgconn.PgError{Code: "40P01"}), transient},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, transient},
		{"too many connections", &pgconn.PgError{Code: "53300"}, transient},
		{"connection failure", &pgconn.PgError{Code: "08006"}, transient},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, unknown},
		{"index row too large", &pgconn.PgError{Code: "54000"}, permanent},
		{"NUL in text", &pgconn.PgError{Code: "22021"}, permanent},
		{"value too long", &pgconn.PgError{Code: "22001"}, permanent},
		{"check violation", &pgconn.PgError{Code: "23514"}, permanent},
		{"foreign key (a purge raced)", &pgconn.PgError{Code: "23503"}, unknown},
		{"unique: an unexpected key", &pgconn.PgError{Code: "23505", ConstraintName: "users_email_key"}, permanent},
		{"unique: the IMAP key (a lost race)", &pgconn.PgError{Code: "23505", ConstraintName: "messages_mailbox_uid_validity_uid_key"}, transient},
		{"unique: the content key (a lost race)", &pgconn.PgError{Code: "23505", ConstraintName: "messages_raw_key"}, transient},
		{"syntax error (a bug)", &pgconn.PgError{Code: "42601"}, unknown},
		{"parser panic", fmt.Errorf("receive: %w", &conversation.PanicError{Value: "boom"}), permanent},
		{"cancelled", fmt.Errorf("deliver: %w", context.Canceled), transient},
		{"own deadline", context.DeadlineExceeded, unknown},
		{"connect", &pgconn.ConnectError{}, transient},
		{"anything else", errors.New("something odd"), unknown},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The retry rules on their own: a temporary error is retried for as long as
// it lasts, and never quarantines; an error of unknown kind quarantines the
// mail at the MaxAttempts-th failure in a row; a permanent one at once. The
// mail behind is delivered each time.
func TestRetryRules(t *testing.T) {
	t.Parallel()
	addr, admin := startMemServer(t, "payroll@example.com", "secret", nil)
	for i := 1; i <= 4; i++ {
		admin.Append(t, "payroll@example.com", "INBOX", rawMail(fmt.Sprint("r", i), "body"))
	}
	st := newMemStore()
	var mu sync.Mutex
	attempts := map[uint32]int{}
	st.hook = func(ctx context.Context, m Fetched) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[m.UID]++
		switch {
		case m.UID == 1 && attempts[1] <= MaxAttempts+2:
			return &pgconn.PgError{Code: "40001"} // busy: more failures than MaxAttempts, then fine
		case m.UID == 2:
			return errors.New("odd")
		case m.UID == 3:
			return &conversation.PanicError{Value: "parser bug"}
		}
		return nil
	}
	host, port := splitAddr(t, addr)
	r := start(t, &Options{Name: "mem", Host: host, Port: port, TLS: TLSNone, Username: "payroll@example.com", Password: "secret",
		PollInterval: 20 * time.Millisecond, DisableIdle: true}, st, newMemLocker(), nil)
	waitFor(t, 10*time.Second, "the cursor past every mail", func() bool { return st.cursor("mem").LastUID == 4 })
	r.stop()
	q := st.quarantine()
	if len(q) != 2 || q[0].UID != 2 || q[1].UID != 3 || !strings.Contains(q[1].Cause, "parser bug") {
		t.Fatalf("quarantined %+v, want UIDs 2 (odd, repeated) and 3 (panic)", q)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts[2] != MaxAttempts || attempts[3] != 1 || attempts[1] != MaxAttempts+3 {
		t.Fatalf("attempts %v: want UID 1 retried until fine, UID 2 %d times, UID 3 once", attempts, MaxAttempts)
	}
	var uids []uint32
	for _, m := range st.stored() {
		uids = append(uids, m.UID)
	}
	if fmt.Sprint(uids) != "[1 4]" {
		t.Fatalf("stored %v, want [1 4]", uids)
	}
}

// newPoisonEnv is a desk whose parser panics on mail carrying the header
// X-Test-Parser: panic (the real parser recovers its own panics).
func newPoisonEnv(t testing.TB, mailbox string) *deskEnv {
	t.Helper()
	st, c := storetest.Org(t, deskConfig)
	sg, err := threading.NewSigner([]byte(c.Secret))
	if err != nil {
		t.Fatal(err)
	}
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg,
		Logger: slog.New(slog.DiscardHandler),
		Parse: func(raw []byte) *mailparse.Message {
			if bytes.Contains(raw, []byte("\r\nX-Test-Parser: panic\r\n")) {
				panic("injected parser failure")
			}
			return mailparse.Parse(raw, nil)
		}})
	return &deskEnv{st: st, desk: NewDesk(st, svc, map[string]string{mailbox: "payroll"}),
		dovecot: dovecottest.Start(t), user: dovecottest.DefaultUser}
}

// value reads a counter or gauge.
func value(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func randomText(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// The poison sequence: a 6 KB Message-ID, a 3 KB address, a mail the parser
// panics on, then a normal mail. All four are recorded, the normal one is
// routed and notified, and the cursor is past them all.
func TestPoisonSequence(t *testing.T) {
	t.Parallel()
	e := newPoisonEnv(t, "poison")
	longID := randomText(6000) + "@acme.example"
	longAddr := randomText(3000) + "@acme.example"
	mails := [][]byte{
		fmt.Appendf(nil, "From: cara.customer@acme.example\r\nTo: payroll@example.com\r\nSubject: Long id\r\nMessage-ID: <%s>\r\n\r\nHi\r\n", longID),
		fmt.Appendf(nil, "From: <%s>\r\nTo: payroll@example.com\r\nSubject: Long sender\r\nMessage-ID: <ls.1@acme.example>\r\n\r\nHi\r\n", longAddr),
		[]byte("From: cara.customer@acme.example\r\nTo: payroll@example.com\r\nSubject: Poison\r\nX-Test-Parser: panic\r\nMessage-ID: <p.1@acme.example>\r\n\r\nHi\r\n"),
		customerMail("normal1"),
	}
	var uids []uint32
	for _, raw := range mails {
		uids = append(uids, e.dovecot.Append(t, e.user.Name, "INBOX", raw))
	}
	before := value(t, metrics.Quarantined.WithLabelValues("poison"))
	opts := e.options()
	opts.Name, opts.PollInterval, opts.DisableIdle = "poison", 50*time.Millisecond, true
	start(t, opts, e.desk, e.desk, nil)
	waitFor(t, 20*time.Second, "the cursor past all four", func() bool {
		mb, _ := e.st.Mailbox(context.Background(), "poison")
		return mb.LastUID == uids[3]
	})

	for i, uid := range uids {
		if n := e.count(t, `SELECT count(*) FROM messages WHERE mailbox = 'poison' AND uid = $1`, uid); n != 1 {
			t.Errorf("mail %d (UID %d): %d records, want 1", i+1, uid, n)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.uid = $1 AND m.kind = 'note' AND c.subject = $2 AND c.customer_id IS NULL`, uids[2], conversation.QuarantineSubject); n != 1 {
		t.Fatal("the poison mail is not quarantined")
	}
	if n := e.count(t, `SELECT count(*) FROM attachments a JOIN messages m ON m.id = a.message_id
		WHERE m.uid = $1 AND a.filename = 'message.eml' AND a.size = $2`, uids[2], len(mails[2])); n != 1 {
		t.Fatal("the poison mail's source is not kept as message.eml")
	}
	if n := e.count(t, `SELECT count(*) FROM outbox WHERE template = 'quarantined'`); n != 2 {
		t.Fatalf("%d quarantine notices, want one per staff member", n)
	}
	if n := e.count(t, `SELECT count(*) FROM outbox o JOIN messages m ON m.conversation_id = o.conversation_id
		WHERE m.uid = $1 AND o.template IN ('new_conversation', 'received')`, uids[3]); n != 3 {
		t.Fatalf("the normal mail queued %d notifications, want 2 members + 1 acknowledgement", n)
	}
	if got := value(t, metrics.Quarantined.WithLabelValues("poison")) - before; got != 1 {
		t.Fatalf("quarantine counter rose by %v, want 1", got)
	}
	for _, uid := range uids {
		waitFor(t, 5*time.Second, "\\Seen on every mail", func() bool {
			return e.dovecot.HasFlag(t, e.user.Name, "INBOX", uid, imap.FlagSeen)
		})
	}
}

// logRecords collects a logger's records (message and attributes).
type logRecords struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, m)
	l.mu.Unlock()
	return nil
}

func (l *logRecords) find(msg string) []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]string
	for _, r := range l.recs {
		if strings.HasPrefix(r["msg"], msg) {
			out = append(out, r)
		}
	}
	return out
}

// The go-live import: a folder holding 200 mails before the first start.
// All are stored, nobody is mailed, old mail is filed solved and recent mail
// new, the progress is logged and in /metrics, /readyz stays ready while it
// runs; mail appended afterwards notifies as usual.
func TestQuietImport(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	c := e.dovecot.Dial(t, e.user.Name)
	recent := time.Now().Add(-72 * time.Hour).Format(time.RFC1123Z)
	const n = 200
	for i := range n {
		date := "Mon, 03 Nov 2025 09:00:00 +0200"
		if i%2 == 1 {
			date = recent
		}
		raw := fmt.Appendf(nil, "From: Cara Customer <cara.customer@acme.example>\r\nTo: payroll@example.com\r\n"+
			"Subject: Old question %d\r\nMessage-ID: <old%d@acme.example>\r\nDate: %s\r\n\r\nQuestion %d.\r\n", i, i, date, i)
		cmd := c.Append("INBOX", int64(len(raw)), nil)
		if _, err := cmd.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()

	logs := &logRecords{}
	opts := e.options()
	opts.Name, opts.Existing, opts.Logger = "golive", ExistingQuiet, slog.New(logs)
	opts.PollInterval, opts.DisableIdle = 50*time.Millisecond, true
	e.desk.categories["golive"] = "payroll"
	checker := &health.Checker{St: e.st, Mailboxes: []health.Mailbox{{Name: "golive", MaxAge: time.Minute}}}
	var midway health.Report
	start(t, opts, e.desk, e.desk, func(w *Worker, r *running) {
		w.progressEvery = 0
		w.beforeAfter = func(uid uint32) {
			if uid == 150 { // in the fourth batch of 50
				midway = checker.Check(context.Background())
			}
		}
	})
	waitFor(t, 60*time.Second, "the import", func() bool { return e.inbound(t) == n })
	waitFor(t, 10*time.Second, "the import's end", func() bool { return len(logs.find("ingest: import of the existing mail done")) == 1 })

	if got := e.count(t, `SELECT count(*) FROM outbox`); got != 0 {
		t.Fatalf("%d mails queued by the quiet import, want none", got)
	}
	if got := e.count(t, `SELECT count(*) FROM conversations WHERE status = 'solved'`); got != n/2 {
		t.Fatalf("%d solved conversations, want the %d older than 30 days", got, n/2)
	}
	if got := e.count(t, `SELECT count(*) FROM conversations WHERE status = 'new'`); got != n/2 {
		t.Fatalf("%d new conversations, want the %d recent ones", got, n/2)
	}
	if midway.Checks["mailbox golive"] != "ok" {
		t.Fatalf("readiness during the import: %+v", midway)
	}
	started := logs.find("ingest: importing the mail already in the folder")
	done := logs.find("ingest: import of the existing mail done")
	progress := logs.find("ingest: importing the existing mail")
	if len(started) != 1 || started[0]["mails"] != "200" || done[0]["mails"] != "200" || len(progress) == 0 ||
		progress[0]["of"] != "200" || progress[0]["eta"] == "" || progress[0]["per_second"] == "" {
		t.Fatalf("progress logs: start %v, progress %d (first %v), end %v", started, len(progress), progress, done)
	}
	if d, r := value(t, metrics.ImportDone.WithLabelValues("golive")), value(t, metrics.ImportRemaining.WithLabelValues("golive")); d != n || r != 0 {
		t.Fatalf("import metrics: done %v, remaining %v", d, r)
	}

	// After the import, new mail is handled as new.
	uid := e.dovecot.Append(t, e.user.Name, "INBOX", customerMail("after1"))
	waitFor(t, 10*time.Second, "the new mail's notifications", func() bool {
		return e.count(t, `SELECT count(*) FROM outbox o JOIN messages m ON m.conversation_id = o.conversation_id
			WHERE m.mailbox = 'golive' AND m.uid = $1 AND o.template IN ('new_conversation', 'received')`, uid) == 3
	})
}
