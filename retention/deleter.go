package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"postdesk/ingest"
	"postdesk/metrics"
	"postdesk/queue"
	"postdesk/store"
)

// DefaultReportAfter is how long a server copy may stay undeleted before
// the category's staff are told (once).
const DefaultReportAfter = 7 * 24 * time.Hour

// DeleterOptions configures a Deleter; nil means defaults.
type DeleterOptions struct {
	// Mailboxes are the IMAP mailboxes by name, as for Options.Mailboxes.
	// Only their deletions are claimed: a copy of a mailbox this instance
	// does not know stays queued (and is reported after ReportAfter).
	Mailboxes map[string]*ingest.Options
	// Batch is how many copies one claim takes (of one mailbox; default 500).
	Batch int
	// Timeout bounds one mailbox session's work (default 10 minutes); Lease
	// is how long claimed copies are left to their worker (default Timeout
	// plus 5 minutes: longer than the work, so a live worker is never
	// overtaken).
	Timeout, Lease time.Duration
	// RetryFirst and RetryMax bound the wait after a failed deletion
	// (queue.Backoff; defaults 1 minute and 6 hours).
	RetryFirst, RetryMax time.Duration
	// ReportAfter is DefaultReportAfter when zero.
	ReportAfter time.Duration
	// Alerts tells a category's staff of the copies left on its server
	// (conversation.Service); nil: nothing is reported.
	Alerts StaffAlerter
	// Poll is the safety poll (default 5 minutes; wake-ups come by LISTEN).
	Poll  time.Duration
	Clock clockwork.Clock
	// Logger: default slog.Default().
	Logger *slog.Logger
}

// StaffAlerter tells a category's staff, in the caller's transaction, of a
// problem with one of its mailboxes (conversation.Service decides who
// hears of it).
type StaffAlerter interface {
	AlertCategoryStaff(ctx context.Context, tx *store.Tx, cat *store.Category, mailbox, reason string) (int, error)
}

// Deleter drains the imap_deletions queue that the purge fills: it claims
// one mailbox's due copies, deletes them in one IMAP session with no
// transaction open, and records the outcome. A copy no longer on the
// server counts as deleted.
type Deleter struct {
	st                   *store.Store
	mailboxes            map[string]*ingest.Options
	names                []string
	batch                int
	timeout, lease       time.Duration
	retryFirst, retryMax time.Duration
	reportAfter          time.Duration
	alerts               StaffAlerter
	clock                clockwork.Clock
	log                  *slog.Logger
	runner               *queue.Runner
}

// NewDeleter returns a Deleter on st; Run starts it.
func NewDeleter(st *store.Store, opts *DeleterOptions) *Deleter {
	if opts == nil {
		opts = &DeleterOptions{}
	}
	d := &Deleter{st: st, mailboxes: map[string]*ingest.Options{}, batch: 500, timeout: 10 * time.Minute,
		retryFirst: time.Minute, retryMax: 6 * time.Hour, reportAfter: DefaultReportAfter,
		alerts: opts.Alerts, clock: opts.Clock, log: opts.Logger}
	maps.Copy(d.mailboxes, opts.Mailboxes)
	for name, o := range d.mailboxes {
		if o != nil {
			d.names = append(d.names, name)
		}
	}
	slices.Sort(d.names)
	if opts.Batch > 0 {
		d.batch = opts.Batch
	}
	if opts.Timeout > 0 {
		d.timeout = opts.Timeout
	}
	d.lease = d.timeout + 5*time.Minute
	if opts.Lease > 0 {
		d.lease = opts.Lease
	}
	if opts.RetryFirst > 0 {
		d.retryFirst = opts.RetryFirst
	}
	if opts.RetryMax > 0 {
		d.retryMax = opts.RetryMax
	}
	if opts.ReportAfter > 0 {
		d.reportAfter = opts.ReportAfter
	}
	if d.clock == nil {
		d.clock = clockwork.NewRealClock()
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	poll := 5 * time.Minute
	if opts.Poll > 0 {
		poll = opts.Poll
	}
	d.runner = queue.NewRunner("imap_deletions", func(ctx context.Context) (bool, error) {
		_, more, err := d.drainOnce(ctx)
		return more, err
	}, &queue.Options{Poll: poll, Logger: d.log})
	return d
}

// Run deletes due copies until ctx ends: at once, when woken (Wake, fed by
// store.Listen on store.ChannelDeletions), and every poll.
func (d *Deleter) Run(ctx context.Context) { d.runner.Run(ctx) }

// Wake makes Run look for due copies now.
func (d *Deleter) Wake() { d.runner.Wake() }

// Drain deletes every copy due now and returns what became of them: the
// purge's way to report its copies' fate at once.
func (d *Deleter) Drain(ctx context.Context) ([]IMAPResult, error) {
	var all []IMAPResult
	for {
		res, more, err := d.drainOnce(ctx)
		all = append(all, res...)
		if err != nil || !more {
			return all, err
		}
	}
}

// drainOnce reports what is overdue, then claims, works and records one
// mailbox's batch; more is true when it claimed anything (another mailbox
// may be due).
func (d *Deleter) drainOnce(ctx context.Context) ([]IMAPResult, bool, error) {
	if err := d.reportOverdue(ctx); err != nil {
		return nil, false, err
	}
	claimed, err := d.st.ClaimDeletions(ctx, d.names, d.clock.Now(), d.lease, d.batch)
	if err != nil || len(claimed) == 0 {
		return nil, false, err
	}
	name := claimed[0].Mailbox
	wctx, cancel := context.WithTimeout(ctx, d.timeout)
	results, failed := d.deleteMailbox(wctx, name, d.mailboxes[name], claimed)
	cancel()

	// The outcome is recorded even when ctx ended meanwhile (a shutdown):
	// what was deleted need not be tried again.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer rcancel()
	var done []int64
	var retry []store.DeletionRetry
	now := d.clock.Now()
	for _, c := range claimed {
		if err := failed[c.ID]; err != nil {
			retry = append(retry, store.DeletionRetry{ID: c.ID, Error: err.Error(),
				Next: now.Add(queue.Backoff(c.Attempts, d.retryFirst, d.retryMax))})
		} else {
			done = append(done, c.ID)
		}
	}
	if err := d.st.RecordDeletions(rctx, done, retry); err != nil {
		return results, false, err
	}
	metrics.IMAPDeletions.WithLabelValues("done").Add(float64(len(done)))
	metrics.IMAPDeletions.WithLabelValues("retry").Add(float64(len(retry)))
	for _, res := range results {
		d.logResult(res)
	}
	return results, true, nil
}

// deleteMailbox deletes one mailbox's claimed copies and returns the
// results by group and the error of each copy that is still on the server.
func (d *Deleter) deleteMailbox(ctx context.Context, name string, o *ingest.Options, cs []store.Deletion) ([]IMAPResult, map[int64]error) {
	var results []IMAPResult
	failed := map[int64]error{}
	fail := func(group []store.Deletion, err error) {
		for _, c := range group {
			failed[c.ID] = err
		}
	}
	folder, after := o.Folder, o.After
	if folder == "" {
		folder = "INBOX"
	}
	if after == "" {
		after = ingest.AfterSeen
	}
	moveTo, moved := strings.CutPrefix(after, ingest.AfterMove)
	switch {
	case after == ingest.AfterDelete:
		return []IMAPResult{{Mailbox: name, Folder: folder, Copies: len(cs), Skipped: "after: delete: nothing is kept on the server"}}, failed
	case after != ingest.AfterSeen && !(moved && moveTo != ""):
		err := fmt.Errorf("after %q: unknown action, copies left on the server", after)
		fail(cs, err)
		return []IMAPResult{{Mailbox: name, Folder: folder, Copies: len(cs), Err: err}}, failed
	}
	// By UID where the mail was fetched (for move: the mail whose move the
	// server refused is still there; a moved one's UID is gone and never
	// reused under the same UIDVALIDITY).
	var lookup []store.Deletion // to find by content
	if !moved || folder != moveTo {
		byUV := map[uint32][]store.Deletion{}
		for _, c := range cs {
			byUV[c.UIDValidity] = append(byUV[c.UIDValidity], c)
		}
		for _, uv := range slices.Sorted(maps.Keys(byUV)) {
			group := byUV[uv]
			uids := make([]uint32, len(group))
			for i, c := range group {
				uids[i] = c.UID
			}
			oo := *o
			oo.Folder = folder
			n, err := ingest.DeleteCopies(ctx, &oo, uv, uids)
			res := IMAPResult{Mailbox: name, Folder: folder, UIDValidity: uv, Copies: len(uids), Deleted: n, Err: err}
			switch {
			case errors.Is(err, ingest.ErrUIDValidity):
				// The folder was re-created (a server move, a restore): the
				// stored UIDs name nothing, but the mail may be there again
				// under new ones.
				res.Err, res.Skipped = nil, "UIDVALIDITY changed: the copies are looked up by content"
				if !moved {
					lookup = append(lookup, group...)
				}
			case err != nil:
				fail(group, err)
			}
			results = append(results, res)
		}
	}
	contentFolder := folder
	if moved {
		lookup, contentFolder = cs, moveTo
	}
	if len(lookup) > 0 {
		content := make([]ingest.Copy, 0, len(lookup))
		for _, c := range lookup {
			content = append(content, ingest.Copy{MessageID: c.MessageID, SHA256: c.RawSHA256, Size: c.RawSize})
		}
		oo := *o
		oo.Folder = contentFolder
		n, err := ingest.DeleteCopiesByContent(ctx, &oo, content)
		if err != nil {
			fail(lookup, err)
		}
		results = append(results, IMAPResult{Mailbox: name, Folder: contentFolder, ByContent: true, Copies: len(lookup), Deleted: n, Err: err})
	}
	return results, failed
}

func (d *Deleter) logResult(res IMAPResult) {
	switch {
	case res.Err != nil:
		d.log.Warn("retention: IMAP copies not deleted yet; retrying later", "mailbox", res.Mailbox, "folder", res.Folder,
			"uidvalidity", res.UIDValidity, "by_content", res.ByContent, "copies", res.Copies, "deleted", res.Deleted, "err", res.Err)
	case res.Skipped != "":
		d.log.Debug("retention: IMAP copies skipped", "mailbox", res.Mailbox, "folder", res.Folder, "copies", res.Copies, "why", res.Skipped)
	default:
		d.log.Info("retention: IMAP copies deleted", "mailbox", res.Mailbox, "folder", res.Folder,
			"uidvalidity", res.UIDValidity, "by_content", res.ByContent, "copies", res.Copies, "deleted", res.Deleted)
	}
}

// reportOverdue tells the staff of each category, once, about its copies
// that could not be deleted for ReportAfter: the latch and the mails are
// one transaction, so with several instances exactly one report goes out.
// It reuses the mailbox_alert mail (the mailbox named, the reason saying
// what is left on it).
func (d *Deleter) reportOverdue(ctx context.Context) error {
	if d.alerts == nil {
		return nil
	}
	now := d.clock.Now()
	return d.st.InTx(ctx, func(tx *store.Tx) error {
		overdue, err := tx.LatchOverdueDeletions(ctx, now.Add(-d.reportAfter), now)
		if err != nil || len(overdue) == 0 {
			return err
		}
		for _, o := range overdue {
			if err := d.report(ctx, tx, o); err != nil {
				return err
			}
		}
		return tx.Notify(ctx, store.ChannelOutbox)
	})
}

func (d *Deleter) report(ctx context.Context, tx *store.Tx, o store.OverdueDeletions) error {
	reason := fmt.Sprintf("%d purged mail(s) of %s could not be deleted from the server for more than %s; postdesk keeps trying",
		o.Copies, o.Category, days(d.reportAfter))
	if o.LastError != "" {
		reason += " (last error: " + o.LastError + ")"
	}
	cat, err := tx.CategoryByKey(ctx, o.Category)
	if errors.Is(err, store.ErrNotFound) {
		d.log.Error("retention: copies left on the server, and their category is gone: nobody to tell",
			"category", o.Category, "mailbox", o.Mailbox, "copies", o.Copies, "reason", reason)
		return nil
	}
	if err != nil {
		return err
	}
	told, err := d.alerts.AlertCategoryStaff(ctx, tx, cat, o.Mailbox, reason)
	if err != nil {
		return err
	}
	d.log.Error("retention: IMAP copies overdue; staff told", "category", o.Category, "mailbox", o.Mailbox,
		"copies", o.Copies, "recipients", told, "last_error", o.LastError)
	return tx.Audit(ctx, nil, "retention", "imap_deletion_overdue", nil, map[string]any{"category": o.Category,
		"mailbox": o.Mailbox, "copies": o.Copies, "recipients": told})
}

// days writes a duration of whole days as "7 days", others as Go does.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
