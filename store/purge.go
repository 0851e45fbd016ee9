package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The retention purge.
//
// A conversation expires when
//
//	coalesce(solved_at, updated_at) + categories.retention <= now
//
// and it is not under legal hold. The sum is PostgreSQL interval arithmetic,
// so "4 years" ends on the same calendar date four years later (months and
// days are counted in the database session's time zone); Go durations are
// never used for it.
//
// Purge works in batches, each a short transaction, so that ingest and the
// web go on working while a million rows go:
//
//  1. choose the next batch of expired conversations by id (keyset: each
//     run walks the table once), without locking anything;
//  2. in a transaction: lock them FOR UPDATE SKIP LOCKED and re-check the
//     expiry in the same statement, so that a conversation busy in another
//     transaction (a mail being received) is skipped and one that got a new
//     message since step 1 survives; queue the IMAP deletion of every
//     server copy of their inbound mail (imap_deletions, see deletion.go)
//     and notify ChannelDeletions; then delete the conversations (their
//     messages, attachments, copies, outbox rows, participants and receiver
//     roles go by ON DELETE CASCADE), and the blobs (raw sources and
//     attachment contents) that no message or attachment refers to any
//     more: a blob shared with a kept conversation stays, and so does one
//     another transaction holds (SKIP LOCKED: a mail being stored refers to
//     it);
//  3. commit, pause (PurgeOptions.Yield times the batch's time), and repeat
//     until no expired conversation is left. The batch size adapts to
//     PurgeOptions.TargetBatch.
//
// No lock is waited for longer than purgeLockTimeout: a batch that would
// (a cascade reaching a row another transaction holds) is rolled back and
// its conversations are counted as skipped.
//
// Audit rows stay: they hold no content and have no foreign key. Every run
// writes one audit record of its own (action "purge") with the counts.
// A conversation skipped because it was busy is purged by the next run.
// A dry run writes nothing but its audit record (no deletion is queued).

// DefaultPurgeBatch is PurgeOptions.BatchSize when left zero.
const DefaultPurgeBatch = 500

// PurgeOptions configures one purge run.
type PurgeOptions struct {
	// Now is the moment expiry is measured against; zero means time.Now().
	Now time.Time
	// DryRun computes the same report without deleting anything.
	DryRun bool
	// BatchSize is the most conversations one transaction deletes (default
	// DefaultPurgeBatch).
	BatchSize int
	// TargetBatch is how long one batch should take: the size adapts to the
	// measured time, between 20 and BatchSize. Zero keeps every batch at
	// BatchSize.
	TargetBatch time.Duration
	// Yield is the pause after each batch, as a multiple of that batch's
	// time, so that ingest gets the database most of the time (the purge
	// takes at most 1/(1+Yield) of it). Zero: no pause.
	Yield float64
	// Actor is who runs the purge, for the audit record: "schedule",
	// "cli:USER" or "cli". Required.
	Actor string
	// OnBatch, when set, is called after each batch (after its commit, for a
	// real run) with that batch's figures and the totals so far.
	OnBatch func(PurgeStats)
	// Selected, when set, is called with each batch's candidate ids after
	// they were chosen and before the batch's transaction locks and re-checks
	// them (progress reporting, and tests that race the purge).
	Selected func(ids []int64)
	// AfterCommit, when set, is called once after the last batch (also when
	// a batch failed: what committed before is gone) and before the audit
	// record is written; the details it returns are added to that record.
	// The retention job drains the IMAP deletion queue here, so what it
	// deleted at once is in the run's one audit record. It must not return content. Its context is
	// the run's, which may have ended (a cancelled run still reports what it
	// committed).
	AfterCommit func(ctx context.Context, r *PurgeReport) map[string]any
	// VacuumEvery is how many batches a real run deletes between two
	// VACUUMs of the tables it deletes from (default DefaultVacuumEvery;
	// negative: never). See purgeVacuum.
	VacuumEvery int
}

// DefaultVacuumEvery is PurgeOptions.VacuumEvery's default: no VACUUM
// between batches, one at the end (see purgeVacuum).
const DefaultVacuumEvery = -1

// PurgeCounts are what a purge removed (or, for a dry run, would remove).
type PurgeCounts struct {
	Conversations int64
	Messages      int64
	Attachments   int64
	Blobs         int64 // raw sources and attachment contents no longer referenced
	Bytes         int64 // the size of those blobs
	IMAPCopies    int64 // server copies of inbound mail queued for deletion (dry run: that would be)
}

func (c *PurgeCounts) add(o PurgeCounts) {
	c.Conversations += o.Conversations
	c.Messages += o.Messages
	c.Attachments += o.Attachments
	c.Blobs += o.Blobs
	c.Bytes += o.Bytes
	c.IMAPCopies += o.IMAPCopies
}

// PurgedConversation names a purged conversation without its content: the
// subject is content, so it is not here.
type PurgedConversation struct {
	ID        int64
	Number    int64
	Category  string    // key
	ExpiredAt time.Time // coalesce(solved_at, updated_at) + retention
}

// IMAPCopy is where an inbound mail of a purged conversation was fetched
// from. UIDValidity and UID name it in the mailbox's folder (RFC 3501 section
// 2.3.1.1); MessageID (without angle brackets, "" when the mail had none),
// RawSHA256 and RawSize let a copy moved to another folder (after:
// move:FOLDER, where it has another UID) be recognised by its content.
type IMAPCopy struct {
	Mailbox     string
	UIDValidity uint32
	UID         uint32
	MessageID   string
	RawSHA256   []byte
	RawSize     int64 // the size of the stored raw source (only the header for mail over the size limit)
}

// PurgeStats is reported to OnBatch after each batch.
type PurgeStats struct {
	Batch   int                  // 1, 2, ...
	This    PurgeCounts          // this batch
	Total   PurgeCounts          // so far, this batch included
	Skipped int64                // candidates of this batch that were busy or no longer expired
	Listed  []PurgedConversation // this batch's conversations
	Size    int                  // candidates the batch took
	Took    time.Duration        // the batch's time, choosing included
	Pause   time.Duration        // the pause before the next batch
}

// PurgeReport is the outcome of a purge run.
type PurgeReport struct {
	Now    time.Time
	DryRun bool
	Actor  string
	PurgeCounts
	Batches int
	// Skipped counts candidates left alone because another transaction held
	// them or they were no longer expired when their batch re-checked them.
	Skipped int64
	// Listed names what a dry run would purge (a real run reports each
	// batch's list to OnBatch only, to keep memory flat).
	Listed []PurgedConversation
	// Copies are, for a dry run, the IMAP copies that would be queued for
	// deletion; a real run queues them (imap_deletions) and leaves this nil.
	Copies []IMAPCopy
	// Vacuums counts the VACUUMs the run did behind itself; VacuumError is
	// the last one's failure, if any (it never fails the purge).
	Vacuums     int
	VacuumError string
	// VacuumTook is the time the VACUUMs took, of Duration.
	VacuumTook time.Duration
	Duration   time.Duration
	// Refused are the categories the run left alone because their
	// retention is not positive (a cutoff in the future): an error
	// somewhere, never a reason to purge.
	Refused []string
}

// AuditDetail is what the run's audit record holds: counts, never content.
func (r *PurgeReport) AuditDetail() map[string]any {
	return map[string]any{
		"now":           r.Now.UTC().Format(time.RFC3339Nano),
		"dry_run":       r.DryRun,
		"conversations": r.Conversations,
		"messages":      r.Messages,
		"attachments":   r.Attachments,
		"blobs":         r.Blobs,
		"bytes":         r.Bytes,
		"imap_copies":   r.IMAPCopies,
		"batches":       r.Batches,
		"refused":       r.Refused,
		"skipped":       r.Skipped,
		"vacuums":       r.Vacuums,
		"seconds":       r.Duration.Seconds(),
	}
}

// expired is the expiry rule, for a conversation c joined to its category
// cat, measured against the parameter named by now. It is the one place the
// rule is written.
//
// A category whose retention is not positive has its cutoff (now minus the
// retention) at or after now, which only an error can cause (config refuses
// such values; see config.MaxRetentionYears); the rule never lets one purge
// anything, and Purge reports the category as refused.
func expired(now string) string {
	return `(NOT ` + keptBack + ` AND ` + expiryOf + ` <= ` + now + `::timestamptz)`
}

// expiryOf is when conversation c expires; keptBack holds it past that.
const (
	expiryOf = `coalesce(c.solved_at, c.updated_at) + cat.retention`
	keptBack = `(c.legal_hold OR NOT cat.retention > interval '0')`
)

// PurgeAfter is when the retention purge deletes conversation id if nothing
// happens to it before (new activity on an open conversation moves the
// date on; solving it fixes it), or nil while a legal hold keeps it (or its
// category's retention is refused, see expired). ErrNotFound when there is
// no such conversation.
func (db *DB) PurgeAfter(ctx context.Context, id int64) (*time.Time, error) {
	var t *time.Time
	err := db.q.QueryRow(ctx, `SELECT CASE WHEN `+keptBack+` THEN NULL ELSE `+expiryOf+` END
		FROM conversations c JOIN categories cat ON cat.id = c.category_id WHERE c.id = $1`, id).Scan(&t)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("purge after %d: %w", id, err)
	}
	return t, nil
}

// Purge deletes every expired conversation with everything that belongs to
// it only; see the comment at the top of this file. It writes one audit
// record for the run (also when it fails part-way: the batches committed
// before the failure stay deleted and are counted). The report is returned
// with any error.
func (s *Store) Purge(ctx context.Context, opts PurgeOptions) (*PurgeReport, error) {
	if opts.Actor == "" {
		return nil, fmt.Errorf("purge: no actor: %w", ErrInvalidInput)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultPurgeBatch
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.VacuumEvery == 0 {
		opts.VacuumEvery = DefaultVacuumEvery
	}
	started := time.Now()
	r := &PurgeReport{Now: opts.Now, DryRun: opts.DryRun, Actor: opts.Actor}
	// The rules in force, for the record: category key -> retention.
	rules, runErr := s.retentions(ctx)
	if runErr == nil {
		r.Refused, runErr = s.refusedCategories(ctx)
	}
	if runErr == nil {
		runErr = s.purgeBatches(ctx, &opts, r)
	}
	if !opts.DryRun && r.Conversations > 0 && ctx.Err() == nil {
		s.purgeVacuum(ctx, r)
	}
	r.Duration = time.Since(started)

	detail := r.AuditDetail()
	detail["retention"] = rules
	if opts.AfterCommit != nil {
		for k, v := range opts.AfterCommit(ctx, r) {
			if _, taken := detail[k]; !taken {
				detail[k] = v
			}
		}
	}
	if runErr != nil {
		detail["error"] = runErr.Error()
	}
	// What committed is gone whatever happened later: the record is written
	// even after a failure or a cancel.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.Audit(actx, nil, opts.Actor, "purge", nil, detail); err != nil {
		return r, errors.Join(runErr, err)
	}
	return r, runErr
}

// refusedCategories are the categories whose retention is not positive:
// their cutoff would lie in the future, and expired purges none of them.
func (s *Store) refusedCategories(ctx context.Context) ([]string, error) {
	rows, err := s.q.Query(ctx, `SELECT key FROM categories WHERE NOT retention > interval '0' ORDER BY key`)
	if err != nil {
		return nil, fmt.Errorf("purge: refused categories: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("purge: refused categories: %w", err)
	}
	return keys, nil
}

// retentions maps every category's key to its retention, as PostgreSQL
// writes the interval ("4 years", "90 days", "36:00:00").
func (s *Store) retentions(ctx context.Context) (map[string]string, error) {
	rows, err := s.q.Query(ctx, `SELECT key, retention::text FROM categories ORDER BY key`)
	if err != nil {
		return nil, fmt.Errorf("purge: retentions: %w", err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("purge: retentions: %w", err)
		}
		m[k] = v
	}
	return m, rows.Err()
}

func (s *Store) purgeBatches(ctx context.Context, opts *PurgeOptions, r *PurgeReport) error {
	var after int64 // keyset: the last candidate id seen
	pace := newPacer(opts)
	for {
		if err := pace.wait(ctx); err != nil {
			return fmt.Errorf("purge: %w", err)
		}
		started := time.Now()
		cands, err := s.purgeCandidates(ctx, after, opts.Now, pace.size)
		if err != nil {
			return err
		}
		if len(cands) == 0 {
			return nil
		}
		after = cands[len(cands)-1].ID
		ids := make([]int64, len(cands))
		for i, c := range cands {
			ids[i] = c.ID
		}
		if opts.Selected != nil {
			opts.Selected(ids)
		}
		var b batchResult
		if opts.DryRun {
			b, err = s.dryBatch(ctx, cands, after, opts.Now)
		} else {
			err = s.InTx(ctx, func(tx *Tx) error {
				var err error
				b, err = tx.purgeBatch(ctx, ids, opts.Now)
				return err
			})
			if isLockTimeout(err) {
				// Something held a row of the batch longer than the purge
				// waits: leave the whole batch for the next run.
				b, err = batchResult{}, nil
			}
		}
		if err != nil {
			return fmt.Errorf("purge batch %d: %w", r.Batches+1, err)
		}
		pace.done(len(cands), time.Since(started))
		r.Batches++
		if !opts.DryRun && opts.VacuumEvery > 0 && r.Batches%opts.VacuumEvery == 0 {
			s.purgeVacuum(ctx, r)
		}
		r.add(b.counts)
		r.Skipped += int64(len(cands) - len(b.purged))
		r.Copies = append(r.Copies, b.copies...)
		if opts.DryRun {
			r.Listed = append(r.Listed, b.purged...)
		}
		if opts.OnBatch != nil {
			opts.OnBatch(PurgeStats{Batch: r.Batches, This: b.counts, Total: r.PurgeCounts,
				Skipped: int64(len(cands) - len(b.purged)), Listed: b.purged, Size: len(cands),
				Took: pace.last, Pause: pace.pause})
		}
	}
}

// purgeVacuum vacuums the tables a purge deletes from. The dead rows a
// batch leaves behind slow ingest's every index lookup and insert until
// vacuum has cleared them: in BenchmarkPurge, right after a purge of 200,000
// conversations, ingest ran at 135 mails/s, and at 463 after a VACUUM
// (baseline before the purge: 315). Autovacuum comes too late for a purge
// of this size, so the purge clears up behind itself at the end, and every
// VacuumEvery batches when that is set. Since the read model's GIN indexes
// (search, trigrams) each VACUUM is heavy: at a million conversations,
// vacuuming every 40 batches slowed ingest by 42 % during the purge, none
// between batches by 13 % (ingest 144.7 -> 125.4 mails/s, purge 261 s),
// so the default vacuums only at the end. VACUUM runs outside any
// transaction (it cannot run in one) and takes no lock that ingest waits
// for; a failure (a role that may not vacuum) is reported, not fatal.
func (s *Store) purgeVacuum(ctx context.Context, r *PurgeReport) {
	started := time.Now()
	defer func() { r.VacuumTook += time.Since(started) }()
	if _, err := s.pool.Exec(ctx, `VACUUM conversations, conversation_roles, participants, messages, attachments, blobs, blob_chunks, outbox`); err != nil {
		r.VacuumError = err.Error()
		return
	}
	r.Vacuums++
}

// isLockTimeout reports a batch rolled back because a lock wait exceeded
// purgeLockTimeout (lock_not_available), or a deadlock PostgreSQL broke by
// cancelling the batch.
func isLockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "55P03" || pe.Code == "40P01")
}

// pacer sizes the batches so that each takes about the target time, and
// pauses between them in proportion to the last one's time, so that the
// purge takes at most 1/(1+Yield) of the database's time and ingest never
// waits long behind it.
type pacer struct {
	size, min, max int
	target         time.Duration
	yield          float64
	last, pause    time.Duration
}

func newPacer(opts *PurgeOptions) *pacer {
	p := &pacer{size: opts.BatchSize, max: opts.BatchSize, min: min(opts.BatchSize, 20),
		target: opts.TargetBatch, yield: opts.Yield}
	if p.target > 0 {
		p.size = p.min // start small, grow to the target
	}
	return p
}

// done takes a batch's size and time, and chooses the next size and pause.
func (p *pacer) done(n int, took time.Duration) {
	p.last = took
	p.pause = time.Duration(p.yield * float64(took))
	if p.target <= 0 || n < p.size || took <= 0 {
		return
	}
	// Aim at the target from the measured time per conversation, moving at
	// most by half or double per batch so one slow batch (a checkpoint)
	// does not swing the size.
	want := int(float64(n) * float64(p.target) / float64(took))
	want = max(min(want, 2*p.size), p.size/2)
	p.size = max(min(want, p.max), p.min)
}

// wait sleeps the pause chosen after the last batch.
func (p *pacer) wait(ctx context.Context) error {
	if p.pause <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(p.pause)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// purgeCandidates chooses the next batch of expired conversations above an
// id, without locking: the batch's transaction re-checks them.
func (s *Store) purgeCandidates(ctx context.Context, after int64, now time.Time, n int) ([]PurgedConversation, error) {
	rows, err := s.q.Query(ctx, `SELECT c.id, c.number, cat.key, `+expiryOf+`
		FROM conversations c JOIN categories cat ON cat.id = c.category_id
		WHERE c.id > $1 AND `+expired("$2")+`
		ORDER BY c.id LIMIT $3`, after, now, n)
	if err != nil {
		return nil, fmt.Errorf("purge: choose batch: %w", err)
	}
	return collectPurged(rows)
}

func collectPurged(rows pgx.Rows) ([]PurgedConversation, error) {
	defer rows.Close()
	var cs []PurgedConversation
	for rows.Next() {
		var c PurgedConversation
		if err := rows.Scan(&c.ID, &c.Number, &c.Category, &c.ExpiredAt); err != nil {
			return nil, fmt.Errorf("purge: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("purge: %w", err)
	}
	return cs, nil
}

type batchResult struct {
	counts PurgeCounts
	purged []PurgedConversation
	copies []IMAPCopy
}

// inventory is what belongs to a set of conversations: their messages'
// count, their attachments' count, the blobs they refer to (each once), and
// the IMAP copies of their inbound mail.
type inventory struct {
	messages, attachments int64
	shas                  [][]byte
	copies                []IMAPCopy
}

// inventoryOf reads the inventory of the conversations in ids in one pass
// over their messages; the attachments and blob sizes are looked up per
// message, so the plan stays index lookups however large those tables grow.
func (db *DB) inventoryOf(ctx context.Context, ids []int64, withCopies bool) (*inventory, error) {
	rows, err := db.q.Query(ctx, `SELECT m.raw_sha256, m.mailbox IS NOT NULL AND m.uid IS NOT NULL AND m.direction = 'in',
			coalesce(m.mailbox, ''), coalesce(m.uid_validity, 0), coalesce(m.uid, 0), coalesce(m.message_id, ''),
			CASE WHEN m.mailbox IS NOT NULL THEN (SELECT b.size FROM blobs b WHERE b.sha256 = m.raw_sha256) END,
			ARRAY(SELECT a.sha256 FROM attachments a WHERE a.message_id = m.id)
		FROM messages m WHERE m.conversation_id = ANY($1)
		ORDER BY m.mailbox, m.uid_validity, m.uid`, ids)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer rows.Close()
	inv := &inventory{}
	seen := map[[sha256.Size]byte]bool{}
	addSHA := func(sha []byte) {
		if len(sha) != sha256.Size || seen[[sha256.Size]byte(sha)] {
			return
		}
		seen[[sha256.Size]byte(sha)] = true
		inv.shas = append(inv.shas, sha)
	}
	for rows.Next() {
		var raw []byte
		var isCopy bool
		var c IMAPCopy
		var uv, uid int64
		var size *int64
		var files [][]byte
		if err := rows.Scan(&raw, &isCopy, &c.Mailbox, &uv, &uid, &c.MessageID, &size, &files); err != nil {
			return nil, fmt.Errorf("inventory: %w", err)
		}
		inv.messages++
		inv.attachments += int64(len(files))
		addSHA(raw)
		for _, f := range files {
			addSHA(f)
		}
		if isCopy && withCopies {
			c.UIDValidity, c.UID, c.RawSHA256 = uint32(uv), uint32(uid), raw
			if size != nil {
				c.RawSize = *size
			}
			inv.copies = append(inv.copies, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	if !withCopies {
		return inv, nil
	}
	if err := db.copiesOf(ctx, ids, inv); err != nil {
		return nil, err
	}
	return inv, nil
}

// copiesOf adds to inv the further server copies of the conversations'
// messages (the same mail in another mailbox: message_copies), each named
// like the message's own copy, with the kept message's Message-ID and raw
// source, so the retention job deletes every one from its server.
func (db *DB) copiesOf(ctx context.Context, ids []int64, inv *inventory) error {
	rows, err := db.q.Query(ctx, `SELECT c.mailbox, c.uid_validity, c.uid, coalesce(m.message_id, ''), m.raw_sha256,
			(SELECT b.size FROM blobs b WHERE b.sha256 = m.raw_sha256)
		FROM message_copies c JOIN messages m ON m.id = c.message_id
		WHERE m.conversation_id = ANY($1)
		ORDER BY c.mailbox, c.uid_validity, c.uid`, ids)
	if err != nil {
		return fmt.Errorf("inventory: copies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c IMAPCopy
		var uv, uid int64
		var size *int64
		if err := rows.Scan(&c.Mailbox, &uv, &uid, &c.MessageID, &c.RawSHA256, &size); err != nil {
			return fmt.Errorf("inventory: copies: %w", err)
		}
		c.UIDValidity, c.UID = uint32(uv), uint32(uid)
		if size != nil {
			c.RawSize = *size
		}
		inv.copies = append(inv.copies, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("inventory: copies: %w", err)
	}
	return nil
}

// purgeLockTimeout bounds every lock wait of a batch: the candidates and
// blobs are taken with SKIP LOCKED, but the cascade deletes wait on child
// rows another transaction holds (an outbox row being recorded). A batch
// that would wait longer is rolled back and its conversations are left for
// the next run, so the purge never queues behind ingest for long.
const purgeLockTimeout = "200ms"

// purgeBatch deletes one batch inside its transaction, and queues the IMAP
// deletions of its server copies in the same transaction.
func (tx *Tx) purgeBatch(ctx context.Context, cands []int64, now time.Time) (batchResult, error) {
	var b batchResult
	// A purge is idempotent: a batch lost to a crash right after its commit
	// is purged again by the next run (its IMAP deletions with it: they are
	// queued in the batch's transaction). So the batches need not wait for
	// their WAL to reach the disk, which spares ingest the competing
	// flushes. (The audit record is written normally.)
	if _, err := tx.q.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		return b, fmt.Errorf("purge: %w", err)
	}
	if _, err := tx.q.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, purgeLockTimeout); err != nil {
		return b, fmt.Errorf("purge: %w", err)
	}
	// Lock and re-check in one statement: a row another transaction holds
	// (a mail being received into it) is skipped, and a row updated since
	// the candidates were chosen is re-evaluated on its new version.
	rows, err := tx.q.Query(ctx, `SELECT c.id, c.number, cat.key, `+expiryOf+`
		FROM conversations c JOIN categories cat ON cat.id = c.category_id
		WHERE c.id = ANY($1) AND `+expired("$2")+`
		ORDER BY c.id
		FOR UPDATE OF c SKIP LOCKED`, cands, now)
	if err != nil {
		return b, fmt.Errorf("lock: %w", err)
	}
	if b.purged, err = collectPurged(rows); err != nil {
		return b, err
	}
	if len(b.purged) == 0 {
		return b, nil
	}
	ids := make([]int64, len(b.purged))
	for i, c := range b.purged {
		ids[i] = c.ID
	}
	if b.counts, err = tx.deleteConversations(ctx, ids, now); err != nil {
		return b, err
	}
	// The commit takes the lock that orders every notifying commit of the
	// cluster (the batch notifies ChannelDeletions): a wait there is not a
	// row held by ingest, and must not cost the batch.
	if _, err := tx.q.Exec(ctx, `SET LOCAL lock_timeout TO DEFAULT`); err != nil {
		return b, fmt.Errorf("purge: %w", err)
	}
	return b, nil
}

// deleteConversations deletes conversations this transaction has locked,
// with everything that belongs to them only, and queues the IMAP deletions
// of their server copies: the purge's delete, also used by Erase.
func (tx *Tx) deleteConversations(ctx context.Context, ids []int64, now time.Time) (PurgeCounts, error) {
	var n PurgeCounts
	// Nothing can be added to the locked conversations now (a new message's
	// foreign key check waits for this transaction, then fails), so the
	// inventory is what the delete removes.
	inv, err := tx.inventoryOf(ctx, ids, false)
	if err != nil {
		return n, err
	}
	n.Messages, n.Attachments = inv.messages, inv.attachments
	if n.IMAPCopies, err = tx.queueDeletions(ctx, deletionsOfConversations, ids, now); err != nil {
		return n, err
	}
	if n.IMAPCopies > 0 {
		if err := tx.Notify(ctx, ChannelDeletions); err != nil {
			return n, err
		}
	}
	// The rest goes by the foreign keys' ON DELETE CASCADE: messages (and
	// their attachments, copies and outbox rows), participants, receiver
	// roles and outbox rows. Each cascade is an index lookup per deleted
	// row; deleting those sets beforehand would save nothing, as the
	// cascade triggers run for every deleted row anyway.
	tag, err := tx.q.Exec(ctx, `DELETE FROM conversations WHERE id = ANY($1)`, ids)
	if err != nil {
		return n, fmt.Errorf("delete conversations: %w", err)
	}
	n.Conversations = tag.RowsAffected()
	if len(inv.shas) > 0 {
		if n.Blobs, n.Bytes, err = tx.deleteBlobs(ctx, inv.shas); err != nil {
			return n, err
		}
	}
	return n, nil
}

// deleteBlobs deletes the blobs among shas that nothing refers to any more.
// A blob another transaction holds (a mail being stored that refers to it
// holds a key-share lock until it commits) is skipped rather than waited
// for: that mail keeps it. The ones taken are locked first, in one order
// so that two purges cannot deadlock, and the check then sees every
// committed reference.
func (tx *Tx) deleteBlobs(ctx context.Context, shas [][]byte) (n, bytes int64, err error) {
	err = tx.q.QueryRow(ctx, `WITH locked AS (
			SELECT sha256 FROM blobs WHERE sha256 = ANY($1) ORDER BY sha256 FOR UPDATE SKIP LOCKED),
		gone AS (
			DELETE FROM blobs bl USING locked l WHERE bl.sha256 = l.sha256
				AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.raw_sha256 = bl.sha256)
				AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.sha256 = bl.sha256)
			RETURNING bl.size)
		SELECT count(*), coalesce(sum(size), 0) FROM gone`, shas).Scan(&n, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("delete blobs: %w", err)
	}
	return n, bytes, nil
}

// dryBatch counts what purgeBatch would delete for the same candidates,
// changing nothing. A blob is counted in the batch that holds the last
// (highest id) expired conversation referring to it, and only when every
// conversation referring to it is expired: exactly where a real run frees it.
func (s *Store) dryBatch(ctx context.Context, cands []PurgedConversation, last int64, now time.Time) (batchResult, error) {
	b := batchResult{purged: cands}
	ids := make([]int64, len(cands))
	for i, c := range cands {
		ids[i] = c.ID
	}
	inv, err := s.inventoryOf(ctx, ids, true)
	if err != nil {
		return b, fmt.Errorf("dry run: %w", err)
	}
	b.copies, b.counts.Messages, b.counts.Attachments = inv.copies, inv.messages, inv.attachments
	b.counts.Conversations = int64(len(cands))
	b.counts.IMAPCopies = int64(len(b.copies))
	// "Gone by the end of this batch": expired, and at most the batch's last id.
	gone := `(c.id <= $1 AND ` + expired("$2") + `)`
	err = s.q.QueryRow(ctx, `SELECT count(*), coalesce(sum(bl.size), 0)
		FROM blobs bl
		WHERE bl.sha256 = ANY($3) AND NOT EXISTS (SELECT 1 FROM messages m JOIN conversations c ON c.id = m.conversation_id
				JOIN categories cat ON cat.id = c.category_id
				WHERE m.raw_sha256 = bl.sha256 AND NOT `+gone+`)
			AND NOT EXISTS (SELECT 1 FROM attachments a JOIN messages m ON m.id = a.message_id
				JOIN conversations c ON c.id = m.conversation_id JOIN categories cat ON cat.id = c.category_id
				WHERE a.sha256 = bl.sha256 AND NOT `+gone+`)`,
		last, now, inv.shas).Scan(&b.counts.Blobs, &b.counts.Bytes)
	if err != nil {
		return b, fmt.Errorf("dry run: blobs: %w", err)
	}
	return b, nil
}

// PurgedSince reports whether a purge by actor that deleted for real (not a
// dry run) and did not fail finished within the last d, by the database's
// clock. The retention job uses it so that instances whose schedules fire a
// little apart purge once per slot.
func (db *DB) PurgedSince(ctx context.Context, actor string, d time.Duration) (bool, error) {
	var ok bool
	err := db.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit
		WHERE action = 'purge' AND actor = $1 AND conversation_id IS NULL
			AND at > now() - make_interval(secs => $2)
			AND NOT coalesce((detail->>'dry_run')::boolean, false) AND NOT detail ? 'error')`,
		actor, d.Seconds()).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("purged since: %w", err)
	}
	return ok, nil
}
