package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/sync/semaphore"

	"postdesk/mailtls"
)

// TLS modes of Options.TLS.
const (
	TLSImplicit = "implicit" // TLS from the first byte (IMAPS, port 993)
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS (port 143)
	TLSNone     = "none"     // no encryption: tests and loopback only
)

// After actions of Options.After, applied to a mail only once Deliver has
// committed it.
const (
	AfterSeen   = "seen"   // UID STORE +FLAGS (\Seen)
	AfterMove   = "move:"  // "move:FOLDER": UID MOVE, or UID COPY + \Deleted + UID EXPUNGE
	AfterDelete = "delete" // \Deleted + UID EXPUNGE
)

// Existing modes of Options.Existing: what becomes of the mail a folder
// already holds when postdesk first connects to it.
const (
	ExistingQuiet  = "quiet"  // stored as the archive, nobody mailed (Fetched.Archive)
	ExistingNotify = "notify" // stored like new mail
)

// MaxAttempts is how many times in a row one mail may fail with an error
// not known to be temporary before it is quarantined.
const MaxAttempts = 3

// MaxCrashes is how many times the process may stop while storing one mail
// on its own (killed out of memory, a fatal error no recover catches)
// before the next start quarantines it without reading it (AttemptStore).
// More than one: a restart for another reason may fall inside a mail too.
const MaxCrashes = 2

// Defaults of the Options fields left zero.
const (
	DefaultPollInterval = 30 * time.Second
	DefaultSafetyPoll   = 5 * time.Minute
	DefaultIdleRestart  = 25 * time.Minute
	DefaultMaxSize      = 25 << 20
	DefaultBatchSize    = 50
	// DefaultMemoryBudget bounds the raw mail all workers of a process hold
	// at once (fetched, waiting or being committed): 4 x DefaultMaxSize, so
	// four mailboxes each receiving a mail at the size limit still fit.
	DefaultMemoryBudget = 4 * DefaultMaxSize

	// deliverGrace bounds how long a delivery in flight may run on after
	// shutdown began.
	deliverGrace = 30 * time.Second

	// maxIdleRestart: RFC 2177 section 3 lets servers log out a client idle
	// for 30 minutes, so IDLE must be re-issued before that.
	maxIdleRestart = 29 * time.Minute
)

// Options configures a Worker for one IMAP mailbox.
type Options struct {
	Name string // the mailbox's key for the Store and the Locker
	Host string
	Port int    // default 993 for implicit TLS, else 143
	TLS  string // "implicit" (default) | "starttls" | "none"
	// TLSConfig is cloned; nil means the system roots, ServerName = Host.
	TLSConfig                  *tls.Config
	Username, Password, Folder string // Folder default "INBOX"
	// Auth, when set, logs in with AUTHENTICATE and its SASL client instead
	// of LOGIN with Password (OAuth2: mailauth.OAuth2).
	Auth  Authenticator
	After string // "seen" (default) | "move:FOLDER" | "delete"

	PollInterval time.Duration // when the server has no IDLE (default 30s)
	SafetyPoll   time.Duration // a poll even with IDLE (default 5m)
	IdleRestart  time.Duration // re-issue IDLE before this (default 25m; must be < 29m)
	MaxSize      int64         // per message (default 25 MB); larger mail is delivered header-only with TooLarge
	BatchSize    int           // UIDs per FETCH (default 50)
	// Existing is what becomes of the mail already in the folder when
	// postdesk first connects (the mailbox has no cursor yet): "quiet"
	// (default) or "notify". See the package documentation.
	Existing string
	// DisableIdle makes the worker poll every PollInterval even when the
	// server offers IDLE (for servers whose IDLE is broken, and for tests of
	// the polling path).
	DisableIdle bool
	// Budget is the memory budget, in bytes of raw mail, shared by the
	// workers given the same one: a group of mail is fetched only once its
	// size is reserved, and released after its commit. nil: the process's
	// shared budget of DefaultMemoryBudget bytes.
	Budget *semaphore.Weighted
	// BudgetSize is Budget's size (DefaultMemoryBudget when Budget is nil);
	// no group reserves more than this.
	BudgetSize int64
	// Trace, when set, receives the raw protocol stream; give it a
	// trace.Writer, which masks credentials and message content.
	Trace  io.Writer
	Logger *slog.Logger // default slog.Default()
}

// Fetched is one mail as fetched from the server.
type Fetched struct {
	UIDValidity, UID uint32
	Raw              []byte // the whole message; only its header when TooLarge
	Size             int64  // RFC822.SIZE
	InternalDate     time.Time
	TooLarge         bool // Size > Options.MaxSize: Raw holds only the header
	// Archive: the mail was in the folder when postdesk first connected and
	// Options.Existing is "quiet": store it, mail nobody.
	Archive bool
}

// Cursor is how far a mailbox has been ingested: every UID <= LastUID under
// UIDValidity is stored (RFC 3501 section 2.3.1.1: only UIDVALIDITY+UID is a
// stable position).
type Cursor struct {
	UIDValidity, LastUID uint32
	// ImportUntil is the highest UID of the go-live import: the mail up to
	// it was there when postdesk first connected (0: none).
	ImportUntil uint32
}

// Store is what the worker needs from the database.
type Store interface {
	// Cursor returns the mailbox's cursor; the zero Cursor when none is
	// stored yet.
	Cursor(ctx context.Context, mailbox string) (Cursor, error)
	// Deliver stores one mail and advances the cursor to m.UID in ONE
	// transaction. A mail already stored under (mailbox, uidvalidity, uid),
	// or the same mail under another key, must not be stored twice (Deliver
	// returns nil then). Its errors are classified (see the package
	// documentation); an error with a method Permanent() bool returning
	// true is permanent.
	Deliver(ctx context.Context, mailbox string, m Fetched) error
	// Quarantine records a mail that Deliver cannot store (raw source,
	// cause, IMAP position, visible to staff) and advances the cursor to
	// m.UID in ONE transaction.
	Quarantine(ctx context.Context, mailbox string, m Fetched, cause error) error
	// ResetCursor records a new UIDVALIDITY with LastUID 0 (a full rescan
	// follows) and the go-live import's last UID (0 for none).
	ResetCursor(ctx context.Context, mailbox string, uidValidity, importUntil uint32) error
	// Health records the mailbox's state for the health page.
	Health(ctx context.Context, mailbox string, h Health) error
}

// BatchStore is a Store that can also store several mails at once.
type BatchStore interface {
	Store
	// DeliverBatch stores ms (one mailbox, UID order) and advances the
	// cursor to the last one's UID in ONE transaction, with Deliver's
	// rules for mail stored already. It fails as a whole (nothing stored,
	// the cursor unmoved); the worker then Delivers the mails one by one.
	DeliverBatch(ctx context.Context, mailbox string, ms []Fetched) error
}

// AttemptStore is a Store that remembers, across processes, what its
// worker was storing: the worker's count of a mail's failures lives in
// memory, and a mail the process dies on would otherwise be fetched and
// attempted at every start, stopping its mailbox for good.
type AttemptStore interface {
	// BeginAttempt records that the UIDs first..last are about to be
	// stored (first == last: one mail; else a batch) and returns how many
	// attempts of that kind covering first began before and never ended.
	BeginAttempt(ctx context.Context, mailbox string, uidValidity, first, last uint32) (crashes int, err error)
	// EndAttempt forgets the attempt of that kind: it ended with an error
	// the worker saw and counts itself.
	EndAttempt(ctx context.Context, mailbox string, batch bool) error
}

// ErrCrashed is the cause of a mail quarantined because the process
// stopped MaxCrashes times while storing it.
var ErrCrashed = errors.New("the process stopped while storing this mail")

// Health is a mailbox's state as the worker last saw it.
type Health struct {
	Connected     bool
	LastSuccess   time.Time     // end of the last successful poll
	LastError     string        // "" after a clean poll
	Lag           time.Duration // now - oldest INTERNALDATE fetched in the last poll, 0 when none
	IdleSupported bool
}

// Locker makes sure exactly one instance polls a mailbox.
type Locker interface {
	// Acquire blocks until the mailbox's lease is held or ctx is done.
	Acquire(ctx context.Context, mailbox string) (Lease, error)
}

// Lease is a held Locker lease. Lost is closed when the lease is gone
// (expired, taken over); Release gives it up.
type Lease interface {
	Lost() <-chan struct{}
	Release()
}

// Worker ingests one IMAP mailbox: it holds the mailbox's lease, fetches new
// mail by UID, hands each mail to Store.Deliver and, after the commit, applies
// the After action. See the package documentation for the retry policy.
type Worker struct {
	opts        Options
	st          Store
	lk          Locker
	log         *slog.Logger
	afterKind   string // AfterSeen, AfterMove or AfterDelete
	afterFolder string
	optsErr     error
	// wake, buffered 1, asks the session to poll now: EXISTS from the
	// server, or Wake (a push from the mail server).
	wake chan struct{}

	// Run's state (one goroutine).
	lastSuccess time.Time
	idle        bool
	warned      map[string]bool // one-time warnings given
	failing     failure         // the mail that failed last, and how often
	imp         *importRun      // the go-live import, while it runs

	// Test hooks.
	backoffMin, backoffMax, authBackoffMax time.Duration
	// beforeAfter, when set, is called after Deliver returned nil and before
	// the After action: the window a crash would hit.
	beforeAfter func(uid uint32)
	// applied, when set, is called for each stored mail once its After
	// action is done (or refused).
	applied func(uid uint32)
	// idling, when set, is called each time the server has accepted IDLE.
	idling func()
	// progressEvery is how often the import logs its progress.
	progressEvery time.Duration
}

// failure counts the consecutive failures of one mail.
type failure struct {
	uidValidity, uid uint32
	count            int
}

// NewWorker returns a worker for opts (copied; zero fields get the defaults).
// Invalid options are reported by Run.
func NewWorker(opts *Options, st Store, lk Locker) *Worker {
	w := &Worker{st: st, lk: lk, wake: make(chan struct{}, 1), backoffMin: time.Second, backoffMax: 5 * time.Minute, authBackoffMax: authBackoffMax, warned: map[string]bool{},
		progressEvery: 5 * time.Second}
	if opts != nil {
		w.opts = *opts
	}
	o := &w.opts
	if o.TLS == "" {
		o.TLS = TLSImplicit
	}
	if o.Port == 0 {
		o.Port = 143
		if o.TLS == TLSImplicit {
			o.Port = 993
		}
	}
	if o.Folder == "" {
		o.Folder = "INBOX"
	}
	if o.After == "" {
		o.After = AfterSeen
	}
	if o.Existing == "" {
		o.Existing = ExistingQuiet
	}
	if o.Name == "" {
		o.Name = o.Username + "@" + o.Host + "/" + o.Folder
	}
	o.PollInterval = orDefault(o.PollInterval, DefaultPollInterval)
	o.SafetyPoll = orDefault(o.SafetyPoll, DefaultSafetyPoll)
	o.IdleRestart = orDefault(o.IdleRestart, DefaultIdleRestart)
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Budget == nil {
		o.Budget, o.BudgetSize = processBudget, DefaultMemoryBudget
	}
	if o.BudgetSize <= 0 {
		o.BudgetSize = DefaultMemoryBudget
	}
	w.log = o.Logger
	if w.log == nil {
		w.log = slog.Default()
	}
	w.log = w.log.With("mailbox", o.Name)
	w.optsErr = w.parseOptions()
	return w
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (w *Worker) parseOptions() error {
	o := &w.opts
	var errs []error
	if o.Host == "" {
		errs = append(errs, errors.New("no host"))
	}
	if o.Port < 1 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d out of range", o.Port))
	}
	switch o.TLS {
	case TLSImplicit, TLSStartTLS, TLSNone:
	default:
		errs = append(errs, fmt.Errorf("tls %q: want implicit, starttls or none", o.TLS))
	}
	switch {
	case o.After == AfterSeen || o.After == AfterDelete:
		w.afterKind = o.After
	case strings.HasPrefix(o.After, AfterMove) && len(o.After) > len(AfterMove):
		w.afterKind, w.afterFolder = AfterMove, o.After[len(AfterMove):]
		if w.afterFolder == o.Folder {
			errs = append(errs, fmt.Errorf("after %q: moving into the watched folder", o.After))
		}
	default:
		errs = append(errs, fmt.Errorf("after %q: want seen, move:FOLDER or delete", o.After))
	}
	if o.Existing != ExistingQuiet && o.Existing != ExistingNotify {
		errs = append(errs, fmt.Errorf("existing %q: want quiet or notify", o.Existing))
	}
	if o.IdleRestart >= maxIdleRestart {
		errs = append(errs, fmt.Errorf("idle restart %v: must be below %v", o.IdleRestart, maxIdleRestart))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ingest: mailbox %s: %w", o.Name, err)
	}
	return nil
}

// errLeaseLost ends a session whose lease is gone.
var errLeaseLost = errors.New("ingest: lease lost")

// Run ingests the mailbox until ctx is cancelled and then returns nil. It
// returns an error only for invalid options. Run must not be called again
// while it runs.
func (w *Worker) Run(ctx context.Context) error {
	if w.optsErr != nil {
		return w.optsErr
	}
	bo := backoff{min: w.backoffMin, max: w.backoffMax}
	for {
		if ctx.Err() != nil {
			return nil
		}
		lease, err := w.lk.Acquire(ctx, w.opts.Name)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.failed(ctx, fmt.Errorf("acquire lease: %w", err), &bo)
			continue
		}
		err = w.session(ctx, lease, bo.reset)
		lease.Release()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errLeaseLost):
			w.log.Warn("ingest: lease lost; session closed, acquiring again")
		default:
			bo.max = w.backoffCap(err)
			w.failed(ctx, err, &bo)
		}
	}
}

// failed reports a temporary failure and waits out the backoff.
func (w *Worker) failed(ctx context.Context, err error, bo *backoff) {
	wait := bo.next()
	w.log.Error("ingest: mailbox failed; retrying", "err", err, "retry_in", wait.Round(time.Millisecond))
	w.health(ctx, Health{LastSuccess: w.lastSuccess, LastError: err.Error(), IdleSupported: w.idle})
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (w *Worker) health(ctx context.Context, h Health) {
	if ctx.Err() != nil {
		return
	}
	if err := w.st.Health(ctx, w.opts.Name, h); err != nil && ctx.Err() == nil {
		w.log.Warn("ingest: recording health failed", "err", err)
	}
}

// session connects, logs in and polls until an error, ctx's end or the loss
// of the lease. ok is called after each successful poll.
func (w *Worker) session(parent context.Context, lease Lease, ok func()) (err error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	go func() {
		select {
		case <-lease.Lost():
			cancel(errLeaseLost)
		case <-ctx.Done():
		}
	}()
	defer func() {
		// Errors caused by closing the connection on cancel say nothing:
		// report why the context ended instead.
		if cause := context.Cause(ctx); cause != nil && err != nil {
			err = cause
		}
	}()

	wake := w.wake
	c, err := w.connect(ctx, wake)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	caps := c.Caps()
	w.idle = caps.Has(imap.CapIdle)
	w.log.Info("ingest: connected", "idle", w.idle, "move", caps.Has(imap.CapMove), "uidplus", caps.Has(imap.CapUIDPlus))

	for {
		lag, afterErr, err := w.poll(ctx, c, caps)
		if err != nil {
			return err
		}
		ok()
		w.lastSuccess = time.Now()
		h := Health{Connected: true, LastSuccess: w.lastSuccess, Lag: lag, IdleSupported: w.idle}
		if afterErr != nil {
			h.LastError = afterErr.Error()
		}
		w.health(ctx, h)

		if w.idle && !w.opts.DisableIdle {
			err = w.idleWait(ctx, c, wake)
		} else {
			err = w.sleep(ctx, c, wake, w.opts.PollInterval)
		}
		if err != nil {
			return err
		}
	}
}

// connect dials the server in the configured TLS mode and logs in. Mailbox
// size changes (EXISTS) announced by the server signal wake.
func (w *Worker) connect(ctx context.Context, wake chan<- struct{}) (*imapclient.Client, error) {
	o := &w.opts
	addr := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	// Until the client owns the connection, closing it is how ctx ends a
	// blocked handshake, greeting or login.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var cfg *tls.Config
	if o.TLSConfig != nil {
		cfg = o.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = o.Host
	}
	copts := &imapclient.Options{
		TLSConfig:   cfg,
		DebugWriter: o.Trace,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			},
		},
	}

	var c *imapclient.Client
	switch o.TLS {
	case TLSImplicit:
		if cfg.NextProtos == nil {
			cfg.NextProtos = []string{"imap"}
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("connect %s: tls: %w", addr, mailtls.Explain(err))
		}
		c = imapclient.New(tc, copts)
	case TLSStartTLS:
		c, err = imapclient.NewStartTLS(conn, copts)
		if err != nil {
			return nil, fmt.Errorf("connect %s: starttls: %w", addr, mailtls.Explain(err))
		}
	default:
		c = imapclient.New(conn, copts)
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect %s: greeting: %w", addr, err)
	}
	if err := w.login(ctx, c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// poll selects the folder, checks UIDVALIDITY and delivers every mail above
// the cursor in UID order. lag is now minus the oldest INTERNALDATE fetched;
// afterErr is the last After action the server refused (the mail is stored).
//
// It is a pipeline of two stages: a fetcher goroutine reads the sizes and
// then the bodies of one group of mail after the other (see fetchGroups),
// while this goroutine commits the group fetched before and applies its
// After action. Both share the IMAP connection, which pipelines their
// commands. At most one fetched group waits for the committer, so memory
// stays bounded by about three groups (fetching, waiting, committing).
func (w *Worker) poll(ctx context.Context, c *imapclient.Client, caps imap.CapSet) (lag time.Duration, afterErr error, err error) {
	o := &w.opts
	// SELECT on every poll: it notices a folder deleted and re-created
	// (new UIDVALIDITY) by another client while we are connected.
	sel, err := c.Select(o.Folder, nil).Wait()
	if err != nil {
		return 0, nil, fmt.Errorf("select %s: %w", o.Folder, err)
	}
	if sel.UIDValidity == 0 {
		return 0, nil, fmt.Errorf("select %s: the server sent no UIDVALIDITY", o.Folder)
	}
	cur, err := w.position(ctx, c, sel)
	if err != nil {
		return 0, nil, err
	}
	if sel.NumMessages == 0 || cur.LastUID == math.MaxUint32 {
		return 0, nil, nil
	}

	// "UID n:*" always matches the highest UID, even below n (RFC 3501
	// section 6.4.8): filter.
	crit := &imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: imap.UID(cur.LastUID + 1)}}}}
	data, err := c.UIDSearch(crit, nil).Wait()
	if err != nil {
		return 0, nil, fmt.Errorf("uid search: %w", err)
	}
	var uids []imap.UID
	if set, ok := data.All.(imap.UIDSet); ok {
		all, ok := set.Nums()
		if !ok {
			return 0, nil, errors.New("uid search: the server answered a dynamic set")
		}
		for _, u := range all {
			if uint32(u) > cur.LastUID {
				uids = append(uids, u)
			}
		}
	}
	if len(uids) == 0 {
		w.importing(nil, cur.ImportUntil)
		return 0, nil, nil
	}
	slices.Sort(uids)
	w.importing(uids, cur.ImportUntil)

	fctx, stopFetch := context.WithCancel(ctx)
	groups := make(chan fetchedGroup, 1)
	go func() {
		defer close(groups)
		w.fetchGroups(fctx, c, uids, sel.UIDValidity, cur.ImportUntil, groups)
	}()
	defer func() {
		stopFetch()
		for g := range groups { // let the fetcher end before the connection is reused
			w.opts.Budget.Release(g.reserved)
		}
	}()

	b := &batchRun{w: w, c: c, caps: caps}
	first := true
	for g := range groups {
		if g.err != nil {
			return 0, nil, g.err
		}
		if !first {
			// A long backlog (the go-live import) is progress, not a stall:
			// each committed group counts as a successful poll, so /readyz
			// stays ready while it runs.
			w.lastSuccess = time.Now()
			w.health(ctx, Health{Connected: true, LastSuccess: w.lastSuccess, IdleSupported: w.idle})
		}
		first = false
		err := b.deliver(ctx, g.mails)
		w.opts.Budget.Release(g.reserved)
		if err != nil {
			return 0, nil, err
		}
	}
	if !b.oldest.IsZero() {
		lag = max(time.Since(b.oldest), 0)
	}
	return lag, b.afterErr, nil
}

// position reads the stored cursor and, when the folder's UIDVALIDITY is
// not the stored one, starts over: on the first connection (no cursor yet)
// with the go-live import's boundary, after a change with a rescan.
func (w *Worker) position(ctx context.Context, c *imapclient.Client, sel *imap.SelectData) (Cursor, error) {
	o := &w.opts
	cur, err := w.st.Cursor(ctx, o.Name)
	if err != nil {
		return Cursor{}, fmt.Errorf("read cursor: %w", err)
	}
	if cur.UIDValidity == sel.UIDValidity {
		return cur, nil
	}
	var until uint32
	if cur.UIDValidity != 0 {
		w.log.Warn("ingest: UIDVALIDITY changed; rescanning the folder", "old", cur.UIDValidity, "new", sel.UIDValidity)
	} else if o.Existing == ExistingQuiet {
		// The first connection: what is there now is the archive.
		if until, err = existingUntil(c, sel); err != nil {
			return Cursor{}, err
		}
	}
	if err := w.st.ResetCursor(ctx, o.Name, sel.UIDValidity, until); err != nil {
		return Cursor{}, fmt.Errorf("reset cursor: %w", err)
	}
	return Cursor{UIDValidity: sel.UIDValidity, ImportUntil: until}, nil
}

// processBudget is the memory budget shared by every worker of the process
// that was given none (see Options.Budget).
var processBudget = semaphore.NewWeighted(DefaultMemoryBudget)

// fetchedGroup is mail fetched and waiting to be committed, in UID order,
// or the error that ended the fetching. reserved bytes of the memory budget
// are held for it until release.
type fetchedGroup struct {
	mails    []Fetched
	err      error
	reserved int64
}

var (
	sectionFull   = &imap.FetchItemBodySection{Peek: true}
	sectionHeader = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
)

// fetchGroups fetches uids, BatchSize at a time: first the sizes, so that
// no oversized body is ever downloaded, then the bodies in groups of
// consecutive mail totalling at most MaxSize bytes (at least one mail); a
// mail over MaxSize is a group of its own, header only. Each group is sent
// to out; an error is sent as the last group.
func (w *Worker) fetchGroups(ctx context.Context, c *imapclient.Client, uids []imap.UID, uidValidity, importUntil uint32, out chan<- fetchedGroup) {
	send := func(g fetchedGroup) bool {
		select {
		case out <- g:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for batch := range slices.Chunk(uids, w.opts.BatchSize) {
		metas, err := c.Fetch(imap.UIDSetNum(batch...), &imap.FetchOptions{UID: true, RFC822Size: true, InternalDate: true}).Collect()
		if err != nil {
			send(fetchedGroup{err: fmt.Errorf("fetch sizes: %w", err)})
			return
		}
		meta := make(map[imap.UID]*imapclient.FetchMessageBuffer, len(metas))
		for _, m := range metas {
			if m.UID != 0 {
				meta[m.UID] = m
			}
		}
		var group []imap.UID
		var groupSize int64
		flush := func(headerOnly bool) bool {
			if len(group) == 0 {
				return true
			}
			// A header-only group holds little; the others reserve their
			// size (at most the whole budget) before a byte is read.
			reserve := int64(0)
			if !headerOnly {
				reserve = min(groupSize, w.opts.BudgetSize)
				if err := w.opts.Budget.Acquire(ctx, reserve); err != nil {
					return false // stopping
				}
			}
			mails, err := w.fetchBodies(c, group, meta, uidValidity, importUntil, headerOnly)
			group, groupSize = group[:0], 0
			if err != nil {
				w.opts.Budget.Release(reserve)
				send(fetchedGroup{err: err})
				return false
			}
			if len(mails) == 0 {
				w.opts.Budget.Release(reserve)
				return true
			}
			if !send(fetchedGroup{mails: mails, reserved: reserve}) {
				w.opts.Budget.Release(reserve)
				return false
			}
			return true
		}
		for _, uid := range batch {
			m := meta[uid]
			if m == nil {
				// Expunged by another client since the search: nothing to do.
				w.log.Info("ingest: mail vanished before fetch", "uid", uid)
				continue
			}
			if m.RFC822Size > w.opts.MaxSize {
				if !flush(false) {
					return
				}
				group = append(group, uid)
				if !flush(true) {
					return
				}
				continue
			}
			if len(group) > 0 && groupSize+m.RFC822Size > w.opts.MaxSize {
				if !flush(false) {
					return
				}
			}
			group = append(group, uid)
			groupSize += m.RFC822Size
		}
		if !flush(false) {
			return
		}
	}
}

// fetchBodies fetches the bodies (or only the headers) of uids. Each
// literal is read from the response stream straight into a buffer of its
// announced size: collecting the response first would hold each mail twice
// (go-imap's buffer, then ours) while it grows.
func (w *Worker) fetchBodies(c *imapclient.Client, uids []imap.UID, meta map[imap.UID]*imapclient.FetchMessageBuffer,
	uidValidity, importUntil uint32, headerOnly bool) ([]Fetched, error) {
	section := sectionFull
	if headerOnly {
		section = sectionHeader
	}
	cmd := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	body := make(map[imap.UID][]byte, len(uids))
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var uid imap.UID
		var raw []byte
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					continue
				}
				buf := make([]byte, it.Literal.Size())
				if _, err := io.ReadFull(it.Literal, buf); err != nil {
					cmd.Close()
					return nil, fmt.Errorf("fetch bodies: %w", err)
				}
				raw = buf
			}
		}
		if uid != 0 && raw != nil {
			body[uid] = raw
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, fmt.Errorf("fetch bodies: %w", err)
	}
	mails := make([]Fetched, 0, len(uids))
	for _, uid := range uids {
		raw, ok := body[uid]
		if !ok {
			w.log.Info("ingest: mail vanished before fetch", "uid", uid)
			continue
		}
		m := meta[uid]
		if headerOnly {
			w.log.Warn("ingest: mail over the size limit; storing its header only", "uid", uid, "size", m.RFC822Size, "limit", w.opts.MaxSize)
		}
		mails = append(mails, Fetched{UIDValidity: uidValidity, UID: uint32(uid), Raw: raw, Size: m.RFC822Size,
			InternalDate: m.InternalDate, TooLarge: headerOnly, Archive: uint32(uid) <= importUntil})
	}
	return mails, nil
}

// batchRun commits the fetched groups of one poll.
type batchRun struct {
	w        *Worker
	c        *imapclient.Client
	caps     imap.CapSet
	oldest   time.Time
	afterErr error
}

// deliver commits one group (UID order) and then applies the After action
// to all of it at once. With a BatchStore and more than one mail the group
// is one transaction; when that fails because of one mail (or for any
// reason but the stop), the group is delivered again one mail per
// transaction, where the retry and quarantine rules sort the mail out.
//
// With an AttemptStore each delivery is recorded before it starts, so that
// one the process never came back from is known at the next start: a batch
// is then delivered one mail at a time, and a mail found so MaxCrashes
// times is quarantined unread.
func (b *batchRun) deliver(ctx context.Context, mails []Fetched) error {
	w := b.w
	done := 0
	var err error
	as, _ := w.st.(AttemptStore)
	if bs, ok := w.st.(BatchStore); ok && len(mails) > 1 {
		first, last := mails[0], mails[len(mails)-1]
		crashes := 0
		if as != nil {
			if crashes, err = as.BeginAttempt(ctx, w.opts.Name, first.UIDValidity, first.UID, last.UID); err != nil {
				return fmt.Errorf("deliver UIDs %d-%d: %w", first.UID, last.UID, err)
			}
		}
		if crashes > 0 {
			w.log.Warn("ingest: the process stopped while storing these mails before; delivering them one by one",
				"uids", len(mails), "first", first.UID, "last", last.UID, "stops", crashes)
		} else {
			// A shutdown must not cut a transaction in half: the delivery in
			// flight finishes (within deliverGrace) and only then does the
			// worker stop taking new work.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deliverGrace)
			err = bs.DeliverBatch(dctx, w.opts.Name, mails)
			cancel()
			if err == nil {
				done = len(mails)
				w.failing = failure{}
			} else {
				w.endAttempt(ctx, as, true)
				if ctx.Err() != nil {
					return fmt.Errorf("deliver UIDs %d-%d: %w", first.UID, last.UID, err)
				}
				w.log.Warn("ingest: batch failed; delivering its mails one by one", "uids", len(mails),
					"first", first.UID, "last", last.UID, "err", err)
			}
		}
	}
	for ; done < len(mails); done++ {
		f := mails[done]
		if as != nil {
			crashes, aerr := as.BeginAttempt(ctx, w.opts.Name, f.UIDValidity, f.UID, f.UID)
			if aerr != nil {
				err = fmt.Errorf("deliver UID %d: %w", f.UID, aerr)
				break
			}
			if crashes >= MaxCrashes {
				if err = w.quarantineCrashed(ctx, f, crashes); err != nil {
					err = fmt.Errorf("deliver UID %d: %w", f.UID, err)
					break
				}
				continue
			}
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deliverGrace)
		err = w.st.Deliver(dctx, w.opts.Name, f)
		if err != nil {
			w.endAttempt(ctx, as, false)
			err = w.settle(ctx, f, err)
		}
		cancel()
		if err != nil {
			// The cursor did not move: the mail is fetched again next time.
			err = fmt.Errorf("deliver UID %d: %w", f.UID, err)
			break
		}
		w.failing = failure{}
	}
	stored := mails[:done]
	uids := make([]imap.UID, 0, len(stored))
	for _, f := range stored {
		w.log.Debug("ingest: delivered", "uid", f.UID, "size", f.Size)
		if f.Archive {
			w.imported()
		}
		if !f.InternalDate.IsZero() && (b.oldest.IsZero() || f.InternalDate.Before(b.oldest)) {
			b.oldest = f.InternalDate
		}
		if w.beforeAfter != nil {
			w.beforeAfter(f.UID)
		}
		uids = append(uids, imap.UID(f.UID))
	}
	if len(uids) > 0 {
		// Committed: from here a crash leaves the mail in place, unflagged,
		// and the cursor already past it.
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if aerr := w.after(b.c, b.caps, imap.UIDSetNum(uids...)); aerr != nil {
			var ierr *imap.Error
			if !errors.As(aerr, &ierr) {
				return fmt.Errorf("after %s on UIDs %v: %w", w.opts.After, imap.UIDSetNum(uids...), aerr)
			}
			// The server refused (NO/BAD): the mail is stored and stays
			// where it is; report it, go on with the next.
			w.log.Error("ingest: after action refused; the mail is stored but stays in the folder", "uids", imap.UIDSetNum(uids...).String(), "after", w.opts.After, "err", aerr)
			b.afterErr = fmt.Errorf("after %s on UIDs %v: %w", w.opts.After, imap.UIDSetNum(uids...), aerr)
		}
		if w.applied != nil {
			for _, u := range uids {
				w.applied(uint32(u))
			}
		}
	}
	return err
}

// endAttempt tells as that the attempt of the kind ended with an error
// the worker saw. Not recorded, it would count as a stop inside the
// attempt: a batch delivered one mail at a time, a mail sooner
// quarantined.
func (w *Worker) endAttempt(ctx context.Context, as AttemptStore, batch bool) {
	if as == nil {
		return
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deliverGrace)
	defer cancel()
	if err := as.EndAttempt(ectx, w.opts.Name, batch); err != nil {
		w.log.Warn("ingest: could not record the end of a failed delivery", "batch", batch, "err", err)
	}
}

// quarantineCrashed quarantines f, which the process stopped inside
// crashes times: stored raw, never parsed again.
func (w *Worker) quarantineCrashed(ctx context.Context, f Fetched, crashes int) error {
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deliverGrace)
	defer cancel()
	cause := fmt.Errorf("%w (%d times)", ErrCrashed, crashes)
	if err := w.st.Quarantine(qctx, w.opts.Name, f, cause); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	w.log.Error("ingest: the process stopped while storing this mail; quarantined unread for staff to review, the mailbox goes on",
		"uid", f.UID, "uidvalidity", f.UIDValidity, "stops", crashes)
	w.failing = failure{}
	return nil
}

// after applies the After action to a set of stored mail, in one command
// each (UID STORE over the set, UID MOVE of the set). It never sends a plain
// EXPUNGE, which would remove every \Deleted mail of the folder, including
// other clients' (go-imap's Move falls back to one without UIDPLUS).
func (w *Worker) after(c *imapclient.Client, caps imap.CapSet, set imap.UIDSet) error {
	addFlags := func(flags ...imap.Flag) error {
		return c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: flags}, nil).Close()
	}
	uidPlus := caps.Has(imap.CapUIDPlus)
	switch w.afterKind {
	case AfterSeen:
		return addFlags(imap.FlagSeen)
	case AfterMove:
		if caps.Has(imap.CapMove) {
			_, err := c.Move(set, w.afterFolder).Wait() // UID MOVE (RFC 6851)
			return err
		}
		if _, err := c.Copy(set, w.afterFolder).Wait(); err != nil {
			return err
		}
		if !uidPlus {
			w.warnOnce("move", "ingest: the server has neither MOVE nor UIDPLUS: moved mail is copied and left \\Deleted and \\Seen in the folder, never expunged")
			return addFlags(imap.FlagDeleted, imap.FlagSeen)
		}
		if err := addFlags(imap.FlagDeleted); err != nil {
			return err
		}
		return c.UIDExpunge(set).Close() // RFC 4315 section 2.1
	case AfterDelete:
		if !uidPlus {
			w.warnOnce("delete", "ingest: the server has no UIDPLUS: deleted mail is left \\Deleted and \\Seen in the folder, never expunged")
			return addFlags(imap.FlagDeleted, imap.FlagSeen)
		}
		if err := addFlags(imap.FlagDeleted); err != nil {
			return err
		}
		return c.UIDExpunge(set).Close()
	}
	return fmt.Errorf("unknown after action %q", w.opts.After)
}

func (w *Worker) warnOnce(key, msg string) {
	if !w.warned[key] {
		w.warned[key] = true
		w.log.Warn(msg)
	}
}

// idleWait idles until new mail is announced (EXISTS), SafetyPoll passes, or
// ctx ends; IDLE is re-issued every IdleRestart (RFC 2177 section 3).
func (w *Worker) idleWait(ctx context.Context, c *imapclient.Client, wake <-chan struct{}) error {
	safety := time.NewTimer(w.opts.SafetyPoll)
	defer safety.Stop()
	for {
		// Mail announced while we were busy: poll again at once.
		select {
		case <-wake:
			return nil
		default:
		}
		cmd, err := c.Idle()
		if err != nil {
			return fmt.Errorf("idle: %w", err)
		}
		if w.idling != nil {
			w.idling()
		}
		restart := time.NewTimer(w.opts.IdleRestart)
		poll := true
		select {
		case <-ctx.Done():
			restart.Stop()
			return ctx.Err() // the client is being closed
		case <-c.Closed():
			restart.Stop()
			return errors.New("idle: connection closed")
		case <-wake:
		case <-safety.C:
		case <-restart.C:
			poll = false
		}
		restart.Stop()
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("idle: done: %w", err)
		}
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("idle: %w", err)
		}
		if poll {
			return nil
		}
	}
}

// sleep waits d (the polling path) or until ctx ends.
func (w *Worker) sleep(ctx context.Context, c *imapclient.Client, wake <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.Closed():
		return errors.New("connection closed")
	case <-wake:
	case <-t.C:
	}
	return nil
}

// backoff is exponential backoff with jitter: min doubling up to max, each
// wait drawn from [d/2, d].
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}

func (b *backoff) reset() { b.cur = 0 }
