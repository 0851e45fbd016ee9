package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/mail"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"postdesk/conversation"
)

// ---- in-memory Store -------------------------------------------------------

type storedMail struct {
	Mailbox   string
	MessageID string
	By        string // which worker delivered it (tagStore)
	Fetched
}

// memStore is an in-memory Store that behaves like the real one: Deliver
// stores the mail and moves the cursor atomically, and dedupes by (mailbox,
// UIDVALIDITY, UID) and by content (conversation.ContentKey).
type memStore struct {
	// hook, when set (before the worker starts), runs at the start of
	// every Deliver; an error aborts that Deliver (nothing stored, cursor
	// unmoved), as a failed transaction would.
	hook func(ctx context.Context, m Fetched) error

	mu          sync.Mutex
	cursors     map[string]Cursor
	mails       []storedMail
	keys        map[string]bool
	msgIDs      map[string]bool // by content key
	calls       []uint32        // UIDs of every Deliver call, failed ones included
	dupes       int             // Deliver calls recognised as already stored
	resets      []uint32
	health      []Health
	quarantined []quarantinedMail
	inFlight    int // concurrent Deliver calls now
	maxConc     int
}

func newMemStore() *memStore {
	return &memStore{cursors: map[string]Cursor{}, keys: map[string]bool{}, msgIDs: map[string]bool{}}
}

func (s *memStore) Cursor(ctx context.Context, mailbox string) (Cursor, error) {
	if err := ctx.Err(); err != nil {
		return Cursor{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursors[mailbox], nil
}

func (s *memStore) ResetCursor(ctx context.Context, mailbox string, uidValidity, importUntil uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursors[mailbox] = Cursor{UIDValidity: uidValidity, ImportUntil: importUntil}
	s.resets = append(s.resets, uidValidity)
	return nil
}

func (s *memStore) Health(ctx context.Context, mailbox string, h Health) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health = append(s.health, h)
	return nil
}

func (s *memStore) Deliver(ctx context.Context, mailbox string, m Fetched) error {
	return s.deliver(ctx, mailbox, m, "")
}

func (s *memStore) deliver(ctx context.Context, mailbox string, m Fetched, by string) error {
	s.mu.Lock()
	s.calls = append(s.calls, m.UID)
	s.inFlight++
	s.maxConc = max(s.maxConc, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if s.hook != nil {
		if err := s.hook(ctx, m); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil { // the transaction would roll back
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return fmt.Errorf("memstore: parse UID %d: %v", m.UID, err)
	}
	msgID := msg.Header.Get("Message-ID")

	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cursors[mailbox]
	if cur.UIDValidity != m.UIDValidity {
		return fmt.Errorf("memstore: UIDVALIDITY %d, cursor has %d", m.UIDValidity, cur.UIDValidity)
	}
	if m.UID > cur.LastUID {
		s.cursors[mailbox] = Cursor{UIDValidity: m.UIDValidity, LastUID: m.UID, ImportUntil: cur.ImportUntil}
	}
	key := fmt.Sprintf("%s/%d/%d", mailbox, m.UIDValidity, m.UID)
	content := string(conversation.ContentKey(m.Raw))
	if s.keys[key] || s.msgIDs[content] {
		s.dupes++
		return nil
	}
	s.keys[key] = true
	s.msgIDs[content] = true
	s.mails = append(s.mails, storedMail{Mailbox: mailbox, MessageID: msgID, By: by, Fetched: m})
	return nil
}

// Quarantine records the mail as quarantined and moves the cursor, as the
// real store does in one transaction.
func (s *memStore) Quarantine(ctx context.Context, mailbox string, m Fetched, cause error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cursors[mailbox]
	if m.UID > cur.LastUID {
		s.cursors[mailbox] = Cursor{UIDValidity: m.UIDValidity, LastUID: m.UID, ImportUntil: cur.ImportUntil}
	}
	s.quarantined = append(s.quarantined, quarantinedMail{UID: m.UID, Cause: cause.Error()})
	return nil
}

type quarantinedMail struct {
	UID   uint32
	Cause string
}

func (s *memStore) quarantine() []quarantinedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.quarantined)
}

func (s *memStore) stored() []storedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mails)
}

func (s *memStore) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func (s *memStore) healthReports() []Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.health)
}

func (s *memStore) cursor(mailbox string) Cursor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursors[mailbox]
}

func (s *memStore) setCursor(mailbox string, c Cursor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursors[mailbox] = c
}

// tagStore is one worker's view of a shared memStore that records which
// worker delivered each mail.
type tagStore struct {
	*memStore
	tag string
}

func (s tagStore) Deliver(ctx context.Context, mailbox string, m Fetched) error {
	return s.deliver(ctx, mailbox, m, s.tag)
}

// ---- in-memory Locker ------------------------------------------------------

type memLocker struct {
	mu       sync.Mutex
	tokens   map[string]chan struct{}
	current  map[string]*memLease
	acquired int
	holders  int
	maxHeld  int
}

func newMemLocker() *memLocker {
	return &memLocker{tokens: map[string]chan struct{}{}, current: map[string]*memLease{}}
}

func (l *memLocker) token(mailbox string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	tok := l.tokens[mailbox]
	if tok == nil {
		tok = make(chan struct{}, 1)
		l.tokens[mailbox] = tok
	}
	return tok
}

func (l *memLocker) Acquire(ctx context.Context, mailbox string) (Lease, error) {
	tok := l.token(mailbox)
	select {
	case tok <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	lease := &memLease{l: l, tok: tok, lost: make(chan struct{})}
	l.mu.Lock()
	l.current[mailbox] = lease
	l.acquired++
	l.holders++
	l.maxHeld = max(l.maxHeld, l.holders)
	l.mu.Unlock()
	return lease, nil
}

// revoke makes the mailbox's current lease lost (as if it had expired).
func (l *memLocker) revoke(mailbox string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lease := l.current[mailbox]; lease != nil {
		lease.lostOnce.Do(func() { close(lease.lost) })
	}
}

func (l *memLocker) stats() (acquired, holders, maxHeld int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acquired, l.holders, l.maxHeld
}

type memLease struct {
	l           *memLocker
	tok         chan struct{}
	lost        chan struct{}
	lostOnce    sync.Once
	releaseOnce sync.Once
}

func (le *memLease) Lost() <-chan struct{} { return le.lost }

func (le *memLease) Release() {
	le.releaseOnce.Do(func() {
		le.l.mu.Lock()
		le.l.holders--
		le.l.mu.Unlock()
		<-le.tok
	})
}

// ---- IMAP servers ----------------------------------------------------------

// testServer is what the tests do to a mailbox as another mail client would;
// *dovecottest.Server and *memAdmin implement it.
type testServer interface {
	Append(t testing.TB, user, folder string, raw []byte, flags ...imap.Flag) uint32
	Folder(t testing.TB, user, folder string) []uint32
	Flags(t testing.TB, user, folder string, uid uint32) []imap.Flag
	HasFlag(t testing.TB, user, folder string, uid uint32, flag imap.Flag) bool
	AddFlags(t testing.TB, user, folder string, uid uint32, flags ...imap.Flag)
	CreateFolder(t testing.TB, user, folder string)
	DeleteFolder(t testing.TB, user, folder string)
	UIDValidity(t testing.TB, user, folder string) uint32
}

// startMemServer runs go-imap's in-memory server on a free 127.0.0.1 port
// with one user and the given capabilities (IMAP4rev1 servers always
// advertise IDLE).
func startMemServer(t testing.TB, user, password string, caps imap.CapSet) (addr string, admin *memAdmin) {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, password)
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	addr = ln.Addr().String()
	return addr, &memAdmin{addr: addr, passwords: map[string]string{user: password}}
}

// memAdmin implements testServer over IMAP for the in-memory server.
type memAdmin struct {
	addr      string
	passwords map[string]string
}

func (m *memAdmin) session(t testing.TB, user string, f func(c *imapclient.Client)) {
	t.Helper()
	c, err := imapclient.DialInsecure(m.addr, nil)
	if err != nil {
		t.Fatalf("memserver: dial: %v", err)
	}
	defer c.Close()
	if err := c.Login(user, m.passwords[user]).Wait(); err != nil {
		t.Fatalf("memserver: login: %v", err)
	}
	f(c)
	_ = c.Logout().Wait()
}

func (m *memAdmin) Append(t testing.TB, user, folder string, raw []byte, flags ...imap.Flag) uint32 {
	t.Helper()
	var uid uint32
	m.session(t, user, func(c *imapclient.Client) {
		cmd := c.Append(folder, int64(len(raw)), &imap.AppendOptions{Flags: flags})
		if _, err := cmd.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := cmd.Wait()
		if err != nil {
			t.Fatalf("memserver: append to %s: %v", folder, err)
		}
		uid = uint32(data.UID)
	})
	return uid
}

func (m *memAdmin) examine(t testing.TB, c *imapclient.Client, folder string) {
	t.Helper()
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("memserver: examine %s: %v", folder, err)
	}
}

func (m *memAdmin) Folder(t testing.TB, user, folder string) []uint32 {
	t.Helper()
	var uids []uint32
	m.session(t, user, func(c *imapclient.Client) {
		m.examine(t, c, folder)
		data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range data.AllUIDs() {
			uids = append(uids, uint32(u))
		}
	})
	slices.Sort(uids)
	return uids
}

func (m *memAdmin) Flags(t testing.TB, user, folder string, uid uint32) []imap.Flag {
	t.Helper()
	var flags []imap.Flag
	m.session(t, user, func(c *imapclient.Client) {
		m.examine(t, c, folder)
		msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 {
			t.Fatalf("memserver: %s has no UID %d", folder, uid)
		}
		flags = msgs[0].Flags
	})
	return flags
}

func (m *memAdmin) HasFlag(t testing.TB, user, folder string, uid uint32, flag imap.Flag) bool {
	t.Helper()
	return slices.Contains(m.Flags(t, user, folder, uid), flag)
}

func (m *memAdmin) AddFlags(t testing.TB, user, folder string, uid uint32, flags ...imap.Flag) {
	t.Helper()
	m.session(t, user, func(c *imapclient.Client) {
		if _, err := c.Select(folder, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Store(imap.UIDSetNum(imap.UID(uid)), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: flags}, nil).Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func (m *memAdmin) CreateFolder(t testing.TB, user, folder string) {
	t.Helper()
	m.session(t, user, func(c *imapclient.Client) {
		if err := c.Create(folder, nil).Wait(); err != nil {
			t.Fatalf("memserver: create %s: %v", folder, err)
		}
	})
}

func (m *memAdmin) DeleteFolder(t testing.TB, user, folder string) {
	t.Helper()
	m.session(t, user, func(c *imapclient.Client) {
		if err := c.Delete(folder).Wait(); err != nil {
			t.Fatalf("memserver: delete %s: %v", folder, err)
		}
	})
}

func (m *memAdmin) UIDValidity(t testing.TB, user, folder string) uint32 {
	t.Helper()
	var v uint32
	m.session(t, user, func(c *imapclient.Client) {
		data, err := c.Status(folder, &imap.StatusOptions{UIDValidity: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		v = data.UIDValidity
	})
	return v
}

// ---- running workers -------------------------------------------------------

type running struct {
	w      *Worker
	cancel context.CancelFunc
	done   chan error
	t      testing.TB
}

// start runs a worker until stop or the end of the test. tweak may set test
// hooks before it starts.
func start(t testing.TB, opts *Options, st Store, lk Locker, tweak func(w *Worker, r *running)) *running {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	w := NewWorker(opts, st, lk)
	w.backoffMin, w.backoffMax, w.authBackoffMax = 10*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, cancel: cancel, done: make(chan error, 1), t: t}
	if tweak != nil {
		tweak(w, r)
	}
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// stop cancels the worker and waits for Run to return nil.
func (r *running) stop() {
	r.t.Helper()
	r.cancel()
	r.wait()
}

// wait waits for Run to return (after a cancel) and checks it returned nil.
func (r *running) wait() {
	r.t.Helper()
	if r.done == nil {
		return
	}
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		r.t.Fatal("Run did not return within 10s of cancel")
	}
	r.done = nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var errInjected = errors.New("injected failure")

// rawMail is a small RFC 5322 message with a unique Message-ID.
func rawMail(id string, body string) []byte {
	return fmt.Appendf(nil, "From: Customer <customer@example.com>\r\nTo: payroll@example.com\r\nSubject: mail %s\r\nMessage-ID: <%s@test.example>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\n%s\r\n", id, id, body)
}

func msgID(id string) string { return "<" + id + "@test.example>" }
