package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"golang.org/x/sync/semaphore"

	"postdesk/conversation"
)

// Batches on the real path (Dovecot, Desk, PostgreSQL): several mails of a
// poll are committed in one transaction with the cursor, then get their
// After action in one command.

const batchMails = 5

// appendBatch appends batchMails customer mails and returns their UIDs.
func (e *deskEnv) appendBatch(t *testing.T, prefix string) []uint32 {
	t.Helper()
	var uids []uint32
	for i := range batchMails {
		uids = append(uids, e.dovecot.Append(t, e.user.Name, "INBOX", customerMail(fmt.Sprintf("%s%d", prefix, i))))
	}
	return uids
}

// awaitUIDs waits until every uid is reported by the applied hook.
func awaitUIDs(t *testing.T, applied <-chan uint32, uids []uint32) {
	t.Helper()
	want := map[uint32]bool{}
	for _, u := range uids {
		want[u] = true
	}
	timeout := time.After(20 * time.Second)
	for len(want) > 0 {
		select {
		case u := <-applied:
			delete(want, u)
		case <-timeout:
			t.Fatalf("UIDs %v never committed and flagged", want)
		}
	}
}

func withApplied(applied chan uint32) func(w *Worker, r *running) {
	return func(w *Worker, r *running) { w.applied = func(uid uint32) { applied <- uid } }
}

// storedOnce checks that each UID is stored exactly once and that each
// mail queued its three mails (two role members, one acknowledgement) once.
func (e *deskEnv) storedOnce(t *testing.T, uids []uint32) {
	t.Helper()
	for _, uid := range uids {
		if n := e.count(t, `SELECT count(*) FROM messages WHERE mailbox = 'payroll' AND uid = $1`, uid); n != 1 {
			t.Errorf("UID %d stored %d times, want once", uid, n)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM messages WHERE direction = 'in'`); n != len(uids) {
		t.Errorf("%d inbound messages, want %d", n, len(uids))
	}
	if n := e.count(t, `SELECT count(*) FROM outbox`); n != 3*len(uids) {
		t.Errorf("%d outbox rows, want %d (three per mail, none twice)", n, 3*len(uids))
	}
}

// crashDesk is the real Desk whose batch delivery "crashes" before its
// transaction starts: the process dies between the fetch and the commit.
type crashDesk struct {
	*Desk
	crash     func()
	delivered atomic.Int32
}

func (d *crashDesk) DeliverBatch(ctx context.Context, mailbox string, ms []Fetched) error {
	d.crash()
	return errors.New("crashed between fetch and commit")
}

func (d *crashDesk) Deliver(ctx context.Context, mailbox string, m Fetched) error {
	d.delivered.Add(1)
	return d.Desk.Deliver(ctx, mailbox, m)
}

func TestBatchCrashBeforeCommit(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	uids := e.appendBatch(t, "before")
	crashed := &crashDesk{Desk: e.desk}
	r := start(t, e.options(), crashed, e.desk, func(w *Worker, r *running) { crashed.crash = r.cancel })
	r.wait()
	if n := crashed.delivered.Load(); n != 0 {
		t.Fatalf("%d mails delivered one by one after the crash, want none", n)
	}
	if n := e.inbound(t); n != 0 {
		t.Fatalf("%d mails stored by a batch that crashed before its commit", n)
	}
	mb, err := e.st.Mailbox(context.Background(), "payroll")
	if err != nil || mb.LastUID != 0 {
		t.Fatalf("cursor %+v, %v: want it unmoved", mb, err)
	}

	applied := make(chan uint32, 16)
	start(t, e.options(), e.desk, e.desk, withApplied(applied))
	awaitUIDs(t, applied, uids)
	e.storedOnce(t, uids)
	for _, uid := range uids {
		if !e.dovecot.HasFlag(t, e.user.Name, "INBOX", uid, imap.FlagSeen) {
			t.Errorf("UID %d not \\Seen", uid)
		}
	}
}

func TestBatchCrashAfterCommit(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	uids := e.appendBatch(t, "after")
	var seen atomic.Int32
	r := start(t, e.options(), e.desk, e.desk, func(w *Worker, r *running) {
		w.beforeAfter = func(uint32) {
			seen.Add(1)
			r.cancel() // the process dies: the batch is committed, no After action yet
		}
	})
	r.wait()
	if n := seen.Load(); n != batchMails {
		t.Fatalf("the commit covered %d mails, want the whole batch of %d", n, batchMails)
	}
	e.storedOnce(t, uids)
	mb, err := e.st.Mailbox(context.Background(), "payroll")
	if err != nil || mb.LastUID != uids[len(uids)-1] {
		t.Fatalf("cursor %+v, %v: want it past the batch (UID %d)", mb, err, uids[len(uids)-1])
	}

	// The restart skips the committed batch: nothing is stored or queued
	// twice; the next mail goes through as usual.
	applied := make(chan uint32, 16)
	start(t, e.options(), e.desk, e.desk, withApplied(applied))
	next := e.dovecot.Append(t, e.user.Name, "INBOX", customerMail("after-next"))
	awaitUIDs(t, applied, []uint32{next})
	e.storedOnce(t, append(uids, next))
	for _, uid := range uids {
		if e.dovecot.HasFlag(t, e.user.Name, "INBOX", uid, imap.FlagSeen) {
			t.Errorf("UID %d: \\Seen set although the worker died before the After action", uid)
		}
	}
	if !e.dovecot.HasFlag(t, e.user.Name, "INBOX", next, imap.FlagSeen) {
		t.Errorf("UID %d not \\Seen", next)
	}
}

// A mail the parser panics on in the middle of a batch: the batch's
// transaction fails, the worker delivers its mails one by one, the hostile
// one is quarantined and the others are stored and notified; every one gets
// its After action.
func TestBatchHostileMailQuarantined(t *testing.T) {
	t.Parallel()
	e := newPoisonEnv(t, "payroll")
	var uids []uint32
	for i := range batchMails {
		raw := customerMail(fmt.Sprintf("hostile%d", i))
		if i == 2 {
			raw = []byte("From: cara.customer@acme.example\r\nTo: payroll@example.com\r\nSubject: Poison\r\nX-Test-Parser: panic\r\nMessage-ID: <p.2@acme.example>\r\n\r\nHi\r\n")
		}
		uids = append(uids, e.dovecot.Append(t, e.user.Name, "INBOX", raw))
	}
	applied := make(chan uint32, 16)
	start(t, e.options(), e.desk, e.desk, withApplied(applied))
	awaitUIDs(t, applied, uids)

	for i, uid := range uids {
		if n := e.count(t, `SELECT count(*) FROM messages WHERE mailbox = 'payroll' AND uid = $1`, uid); n != 1 {
			t.Errorf("mail %d (UID %d): %d records, want 1", i, uid, n)
		}
		if !e.dovecot.HasFlag(t, e.user.Name, "INBOX", uid, imap.FlagSeen) {
			t.Errorf("UID %d not \\Seen", uid)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.uid = $1 AND c.subject = $2`, uids[2], conversation.QuarantineSubject); n != 1 {
		t.Fatal("the hostile mail is not quarantined")
	}
	if n := e.count(t, `SELECT count(*) FROM outbox WHERE template IN ('new_conversation', 'received')`); n != 3*(batchMails-1) {
		t.Fatalf("%d notifications, want 3 for each of the %d good mails", n, batchMails-1)
	}
	mb, err := e.st.Mailbox(context.Background(), "payroll")
	if err != nil || mb.LastUID != uids[len(uids)-1] {
		t.Fatalf("cursor %+v, %v: want UID %d", mb, err, uids[len(uids)-1])
	}
}

// With After "move:", the whole committed batch is moved in one UID MOVE.
func TestBatchAfterMoveAppliesToAll(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	e.dovecot.CreateFolder(t, e.user.Name, "Done")
	uids := e.appendBatch(t, "move")
	applied := make(chan uint32, 16)
	opts := e.options()
	opts.After = AfterMove + "Done"
	start(t, opts, e.desk, e.desk, withApplied(applied))
	awaitUIDs(t, applied, uids)
	e.storedOnce(t, uids)
	if left := e.dovecot.Folder(t, e.user.Name, "INBOX"); len(left) != 0 {
		t.Fatalf("UIDs %v left in INBOX, want all moved", left)
	}
	if moved := e.dovecot.Folder(t, e.user.Name, "Done"); len(moved) != batchMails {
		t.Fatalf("%d mails in Done, want %d", len(moved), batchMails)
	}
}

// A memory budget smaller than one batch: the worker fetches a group only
// once its size is reserved, so it goes on group by group, stores every
// mail, and gives the whole budget back.
func TestBatchMemoryBudget(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	uids := e.appendBatch(t, "budget")
	const size = 600 // bytes: about two of these mails
	budget := semaphore.NewWeighted(size)
	applied := make(chan uint32, 16)
	opts := e.options()
	opts.Budget, opts.BudgetSize, opts.MaxSize = budget, size, 300
	r := start(t, opts, e.desk, e.desk, withApplied(applied))
	awaitUIDs(t, applied, uids)
	e.storedOnce(t, uids)
	r.stop()
	if !budget.TryAcquire(size) {
		t.Fatal("the worker kept part of the memory budget after it stopped")
	}
}
