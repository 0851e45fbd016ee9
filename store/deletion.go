package store

import (
	"context"
	"fmt"
	"time"
)

// The imap_deletions queue: the server copies of purged mail, to delete.
//
// The purge writes one row per copy in each batch's transaction (so a copy
// is either still known as a message or queued, never forgotten), and the
// retention package's deleter drains it in the shape of package queue:
// ClaimDeletions (short transaction, FOR UPDATE SKIP LOCKED and a lease),
// the IMAP work with no transaction open, RecordDeletions (short
// transaction). Times are the caller's clock where they decide what is due,
// so that tests can move it; created_at is the database's.

// Deletion is one queued server copy.
type Deletion struct {
	ID int64
	IMAPCopy
	Category  string // key of the purged conversation's category
	Attempts  int    // including the claim that returned it
	LastError string
	CreatedAt time.Time
}

// deletionsOf names what the ids given to queueDeletions are: the column
// of messages m they are compared with (constants only, never input).
type deletionsOf string

const (
	deletionsOfConversations deletionsOf = "m.conversation_id"
	deletionsOfMessages      deletionsOf = "m.id"
)

// queueDeletions queues the server copies of the inbound messages of the
// conversations (or the messages) ids (their own copy and every
// message_copies row), before they are deleted or emptied in the same
// transaction. It returns how many it queued. They are
// due at once: at the purge's now or the database's, whichever is earlier
// (a deleter's clock decides what is due).
func (tx *Tx) queueDeletions(ctx context.Context, of deletionsOf, ids []int64, now time.Time) (int64, error) {
	tag, err := tx.q.Exec(ctx, `INSERT INTO imap_deletions (mailbox, uid_validity, uid, message_id, raw_sha256, raw_size, category, next_attempt_at)
		SELECT x.mailbox, x.uid_validity, x.uid, coalesce(m.message_id, ''), m.raw_sha256,
			coalesce((SELECT b.size FROM blobs b WHERE b.sha256 = m.raw_sha256), 0), cat.key, least(now(), $2::timestamptz)
		FROM messages m
		JOIN conversations c ON c.id = m.conversation_id
		JOIN categories cat ON cat.id = c.category_id
		CROSS JOIN LATERAL (
			SELECT m.mailbox, m.uid_validity, m.uid WHERE m.mailbox IS NOT NULL AND m.uid IS NOT NULL AND m.direction = 'in'
			UNION ALL
			SELECT mc.mailbox, mc.uid_validity, mc.uid FROM message_copies mc WHERE mc.message_id = m.id) x
		WHERE `+string(of)+` = ANY($1)`, ids, now)
	if err != nil {
		return 0, fmt.Errorf("queue IMAP deletions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ClaimDeletions claims up to n due deletions of one of the mailboxes (the
// one whose deletion is due longest), so that one IMAP session serves them
// all: each gets attempts+1 and is not due again before now+lease. Rows
// another worker holds are skipped, and so are mailboxes not listed (this
// instance cannot reach them). None due: nil.
func (s *Store) ClaimDeletions(ctx context.Context, mailboxes []string, now time.Time, lease time.Duration, n int) ([]Deletion, error) {
	if len(mailboxes) == 0 {
		return nil, nil
	}
	var out []Deletion
	err := s.InTx(ctx, func(tx *Tx) error {
		var mailbox string
		err := tx.q.QueryRow(ctx, `SELECT mailbox FROM imap_deletions WHERE next_attempt_at <= $1 AND mailbox = ANY($2)
			ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`, now, mailboxes).Scan(&mailbox)
		if err != nil {
			if isNoRows(err) {
				return nil
			}
			return err
		}
		rows, err := tx.q.Query(ctx, `UPDATE imap_deletions d SET attempts = d.attempts + 1, next_attempt_at = $3
			WHERE d.id IN (SELECT id FROM imap_deletions WHERE mailbox = $1 AND next_attempt_at <= $2
				ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
			RETURNING d.id, d.mailbox, d.uid_validity, d.uid, d.message_id, d.raw_sha256, d.raw_size,
				d.category, d.attempts, d.last_error, d.created_at`, mailbox, now, now.Add(lease), n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d Deletion
			var uv, uid int64
			if err := rows.Scan(&d.ID, &d.Mailbox, &uv, &uid, &d.MessageID, &d.RawSHA256, &d.RawSize,
				&d.Category, &d.Attempts, &d.LastError, &d.CreatedAt); err != nil {
				return err
			}
			d.UIDValidity, d.UID = uint32(uv), uint32(uid)
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim IMAP deletions: %w", err)
	}
	return out, nil
}

// DeletionRetry is a claimed deletion that failed: due again at Next.
type DeletionRetry struct {
	ID    int64
	Next  time.Time
	Error string
}

// RecordDeletions writes the outcome of claimed deletions in one short
// transaction: done ones are deleted, failed ones are due again.
func (s *Store) RecordDeletions(ctx context.Context, done []int64, retry []DeletionRetry) error {
	ids := make([]int64, len(retry))
	next := make([]time.Time, len(retry))
	errs := make([]string, len(retry))
	for i, r := range retry {
		ids[i], next[i], errs[i] = r.ID, r.Next, r.Error
	}
	err := s.InTx(ctx, func(tx *Tx) error {
		if len(done) > 0 {
			if _, err := tx.q.Exec(ctx, `DELETE FROM imap_deletions WHERE id = ANY($1)`, done); err != nil {
				return err
			}
		}
		if len(retry) > 0 {
			if _, err := tx.q.Exec(ctx, `UPDATE imap_deletions d SET next_attempt_at = u.next, last_error = u.err
				FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS u(id, next, err)
				WHERE d.id = u.id`, ids, next, errs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record IMAP deletions: %w", err)
	}
	return nil
}

// DeletionBacklog is the queue's state: how many copies wait to be deleted
// and how long the oldest has waited (by the database's clock).
type DeletionBacklog struct {
	Pending int64
	Oldest  time.Duration // 0 when none
}

// DeletionBacklog reads the queue's state.
func (db *DB) DeletionBacklog(ctx context.Context) (DeletionBacklog, error) {
	var b DeletionBacklog
	var secs float64
	err := db.q.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
		FROM imap_deletions`).Scan(&b.Pending, &secs)
	if err != nil {
		return b, fmt.Errorf("deletion backlog: %w", err)
	}
	b.Oldest = time.Duration(secs * float64(time.Second))
	return b, nil
}

// OverdueDeletions are the deletions of one category and mailbox queued
// before some time and not reported before.
type OverdueDeletions struct {
	Category, Mailbox string
	Copies            int
	LastError         string // of one of them
}

// LatchOverdueDeletions marks the deletions queued at or before `before`
// and not yet reported as reported (at now), and returns them grouped: the
// caller reports them in the same transaction, so each is reported once
// whatever the number of instances.
func (tx *Tx) LatchOverdueDeletions(ctx context.Context, before, now time.Time) ([]OverdueDeletions, error) {
	rows, err := tx.q.Query(ctx, `WITH latched AS (
			UPDATE imap_deletions SET reported_at = $2
			WHERE id IN (SELECT id FROM imap_deletions WHERE reported_at IS NULL AND created_at <= $1 FOR UPDATE SKIP LOCKED)
			RETURNING category, mailbox, last_error)
		SELECT category, mailbox, count(*), max(last_error) FROM latched GROUP BY category, mailbox ORDER BY category, mailbox`,
		before, now)
	if err != nil {
		return nil, fmt.Errorf("overdue deletions: %w", err)
	}
	defer rows.Close()
	var out []OverdueDeletions
	for rows.Next() {
		var o OverdueDeletions
		if err := rows.Scan(&o.Category, &o.Mailbox, &o.Copies, &o.LastError); err != nil {
			return nil, fmt.Errorf("overdue deletions: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}
