package ingest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"postdesk/internal/dovecottest"
)

// The worker suite runs against real IMAP servers: go-imap's in-memory server
// with three capability sets (MOVE+UIDPLUS, UIDPLUS only, neither) and a
// private Dovecot. Only the Store and the Locker are test implementations.

const within = 10 * time.Second // generous bound for "eventually"; tests finish far sooner

type backend struct {
	name          string
	srv           testServer
	user, pass    string
	host          string
	port          int
	move, uidplus bool
	dovecot       *dovecottest.Server // nil for the in-memory server
	folders       atomic.Int32
	// lists serialises the parallel tests' changes to the folder list.
	// Dovecot 2.3.19 answered a CREATE of a fresh name with ALREADYEXISTS
	// twice in CI (all packages at once, under -race) while the suite's
	// first CREATEs ran side by side; one at a time, they cost a few
	// milliseconds.
	lists sync.Mutex
}

// folder creates a fresh folder for one test, so tests share a server.
func (b *backend) folder(t *testing.T) string {
	f := fmt.Sprintf("t%02d", b.folders.Add(1))
	b.create(t, f)
	return f
}

// create creates a folder, one change of the folder list at a time.
func (b *backend) create(t *testing.T, folder string) {
	t.Helper()
	b.lists.Lock()
	defer b.lists.Unlock()
	b.srv.CreateFolder(t, b.user, folder)
}

// recreate deletes a folder and creates it again (a new UIDVALIDITY), in
// one change of the folder list.
func (b *backend) recreate(t *testing.T, folder string) {
	t.Helper()
	b.lists.Lock()
	defer b.lists.Unlock()
	b.srv.DeleteFolder(t, b.user, folder)
	b.srv.CreateFolder(t, b.user, folder)
}

func (b *backend) options(folder string) *Options {
	return &Options{
		Name:         b.name + "/" + folder,
		Host:         b.host,
		Port:         b.port,
		TLS:          TLSNone,
		Username:     b.user,
		Password:     b.pass,
		Folder:       folder,
		PollInterval: 200 * time.Millisecond,
		SafetyPoll:   2 * time.Second,
	}
}

func memBackend(t *testing.T, name string, caps ...imap.Cap) *backend {
	set := imap.CapSet{imap.CapIMAP4rev1: {}}
	for _, c := range caps {
		set[c] = struct{}{}
	}
	addr, admin := startMemServer(t, "postdesk", "secret", set)
	host, port := splitAddr(t, addr)
	return &backend{name: name, srv: admin, user: "postdesk", pass: "secret", host: host, port: port,
		move: set.Has(imap.CapMove), uidplus: set.Has(imap.CapUIDPlus)}
}

func splitAddr(t *testing.T, addr string) (string, int) {
	var host string
	var port int
	i := strings.LastIndexByte(addr, ':')
	host = addr[:i]
	if _, err := fmt.Sscan(addr[i+1:], &port); err != nil {
		t.Fatal(err)
	}
	return host, port
}

type suiteCase struct {
	name string
	fn   func(t *testing.T, b *backend)
}

var suite = []suiteCase{
	{"DeliversInUIDOrderOnce", testDeliversInUIDOrderOnce},
	{"AfterMove", testAfterMove},
	{"AfterDeleteUsesUIDExpunge", testAfterDelete},
	{"AfterActionRefused", testAfterRefused},
	{"DeliverFailsOnceThenRetried", testDeliverFailsOnce},
	{"CrashAfterCommitBeforeAfterAction", testCrashAfterCommit},
	{"CrashBetweenFetchAndCommit", testCrashBeforeCommit},
	{"UIDValidityChangeRescans", testUIDValidityChange},
	{"IdleWakesOnNewMail", testIdleWakes},
	{"OversizeMailHeaderOnly", testTooLarge},
	{"PollingWithoutIdle", testPolling},
	{"TwoWorkersOneLease", testTwoWorkers},
	{"LeaseLostEndsSession", testLeaseLost},
}

func runSuite(t *testing.T, b *backend, extra ...suiteCase) {
	for _, c := range append(slices.Clone(suite), extra...) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, b)
		})
	}
}

func TestWorkerMemServer(t *testing.T) {
	t.Run("move+uidplus", func(t *testing.T) {
		runSuite(t, memBackend(t, "mem", imap.CapUIDPlus, imap.CapMove))
	})
	t.Run("uidplus-no-move", func(t *testing.T) {
		runSuite(t, memBackend(t, "mem-uidplus", imap.CapUIDPlus))
	})
	t.Run("no-move-no-uidplus", func(t *testing.T) {
		runSuite(t, memBackend(t, "mem-rev1"))
	})
}

func TestWorkerDovecot(t *testing.T) {
	s := dovecottest.Start(t, dovecottest.User{Name: "postdesk", Password: "secret"})
	t.Logf("dovecot %s", s.Version)
	b := &backend{name: "dovecot", srv: s, user: "postdesk", pass: "secret", host: s.Host, port: s.Port,
		move: true, uidplus: true, dovecot: s}
	runSuite(t, b,
		suiteCase{"ImplicitTLS", testTLS(TLSImplicit)},
		suiteCase{"STARTTLS", testTLS(TLSStartTLS)},
	)
}

// waitStored waits until the store holds n mails.
func waitStored(t *testing.T, st *memStore, n int) []storedMail {
	t.Helper()
	waitFor(t, within, fmt.Sprintf("%d stored mails", n), func() bool { return len(st.stored()) >= n })
	got := st.stored()
	if len(got) != n {
		t.Fatalf("stored %d mails, want %d: %v", len(got), n, idsOf(got))
	}
	return got
}

// waitPolls waits until the store has seen n more successful polls (Health
// with Connected) than before.
func waitPolls(t *testing.T, st *memStore, before, n int) {
	t.Helper()
	waitFor(t, within, fmt.Sprintf("%d polls", n), func() bool {
		c := 0
		for _, h := range st.healthReports()[before:] {
			if h.Connected {
				c++
			}
		}
		return c >= n
	})
}

func idsOf(ms []storedMail) []string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.MessageID)
	}
	return ids
}

func testDeliversInUIDOrderOnce(t *testing.T, b *backend) {
	f := b.folder(t)
	var uids []uint32
	for i := range 3 {
		uids = append(uids, b.srv.Append(t, b.user, f, rawMail(fmt.Sprintf("order%d", i), "hello")))
	}
	st := newMemStore()
	opts := b.options(f)
	start(t, opts, st, newMemLocker(), nil)
	waitStored(t, st, 3)
	uids = append(uids, b.srv.Append(t, b.user, f, rawMail("order3", "later")))
	got := waitStored(t, st, 4)

	for i, m := range got {
		if m.UID != uids[i] || m.MessageID != msgID(fmt.Sprintf("order%d", i)) {
			t.Errorf("stored[%d] = UID %d %s, want UID %d order%d", i, m.UID, m.MessageID, uids[i], i)
		}
		if m.TooLarge || m.Size != int64(len(m.Raw)) || m.InternalDate.IsZero() || m.UIDValidity == 0 {
			t.Errorf("stored[%d]: TooLarge=%v Size=%d len(Raw)=%d InternalDate=%v UIDValidity=%d", i, m.TooLarge, m.Size, len(m.Raw), m.InternalDate, m.UIDValidity)
		}
	}
	if !bytes.Equal(got[3].Raw, rawMail("order3", "later")) {
		t.Errorf("Raw = %q, want the appended bytes", got[3].Raw)
	}
	if n := st.callCount(); n != 4 {
		t.Errorf("Deliver called %d times, want 4", n)
	}
	if c := st.cursor(opts.Name); c.LastUID != uids[3] {
		t.Errorf("cursor = %+v, want LastUID %d", c, uids[3])
	}
	// After "seen" (the default): every mail flagged, applied after Deliver.
	waitFor(t, within, `\Seen on all`, func() bool {
		for _, u := range uids {
			if !b.srv.HasFlag(t, b.user, f, u, imap.FlagSeen) {
				return false
			}
		}
		return true
	})
	hs := st.healthReports()
	h := hs[len(hs)-1]
	if !h.Connected || h.LastError != "" || !h.IdleSupported || h.LastSuccess.IsZero() {
		t.Errorf("last health = %+v", h)
	}
}

func testAfterMove(t *testing.T, b *backend) {
	f := b.folder(t)
	archive := "Archive-" + f
	b.create(t, archive)
	u1 := b.srv.Append(t, b.user, f, rawMail("move1", "x"))
	u2 := b.srv.Append(t, b.user, f, rawMail("move2", "y"))
	st := newMemStore()
	opts := b.options(f)
	opts.After = "move:" + archive
	start(t, opts, st, newMemLocker(), nil)
	waitStored(t, st, 2)
	waitFor(t, within, "2 mails in "+archive, func() bool { return len(b.srv.Folder(t, b.user, archive)) == 2 })
	switch {
	case b.move || b.uidplus:
		// UID MOVE, or UID COPY + \Deleted + UID EXPUNGE.
		waitFor(t, within, f+" empty", func() bool { return len(b.srv.Folder(t, b.user, f)) == 0 })
	default:
		// Neither MOVE nor UIDPLUS: copied, left \Deleted \Seen, never a
		// plain EXPUNGE.
		for _, u := range []uint32{u1, u2} {
			waitFor(t, within, `\Deleted and \Seen`, func() bool {
				fl := b.srv.Flags(t, b.user, f, u)
				return slices.Contains(fl, imap.FlagDeleted) && slices.Contains(fl, imap.FlagSeen)
			})
		}
	}
	if len(st.stored()) != 2 {
		t.Errorf("stored %v", idsOf(st.stored()))
	}
}

func testAfterDelete(t *testing.T, b *backend) {
	f := b.folder(t)
	// Another client's mail, flagged \Deleted but not expunged, already
	// behind the cursor.
	other := b.srv.Append(t, b.user, f, rawMail("other", "keep me"), imap.FlagDeleted)
	st := newMemStore()
	opts := b.options(f)
	opts.After = AfterDelete
	st.setCursor(opts.Name, Cursor{UIDValidity: b.srv.UIDValidity(t, b.user, f), LastUID: other})
	mine := b.srv.Append(t, b.user, f, rawMail("mine", "delete me"))
	start(t, opts, st, newMemLocker(), nil)
	got := waitStored(t, st, 1)
	if got[0].UID != mine {
		t.Fatalf("stored UID %d, want %d", got[0].UID, mine)
	}
	if b.uidplus {
		waitFor(t, within, "only the other client's mail left", func() bool {
			return slices.Equal(b.srv.Folder(t, b.user, f), []uint32{other})
		})
	} else {
		waitFor(t, within, `mine \Deleted and \Seen`, func() bool {
			fl := b.srv.Flags(t, b.user, f, mine)
			return slices.Contains(fl, imap.FlagDeleted) && slices.Contains(fl, imap.FlagSeen)
		})
		if got := b.srv.Folder(t, b.user, f); !slices.Equal(got, []uint32{other, mine}) {
			t.Errorf("folder = %v, want both mails (no EXPUNGE without UIDPLUS)", got)
		}
	}
	if !b.srv.HasFlag(t, b.user, f, other, imap.FlagDeleted) {
		t.Error(`the other client's mail lost its \Deleted flag`)
	}
}

// A refused After action (here: move to a missing folder) cannot undo the
// commit: the mail stays in the folder, Health reports it, the worker goes on.
func testAfterRefused(t *testing.T, b *backend) {
	f := b.folder(t)
	u1 := b.srv.Append(t, b.user, f, rawMail("refused1", "x"))
	st := newMemStore()
	opts := b.options(f)
	opts.After = "move:Missing-" + f
	start(t, opts, st, newMemLocker(), nil)
	waitStored(t, st, 1)
	u2 := b.srv.Append(t, b.user, f, rawMail("refused2", "y"))
	waitStored(t, st, 2)
	waitFor(t, within, "Health with the refusal", func() bool {
		return slices.ContainsFunc(st.healthReports(), func(h Health) bool {
			return h.Connected && strings.Contains(h.LastError, "after move:Missing-"+f)
		})
	})
	if got := b.srv.Folder(t, b.user, f); !slices.Equal(got, []uint32{u1, u2}) {
		t.Errorf("folder = %v, want both mails still there", got)
	}
	if n := st.callCount(); n != 2 {
		t.Errorf("Deliver called %d times, want 2", n)
	}
}

func testDeliverFailsOnce(t *testing.T, b *backend) {
	f := b.folder(t)
	u := b.srv.Append(t, b.user, f, rawMail("retry", "x"))
	st := newMemStore()
	gate := make(chan uint32)
	release := make(chan struct{})
	var failed atomic.Bool
	st.hook = func(ctx context.Context, m Fetched) error {
		if !failed.CompareAndSwap(false, true) {
			return nil
		}
		select {
		case gate <- m.UID:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return errInjected
	}
	start(t, b.options(f), st, newMemLocker(), nil)
	select {
	case got := <-gate:
		if got != u {
			t.Fatalf("Deliver got UID %d, want %d", got, u)
		}
	case <-time.After(within):
		t.Fatal("Deliver not called")
	}
	// Inside the failing Deliver: the After action must not have run.
	if b.srv.HasFlag(t, b.user, f, u, imap.FlagSeen) {
		t.Error(`\Seen set before Deliver succeeded`)
	}
	close(release)
	waitStored(t, st, 1)
	waitFor(t, within, `\Seen after the retry`, func() bool { return b.srv.HasFlag(t, b.user, f, u, imap.FlagSeen) })
	if n := st.callCount(); n != 2 {
		t.Errorf("Deliver called %d times, want 2 (one failure, one retry)", n)
	}
	if !slices.ContainsFunc(st.healthReports(), func(h Health) bool { return strings.Contains(h.LastError, errInjected.Error()) }) {
		t.Errorf("no Health with the Deliver error: %+v", st.healthReports())
	}
}

func testCrashAfterCommit(t *testing.T, b *backend) {
	f := b.folder(t)
	u := b.srv.Append(t, b.user, f, rawMail("crash-after", "x"))
	st := newMemStore()
	lk := newMemLocker()
	opts := b.options(f)
	r1 := start(t, opts, st, lk, func(w *Worker, r *running) {
		w.beforeAfter = func(uint32) { r.cancel() } // "crash" right after the commit
	})
	waitStored(t, st, 1)
	r1.wait()
	if b.srv.HasFlag(t, b.user, f, u, imap.FlagSeen) {
		t.Fatal(`\Seen set although the worker stopped before the After action`)
	}

	// Restart: the cursor skips the stored mail.
	polls := len(st.healthReports())
	opts2 := b.options(f)
	start(t, opts2, st, lk, nil)
	waitPolls(t, st, polls, 1)
	u2 := b.srv.Append(t, b.user, f, rawMail("crash-after-2", "y"))
	got := waitStored(t, st, 2)
	if got[0].UID != u || got[1].UID != u2 {
		t.Errorf("stored UIDs %d, %d; want %d, %d", got[0].UID, got[1].UID, u, u2)
	}
	if n := st.callCount(); n != 2 {
		t.Errorf("Deliver called %d times, want 2: the committed mail was fetched again", n)
	}
	// The After action of the crashed mail is not replayed: it stays in
	// the folder, unflagged, and nothing is lost.
	waitFor(t, within, `\Seen on the new mail`, func() bool { return b.srv.HasFlag(t, b.user, f, u2, imap.FlagSeen) })
	if b.srv.HasFlag(t, b.user, f, u, imap.FlagSeen) {
		t.Error(`crashed mail got \Seen on restart: the worker refetched it`)
	}
}

func testCrashBeforeCommit(t *testing.T, b *backend) {
	f := b.folder(t)
	u := b.srv.Append(t, b.user, f, rawMail("crash-before", "x"))
	st := newMemStore()
	lk := newMemLocker()
	var crash atomic.Pointer[context.CancelFunc]
	st.hook = func(ctx context.Context, m Fetched) error {
		if c := crash.Swap(nil); c != nil {
			// The process dies inside the transaction: rolled back. (The
			// worker's own shutdown would let the delivery finish; a crash
			// does not.)
			(*c)()
			return context.Canceled
		}
		return nil
	}
	r1 := start(t, b.options(f), st, lk, func(w *Worker, r *running) {
		cancel := r.cancel
		crash.Store(&cancel)
	})
	waitFor(t, within, "the crashing Deliver", func() bool { return st.callCount() == 1 })
	r1.wait()
	if n := len(st.stored()); n != 0 {
		t.Fatalf("stored %d mails in a rolled-back Deliver", n)
	}
	if b.srv.HasFlag(t, b.user, f, u, imap.FlagSeen) {
		t.Fatal(`\Seen set although Deliver failed`)
	}

	start(t, b.options(f), st, lk, nil)
	got := waitStored(t, st, 1)
	if got[0].UID != u {
		t.Errorf("stored UID %d, want %d", got[0].UID, u)
	}
	waitFor(t, within, `\Seen after the restart`, func() bool { return b.srv.HasFlag(t, b.user, f, u, imap.FlagSeen) })
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dupes != 0 || len(st.mails) != 1 {
		t.Errorf("stored %d mails, dupes %d", len(st.mails), st.dupes)
	}
}

func testUIDValidityChange(t *testing.T, b *backend) {
	f := b.folder(t)
	b.srv.Append(t, b.user, f, rawMail("uv-a", "a"))
	b.srv.Append(t, b.user, f, rawMail("uv-b", "b"))
	st := newMemStore()
	lk := newMemLocker()
	opts := b.options(f)
	r1 := start(t, opts, st, lk, nil)
	waitStored(t, st, 2)
	r1.stop()
	v1 := b.srv.UIDValidity(t, b.user, f)

	// The folder is deleted and re-created (say, restored from a backup):
	// the same mails come back under new UIDs, plus a new one.
	b.recreate(t, f)
	v2 := b.srv.UIDValidity(t, b.user, f)
	if v1 == v2 {
		t.Fatalf("UIDVALIDITY unchanged (%d) after delete and create", v1)
	}
	b.srv.Append(t, b.user, f, rawMail("uv-a", "a"))
	b.srv.Append(t, b.user, f, rawMail("uv-b", "b"))
	uc := b.srv.Append(t, b.user, f, rawMail("uv-c", "c"))

	start(t, b.options(f), st, lk, nil)
	got := waitStored(t, st, 3)
	if ids := idsOf(got); !slices.Equal(ids, []string{msgID("uv-a"), msgID("uv-b"), msgID("uv-c")}) {
		t.Errorf("stored %v", ids)
	}
	waitFor(t, within, "cursor at the new mail", func() bool { return st.cursor(opts.Name) == Cursor{UIDValidity: v2, LastUID: uc} })
	st.mu.Lock()
	defer st.mu.Unlock()
	if !slices.Equal(st.resets, []uint32{v1, v2}) {
		t.Errorf("ResetCursor calls %v, want [%d %d]", st.resets, v1, v2)
	}
	if st.dupes != 2 {
		t.Errorf("%d Deliver calls recognised as duplicates, want 2 (the rescan of a and b)", st.dupes)
	}
}

func testIdleWakes(t *testing.T, b *backend) {
	f := b.folder(t)
	st := newMemStore()
	opts := b.options(f)
	opts.PollInterval = time.Hour // only IDLE can bring the mail in time
	opts.SafetyPoll = time.Hour
	idling := make(chan struct{}, 1)
	start(t, opts, st, newMemLocker(), func(w *Worker, r *running) {
		w.idling = func() {
			select {
			case idling <- struct{}{}:
			default:
			}
		}
	})
	select {
	case <-idling:
	case <-time.After(within):
		t.Fatal("the worker never started IDLE")
	}
	// go-imap's server (v2.0.0-beta.8) answers "+ idling" before its
	// SessionTracker.Idle listens, and that Idle does not flush what was
	// queued meanwhile: an EXISTS in that gap waits for the next change (in
	// production the SafetyPoll covers such servers). Let it settle first.
	time.Sleep(100 * time.Millisecond)
	b.srv.Append(t, b.user, f, rawMail("idle", "x"))
	waitFor(t, 5*time.Second, "the mail announced during IDLE", func() bool { return len(st.stored()) == 1 })
}

func testTooLarge(t *testing.T, b *backend) {
	f := b.folder(t)
	big := rawMail("big", strings.Repeat("0123456789abcdef\r\n", 300))
	small := rawMail("small", "tiny")
	ub := b.srv.Append(t, b.user, f, big)
	us := b.srv.Append(t, b.user, f, small)
	st := newMemStore()
	opts := b.options(f)
	opts.MaxSize = 2000
	start(t, opts, st, newMemLocker(), nil)
	got := waitStored(t, st, 2)

	header := big[:bytes.Index(big, []byte("\r\n\r\n"))+4]
	if m := got[0]; m.UID != ub || !m.TooLarge || m.Size != int64(len(big)) || !bytes.Equal(m.Raw, header) {
		t.Errorf("big: UID %d TooLarge %v Size %d Raw %q; want UID %d, TooLarge, Size %d, the header only", m.UID, m.TooLarge, m.Size, m.Raw, ub, len(big))
	}
	if m := got[1]; m.UID != us || m.TooLarge || !bytes.Equal(m.Raw, small) {
		t.Errorf("small: UID %d TooLarge %v Raw %q", m.UID, m.TooLarge, m.Raw)
	}
	waitFor(t, within, `\Seen on the big one`, func() bool { return b.srv.HasFlag(t, b.user, f, ub, imap.FlagSeen) })
}

func testPolling(t *testing.T, b *backend) {
	f := b.folder(t)
	st := newMemStore()
	opts := b.options(f)
	opts.DisableIdle = true
	opts.PollInterval = 50 * time.Millisecond
	opts.SafetyPoll = time.Hour
	var idled atomic.Bool
	start(t, opts, st, newMemLocker(), func(w *Worker, r *running) {
		w.idling = func() { idled.Store(true) }
	})
	waitPolls(t, st, 0, 2)
	b.srv.Append(t, b.user, f, rawMail("polled", "x"))
	waitStored(t, st, 1)
	if idled.Load() {
		t.Error("the worker used IDLE although DisableIdle is set")
	}
}

func testTwoWorkers(t *testing.T, b *backend) {
	f := b.folder(t)
	st := newMemStore()
	lk := newMemLocker()
	ra := start(t, b.options(f), tagStore{st, "A"}, lk, nil)
	waitPolls(t, st, 0, 1) // A holds the lease
	start(t, b.options(f), tagStore{st, "B"}, lk, nil)

	b.srv.Append(t, b.user, f, rawMail("two-1", "x"))
	got := waitStored(t, st, 1)
	if got[0].By != "A" {
		t.Errorf("first mail delivered by %s, want A (the lease holder)", got[0].By)
	}
	if acquired, _, _ := lk.stats(); acquired != 1 {
		t.Errorf("lease acquired %d times while A runs, want 1", acquired)
	}

	ra.stop()
	b.srv.Append(t, b.user, f, rawMail("two-2", "y"))
	got = waitStored(t, st, 2)
	if got[1].By != "B" {
		t.Errorf("second mail delivered by %s, want B (took over)", got[1].By)
	}
	if _, _, maxHeld := lk.stats(); maxHeld != 1 {
		t.Errorf("lease held by %d workers at once", maxHeld)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.maxConc != 1 || st.dupes != 0 || len(st.calls) != 2 {
		t.Errorf("concurrent Delivers %d, dupes %d, calls %v", st.maxConc, st.dupes, st.calls)
	}
}

func testLeaseLost(t *testing.T, b *backend) {
	f := b.folder(t)
	st := newMemStore()
	lk := newMemLocker()
	opts := b.options(f)
	start(t, opts, st, lk, nil)
	waitPolls(t, st, 0, 1)
	lk.revoke(opts.Name)
	waitFor(t, within, "the lease acquired again", func() bool {
		acquired, holders, _ := lk.stats()
		return acquired == 2 && holders == 1
	})
	b.srv.Append(t, b.user, f, rawMail("after-loss", "x"))
	waitStored(t, st, 1)
}

func testTLS(mode string) func(t *testing.T, b *backend) {
	return func(t *testing.T, b *backend) {
		f := b.folder(t)
		u := b.srv.Append(t, b.user, f, rawMail("tls-"+mode, "x"))
		st := newMemStore()
		opts := b.options(f)
		opts.TLS = mode
		opts.TLSConfig = b.dovecot.TLSConfig()
		if mode == TLSImplicit {
			opts.Port = b.dovecot.TLSPort
		}
		start(t, opts, st, newMemLocker(), nil)
		got := waitStored(t, st, 1)
		if got[0].UID != u {
			t.Errorf("stored UID %d, want %d", got[0].UID, u)
		}
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, o := range []Options{
		{},
		{Host: "h", TLS: "ssl"},
		{Host: "h", After: "archive"},
		{Host: "h", After: "move:"},
		{Host: "h", After: "move:INBOX"},
		{Host: "h", IdleRestart: 29 * time.Minute},
		{Host: "h", Port: 70000},
	} {
		w := NewWorker(&o, newMemStore(), newMemLocker())
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := w.Run(ctx)
		cancel()
		if err == nil {
			t.Errorf("Run(%+v) = nil, want an options error", o)
		}
	}
}

func TestLoginFailureBacksOff(t *testing.T) {
	addr, _ := startMemServer(t, "postdesk", "secret", imap.CapSet{imap.CapIMAP4rev1: {}})
	host, port := splitAddr(t, addr)
	st := newMemStore()
	r := start(t, &Options{Name: "bad", Host: host, Port: port, TLS: TLSNone, Username: "postdesk", Password: "wrong"}, st, newMemLocker(), nil)
	waitFor(t, within, "three failed attempts", func() bool {
		n := 0
		for _, h := range st.healthReports() {
			if !h.Connected && strings.Contains(h.LastError, "login") {
				n++
			}
		}
		return n >= 3
	})
	r.stop() // Run returns nil on cancel even while backing off
	if n := len(st.stored()); n != 0 {
		t.Errorf("stored %d", n)
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: time.Second, max: 5 * time.Minute}
	want := time.Second
	for range 12 {
		d := b.next()
		if d < want/2 || d > want {
			t.Fatalf("next() = %v, want in [%v, %v]", d, want/2, want)
		}
		want = min(2*want, 5*time.Minute)
	}
	b.reset()
	if d := b.next(); d > time.Second {
		t.Fatalf("after reset next() = %v", d)
	}
}
