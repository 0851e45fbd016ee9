package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"postdesk/conversation"
	"postdesk/internal/dovecottest"
	"postdesk/store"
	"postdesk/store/storetest"
	"postdesk/threading"
)

// The real path end to end: Dovecot, the worker, the conversation rules and
// PostgreSQL.

const deskConfig = `
database_url: postgres://unused
secret: 0123456789abcdef0123456789abcdef
smtp: {host: 127.0.0.1, port: 2525, tls: none}
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
users:
  - {email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team]}
  - {email: ben.payroll@example.com, name: Ben Payroll, roles: [payroll-team]}
`

type deskEnv struct {
	st      *store.Store
	desk    *Desk
	dovecot *dovecottest.Server
	user    dovecottest.User
}

func newDeskEnv(t testing.TB) *deskEnv {
	t.Helper()
	st, c := storetest.Org(t, deskConfig)
	sg, err := threading.NewSigner([]byte(c.Secret))
	if err != nil {
		t.Fatal(err)
	}
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg})
	return &deskEnv{st: st, desk: NewDesk(st, svc, map[string]string{"payroll": "payroll"}),
		dovecot: dovecottest.Start(t), user: dovecottest.DefaultUser}
}

func (e *deskEnv) options() *Options {
	return &Options{Name: "payroll", Host: e.dovecot.Host, Port: e.dovecot.Port, TLS: TLSNone,
		Username: e.user.Name, Password: e.user.Password, Folder: "INBOX", After: AfterSeen,
		// These tests put mail in the folder before the first start and
		// expect it handled as new; the go-live import has its own tests.
		Existing: ExistingNotify,
		// An hour: only IDLE can bring the mail in within the test's deadline.
		PollInterval: time.Hour, SafetyPoll: time.Hour,
		Logger: slog.New(slog.DiscardHandler)}
}

func (e *deskEnv) count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.st.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *deskEnv) inbound(t testing.TB) int {
	return e.count(t, `SELECT count(*) FROM messages WHERE direction = 'in'`)
}

func customerMail(id string) []byte {
	return fmt.Appendf(nil, "From: Cara Customer <cara.customer@acme.example>\r\nTo: payroll@example.com\r\n"+
		"Subject: Salary question %s\r\nMessage-ID: <%s@acme.example>\r\nDate: Mon, 02 Nov 2026 09:00:00 +0200\r\n\r\nHello from %s.\r\n", id, id, id)
}

func TestDeskDovecotIdleCreatesRoutedConversation(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	idle := make(chan struct{}, 1)
	start(t, e.options(), e.desk, e.desk, func(w *Worker, r *running) {
		w.idling = func() {
			select {
			case idle <- struct{}{}:
			default:
			}
		}
	})
	select {
	case <-idle:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker never entered IDLE")
	}
	uid := e.dovecot.Append(t, e.user.Name, "INBOX", customerMail("idle1"))
	waitFor(t, 5*time.Second, "the conversation", func() bool { return e.inbound(t) == 1 })

	if n := e.count(t, `SELECT count(*) FROM conversations c JOIN conversation_roles cr ON cr.conversation_id = c.id
		JOIN roles r ON r.id = cr.role_id WHERE r.key = 'payroll-team' AND c.subject = 'Salary question idle1'`); n != 1 {
		t.Fatalf("routed conversations: %d", n)
	}
	if n := e.count(t, `SELECT count(*) FROM outbox WHERE template = 'new_conversation'`); n != 2 {
		t.Fatalf("notification rows: %d, want one per member of the role", n)
	}
	waitFor(t, 5*time.Second, `\Seen after the commit`, func() bool {
		return e.dovecot.HasFlag(t, e.user.Name, "INBOX", uid, imap.FlagSeen)
	})
	mb, err := e.st.Mailbox(context.Background(), "payroll")
	if err != nil || mb.LastUID != uid || mb.UIDValidity != e.dovecot.UIDValidity(t, e.user.Name, "INBOX") {
		t.Fatalf("cursor %+v %v, want uid %d", mb, err, uid)
	}
	waitFor(t, 5*time.Second, "health", func() bool {
		mb, _ := e.st.Mailbox(context.Background(), "payroll")
		return mb.Connected && mb.IdleSupported && mb.LastSuccess != nil
	})
}

// A crash between the commit and the after action, then a restart: the mail
// is stored once, and nobody is notified twice.
func TestDeskCrashAfterCommit(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	e.dovecot.Append(t, e.user.Name, "INBOX", customerMail("crash1"))
	e.dovecot.Append(t, e.user.Name, "INBOX", customerMail("crash2"))
	var crashed atomic.Bool
	r := start(t, e.options(), e.desk, e.desk, func(w *Worker, r *running) {
		w.beforeAfter = func(uid uint32) {
			if crashed.CompareAndSwap(false, true) {
				r.cancel() // the process dies here: committed, not yet \Seen
			}
		}
	})
	r.wait()
	if !crashed.Load() {
		t.Fatal("the crash hook never ran")
	}
	start(t, e.options(), e.desk, e.desk, nil)
	waitFor(t, 10*time.Second, "both mails", func() bool { return e.inbound(t) == 2 })
	time.Sleep(300 * time.Millisecond) // let a wrong second delivery show itself
	if n := e.inbound(t); n != 2 {
		t.Fatalf("%d inbound messages after the restart, want 2", n)
	}
	if n := e.count(t, `SELECT count(*) FROM outbox`); n != 6 {
		t.Fatalf("%d outbox rows, want 6 (2 mails x (2 members + 1 acknowledgement))", n)
	}
}

// A crash between the fetch and the commit (the transaction never commits),
// then a restart: the mail is stored once.
func TestDeskCrashBeforeCommit(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	e.dovecot.Append(t, e.user.Name, "INBOX", customerMail("pre1"))
	ctx, cancel := context.WithCancel(context.Background())
	dying := &dyingStore{Desk: e.desk, cancel: cancel}
	w := NewWorker(e.options(), dying, e.desk)
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if e.inbound(t) != 0 {
		t.Fatal("the interrupted transaction left a message")
	}
	start(t, e.options(), e.desk, e.desk, nil)
	waitFor(t, 10*time.Second, "the mail", func() bool { return e.inbound(t) == 1 })
	time.Sleep(300 * time.Millisecond)
	if n := e.inbound(t); n != 1 {
		t.Fatalf("%d inbound messages, want 1", n)
	}
}

// dyingStore kills the process (cancels the context) in the middle of the
// first delivery, before its transaction commits.
type dyingStore struct {
	*Desk
	cancel context.CancelFunc
	done   atomic.Bool
}

func (d *dyingStore) Deliver(ctx context.Context, mailbox string, m Fetched) error {
	if d.done.CompareAndSwap(false, true) {
		d.cancel()
		return context.Canceled // the process is gone: nothing was committed
	}
	return d.Desk.Deliver(ctx, mailbox, m)
}

// A new UIDVALIDITY (the folder was recreated and the same mail is in it
// again) rescans everything and stores nothing twice.
func TestDeskUIDValidityReset(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	opts := e.options()
	opts.Folder, opts.PollInterval, opts.DisableIdle = "Support", 100*time.Millisecond, true
	e.dovecot.Append(t, e.user.Name, "Support", customerMail("uv1"))
	e.dovecot.Append(t, e.user.Name, "Support", customerMail("uv2"))
	r := start(t, opts, e.desk, e.desk, nil)
	waitFor(t, 10*time.Second, "two mails", func() bool { return e.inbound(t) == 2 })
	r.stop()
	before, _ := e.st.Mailbox(context.Background(), "payroll")

	e.dovecot.DeleteFolder(t, e.user.Name, "Support")
	e.dovecot.Append(t, e.user.Name, "Support", customerMail("uv1"))
	e.dovecot.Append(t, e.user.Name, "Support", customerMail("uv2"))
	e.dovecot.Append(t, e.user.Name, "Support", customerMail("uv3"))
	start(t, opts, e.desk, e.desk, nil)
	waitFor(t, 10*time.Second, "the new mail", func() bool { return e.inbound(t) == 3 })
	waitFor(t, 10*time.Second, "the rescan", func() bool {
		mb, _ := e.st.Mailbox(context.Background(), "payroll")
		return mb.UIDValidity != before.UIDValidity && mb.LastUID == 3
	})
	if n := e.inbound(t); n != 3 {
		t.Fatalf("%d inbound messages after the rescan, want 3", n)
	}
}

// Two instances on one database: only one polls a mailbox; when it dies, the
// other takes over.
func TestDeskOneInstancePerMailbox(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	opts := e.options()
	opts.PollInterval, opts.DisableIdle = 100*time.Millisecond, true
	first := &countingStore{Desk: e.desk}
	second := &countingStore{Desk: e.desk}
	r1 := start(t, opts, first, e.desk, nil)
	e.dovecot.Append(t, e.user.Name, "INBOX", customerMail("lock1"))
	waitFor(t, 10*time.Second, "the first instance", func() bool { return first.n.Load() == 1 })
	start(t, opts, second, e.desk, nil)
	e.dovecot.Append(t, e.user.Name, "INBOX", customerMail("lock2"))
	waitFor(t, 10*time.Second, "the second mail", func() bool { return e.inbound(t) == 2 })
	if second.n.Load() != 0 {
		t.Fatal("the second instance polled while the first held the mailbox")
	}
	r1.stop()
	e.dovecot.Append(t, e.user.Name, "INBOX", customerMail("lock3"))
	waitFor(t, 15*time.Second, "the takeover", func() bool { return second.n.Load() == 1 })
	if n := e.inbound(t); n != 3 {
		t.Fatalf("%d inbound messages, want 3", n)
	}
}

type countingStore struct {
	*Desk
	n atomic.Int32
}

func (c *countingStore) Deliver(ctx context.Context, mailbox string, m Fetched) error {
	err := c.Desk.Deliver(ctx, mailbox, m)
	if err == nil {
		c.n.Add(1)
	}
	return err
}

// A graceful shutdown (SIGTERM) that arrives while a mail is being stored
// lets that transaction finish, then stops.
func TestDeskShutdownFinishesDelivery(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	e.dovecot.Append(t, e.user.Name, "INBOX", customerMail("grace1"))
	e.dovecot.Append(t, e.user.Name, "INBOX", customerMail("grace2"))
	ctx, cancel := context.WithCancel(context.Background())
	st := &shutdownStore{Desk: e.desk, shutdown: cancel}
	w := NewWorker(e.options(), st, e.desk)
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.inbound(t); n != 2 {
		t.Fatalf("%d mails stored, want the batch of two in flight at shutdown", n)
	}
}

type shutdownStore struct {
	*Desk
	shutdown context.CancelFunc
}

// DeliverBatch shuts down while the batch is in flight: its transaction
// still commits, within the grace.
func (s *shutdownStore) DeliverBatch(ctx context.Context, mailbox string, ms []Fetched) error {
	s.shutdown()
	return s.Desk.DeliverBatch(ctx, mailbox, ms)
}

func (s *shutdownStore) Deliver(ctx context.Context, mailbox string, m Fetched) error {
	s.shutdown()
	return s.Desk.Deliver(ctx, mailbox, m)
}
