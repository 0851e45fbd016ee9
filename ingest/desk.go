package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"postdesk/conversation"
	"postdesk/metrics"
	"postdesk/store"
)

// Desk is the Store and Locker of the real service: mail goes through the
// conversation rules, and cursors, health and leases live in PostgreSQL.
type Desk struct {
	st         *store.Store
	svc        *conversation.Service
	categories map[string]string // mailbox name -> default category key
	retry      time.Duration
	analyzed   atomic.Int64 // when freshStats last ran, Unix nanoseconds
	stored     atomic.Int64 // mails stored since then
	now        func() time.Time
	// Logger gets one info line per stored mail; default slog.Default().
	Logger *slog.Logger

	// The mailbox leases this instance holds, and its membership of the
	// instances sharing the database (see Acquire).
	mu       sync.Mutex
	held     []*deskLease // in the order acquired
	refs     int          // Acquire calls in progress + leases held
	presence *store.Lease
}

// NewDesk connects workers to the store. categories maps each mailbox name to
// the category used when no recipient address names one.
func NewDesk(st *store.Store, svc *conversation.Service, categories map[string]string) *Desk {
	return &Desk{st: st, svc: svc, categories: categories, retry: 2 * time.Second, now: time.Now}
}

// Cursor implements Store.
func (d *Desk) Cursor(ctx context.Context, mailbox string) (Cursor, error) {
	m, err := d.st.Mailbox(ctx, mailbox)
	if err != nil {
		return Cursor{}, err
	}
	return Cursor{UIDValidity: m.UIDValidity, LastUID: m.LastUID, ImportUntil: m.ImportUntil}, nil
}

// Deliver implements Store: one transaction stores the mail, its
// conversation change, its outbox rows and the cursor.
func (d *Desk) Deliver(ctx context.Context, mailbox string, m Fetched) error {
	in, err := d.inbound(mailbox, m)
	if err != nil {
		return err
	}
	start := time.Now()
	r, err := d.svc.Receive(ctx, in)
	if err != nil {
		return err
	}
	if r.Duplicate {
		metrics.Duplicates.WithLabelValues(mailbox, r.DuplicateBy).Inc()
	} else {
		metrics.Ingested.WithLabelValues(mailbox, r.Kind).Inc()
	}
	d.logStored(ctx, mailbox, m, r, time.Since(start))
	d.freshStats(ctx, 1)
	return nil
}

// DeliverBatch implements BatchStore: one transaction stores every mail of
// ms (one mailbox, UID order) and moves the cursor past the last. It fails
// as a whole; the worker then delivers the mails one by one.
func (d *Desk) DeliverBatch(ctx context.Context, mailbox string, ms []Fetched) error {
	ins := make([]conversation.Inbound, len(ms))
	for i, m := range ms {
		in, err := d.inbound(mailbox, m)
		if err != nil {
			return err
		}
		ins[i] = in
	}
	start := time.Now()
	rs, err := d.svc.ReceiveBatch(ctx, ins)
	if err != nil {
		return err
	}
	took := time.Since(start) / time.Duration(len(ms))
	for i, r := range rs {
		if r.Duplicate {
			metrics.Duplicates.WithLabelValues(mailbox, r.DuplicateBy).Inc()
		} else {
			metrics.Ingested.WithLabelValues(mailbox, r.Kind).Inc()
		}
		d.logStored(ctx, mailbox, ms[i], r, took)
	}
	d.freshStats(ctx, len(ms))
	return nil
}

// statsEvery is how often a Desk asks whether a table outgrew its
// statistics (store.AnalyzeGrown): a cheap query, and a table doubles
// only a few times in its life. statsAfter mails stored ask sooner: a
// first import stores thousands of mails in statsEvery, and until the
// first analysis every reply's Message-ID was looked up by reading the
// whole messages table (3,000 mails: 422 mails/s, 579 when asked every
// second).
const (
	statsEvery = 5 * time.Second
	statsAfter = 200
)

// freshStats analyzes the tables that outgrew their statistics, at most
// every statsEvery or statsAfter mails, after a commit of stored mails:
// mail keeps flowing on plans made for the tables' real sizes. A failure
// costs only speed, so it is logged.
func (d *Desk) freshStats(ctx context.Context, stored int) {
	now := d.now().UnixNano()
	last := d.analyzed.Load()
	due := d.stored.Add(int64(stored)) >= statsAfter || now-last >= int64(statsEvery)
	if !due || !d.analyzed.CompareAndSwap(last, now) {
		return
	}
	d.stored.Store(0)
	log := d.log()
	t0 := time.Now()
	names, err := d.st.AnalyzeGrown(ctx)
	if err != nil {
		log.Warn("ingest: analyze grown tables", "err", err)
		return
	}
	if len(names) > 0 {
		log.Info("ingest: tables analyzed", "tables", names, "ms", time.Since(t0).Milliseconds())
	}
}

func (d *Desk) log() *slog.Logger {
	if d.Logger == nil {
		return slog.Default()
	}
	return d.Logger
}

// logStored writes the one info line per stored mail an operator follows
// mail by. It names no person: the sender's address, customer data, is
// added only at debug level.
func (d *Desk) logStored(ctx context.Context, mailbox string, m Fetched, r *conversation.Received, took time.Duration) {
	log := d.log()
	attrs := []slog.Attr{slog.String("mailbox", mailbox), slog.Uint64("uidvalidity", uint64(m.UIDValidity)),
		slog.Uint64("uid", uint64(m.UID)), slog.Int64("conversation", r.ConversationID), slog.String("kind", r.Kind),
		slog.Bool("duplicate", r.Duplicate), slog.Bool("quarantined", r.Quarantined), slog.Int64("ms", took.Milliseconds())}
	if r.Duplicate {
		attrs = append(attrs, slog.String("duplicate_by", r.DuplicateBy))
	}
	if m.Archive {
		attrs = append(attrs, slog.Bool("import", true))
	}
	log.LogAttrs(ctx, slog.LevelInfo, "ingest: mail stored", attrs...)
	if r.From != "" && log.Enabled(ctx, slog.LevelDebug) {
		log.LogAttrs(ctx, slog.LevelDebug, "ingest: mail stored: sender", slog.String("mailbox", mailbox),
			slog.Uint64("uid", uint64(m.UID)), slog.String("from", r.From))
	}
}

var _ AttemptStore = (*Desk)(nil)

// BeginAttempt implements AttemptStore (store.BeginAttempt).
func (d *Desk) BeginAttempt(ctx context.Context, mailbox string, uidValidity, first, last uint32) (int, error) {
	return d.st.BeginAttempt(ctx, mailbox, uidValidity, first, last)
}

// EndAttempt implements AttemptStore.
func (d *Desk) EndAttempt(ctx context.Context, mailbox string, batch bool) error {
	return d.st.EndAttempt(ctx, mailbox, batch)
}

// Quarantine implements Store: the mail is kept raw in a staff-only
// conversation of the mailbox's category, and the cursor moves past it.
func (d *Desk) Quarantine(ctx context.Context, mailbox string, m Fetched, cause error) error {
	in, err := d.inbound(mailbox, m)
	if err != nil {
		return err
	}
	start := time.Now()
	r, err := d.svc.Quarantine(ctx, in, cause)
	if err != nil {
		return err
	}
	if !r.Duplicate {
		metrics.Quarantined.WithLabelValues(mailbox).Inc()
	}
	d.logStored(ctx, mailbox, m, r, time.Since(start))
	return nil
}

func (d *Desk) inbound(mailbox string, m Fetched) (conversation.Inbound, error) {
	cat, ok := d.categories[mailbox]
	if !ok {
		return conversation.Inbound{}, fmt.Errorf("deliver: mailbox %q has no category", mailbox)
	}
	return conversation.Inbound{Mailbox: mailbox, UIDValidity: m.UIDValidity, UID: m.UID, Raw: m.Raw,
		TooLarge: m.TooLarge, Size: m.Size, InternalDate: m.InternalDate, DefaultCategory: cat, Archive: m.Archive}, nil
}

// ResetCursor implements Store.
func (d *Desk) ResetCursor(ctx context.Context, mailbox string, uidValidity, importUntil uint32) error {
	return d.st.ResetCursor(ctx, mailbox, uidValidity, importUntil)
}

// Health implements Store.
func (d *Desk) Health(ctx context.Context, mailbox string, h Health) error {
	metrics.IngestLag.WithLabelValues(mailbox).Set(h.Lag.Seconds())
	return d.st.SetMailboxHealth(ctx, mailbox, store.MailboxHealth{Connected: h.Connected, IdleSupported: h.IdleSupported,
		LastSuccess: h.LastSuccess, LastError: h.LastError, Lag: h.Lag})
}

// instancesGroup is the Join group of the instances sharing one database.
const instancesGroup = "postdesk instances"

// Acquire implements Locker with a PostgreSQL advisory lock per mailbox,
// shared fairly among the instances on one database: each holds at most its
// share, ceil(mailboxes / instances), where the instances are those with a
// worker waiting for or holding a lease (store.Join). Without that, the
// instance that starts first takes every mailbox and a second instance adds
// nothing; with it, mailboxes spread, which is the only way two instances
// are faster than one (a mailbox is served by one instance at a time). An
// instance that holds more than its share (it ran alone until another came)
// gives the newest lease back (Lost, then Release by its worker, after the
// transaction in flight) and its worker waits for a lease again.
func (d *Desk) Acquire(ctx context.Context, mailbox string) (Lease, error) {
	if err := d.join(ctx); err != nil {
		return nil, err
	}
	for {
		l, err := d.tryAcquire(ctx, mailbox)
		if err != nil || l != nil {
			if err != nil {
				d.leave()
			}
			return l, err
		}
		select {
		case <-ctx.Done():
			d.leave()
			return nil, ctx.Err()
		case <-time.After(d.retry):
		}
	}
}

// join counts one more user of the instance's membership, joining when it
// is the first.
func (d *Desk) join(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.presence == nil {
		p, err := d.st.Join(ctx, instancesGroup)
		if err != nil {
			return err
		}
		d.presence = p
	}
	d.refs++
	return nil
}

// leave undoes one join; the last one leaves the group.
func (d *Desk) leave() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refs--
	if d.refs <= 0 && d.presence != nil {
		d.presence.Release()
		d.presence, d.refs = nil, 0
	}
}

// share is how many mailbox leases this instance may hold now.
func (d *Desk) share(ctx context.Context) (int, error) {
	n, err := d.st.Members(ctx, instancesGroup)
	if err != nil {
		return 0, err
	}
	mailboxes := max(len(d.categories), 1)
	n = max(n, 1)
	return (mailboxes + n - 1) / n, nil
}

func (d *Desk) tryAcquire(ctx context.Context, mailbox string) (Lease, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	share, err := d.share(ctx)
	if err != nil {
		return nil, err
	}
	if len(d.held) >= share {
		return nil, nil
	}
	l, err := d.st.TryAcquire(ctx, "mailbox "+mailbox)
	if err != nil || l == nil {
		return nil, err
	}
	dl := &deskLease{d: d, l: l, lost: make(chan struct{}), stop: make(chan struct{})}
	d.held = append(d.held, dl)
	go dl.watch()
	return dl, nil
}

// deskLease is a mailbox lease of a Desk: lost when the database lease is,
// or when the Desk holds more than its share and this is its newest.
type deskLease struct {
	d        *Desk
	l        *store.Lease
	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	relOnce  sync.Once
}

func (l *deskLease) Lost() <-chan struct{} { return l.lost }

func (l *deskLease) markLost() { l.lostOnce.Do(func() { close(l.lost) }) }

// Release gives the lease up; it is safe to call more than once.
func (l *deskLease) Release() {
	l.relOnce.Do(func() {
		close(l.stop)
		l.l.Release()
		l.markLost()
		d := l.d
		d.mu.Lock()
		if i := slices.Index(d.held, l); i >= 0 {
			d.held = slices.Delete(d.held, i, i+1)
		}
		d.mu.Unlock()
		d.leave()
	})
}

// watch checks every retry interval whether the Desk holds more than its
// share, and gives this lease back when it is the newest.
func (l *deskLease) watch() {
	t := time.NewTicker(l.d.retry)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-l.l.Lost():
			l.markLost()
			return
		case <-t.C:
			if l.surplus() {
				l.markLost()
				return
			}
		}
	}
}

func (l *deskLease) surplus() bool {
	d := l.d
	ctx, cancel := context.WithTimeout(context.Background(), d.retry)
	defer cancel()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.held) == 0 || d.held[len(d.held)-1] != l {
		return false
	}
	share, err := d.share(ctx)
	if err != nil {
		return false // the lease's own check finds a dead database
	}
	if len(d.held) <= share {
		return false
	}
	// No longer counted: the next newest is judged without it, so one
	// lease is given back per check, not all at once.
	d.held = d.held[:len(d.held)-1]
	return true
}
