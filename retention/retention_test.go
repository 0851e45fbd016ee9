package retention_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"

	"postdesk/conversation"
	"postdesk/ingest"
	"postdesk/internal/dovecottest"
	"postdesk/retention"
	"postdesk/store"
)

// The real path: Dovecot, the ingest worker and the conversation rules
// bring the mail in; the purge removes the expired conversations and then
// their copies on the server, and nothing else.
func TestPurgeNowRemovesIMAPCopies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := dovecottest.Start(t)
	user := dovecottest.DefaultUser.Name
	var inbox, hr []uint32
	for i := range 4 {
		inbox = append(inbox, s.Append(t, user, "INBOX", customerMail("payroll@example.com", fmt.Sprintf("p%d", i))))
	}
	for i := range 2 {
		hr = append(hr, s.Append(t, user, "HR", customerMail("hr@example.com", fmt.Sprintf("h%d", i))))
	}
	s.CreateFolder(t, user, "HR-done")

	mailboxes := map[string]*ingest.Options{
		"payroll": {Name: "payroll", Host: s.Host, Port: s.Port, TLS: ingest.TLSNone, Username: user,
			Password: dovecottest.DefaultUser.Password, Folder: "INBOX", After: ingest.AfterSeen, Existing: ingest.ExistingNotify, Logger: slog.New(slog.DiscardHandler)},
		"hr": {Name: "hr", Host: s.Host, Port: s.TLSPort, TLS: ingest.TLSImplicit, TLSConfig: s.TLSConfig(), Username: user,
			Password: dovecottest.DefaultUser.Password, Folder: "HR", After: "move:HR-done", Existing: ingest.ExistingNotify, Logger: slog.New(slog.DiscardHandler)},
	}
	desk := ingest.NewDesk(e.st, e.svc, map[string]string{"payroll": "payroll", "hr": "sick-leave"})
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	for _, o := range mailboxes {
		w := ingest.NewWorker(o, desk, desk)
		wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				t.Errorf("worker: %v", err)
			}
		})
	}
	waitFor(t, 20*time.Second, "the six mails ingested and acted on", func() bool {
		return e.count(t, `SELECT count(*) FROM messages WHERE direction = 'in'`) == 6 &&
			len(s.Folder(t, user, "HR")) == 0 && len(s.Folder(t, user, "HR-done")) == 2 &&
			s.HasFlag(t, user, "INBOX", inbox[3], imap.FlagSeen)
	})
	cancel()
	wg.Wait()
	moved := s.Folder(t, user, "HR-done")

	conv := func(mailbox string, uid uint32) int64 {
		return e.count(t, `SELECT conversation_id FROM messages WHERE mailbox = $1 AND uid = $2`, mailbox, uid)
	}
	// A mailbox since removed from the config: its copy cannot be reached.
	old := e.receive(t, "old", 1, 1, customerMail("payroll@example.com", "o1"))
	e.expire(t, conv("payroll", inbox[0]), conv("payroll", inbox[1]), conv("hr", hr[0]), old)
	// Another client's mail, flagged \Deleted and waiting for its own EXPUNGE.
	other := s.Append(t, user, "INBOX", customerMail("payroll@example.com", "other-client"), imap.FlagDeleted)

	r, err := retention.New(e.st, &retention.Options{Mailboxes: mailboxes, BatchSize: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	dry, err := r.PurgeNow(e.ctx, true, "cli:tester")
	if err != nil {
		t.Fatal(err)
	}
	if dry.Conversations != 4 || dry.IMAPCopies != 4 || len(dry.IMAP) != 0 || len(dry.Listed) != 4 {
		t.Fatalf("dry run: %+v", dry)
	}
	var out strings.Builder
	if err := dry.Write(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "would purge 4 conversation(s)") || strings.Contains(out.String(), "Question") ||
		strings.Count(out.String(), " expired ") != 4 {
		t.Fatalf("dry run listing:\n%s", out.String())
	}
	if got := s.Folder(t, user, "INBOX"); !slices.Equal(got, append(slices.Clone(inbox), other)) {
		t.Fatalf("the dry run changed INBOX: %v", got)
	}

	rep, err := r.PurgeNow(e.ctx, false, "cli:tester")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Conversations != 4 || rep.IMAPCopies != 4 || rep.IMAPDeleted != 3 || rep.IMAPFailed != 0 || rep.IMAPQueued != 1 {
		t.Fatalf("report %+v", rep)
	}
	// The copy of a mailbox this instance does not know stays queued (it
	// is reported to the staff after a week), nothing else does.
	if n := e.count(t, `SELECT count(*) FROM imap_deletions WHERE mailbox = 'old'`); n != 1 || e.count(t, `SELECT count(*) FROM imap_deletions`) != 1 {
		t.Fatalf("queue: %d of mailbox old, want exactly that one", n)
	}
	if got, want := s.Folder(t, user, "INBOX"), []uint32{inbox[2], inbox[3], other}; !slices.Equal(got, want) {
		t.Fatalf("INBOX holds %v, want %v", got, want)
	}
	if !s.HasFlag(t, user, "INBOX", other, imap.FlagDeleted) {
		t.Fatal("another client's mail lost its flag")
	}
	if got := s.Folder(t, user, "HR-done"); !slices.Equal(got, moved[1:]) {
		t.Fatalf("HR-done holds %v, want %v (the kept conversation's copy)", got, moved[1:])
	}
	if n := e.count(t, `SELECT count(*) FROM conversations`); n != 3 {
		t.Fatalf("%d conversations left, want 3", n)
	}
	ds := e.purgeAudits(t)
	if len(ds) != 2 {
		t.Fatalf("%d purge audit records, want 2", len(ds))
	}
	if d := ds[1]; num(d["conversations"]) != 4 || num(d["imap_copies"]) != 4 || num(d["imap_deleted"]) != 3 || num(d["imap_failed"]) != 0 || num(d["imap_queued"]) != 1 || d["dry_run"] != false {
		t.Fatalf("audit detail %v", d)
	}
	out.Reset()
	_ = rep.Write(&out)
	if !strings.Contains(out.String(), "purged 4 conversation(s)") || !strings.Contains(out.String(), "3 deleted from the servers, 1 copies still queued") {
		t.Fatalf("report:\n%s", out.String())
	}
}

// A folder re-created since the mail was fetched (new UIDVALIDITY) holds the
// mail under new UIDs: the copies are found by their content instead.
func TestPurgeFindsCopiesAfterUIDValidityChanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := dovecottest.Start(t)
	user := dovecottest.DefaultUser.Name
	gone, kept := customerMail("payroll@example.com", "v1"), customerMail("payroll@example.com", "v2")
	c1 := e.receive(t, "payroll", 1, 1, gone)
	e.receive(t, "payroll", 1, 2, kept)
	e.expire(t, c1)
	// Since the fetch, the folder was re-created (a server move, a restore):
	// the same mail is in it under another UIDVALIDITY and other UIDs.
	restored := []uint32{s.Append(t, user, "Box", gone), s.Append(t, user, "Box", kept)}
	other := s.Append(t, user, "Box", customerMail("payroll@example.com", "v3"))
	if s.UIDValidity(t, user, "Box") == 1 {
		t.Fatal("test setup: the folder's UIDVALIDITY is the stored one")
	}
	o := &ingest.Options{Name: "payroll", Host: s.Host, Port: s.Port, TLS: ingest.TLSNone, Username: user,
		Password: dovecottest.DefaultUser.Password, Folder: "Box", After: ingest.AfterSeen}

	r, err := retention.New(e.st, &retention.Options{Mailboxes: map[string]*ingest.Options{"payroll": o}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.PurgeNow(e.ctx, false, "cli")
	if err != nil || rep.Conversations != 1 || rep.IMAPDeleted != 1 || rep.IMAPFailed != 0 {
		t.Fatalf("report %+v, %v", rep, err)
	}
	if got, want := s.Folder(t, user, "Box"), []uint32{restored[1], other}; !slices.Equal(got, want) {
		t.Fatalf("Box holds %v, want %v", got, want)
	}
}

// blocker holds the conversations table, so that a purge reaching its
// first batch waits there: the test decides how long a purge runs. (A row
// lock would not do: the purge skips locked rows rather than wait.)
func blocker(t *testing.T, e *env, _ int64) pgx.Tx {
	t.Helper()
	tx, err := e.st.Pool().Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	if _, err := tx.Exec(e.ctx, `LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	return tx
}

func (e *env) expiredConversations(t *testing.T, n int, prefix string) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		ids = append(ids, e.receive(t, "", 0, 0, customerMail("payroll@example.com", fmt.Sprintf("%s%d", prefix, i))))
	}
	e.expire(t, ids...)
	return ids
}

// Two instances asked to purge at the same moment: one purges, the other is
// told another purge is running.
func TestPurgeNowOneAtATime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := e.expiredConversations(t, 20, "c")
	hold := blocker(t, e, ids[0]) // the winner's first batch waits here

	type result struct {
		rep *retention.Report
		err error
	}
	results := make(chan result, 2)
	start := make(chan struct{})
	for i, st := range []*store.Store{e.st, e.second(t)} {
		r, err := retention.New(st, &retention.Options{BatchSize: 5, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			<-start
			rep, err := r.PurgeNow(e.ctx, false, fmt.Sprintf("cli:instance%d", i))
			results <- result{rep, err}
		}()
	}
	close(start)
	var first result
	select {
	case first = <-results:
	case <-time.After(20 * time.Second):
		t.Fatal("neither purge returned")
	}
	if !errors.Is(first.err, retention.ErrRunning) || !strings.Contains(first.err.Error(), "another purge is running") {
		t.Fatalf("the second purge: %+v, want ErrRunning", first)
	}
	if err := hold.Rollback(e.ctx); err != nil {
		t.Fatal(err)
	}
	second := <-results
	if second.err != nil || second.rep.Conversations != 20 {
		t.Fatalf("the purge: %+v, %v", second.rep, second.err)
	}
	ds := e.purgeAudits(t)
	if len(ds) != 1 || num(ds[0]["conversations"]) != 20 {
		t.Fatalf("purge audit records %v, want one of 20 conversations", ds)
	}
	// The lock is free again.
	r, _ := retention.New(e.st, nil)
	if rep, err := r.PurgeNow(e.ctx, true, ""); err != nil || rep.Conversations != 0 || rep.Actor != "cli" {
		t.Fatalf("after: %+v, %v", rep, err)
	}
}

// Two instances whose schedules fire in the same minute purge once: the
// lock keeps the second out while the first runs, and a scheduled purge
// within the last 12 hours keeps later firings of that slot out.
func TestScheduledPurgeRunsOnceAcrossInstances(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := e.expiredConversations(t, 10, "s")
	hold := blocker(t, e, ids[0])

	day := time.Now().UTC().Truncate(24 * time.Hour)
	type instance struct {
		r   *retention.Retention
		clk *clockwork.FakeClock
		log *logRecorder
	}
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	var ins []instance
	for i, st := range []*store.Store{e.st, e.second(t)} {
		clk := clockwork.NewFakeClockAt(day.Add(3*time.Hour + 29*time.Minute))
		lg, rec := newLogRecorder(fmt.Sprintf("instance%d", i))
		r, err := retention.New(st, &retention.Options{At: "03:30", Location: time.UTC, Clock: clk, BatchSize: 3, Logger: lg})
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, instance{r, clk, rec})
		wg.Go(func() {
			if err := r.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	for _, in := range ins {
		if err := in.clk.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range ins {
		in.clk.Advance(time.Minute) // 03:30 on both
	}
	skips := func(what string) int {
		n := 0
		for _, in := range ins {
			if in.log.has(what) {
				n++
			}
		}
		return n
	}
	const lockSkip = "another instance holds the lock"
	waitFor(t, 20*time.Second, "one instance to skip the job for the lock", func() bool { return skips(lockSkip) == 1 })
	if err := hold.Rollback(e.ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the purge", func() bool { return ins[0].r.Last() != nil || ins[1].r.Last() != nil })
	ds := e.purgeAudits(t)
	if len(ds) != 1 || num(ds[0]["conversations"]) != 10 {
		t.Fatalf("purge audit records %v, want one of 10 conversations\n%s\n%s", ds, ins[0].log.all(), ins[1].log.all())
	}
	if e.count(t, `SELECT count(*) FROM conversations`) != 0 {
		t.Fatal("conversations left")
	}

	// The same slot firing again later (clocks apart by a day here, by
	// minutes in life) finds the purge done and skips, though there is
	// something to purge now.
	e.expiredConversations(t, 2, "late")
	for _, in := range ins {
		if err := in.clk.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		in.clk.Advance(24 * time.Hour)
	}
	const slotSkip = "purged within the last 12 hours"
	waitFor(t, 20*time.Second, "both instances to skip the done slot", func() bool {
		return skips(slotSkip)+skips(lockSkip) >= 2 && skips(slotSkip) >= 1
	})
	time.Sleep(200 * time.Millisecond) // let a wrong second purge show itself
	if ds := e.purgeAudits(t); len(ds) != 1 {
		t.Fatalf("%d purge audit records after the slot fired again, want 1\n%s\n%s", len(ds), ins[0].log.all(), ins[1].log.all())
	}
}

func TestNewChecksAt(t *testing.T) {
	t.Parallel()
	for _, at := range []string{"25:00", "3.30", "noon"} {
		if _, err := retention.New(nil, &retention.Options{At: at}); err == nil {
			t.Errorf("At %q: no error", at)
		}
	}
	if _, err := retention.New(nil, &retention.Options{At: "23:59"}); err != nil {
		t.Errorf("At 23:59: %v", err)
	}
}

// The same mail delivered to two mailboxes is stored once, with the second
// server copy recorded against it: the purge deletes both copies, and
// nothing else.
func TestPurgeRemovesEveryCopyOfADuplicate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := dovecottest.Start(t)
	user := dovecottest.DefaultUser.Name
	raw := customerMail("payroll@example.com", "twice")
	inUID := s.Append(t, user, "INBOX", raw)
	otherUID := s.Append(t, user, "INBOX", customerMail("payroll@example.com", "kept"))
	// The second mailbox's server added its own trace fields.
	twinUID := s.Append(t, user, "Twin", append([]byte("Received: from mx2.example.com by imap.example.com\r\nDelivered-To: payroll-archive@example.com\r\n"), raw...))
	conv := e.receive(t, "payroll", s.UIDValidity(t, user, "INBOX"), inUID, raw)
	e.receive(t, "payroll", s.UIDValidity(t, user, "INBOX"), otherUID, customerMail("payroll@example.com", "kept"))
	twin, err := e.svc.Receive(e.ctx, conversation.Inbound{Mailbox: "twin", UIDValidity: s.UIDValidity(t, user, "Twin"), UID: twinUID,
		Raw:             append([]byte("Received: from mx2.example.com by imap.example.com\r\nDelivered-To: payroll-archive@example.com\r\n"), raw...),
		DefaultCategory: "payroll"})
	if err != nil || !twin.Duplicate || twin.ConversationID != conv {
		t.Fatalf("the twin delivery: %+v %v, want a duplicate in conversation %d", twin, err, conv)
	}
	if n := e.count(t, `SELECT count(*) FROM messages WHERE direction = 'in'`); n != 2 {
		t.Fatalf("%d inbound messages, want 2", n)
	}
	e.expire(t, conv)
	opts := func(folder string) *ingest.Options {
		return &ingest.Options{Name: folder, Host: s.Host, Port: s.Port, TLS: ingest.TLSNone, Username: user,
			Password: dovecottest.DefaultUser.Password, Folder: folder, After: ingest.AfterSeen, Logger: slog.New(slog.DiscardHandler)}
	}
	r, err := retention.New(e.st, &retention.Options{Mailboxes: map[string]*ingest.Options{"payroll": opts("INBOX"), "twin": opts("Twin")},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.PurgeNow(e.ctx, false, "cli")
	if err != nil || rep.Conversations != 1 || rep.IMAPCopies != 2 || rep.IMAPDeleted != 2 || rep.IMAPFailed != 0 {
		t.Fatalf("report %+v, %v", rep, err)
	}
	if got := s.Folder(t, user, "INBOX"); !slices.Equal(got, []uint32{otherUID}) {
		t.Fatalf("INBOX holds %v, want only the kept mail %d", got, otherUID)
	}
	if got := s.Folder(t, user, "Twin"); len(got) != 0 {
		t.Fatalf("Twin holds %v, want nothing", got)
	}
}
