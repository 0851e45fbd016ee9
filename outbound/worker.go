package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"postdesk/conversation"
	"postdesk/metrics"
	"postdesk/queue"
	"postdesk/signinlink"
	"postdesk/store"
	"postdesk/templates"
	"postdesk/threading"
)

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
	// Trace, when set, receives the SMTP conversation; give it a
	// trace.Writer, which masks credentials and message content.
	Trace  io.Writer
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
// meanwhile, by it or others, included), over one SMTP connection, and
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

// runOnce claims and sends rows one at a time, so that each row's lease
// covers only its own send, over one SMTP session.
func (w *Worker) runOnce(ctx context.Context) (runResult, error) {
	var r runResult
	s := &sender{o: &w.o}
	defer s.quit()
	for range w.o.Batch {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		out, sessionErr, err := w.one(ctx, s)
		if err != nil {
			return r, err
		}
		switch out {
		case none:
			return r, nil
		case sent:
			r.sent++
		case failed:
			r.failed++
		case released:
			r.session = sessionErr
			return r, nil
		}
	}
	r.full = true
	return r, nil
}

// one claims the next due row, builds and sends it with no transaction
// open, and records the outcome. The database work after the send runs on a
// context that does not end with ctx, so that a mail the relay accepted is
// recorded as sent even when ctx ends right after.
func (w *Worker) one(ctx context.Context, s *sender) (outcome, error, error) {
	now, err := w.now(ctx)
	if err != nil {
		return none, nil, err
	}
	its, err := w.st.ClaimOutbox(ctx, now, 1, w.o.Lease)
	if err != nil || len(its) == 0 {
		return none, nil, err
	}
	it := &its[0]
	dbctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.o.SendTimeout+time.Minute)
	defer cancel()

	var m *outgoing
	var sendErr error
	err = w.st.InTx(ctx, func(tx *store.Tx) error {
		m, sendErr = w.build(ctx, tx, it, now)
		if sendErr != nil && !isDeliveryError(sendErr) {
			return sendErr // the database, not the mail
		}
		return nil
	})
	if err != nil {
		// Nothing was sent: give the row back untried, due at once (if the
		// database fails this too, the lease frees it later).
		return none, nil, errors.Join(fmt.Errorf("outbox row %d: build: %w", it.ID, err), w.recordTx(dbctx, func(tx *store.Tx) error {
			return tx.OutboxRelease(dbctx, it.ID, it.Attempts, now, "build: "+err.Error())
		}))
	}
	if sendErr == nil {
		start := time.Now()
		sendErr = s.send(ctx, m.from, m.to, m.raw)
		if sendErr != nil && ctx.Err() != nil {
			// Stopped mid-send: due again at once, for this or another
			// instance; a try if the mail was begun (the relay may have it).
			return none, nil, errors.Join(ctx.Err(), w.recordTx(dbctx, func(tx *store.Tx) error {
				if isSessionFault(sendErr) {
					return tx.OutboxRelease(dbctx, it.ID, it.Attempts, now, "interrupted: "+sendErr.Error())
				}
				return tx.OutboxRetry(dbctx, it.ID, it.Attempts, now, "interrupted: "+sendErr.Error())
			}))
		}
		if sendErr == nil || !isSessionFault(sendErr) {
			metrics.SendSeconds.Observe(time.Since(start).Seconds())
		}
	}
	out, err := w.record(dbctx, it, sendErr)
	if out == released {
		return out, sendErr, err
	}
	return out, nil, err
}

func (w *Worker) now(ctx context.Context) (time.Time, error) {
	if w.o.Now != nil {
		return w.o.Now(), nil
	}
	return w.st.Now(ctx)
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
func (w *Worker) record(ctx context.Context, it *store.OutboxItem, sendErr error) (outcome, error) {
	now, err := w.now(ctx)
	if err != nil {
		return none, err
	}
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
		wait := w.relayFault(ctx, sendErr)
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
