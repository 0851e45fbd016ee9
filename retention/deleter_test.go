package retention_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"postdesk/health"
	"postdesk/ingest"
	"postdesk/internal/dovecottest"
	"postdesk/retention"
	"postdesk/store"
)

// deadPort returns a local port nothing listens on (for now).
func deadPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// forward makes port lead to target from now on: the IMAP server is back.
func forward(t *testing.T, port int, target string) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("the test's forwarder cannot take port %d: %v", port, err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { _, _ = io.Copy(s, c); s.Close() }()
				_, _ = io.Copy(c, s)
			})
		}
	})
}

// seedCopies stores n mails of INBOX as expired conversations and returns
// their UIDs.
func seedCopies(t *testing.T, e *env, s *dovecottest.Server, n int, prefix string) []uint32 {
	t.Helper()
	user := dovecottest.DefaultUser.Name
	var uids []uint32
	var ids []int64
	for i := range n {
		raw := customerMail("payroll@example.com", fmt.Sprintf("%s%d", prefix, i))
		uid := s.Append(t, user, "INBOX", raw)
		uids = append(uids, uid)
		ids = append(ids, e.receive(t, "payroll", s.UIDValidity(t, user, "INBOX"), uid, raw))
	}
	e.expire(t, ids...)
	return uids
}

func payrollAt(s *dovecottest.Server, port int) map[string]*ingest.Options {
	return map[string]*ingest.Options{"payroll": {Name: "payroll", Host: s.Host, Port: port, TLS: ingest.TLSNone,
		Username: dovecottest.DefaultUser.Name, Password: dovecottest.DefaultUser.Password, Folder: "INBOX",
		After: ingest.AfterSeen, Logger: slog.New(slog.DiscardHandler)}}
}

// The IMAP server is down during the purge: the copies are queued and
// visible in the backlog; when it is back, the deleter removes them.
func TestPurgeWithIMAPServerDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := dovecottest.Start(t)
	user := dovecottest.DefaultUser.Name
	gone := seedCopies(t, e, s, 3, "down")
	kept := s.Append(t, user, "INBOX", customerMail("payroll@example.com", "kept"))
	port := deadPort(t)
	clock := clockwork.NewFakeClockAt(time.Now())
	r, err := retention.New(e.st, &retention.Options{Mailboxes: payrollAt(s, port), Clock: clock,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.PurgeNow(e.ctx, false, "cli")
	if err != nil || rep.Conversations != 3 || rep.IMAPCopies != 3 || rep.IMAPDeleted != 0 || rep.IMAPFailed != 1 || rep.IMAPQueued != 3 {
		t.Fatalf("report %+v, %v", rep, err)
	}
	if n := e.count(t, `SELECT count(*) FROM imap_deletions WHERE attempts = 1 AND last_error LIKE '%connect%'`); n != 3 {
		t.Fatalf("%d copies queued with the connection error, want 3", n)
	}
	ready := (&health.Checker{St: e.st}).Check(e.ctx)
	if ready.IMAPDeletions == nil || ready.IMAPDeletions.Pending != 3 {
		t.Fatalf("/readyz: %+v", ready)
	}
	// Not due again yet: a drain now leaves them alone.
	if res, err := r.Deleter().Drain(e.ctx); err != nil || len(res) != 0 {
		t.Fatalf("a drain before the retry is due: %+v %v", res, err)
	}

	forward(t, port, s.Addr) // the server is back
	clock.Advance(2 * time.Minute)
	res, err := r.Deleter().Drain(e.ctx)
	if err != nil || len(res) != 1 || res[0].Deleted != 3 || res[0].Err != nil {
		t.Fatalf("drain after the server came back: %+v %v", res, err)
	}
	if got := s.Folder(t, user, "INBOX"); !slices.Equal(got, []uint32{kept}) {
		t.Fatalf("INBOX holds %v, want only %d (purged %v)", got, kept, gone)
	}
	if b, err := e.st.DeletionBacklog(e.ctx); err != nil || b.Pending != 0 {
		t.Fatalf("backlog %+v %v", b, err)
	}
}

// The process dies after the purge committed and before (or while) the
// IMAP deletion ran: its state is gone, the queue is not. A fresh deleter
// on a new Store removes every copy: the queued ones at once, the ones the
// dead process had claimed after their lease.
func TestDeletionsSurviveACrash(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := dovecottest.Start(t)
	user := dovecottest.DefaultUser.Name
	seedCopies(t, e, s, 4, "crash")
	kept := s.Append(t, user, "INBOX", customerMail("payroll@example.com", "kept"))

	// The first process: the purge commits (no deleter runs), then it claims
	// two copies and dies before the IMAP deletion.
	first := e.second(t)
	rep, err := first.Purge(e.ctx, store.PurgeOptions{Actor: "schedule", BatchSize: 2})
	if err != nil || rep.Conversations != 4 || rep.IMAPCopies != 4 {
		t.Fatalf("purge %+v %v", rep, err)
	}
	lease := 15 * time.Minute
	claimed, err := first.ClaimDeletions(e.ctx, []string{"payroll"}, time.Now(), lease, 2)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claim %+v %v", claimed, err)
	}
	first.Close()

	// The restarted process, woken by its listener at start.
	st := e.second(t)
	clock := clockwork.NewFakeClockAt(time.Now())
	d := retention.NewDeleter(st, &retention.DeleterOptions{Mailboxes: payrollAt(s, s.Port), Clock: clock,
		Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { d.Run(ctx) })
	wg.Go(func() { st.Listen(ctx, map[string]func(){store.ChannelDeletions: d.Wake}, nil, nil) })
	// The deleter records a deletion after the server has done it: wait
	// for both, or a look between the two sees the queue not yet emptied.
	waitFor(t, 20*time.Second, "the unclaimed copies deleted and recorded", func() bool {
		return len(s.Folder(t, user, "INBOX")) == 3 && e.count(t, `SELECT count(*) FROM imap_deletions`) == 2
	})
	if got := s.Folder(t, user, "INBOX"); len(got) != 3 || !slices.Contains(got, kept) {
		t.Fatalf("INBOX holds %v: the claimed copies went before their lease", got)
	}
	// After the lease, the claimed ones are due again.
	clock.Advance(lease + time.Minute)
	d.Wake()
	waitFor(t, 20*time.Second, "the claimed copies deleted after their lease", func() bool {
		return slices.Equal(s.Folder(t, user, "INBOX"), []uint32{kept})
	})
	waitFor(t, 5*time.Second, "the queue empty", func() bool {
		return e.count(t, `SELECT count(*) FROM imap_deletions`) == 0
	})
}

// A copy that cannot be deleted for a week is reported to its category's
// staff once, however often the deleter tries.
func TestOverdueDeletionReportedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := dovecottest.Start(t)
	seedCopies(t, e, s, 2, "late")
	clock := clockwork.NewFakeClockAt(time.Now())
	r, err := retention.New(e.st, &retention.Options{Mailboxes: payrollAt(s, deadPort(t)), Clock: clock,
		Alerts: e.svc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := r.PurgeNow(e.ctx, false, "cli"); err != nil || rep.IMAPQueued != 2 {
		t.Fatalf("report %+v, %v", rep, err)
	}
	alerts := func() int64 {
		return e.count(t, `SELECT count(*) FROM outbox WHERE template = 'mailbox_alert' AND recipient = 'aino.handler@example.com'
			AND detail->>'mailbox' = 'payroll' AND detail->>'reason' LIKE '2 purged mail(s) of payroll%'`)
	}
	for day := 1; day <= 9; day++ {
		clock.Advance(24 * time.Hour)
		if _, err := r.Deleter().Drain(e.ctx); err != nil {
			t.Fatal(err)
		}
		want := int64(0)
		if day >= 8 { // queued a moment after the clock's start: over a week on day 8
			want = 1
		}
		if n := alerts(); n != want {
			t.Fatalf("day %d: %d reports, want %d", day, n, want)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM outbox WHERE template = 'mailbox_alert'`); n != 1 {
		t.Fatalf("%d alert mails, want the one report", n)
	}
	if n := e.count(t, `SELECT count(*) FROM audit WHERE action = 'imap_deletion_overdue'`); n != 1 {
		t.Fatalf("%d audit records of the report, want 1", n)
	}
	if n := e.count(t, `SELECT count(*) FROM imap_deletions`); n != 2 {
		t.Fatalf("%d copies queued, want 2 still tried", n)
	}
}
