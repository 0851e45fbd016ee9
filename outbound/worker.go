package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"postdesk/conversation"
	"postdesk/metrics"
	"postdesk/queue"
	"postdesk/signinlink"
	"postdesk/store"
	"postdesk/templates"
	"postdesk/threading"
)

// DefaultSessions is how many SMTP sessions a run opens at most when
// Options.Sessions is not set: enough to overlap the round trips of a
// relay on the network, and below the per-client connection limits of the
// common relays.
const DefaultSessions = 4

// Retry policy; see the package documentation.
const (
	firstRetry = time.Minute
	maxRetry   = time.Hour
	giveUp     = 48 * time.Hour
)

// Options configures a Worker; nil means defaults (and an unusable worker:
// Signer and Templates are required).
type Options struct {
	// The SMTP relay, as in the config's smtp section.
	Host string
	Port int    // default 587 with starttls, 465 with implicit TLS, 25 with none
	TLS  string // "starttls" (default) | "implicit" | "none"
	// Username and Password, when a username is set, log in with AUTH PLAIN.
	Username, Password string
	// Auth, when set, logs in as Username with its SASL client instead
	// (OAuth2: mailauth.OAuth2).
	Auth Authenticator
	// TLSConfig is cloned; nil means the system roots, ServerName = Host.
	TLSConfig *tls.Config
	// HeloName is the name given in EHLO; default the host name.
	HeloName string

	// PublicURL is the web view's address, for links in mail.
	PublicURL string
	// Signer makes the reply tokens of Reply-To addresses. Required.
	Signer *threading.Signer
	// Templates renders the mail. Required.
	Templates *templates.Set
	// LinkKeys derives the tokens of sign-in and password-reset link
	// mails (link.go); without it such mail fails.
	LinkKeys *signinlink.Keys
	// LoopID is the value of the loop header; default the domain of the
	// row's Message-ID (the instance's MessageIDDomain).
	LoopID string

	// Conversations records delivery failures (Service.DeliveryFailed).
	// Required.
	Conversations *conversation.Service

	// Batch is the most rows one RunOnce handles (default 100); Run goes on
	// at once when a run was full.
	Batch int
	// Sessions is how many SMTP sessions a run keeps open to the relay at
	// once, each sending one row at a time (default DefaultSessions; the
	// config's smtp.sessions). It must not exceed the connections the relay
	// accepts from one client: a refused session is a session fault, which
	// ends the run and backs off.
	Sessions int
	// Poll is how long Run waits between runs unless woken (default 30s):
	// a safety net, since every transaction that queues mail notifies
	// store.ChannelOutbox and the listener calls Wake.
	Poll time.Duration
	// Lease is how long a claimed row is left to this worker before any
	// worker may claim it again (default SendTimeout + 2m); it must be
	// longer than SendTimeout, so that a live worker is never overtaken.
	Lease time.Duration
	// ErrorBackoff is the first wait after the relay refused the session,
	// doubling up to ErrorBackoffMax (defaults 1s and 1m); the row the
	// fault met is due again after it.
	ErrorBackoff, ErrorBackoffMax time.Duration
	// RelayDownAfter is how many session faults in a row mark the relay
	// down (/readyz, /metrics, one error log and audit entry); default 3.
	RelayDownAfter int
	// CommandTimeout bounds each SMTP command (default 1m); SendTimeout one
	// whole mail, connecting included (default 5m). Both are also bounded by
	// the context.
	CommandTimeout, SendTimeout time.Duration

	// Now is the clock, for tests; nil means the database's clock, which
	// also stamped the rows.
	Now func() time.Time
	// Trace, when set, gives the writer that receives the SMTP conversation
	// of one session (numbered from 1 within its run); give each a
	// trace.Writer, which masks credentials and message content and keeps
	// the state of one session, so it must not be shared.
	Trace  func(session int) io.Writer
	Logger *slog.Logger // default slog.Default()
}

// Worker sends the outbox.
type Worker struct {
	st     *store.Store
	o      Options
	log    *slog.Logger
	runner *queue.Runner
	relay  relayState
}

// New returns a Worker for the store.
func New(st *store.Store, opts *Options) *Worker {
	w := &Worker{st: st}
	if opts != nil {
		w.o = *opts
	}
	o := &w.o
	if o.TLS == "" {
		o.TLS = "starttls"
	}
	if o.Port == 0 {
		switch o.TLS {
		case "implicit":
			o.Port = 465
		case "none":
			o.Port = 25
		default:
			o.Port = 587
		}
	}
	if o.HeloName == "" {
		o.HeloName, _ = os.Hostname()
		if o.HeloName == "" {
			o.HeloName = "localhost"
		}
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Sessions <= 0 {
		o.Sessions = DefaultSessions
	}
	if o.Poll <= 0 {
		o.Poll = 30 * time.Second
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = time.Minute
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 5 * time.Minute
	}
	if o.Lease <= o.SendTimeout {
		o.Lease = o.SendTimeout + 2*time.Minute
	}
	if o.ErrorBackoff <= 0 {
		o.ErrorBackoff = time.Second
	}
	if o.ErrorBackoffMax < o.ErrorBackoff {
		o.ErrorBackoffMax = max(time.Minute, o.ErrorBackoff)
	}
	if o.RelayDownAfter <= 0 {
		o.RelayDownAfter = 3
	}
	w.log = o.Logger
	if w.log == nil {
		w.log = slog.Default()
	}
	w.log = w.log.With("worker", "outbound")
	w.runner = queue.NewRunner("outbox", w.drain, &queue.Options{Poll: o.Poll, Logger: w.log,
		ErrorBackoff: o.ErrorBackoff, ErrorBackoffMax: o.ErrorBackoffMax})
	return w
}

// Wake makes a waiting Run start its next run now: the listener of
// store.ChannelOutbox calls it. It never blocks.
func (w *Worker) Wake() { w.runner.Wake() }

// Run sends the outbox until ctx ends (queue.Runner: at once, when woken,
// every Poll, and after a backoff when the relay refuses the session). It
// returns nil when ctx ends, and an error only when the worker cannot work
// at all.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.usable(); err != nil {
		return err
	}
	w.runner.Run(ctx)
	return nil
}

// drain is one run for the Runner: a session fault is its error, so that
// the Runner backs off before the relay is tried again.
func (w *Worker) drain(ctx context.Context) (more bool, err error) {
	r, err := w.runOnce(ctx)
	if err != nil {
		return false, err
	}
	if r.session != nil {
		return false, r.session
	}
	return r.full, nil
}

func (w *Worker) usable() error {
	if w.o.Signer == nil || w.o.Templates == nil || w.o.Conversations == nil {
		return errors.New("outbound: Options.Signer, Options.Templates and Options.Conversations are required")
	}
	if w.o.Host == "" {
		return errors.New("outbound: no SMTP host")
	}
	switch w.o.TLS {
	case "implicit", "starttls", "none":
	default:
		return fmt.Errorf("outbound: TLS %q: want implicit, starttls or none", w.o.TLS)
	}
	return nil
}

// outcome is what became of one row.
type outcome int

const (
	none     outcome = iota // no due row, or its outcome came too late
	sent                    // delivered
	retry                   // temporary failure, tried again later
	failed                  // given up
	released                // the relay refused the session: not a try
)

// runResult is what one run did.
type runResult struct {
	sent, failed int
	full         bool  // it stopped at Batch rows
	session      error // the session fault that ended it, if one did
}

// RunOnce sends every row due now, each once (at most Batch rows; rows queued
// meanwhile, by it or others, included), over up to Sessions SMTP
// connections at once, and
// returns how many were sent and how many failed for good. Rows that failed
// for now count in neither. A session fault (the relay refused the
// connection, AUTH or MAIL FROM) ends the run with no error: the row it met
// is released, due again after the session backoff. An error means the
// database failed or ctx ended.
func (w *Worker) RunOnce(ctx context.Context) (nsent, nfailed int, err error) {
	if err := w.usable(); err != nil {
		return 0, 0, err
	}
	r, err := w.runOnce(ctx)
	return r.sent, r.failed, err
}

// job is a claimed row and its built mail.
type job struct {
	it       *store.OutboxItem
	now      time.Time // the database's time at the claim
	m        *outgoing
	buildErr error // a delivery error of the mail itself: recorded, never sent
}

// sendResult is a job after its send, for the record.
type sendResult struct {
	j           *job
	err         error
	interrupted bool // the run's context ended mid-send
	untried     bool // given back without a send
}

// goesOn reports whether the run may claim another row after this send:
// not after a session fault (the relay's, which the next mail would meet
// too) nor once the run's context ended mid-send.
func (r *sendResult) goesOn() bool {
	return !r.interrupted && (r.err == nil || !isSessionFault(r.err))
}

// runOnce sends the due rows over up to Sessions SMTP sessions at once,
// each a lane (see lane) that claims, sends and records one row at a time.
// The lanes share the run's Batch: a row claimed by one is never claimed by
// another (FOR UPDATE SKIP LOCKED, and the lease after the claim). A
// session fault or a database error in one lane stops every lane from
// claiming more; each finishes and records the mail it has in flight, so a
// run ends with every mail it sent recorded. A lane that finds nothing due
// ends without ever dialling, so a quiet queue opens one session.
func (w *Worker) runOnce(ctx context.Context) (runResult, error) {
	clk, err := w.clock(ctx)
	if err != nil {
		return runResult{}, err
	}
	run := &laneRun{batch: w.o.Batch}
	errs := make([]error, w.o.Sessions)
	var wg sync.WaitGroup
	for i := range w.o.Sessions {
		wg.Go(func() {
			errs[i] = w.lane(ctx, clk, run, i+1)
			if errs[i] != nil {
				run.halt(nil)
			}
		})
	}
	wg.Wait()
	r := runResult{sent: run.sent, failed: run.failed, session: run.session, full: run.claimed >= run.batch}
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	if r.session != nil {
		r.full = false
	}
	return r, nil
}

// laneRun is what the lanes of one run share.
type laneRun struct {
	mu           sync.Mutex
	batch        int
	claimed      int   // claims begun, up to batch
	stopped      bool  // no lane claims more
	session      error // the first session fault, which stopped the run
	sent, failed int

	faultMu sync.Mutex // apart from mu: fault may write the audit trail
	faulted bool
	wait    time.Duration // the wait of the run's first fault
}

// reserve takes one of the run's claims, if any is left and no lane
// stopped the run.
func (r *laneRun) reserve() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || r.claimed >= r.batch {
		return false
	}
	r.claimed++
	return true
}

// unreserve gives back a claim that found no row.
func (r *laneRun) unreserve() {
	r.mu.Lock()
	r.claimed--
	r.mu.Unlock()
}

// halt stops every lane from claiming more; a session fault is kept as the
// run's.
func (r *laneRun) halt(sessionFault error) {
	r.mu.Lock()
	r.stopped = true
	if sessionFault != nil && r.session == nil {
		r.session = sessionFault
	}
	r.mu.Unlock()
}

// faultWait is how long a row that met a session fault waits. The run's
// first fault counts in the relay's streak (fault: relayFault); the other
// lanes' faults of the same run are the same outage seen at once, and their
// rows wait as long as its row. Counting each would make the streak, and
// the wait, grow faster than the Runner's backoff, which grows once per
// run: the rows would not be due when the Runner tries again.
func (r *laneRun) faultWait(fault func() time.Duration) time.Duration {
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	if r.faulted {
		metrics.SMTPSessionFaults.Inc()
		return r.wait
	}
	r.faulted, r.wait = true, fault()
	return r.wait
}

func (r *laneRun) count(out outcome) {
	r.mu.Lock()
	switch out {
	case sent:
		r.sent++
	case failed:
		r.failed++
	}
	r.mu.Unlock()
}

// lane sends one row at a time over one SMTP session (number n of the
// run), in steps: the outcome of the mail just sent is recorded while the
// next row is claimed and built, on two connections at once, and the next
// send starts when both transactions have ended. So no transaction of the
// lane is open during a send, at most one row of the lane is claimed and
// unsent (its lease covers only its own send), and every mail the lane
// sent before the one in flight has its outcome recorded: a crash mid-send
// repeats the mails in flight only, one per lane. The two steps overlap
// the database's round trips of two mails, and the database clock is read
// once per run (runClock), not before every claim and record.
func (w *Worker) lane(ctx context.Context, clk *runClock, run *laneRun, n int) error {
	s := &sender{o: &w.o}
	if w.o.Trace != nil {
		s.trace = w.o.Trace(n)
	}
	defer s.quit()
	var prev *sendResult // sent, its outcome not recorded yet
	for {
		claim := ctx.Err() == nil && (prev == nil || prev.goesOn()) && run.reserve()
		var j *job
		var out outcome
		var prepErr, recErr error
		var wg sync.WaitGroup
		if prev != nil {
			res := *prev
			wg.Go(func() { out, recErr = w.settle(ctx, clk, run, res) })
		}
		if claim {
			j, prepErr = w.prepare(ctx, clk)
			if j == nil {
				run.unreserve()
			}
		}
		wg.Wait()
		run.count(out)
		last := prev
		prev = nil
		if err := errors.Join(recErr, prepErr); err != nil {
			if j != nil {
				// Claimed beside a record that failed: given back untried.
				_, rerr := w.settle(ctx, clk, run, sendResult{j: j, untried: true})
				err = errors.Join(err, rerr)
			}
			return err
		}
		if last != nil && last.interrupted {
			return ctx.Err()
		}
		if last != nil && !last.goesOn() {
			run.halt(last.err) // nothing was claimed beside its record
			return nil
		}
		if j == nil {
			if claim && last != nil {
				// The outcome recorded beside the claim may have queued
				// mail of its own (a delivery_failed notice), which this
				// run sends too.
				continue
			}
			return ctx.Err()
		}
		prev = w.send(ctx, s, j)
	}
}

// send sends a job's mail with no transaction open; a mail that could not
// be built goes straight to its record.
func (w *Worker) send(ctx context.Context, s *sender, j *job) *sendResult {
	if j.buildErr != nil {
		return &sendResult{j: j, err: j.buildErr}
	}
	start := time.Now()
	err := s.send(ctx, j.m.from, j.m.to, j.m.raw)
	if err != nil && ctx.Err() != nil {
		return &sendResult{j: j, err: err, interrupted: true}
	}
	if err == nil || !isSessionFault(err) {
		metrics.SendSeconds.Observe(time.Since(start).Seconds())
	}
	return &sendResult{j: j, err: err}
}

// prepare claims the next due row and builds its mail, in one short
// transaction; nil when no row is due. A database error rolls the claim
// back with the rest: the row is as it was, untried. A claim once begun is
// not cut by ctx: a stop during its COMMIT could leave the row claimed
// while prepare reports an error, and so held for a whole lease with no
// one sending it. The caller sees the stop at the send, which gives the
// row back.
func (w *Worker) prepare(ctx context.Context, clk *runClock) (*job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.o.CommandTimeout)
	defer cancel()
	now := clk.now()
	var j *job
	err := w.st.InTx(ctx, func(tx *store.Tx) error {
		j = nil
		its, err := tx.ClaimOutbox(ctx, now, 1, w.o.Lease)
		if err != nil || len(its) == 0 {
			return err
		}
		it := &its[0]
		m, buildErr := w.build(ctx, tx, it, now)
		if buildErr != nil && !isDeliveryError(buildErr) {
			return fmt.Errorf("outbox row %d: build: %w", it.ID, buildErr) // the database, not the mail
		}
		j = &job{it: it, now: now, m: m, buildErr: buildErr}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

// settle records a job's outcome. Its database work runs on a context that
// does not end with ctx, so that a mail the relay accepted is recorded as
// sent even when ctx ends right after.
func (w *Worker) settle(ctx context.Context, clk *runClock, run *laneRun, res sendResult) (outcome, error) {
	it := res.j.it
	dbctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.o.SendTimeout+time.Minute)
	defer cancel()
	switch {
	case res.untried:
		// Not sent, and no try: as if it had never been claimed.
		return none, w.recordTx(dbctx, func(tx *store.Tx) error {
			return tx.OutboxRelease(dbctx, it.ID, it.Attempts, res.j.now, it.LastError)
		})
	case res.interrupted:
		// Stopped mid-send: due again at once, for this or another
		// instance; a try if the mail was begun (the relay may have it).
		return none, w.recordTx(dbctx, func(tx *store.Tx) error {
			if isSessionFault(res.err) {
				return tx.OutboxRelease(dbctx, it.ID, it.Attempts, res.j.now, "interrupted: "+res.err.Error())
			}
			return tx.OutboxRetry(dbctx, it.ID, it.Attempts, res.j.now, "interrupted: "+res.err.Error())
		})
	}
	return w.record(dbctx, run, it, res.err, clk.now())
}

// runClock is the clock of one run: the database's, read once when the run
// starts and moved on by this process's monotonic clock, which saves a
// round trip before every claim and every record; or Options.Now.
type runClock struct {
	base  time.Time
	at    time.Time
	fixed func() time.Time
}

func (w *Worker) clock(ctx context.Context) (*runClock, error) {
	if w.o.Now != nil {
		return &runClock{fixed: w.o.Now}, nil
	}
	t, err := w.st.Now(ctx)
	if err != nil {
		return nil, err
	}
	return &runClock{base: t, at: time.Now()}, nil
}

func (c *runClock) now() time.Time {
	if c.fixed != nil {
		return c.fixed()
	}
	return c.base.Add(time.Since(c.at))
}

// backoff is the wait after the n-th failed try: 1m, 2m, 4m ... at most 1h.
func backoff(n int) time.Duration {
	d := firstRetry
	for i := 1; i < n && d < maxRetry; i++ {
		d *= 2
	}
	return min(d, maxRetry)
}

// recordTx runs fn in a short transaction; a lost lease is logged and is
// not an error: the newer claim decides.
func (w *Worker) recordTx(ctx context.Context, fn func(tx *store.Tx) error) error {
	err := w.st.InTx(ctx, fn)
	if errors.Is(err, store.ErrLeaseLost) {
		w.log.Warn("outbox outcome not recorded: the row was claimed again or failed meanwhile", "err", err)
		return nil
	}
	return err
}

// record writes what became of a try, in its own short transaction: sent,
// retry later, failed (conversation.Service.DeliveryFailed), or released
// untried after a session fault.
func (w *Worker) record(ctx context.Context, run *laneRun, it *store.OutboxItem, sendErr error, now time.Time) (outcome, error) {
	log := w.log.With("outbox", it.ID, "template", it.Template, "to", it.Recipient, "attempt", it.Attempts)
	var out outcome
	var fn func(tx *store.Tx) error
	switch {
	case sendErr == nil:
		metrics.Sent.WithLabelValues("sent").Inc()
		log.Info("mail sent")
		w.relayUp(ctx)
		out, fn = sent, func(tx *store.Tx) error { return tx.OutboxSent(ctx, it.ID, it.Attempts, now) }
	case isSessionFault(sendErr):
		metrics.Sent.WithLabelValues("session").Inc()
		wait := run.faultWait(func() time.Duration { return w.relayFault(ctx, sendErr) })
		log.Warn("SMTP session refused; the mail waits for the relay", "err", sendErr, "retry_in", wait)
		out, fn = released, func(tx *store.Tx) error {
			return tx.OutboxRelease(ctx, it.ID, it.Attempts, now.Add(wait), sendErr.Error())
		}
	default:
		w.relayUp(ctx) // the relay answered for this mail: the session works
		out, fn = w.judged(ctx, log, it, sendErr, now)
	}
	if err := w.recordTx(ctx, fn); err != nil {
		return none, fmt.Errorf("outbox row %d: record: %w", it.ID, err)
	}
	return out, nil
}

// judged is the outcome of a mail the relay refused at RCPT or DATA, or
// that could not be built: retried until 48 hours after it was queued when
// temporary, failed otherwise.
func (w *Worker) judged(ctx context.Context, log *slog.Logger, it *store.OutboxItem, sendErr error, now time.Time) (outcome, func(*store.Tx) error) {
	reason := sendErr.Error()
	if isTemporary(sendErr) {
		metrics.Sent.WithLabelValues("temporary").Inc()
		deadline := it.CreatedAt.Add(giveUp)
		if now.Before(deadline) {
			next := now.Add(backoff(it.Attempts))
			if next.After(deadline) {
				next = deadline // the last try, at the mark
			}
			log.Warn("mail not sent, will retry", "err", sendErr, "next", next)
			return retry, func(tx *store.Tx) error { return tx.OutboxRetry(ctx, it.ID, it.Attempts, next, reason) }
		}
		reason = fmt.Sprintf("gave up after %.0f hours of tries: %s", giveUp.Hours(), reason)
	} else {
		metrics.Sent.WithLabelValues("permanent").Inc()
	}
	log.Error("mail failed", "err", reason)
	return failed, func(tx *store.Tx) error {
		_, err := w.o.Conversations.DeliveryFailed(ctx, tx, it, conversation.DeliveryFailure{Reason: reason})
		return err
	}
}
