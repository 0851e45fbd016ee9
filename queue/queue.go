// Package queue is the one shape of postdesk's durable side effects. Work
// that leaves the database (an SMTP send, an IMAP deletion after a purge) is
// a row written in the transaction that decides it, and done later by a
// Runner in three steps, so that no network I/O ever runs inside a
// transaction and no row stays locked while a remote server takes its time:
//
//  1. claim: a short transaction takes due rows with FOR UPDATE SKIP LOCKED,
//     sets attempts = attempts + 1 and next_attempt_at = now() + the lease,
//     and commits;
//  2. work: the I/O, with no transaction open and no row locked;
//  3. record: a second short transaction writes the outcome: done, due
//     again at now() + Backoff(attempts), or failed for good.
//
// A process that dies between 1 and 3 leaves its rows claimed until their
// lease ends; then any instance claims them again. So the work is done
// at-least-once for the rows in flight when a process dies, and exactly
// once otherwise: an SMTP send is repeated with the same Message-ID, which
// lets the receiver recognise it. The lease must be longer than the work's
// own time limit, so that a slow but live worker is never overtaken.
//
// Wake-ups: the deciding transaction also calls pg_notify on the queue's
// channel (store.Notify); every instance listens (store.Listen) and calls
// Runner.Wake, so work starts at once on whichever instance claims it. The
// poll is the safety net for a lost notification or listener.
package queue

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Runner drains one queue until its context ends.
type Runner struct {
	name  string
	drain func(ctx context.Context) (more bool, err error)
	poll  time.Duration
	log   *slog.Logger
	wake  chan struct{}
	// errWait bounds the wait after a failed drain: first doubling to max.
	errFirst, errMax time.Duration
}

// Options configures a Runner; nil means defaults.
type Options struct {
	Poll   time.Duration // the safety poll; default 30s
	Logger *slog.Logger  // default slog.Default()
	// ErrorBackoff is the first wait after a failed drain, doubling up to
	// ErrorBackoffMax; defaults 1s and 1m.
	ErrorBackoff, ErrorBackoffMax time.Duration
}

// NewRunner returns a Runner that calls drain whenever work may be due.
// drain claims, works and records one batch; it reports more when the batch
// was full (more may be due at once). An error is logged and retried after
// a backoff; drain itself decides what an error means for each row.
func NewRunner(name string, drain func(ctx context.Context) (more bool, err error), opts *Options) *Runner {
	r := &Runner{name: name, drain: drain, poll: 30 * time.Second, log: slog.Default(),
		wake: make(chan struct{}, 1), errFirst: time.Second, errMax: time.Minute}
	if opts != nil {
		if opts.Poll > 0 {
			r.poll = opts.Poll
		}
		if opts.Logger != nil {
			r.log = opts.Logger
		}
		if opts.ErrorBackoff > 0 {
			r.errFirst = opts.ErrorBackoff
		}
		if opts.ErrorBackoffMax > 0 {
			r.errMax = opts.ErrorBackoffMax
		}
	}
	r.log = r.log.With("queue", name)
	return r
}

// Wake makes a waiting Run drain now. It never blocks, and wake-ups that
// arrive during a drain collapse into one more drain.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run drains at once, then whenever woken or every poll, until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	failures := 0
	for {
		more, err := r.drain(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := r.poll
		switch {
		case err != nil:
			failures++
			wait = Backoff(failures, r.errFirst, r.errMax)
			r.log.Error("queue: drain failed", "err", err, "retry_in", wait.Round(time.Millisecond))
		case more:
			failures = 0
			continue
		default:
			failures = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.wake:
			// A wake-up cuts a poll short, never an error backoff: a
			// database that just failed is not hammered by notifications.
			if err != nil {
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		case <-t.C:
		}
		t.Stop()
	}
}

// Backoff is the wait before attempt+1 of something that failed attempt
// times (attempt >= 1): first, doubling, at most max, with up to a fifth of
// jitter taken off so that rows failed together spread out.
func Backoff(attempt int, first, max time.Duration) time.Duration {
	d := first
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}
