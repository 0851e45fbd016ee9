package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The queries of the outbox worker (package outbound): claiming due rows,
// recording what became of a try, and the facts a mail is built from.

const outboxColumns = `id, conversation_id, message_id, category_id, detail, template, recipient, recipient_id, mail_message_id,
	status, attempts, next_attempt_at, last_error, created_at, sent_at`

func scanOutbox(row interface{ Scan(...any) error }) (*OutboxItem, error) {
	var it OutboxItem
	err := row.Scan(&it.ID, &it.ConversationID, &it.MessageID, &it.CategoryID, &it.Detail, &it.Template, &it.Recipient, &it.RecipientID,
		&it.MailMessageID, &it.Status, &it.Attempts, &it.NextAttemptAt, &it.LastError, &it.CreatedAt, &it.SentAt)
	return &it, err
}

// Now is the database's clock (clock_timestamp, not the transaction's start).
func (db *DB) Now(ctx context.Context) (time.Time, error) {
	var t time.Time
	if err := db.q.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("now: %w", err)
	}
	return t, nil
}

// ClaimOutbox locks up to limit pending rows due at now, oldest first,
// skipping rows another transaction holds (so several workers never take one
// row twice) and the ids in skip. The locks last until the transaction ends:
// a worker that dies mid-send leaves its row pending, to be tried again.
func (tx *Tx) ClaimOutbox(ctx context.Context, now time.Time, limit int, skip []int64) ([]OutboxItem, error) {
	if skip == nil {
		skip = []int64{}
	}
	rows, err := tx.q.Query(ctx, `SELECT `+outboxColumns+` FROM outbox
		WHERE status = 'pending' AND next_attempt_at <= $1 AND NOT (id = ANY($2))
		ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED`, now, skip, limit)
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	defer rows.Close()
	var its []OutboxItem
	for rows.Next() {
		it, err := scanOutbox(rows)
		if err != nil {
			return nil, fmt.Errorf("claim outbox: %w", err)
		}
		its = append(its, *it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	return its, nil
}

// OutboxSent records a delivered mail.
func (db *DB) OutboxSent(ctx context.Context, id int64, at time.Time) error {
	return db.updateOutbox(ctx, `UPDATE outbox SET status = 'sent', sent_at = $2, attempts = attempts + 1 WHERE id = $1`, id, at)
}

// OutboxRetry records a try that failed for now, and when to try again.
func (db *DB) OutboxRetry(ctx context.Context, id int64, next time.Time, lastError string) error {
	return db.updateOutbox(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 WHERE id = $1`,
		id, next, lastError)
}

// OutboxFailed records a mail that will never be delivered.
func (db *DB) OutboxFailed(ctx context.Context, id int64, lastError string) error {
	return db.updateOutbox(ctx, `UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $2 WHERE id = $1`,
		id, lastError)
}

func (db *DB) updateOutbox(ctx context.Context, sql string, args ...any) error {
	tag, err := db.q.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("update outbox: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update outbox %v: %w", args[0], ErrNotFound)
	}
	return nil
}

// OutboxByID finds an outbox row.
func (db *DB) OutboxByID(ctx context.Context, id int64) (*OutboxItem, error) {
	it, err := scanOutbox(db.q.QueryRow(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("outbox %d", id))
	}
	return it, nil
}

// LastOutboxFailure returns the newest failed row of a conversation older
// than the row beforeID, to recipient when it is not "", leaving out the
// notices about failures (delivery_failed, too_large): the failure that a
// delivery_failed notice is about.
func (db *DB) LastOutboxFailure(ctx context.Context, conversationID, beforeID int64, recipient string) (*OutboxItem, error) {
	it, err := scanOutbox(db.q.QueryRow(ctx, `SELECT `+outboxColumns+` FROM outbox
		WHERE conversation_id = $1 AND id < $2 AND status = 'failed' AND template NOT IN ('delivery_failed', 'too_large')
			AND ($3 = '' OR recipient = lower($3))
		ORDER BY id DESC LIMIT 1`, conversationID, beforeID, recipient))
	if err != nil {
		return nil, notFound(err, "outbox failure")
	}
	return it, nil
}

// AttachmentsOf lists a message's attachments by file name.
func (db *DB) AttachmentsOf(ctx context.Context, messageID int64) ([]Attachment, error) {
	rows, err := db.q.Query(ctx, `SELECT id, message_id, filename, content_type, coalesce(content_id, ''), inline, sha256, size
		FROM attachments WHERE message_id = $1 ORDER BY filename, id`, messageID)
	if err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	defer rows.Close()
	var as []Attachment
	for rows.Next() {
		var a Attachment
		if err := rows.Scan(&a.ID, &a.MessageID, &a.Filename, &a.ContentType, &a.ContentID, &a.Inline, &a.SHA256, &a.Size); err != nil {
			return nil, fmt.Errorf("attachments: %w", err)
		}
		as = append(as, a)
	}
	return as, rows.Err()
}

// ThreadMail is one mail of a conversation's thread, as a recipient knows it.
type ThreadMail struct {
	MessageID string // without angle brackets
	Message   int64  // the messages row, 0 for mail postdesk sent
}

// MailThread lists, oldest first, the Message-IDs of the mail one recipient
// has had in a conversation up to an outbox row (it excluded): what the
// customer side wrote, what the recipient wrote, and what postdesk sent to
// the recipient. Internal notes, auto-replies, bounces and mail to other people
// stay out, so References never shows a recipient a Message-ID they have not
// seen.
func (db *DB) MailThread(ctx context.Context, it *OutboxItem) ([]ThreadMail, error) {
	if it.ConversationID == nil {
		return nil, nil
	}
	rows, err := db.q.Query(ctx, `SELECT mid, msg FROM (
			SELECT m.message_id AS mid, m.id AS msg, m.created_at AS at, 0 AS src, m.id AS ord FROM messages m
			WHERE m.conversation_id = $1 AND m.message_id IS NOT NULL AND m.created_at <= $5
				AND ((m.kind = 'customer' AND m.direction = 'in') OR ($3::bigint IS NOT NULL AND m.author_id = $3))
			UNION ALL
			SELECT o.mail_message_id, 0, o.created_at, 1, o.id FROM outbox o
			WHERE o.conversation_id = $1 AND o.status = 'sent' AND o.recipient = lower($2) AND o.id < $4
		) t ORDER BY at, src, ord`, *it.ConversationID, it.Recipient, it.RecipientID, it.ID, it.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("mail thread: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ThreadMail, error) {
		var t ThreadMail
		err := r.Scan(&t.MessageID, &t.Message)
		return t, err
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("mail thread: %w", err)
	}
	return ts, nil
}
