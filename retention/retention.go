// Package retention purges what has expired: conversations whose retention
// time (their category's, counted from when they were solved, or from their
// last activity) has ended, with their messages, attachments, raw sources and
// the copies of their mail still on the IMAP servers.
//
// The deleting is store.Purge's (short paced batches; see there). This
// package adds the daily schedule (gocron), the lock that lets one instance
// among several purge at a time, the pacing defaults, and the IMAP side.
//
// # The IMAP copies: a durable queue
//
// Each purge batch writes one imap_deletions row per server copy of its
// inbound mail (the message's own, and every message_copies row of a
// duplicate) in the batch's own transaction, and notifies
// store.ChannelDeletions. So a copy is always known: as a message, or as a
// queued deletion, whatever crashes or outages come between. The Deleter
// drains the queue in package queue's shape: a short transaction claims
// one mailbox's due rows (FOR UPDATE SKIP LOCKED, attempts+1, a lease
// longer than the work's time limit); the IMAP deletion runs with no
// transaction open, in one session for all those UIDs
// (ingest.DeleteCopies, or ingest.DeleteCopiesByContent where the server
// renumbered them); a second short transaction deletes the rows whose copy
// is gone (a copy no longer on the server counts as gone) and sets the
// others due again after queue.Backoff. A process killed between the claim
// and the record leaves its rows to be claimed again after the lease:
// deleting is at-least-once, which is harmless (the second try finds
// nothing). Rows of a mailbox this instance has no options for are never
// claimed here. PurgeNow drains the queue once right after the purge, so
// the report says what was deleted; the rest is the Deleter's, which every
// instance runs (cmd wires it to a store.Listen on ChannelDeletions).
//
// /readyz and /metrics show the backlog and the oldest row's age (never a
// reason to be unready). A copy still queued after DefaultReportAfter (7
// days) is reported once to the staff of its conversation's category, with
// the mailbox_alert mail (mailbox named, reason saying how many purged mails
// are left and the last error); the latch and the mail are one
// transaction, so several instances report it once.
//
// # Pacing
//
// The purge is sized and paced so that ingest does not feel it: each batch
// aims at DefaultTargetBatch (its size adapts to the measured time, between
// 20 and BatchSize), and after each the purge pauses DefaultYield times the
// batch's time. A batch locks its conversations and blobs with SKIP LOCKED
// and waits at most a short lock timeout on anything else (rows a
// transaction holds, via the cascades): what is in use is left for the
// next run.
//
// # One purge at a time
//
// The daily job runs under gocron's distributed job locker, implemented by
// Locker over a PostgreSQL advisory lock (store.TryAcquire), and PurgeNow (the
// CLI's way in) takes the same lock. Whoever comes second does not wait: the
// scheduled job is skipped, and PurgeNow returns an error wrapping ErrRunning
// at once, so a person at the CLI learns it and can try again. Instances whose
// clocks fire the job a little apart also purge only once per day: a
// scheduled run is skipped when another scheduled purge finished within the
// last 12 hours (read from the audit trail). The lock lives on a connection
// of its own; PurgeNow stops between batches when that connection dies. Even
// two purges at once would be correct, only wasteful: each batch locks its
// conversations FOR UPDATE SKIP LOCKED, so no row is deleted twice.
//
// # Errors
//
// A failing database purge is an error of the run (the batches committed
// before it stay purged, and their IMAP copies stay queued). A failing
// IMAP deletion is not: it is logged, listed in Report.IMAP, counted in
// the run's audit record, and retried by the Deleter; the run succeeds.
package retention

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"postdesk/config"
	"postdesk/ingest"
	"postdesk/metrics"
	"postdesk/store"
)

// JobName is the scheduled job's name, and the key both the job and PurgeNow
// lock.
const JobName = "retention-purge"

// ActorSchedule is the audit actor of scheduled runs.
const ActorSchedule = "schedule"

// DefaultAt is when the daily purge runs, in Options.Location.
const DefaultAt = "03:30"

// DefaultTargetBatch and DefaultYield pace the purge: batches of about
// 50 ms, each followed by a pause of Yield times its length.
const (
	DefaultTargetBatch = 50 * time.Millisecond
	DefaultYield       = 1.0
)

// slotWindow: a scheduled run is skipped when another scheduled purge
// finished this recently (instances whose clocks differ fire apart).
const slotWindow = 12 * time.Hour

// ErrRunning is returned (wrapped) by PurgeNow while another purge, in this
// process or another, holds the lock.
var ErrRunning = errors.New("another purge is running")

// Options configures a Retention; nil means defaults.
type Options struct {
	// Mailboxes are the IMAP mailboxes by name (the name stored with each
	// inbound message), each with the options its ingest worker runs with:
	// Folder is the watched folder and After its action. With After "seen"
	// the copies are deleted from Folder by UID (or, when its UIDVALIDITY
	// changed since, found there by content); with "move:FOLDER" from
	// FOLDER, found by content (MOVE gives them new UIDs there), and from
	// Folder by UID (mail whose move the server refused); with "delete"
	// nothing is left on the server. A Folder equal to the move target is
	// understood too. Mail from a mailbox not listed here is reported as
	// left on the server.
	Mailboxes map[string]*ingest.Options
	// At is the daily time, "HH:MM" (default DefaultAt), in Location
	// (default time.Local).
	At       string
	Location *time.Location
	// BatchSize is store.PurgeOptions.BatchSize (default
	// store.DefaultPurgeBatch): the largest batch.
	BatchSize int
	// TargetBatch and Yield pace the purge (store.PurgeOptions; defaults
	// DefaultTargetBatch and DefaultYield). A negative value turns pacing
	// off (every batch BatchSize, no pause).
	TargetBatch time.Duration
	Yield       float64
	// Alerts tells a category's staff of copies left on a server for a week
	// (conversation.Service); nil: not reported.
	Alerts StaffAlerter
	// Locker keeps purges from overlapping (default NewLocker(st)).
	Locker gocron.Locker
	// IMAPTimeout bounds the deletion of IMAP copies right after a purge
	// (default 10 minutes). It goes on after the run's context ends (a
	// shutdown), for at most 30 seconds then; what is left stays queued for
	// the Deleter.
	IMAPTimeout time.Duration
	// Clock drives the schedule and is the purge's "now" (default the real
	// clock; tests pass a fake one).
	Clock  clockwork.Clock
	Logger *slog.Logger
	// AuditRetention is how long the sign-in audit is kept (the config's
	// audit_retention); zero: it is not purged.
	AuditRetention config.Retention
}

// Retention runs the purge, on schedule and on demand.
type Retention struct {
	st          *store.Store
	mailboxes   map[string]*ingest.Options
	hour, min   uint
	at          string
	loc         *time.Location
	batch       int
	target      time.Duration
	yield       float64
	deleter     *Deleter
	locker      gocron.Locker
	imapTimeout time.Duration
	clock       clockwork.Clock
	log         *slog.Logger
	auditKeep   config.Retention

	mu   sync.Mutex
	last *Report // the last scheduled run's report
}

// New returns a Retention; an At that is not "HH:MM" is an error.
func New(st *store.Store, opts *Options) (*Retention, error) {
	r := &Retention{st: st, at: DefaultAt, loc: time.Local, imapTimeout: 10 * time.Minute,
		clock: clockwork.NewRealClock(), log: slog.Default(), mailboxes: map[string]*ingest.Options{},
		target: DefaultTargetBatch, yield: DefaultYield}
	var alerts StaffAlerter
	if opts != nil {
		alerts = opts.Alerts
		if opts.TargetBatch != 0 {
			r.target = max(opts.TargetBatch, 0)
		}
		if opts.Yield != 0 {
			r.yield = max(opts.Yield, 0)
		}
		if opts.At != "" {
			r.at = opts.At
		}
		if opts.Location != nil {
			r.loc = opts.Location
		}
		r.batch = opts.BatchSize
		r.locker = opts.Locker
		if opts.IMAPTimeout > 0 {
			r.imapTimeout = opts.IMAPTimeout
		}
		if opts.Clock != nil {
			r.clock = opts.Clock
		}
		if opts.Logger != nil {
			r.log = opts.Logger
		}
		maps.Copy(r.mailboxes, opts.Mailboxes)
		r.auditKeep = opts.AuditRetention
	}
	if r.locker == nil {
		r.locker = NewLocker(st)
	}
	r.deleter = NewDeleter(st, &DeleterOptions{Mailboxes: r.mailboxes, Timeout: r.imapTimeout,
		Alerts: alerts, Clock: r.clock, Logger: r.log})
	t, err := time.Parse("15:04", r.at)
	if err != nil {
		return nil, fmt.Errorf("retention: at %q: want HH:MM, such as 03:30", r.at)
	}
	r.hour, r.min = uint(t.Hour()), uint(t.Minute())
	for name, o := range r.mailboxes {
		if o == nil {
			return nil, fmt.Errorf("retention: mailbox %s: no options", name)
		}
	}
	return r, nil
}

// Run schedules the purge daily at At until ctx ends, then stops the
// scheduler (letting a running purge end its batch) and returns nil.
func (r *Retention) Run(ctx context.Context) error {
	s, err := gocron.NewScheduler(gocron.WithLocation(r.loc), gocron.WithClock(r.clock),
		gocron.WithStopTimeout(time.Minute))
	if err != nil {
		return fmt.Errorf("retention: scheduler: %w", err)
	}
	_, err = s.NewJob(gocron.DailyJob(1, gocron.NewAtTimes(gocron.NewAtTime(r.hour, r.min, 0))),
		gocron.NewTask(r.scheduled),
		gocron.WithName(JobName),
		gocron.WithDistributedJobLocker(r.locker),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithEventListeners(gocron.AfterLockError(func(_ uuid.UUID, _ string, err error) {
			r.log.Info("retention: scheduled purge skipped: another instance holds the lock", "err", err)
		})))
	if err != nil {
		_ = s.Shutdown()
		return fmt.Errorf("retention: schedule at %s: %w", r.at, err)
	}
	s.Start()
	r.log.Info("retention: purge scheduled", "at", r.at, "location", r.loc.String())
	<-ctx.Done()
	if err := s.Shutdown(); err != nil {
		r.log.Warn("retention: scheduler shutdown", "err", err)
	}
	return nil
}

// scheduled is the daily job; gocron holds the lock while it runs.
func (r *Retention) scheduled(ctx context.Context) {
	done, err := r.st.PurgedSince(ctx, ActorSchedule, slotWindow)
	if err != nil {
		r.log.Error("retention: scheduled purge not run", "err", err)
		return
	}
	if done {
		r.log.Info("retention: scheduled purge skipped: another instance purged within the last 12 hours")
		return
	}
	rep, err := r.purge(ctx, false, ActorSchedule)
	if err != nil {
		r.log.Error("retention: scheduled purge failed", "err", err)
	}
	if rep != nil {
		r.mu.Lock()
		r.last = rep
		r.mu.Unlock()
	}
}

// Deleter is the worker of the IMAP deletion queue over the same
// mailboxes: run it (Run) and wake it on store.ChannelDeletions.
func (r *Retention) Deleter() *Deleter { return r.deleter }

// Last returns the report of the last scheduled run of this instance, or nil.
func (r *Retention) Last() *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// PurgeNow purges at once (or, with dryRun, reports what would go without
// changing anything but writing the audit record). actor is the audit actor:
// "cli:USER" or "cli" (the default when ""). It takes the lock the scheduled
// job takes and does not wait for it: while another purge runs it returns an
// error wrapping ErrRunning. IMAP failures are in the report, not the error.
// When the purge fails part-way, the report of what was done comes with the
// error.
func (r *Retention) PurgeNow(ctx context.Context, dryRun bool, actor string) (*Report, error) {
	if actor == "" {
		actor = "cli"
	}
	lock, err := r.locker.Lock(ctx, JobName)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	defer func() { _ = lock.Unlock(context.WithoutCancel(ctx)) }()
	if l, ok := lock.(interface{ Lost() <-chan struct{} }); ok {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		go func() {
			select {
			case <-l.Lost():
				cancel(errors.New("retention: the purge lock was lost"))
			case <-ctx.Done():
			}
		}()
	}
	return r.purge(ctx, dryRun, actor)
}

// Report is the outcome of a run: the database purge's report and what
// became of the IMAP copies.
type Report struct {
	store.PurgeReport
	IMAP []IMAPResult
	// IMAPDeleted is how many copies were removed from the servers right
	// after the purge; IMAPFailed how many groups of copies could not be
	// (see IMAP): they stay queued and the deleter retries them. IMAPQueued
	// is how many copies (of any run) wait in the queue after this one.
	IMAPDeleted int
	IMAPFailed  int
	IMAPQueued  int64
	// SigninAudit is how many sign-in audit rows older than
	// AuditRetention were deleted.
	SigninAudit int64
	// AccessLog is how many access log rows (who read what) older than
	// AuditRetention were deleted.
	AccessLog int64
}

// IMAPResult is the deletion of one group of copies: one mailbox's folder,
// by UID under one UIDVALIDITY, or by content.
type IMAPResult struct {
	Mailbox     string
	Folder      string
	UIDValidity uint32 // 0 when ByContent
	ByContent   bool
	Copies      int // copies asked for
	Deleted     int
	Err         error  // nil on success
	Skipped     string // why nothing was tried ("" when it was)
}

// purge runs the one store function and then the IMAP deletes; the caller
// holds the lock.
func (r *Retention) purge(ctx context.Context, dryRun bool, actor string) (*Report, error) {
	rep := &Report{}
	log := r.log.With("actor", actor, "dry_run", dryRun)
	opts := store.PurgeOptions{Now: r.clock.Now(), DryRun: dryRun, BatchSize: r.batch, Actor: actor,
		TargetBatch: r.target, Yield: r.yield,
		OnBatch: func(s store.PurgeStats) {
			log.Debug("retention: batch purged", "batch", s.Batch, "conversations", s.This.Conversations,
				"messages", s.This.Messages, "skipped", s.Skipped, "total", s.Total.Conversations)
		},
		AfterCommit: func(ctx context.Context, p *store.PurgeReport) map[string]any {
			if dryRun || p.IMAPCopies == 0 {
				return nil
			}
			r.drainDeletions(ctx, rep)
			return map[string]any{"imap_deleted": rep.IMAPDeleted, "imap_failed": rep.IMAPFailed, "imap_queued": rep.IMAPQueued}
		},
	}
	pr, err := r.st.Purge(ctx, opts)
	if pr != nil {
		rep.PurgeReport = *pr
		if !dryRun {
			for what, n := range map[string]int64{"conversations": pr.Conversations, "messages": pr.Messages,
				"attachments": pr.Attachments, "blobs": pr.Blobs} {
				metrics.Purged.WithLabelValues(what).Add(float64(n))
			}
			metrics.PurgedBytes.Add(float64(pr.Bytes))
			metrics.Purged.WithLabelValues("imap_copies").Add(float64(rep.IMAPDeleted))
		}
	}
	if pr != nil && len(pr.Refused) > 0 {
		log.Error("retention: categories left alone: their retention is not positive, so their cutoff lies in the future; check the configuration",
			"categories", pr.Refused)
	}
	if err != nil {
		return rep, fmt.Errorf("retention: %w", err)
	}
	if !dryRun && !r.auditKeep.Zero() {
		if rep.SigninAudit, err = r.st.PurgeSigninAudit(ctx, r.auditKeep, opts.Now); err != nil {
			return rep, fmt.Errorf("retention: %w", err)
		}
		if rep.AccessLog, err = r.st.PurgeAccessLog(ctx, r.auditKeep, opts.Now); err != nil {
			return rep, fmt.Errorf("retention: %w", err)
		}
	}
	log.Info("retention: purge done", "signin_audit", rep.SigninAudit, "access_log", rep.AccessLog, "conversations", rep.Conversations, "messages", rep.Messages,
		"attachments", rep.Attachments, "blobs", rep.Blobs, "bytes", rep.Bytes, "imap_copies", rep.IMAPCopies,
		"imap_deleted", rep.IMAPDeleted, "imap_failed", rep.IMAPFailed, "skipped", rep.Skipped,
		"seconds", rep.Duration.Seconds())
	return rep, nil
}

func (r *Retention) drainDeletions(parent context.Context, rep *Report) {
	timeout := r.imapTimeout
	if parent.Err() != nil {
		timeout = min(timeout, 30*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), timeout)
	defer cancel()
	res, err := r.deleter.Drain(ctx)
	rep.IMAP = res
	for _, x := range res {
		rep.IMAPDeleted += x.Deleted
		if x.Err != nil {
			rep.IMAPFailed++
		}
	}
	if err != nil {
		r.log.Error("retention: IMAP deletions: the queue stays for the deleter", "err", err)
	}
	if b, err := r.st.DeletionBacklog(ctx); err == nil {
		rep.IMAPQueued = b.Pending
	}
}

// Write prints the report for a person: a dry run's list of what would go
// (id, number, category and expiry date only: subjects are content), then
// the totals and the IMAP outcome.
func (r *Report) Write(w io.Writer) error {
	var b strings.Builder
	verb := "purged"
	if r.DryRun {
		verb = "would purge"
		for _, c := range r.Listed {
			fmt.Fprintf(&b, "id %d  #%d  %s  expired %s\n", c.ID, c.Number, c.Category, c.ExpiredAt.UTC().Format("2006-01-02"))
		}
	}
	fmt.Fprintf(&b, "%s %d conversation(s): %d message(s), %d attachment(s), %d blob(s) of %d bytes; %d IMAP copies",
		verb, r.Conversations, r.Messages, r.Attachments, r.Blobs, r.Bytes, r.IMAPCopies)
	if !r.DryRun && r.IMAPCopies > 0 {
		fmt.Fprintf(&b, " (%d deleted from the servers", r.IMAPDeleted)
		if r.IMAPFailed > 0 {
			fmt.Fprintf(&b, ", %d group(s) failed", r.IMAPFailed)
		}
		if r.IMAPQueued > 0 {
			// A running instance's deleter, woken by the purge, may be
			// deleting them this moment: the queue cannot tell those from
			// the ones waiting for a retry.
			fmt.Fprintf(&b, ", %d copies still queued: a running instance may be deleting them, the deleter retries the rest", r.IMAPQueued)
		}
		b.WriteString(")")
	}
	if r.Skipped > 0 {
		fmt.Fprintf(&b, "; %d busy or renewed conversation(s) left for the next run", r.Skipped)
	}
	fmt.Fprintf(&b, " (as of %s)\n", r.Now.UTC().Format(time.RFC3339))
	for _, res := range r.IMAP {
		if res.Err != nil {
			fmt.Fprintf(&b, "IMAP %s/%s: %d of %d deleted: %v\n", res.Mailbox, res.Folder, res.Deleted, res.Copies, res.Err)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Locker is gocron's distributed job locker over a PostgreSQL advisory lock,
// one per job key, held on a connection of its own for as long as the job
// runs: a crashed holder frees it.
type Locker struct {
	st *store.Store
}

// NewLocker returns a Locker on st's database.
func NewLocker(st *store.Store) *Locker { return &Locker{st: st} }

// Lock implements gocron.Locker: it takes the key's lock when free and
// returns an error wrapping ErrRunning when another process holds it.
func (l *Locker) Lock(ctx context.Context, key string) (gocron.Lock, error) {
	lease, err := l.st.TryAcquire(ctx, "job "+key)
	if err != nil {
		return nil, err
	}
	if lease == nil {
		return nil, fmt.Errorf("%w (lock %q is held)", ErrRunning, key)
	}
	return &pgLock{lease: lease}, nil
}

type pgLock struct{ lease *store.Lease }

// Unlock implements gocron.Lock.
func (p *pgLock) Unlock(context.Context) error {
	p.lease.Release()
	return nil
}

// Lost is closed when the lock's connection died.
func (p *pgLock) Lost() <-chan struct{} { return p.lease.Lost() }
