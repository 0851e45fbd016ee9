package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
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

// ClaimOutbox claims up to limit pending rows due at now, oldest first, in
// one statement (its own short transaction when run outside one): each gets
// attempts+1 and next_attempt_at = now + lease, so no other worker claims it
// while this one works on it, and any worker does once the lease has run out
// (the claimer died). Rows another transaction holds are skipped, never
// waited for. The rows come back as claimed, their Attempts the new count:
// the outcome is recorded only while that count still stands (see
// OutboxSent), so a worker whose lease ran out cannot overwrite a newer try.
//
// One person hears of one conversation in the order its mail was queued:
// a row waits while an earlier row of the same conversation to the same
// recipient is pending and due (it goes first) or in flight (claimed_at,
// cleared by OutboxRetry and OutboxRelease), so several sessions sending
// at once never overtake it. An earlier row waiting for its next try
// holds nothing back, as with one session.
func (db *DB) ClaimOutbox(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]OutboxItem, error) {
	rows, err := db.q.Query(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1::timestamptz + $3::interval,
			claimed_at = $1
		WHERE id IN (SELECT o.id FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= $1
			AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.conversation_id = o.conversation_id AND e.recipient = o.recipient
				AND e.id < o.id AND e.status = 'pending' AND (e.next_attempt_at <= $1 OR e.claimed_at IS NOT NULL))
			ORDER BY o.id LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING `+outboxColumns, now, limit, lease)
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
	slices.SortFunc(its, func(a, b OutboxItem) int { return cmp.Compare(a.ID, b.ID) })
	return its, nil
}

// ErrLeaseLost is an outcome that came too late: the row is no longer the
// claim the caller holds (its lease ran out and another worker claimed it,
// or a delivery report marked it failed meanwhile).
var ErrLeaseLost = errors.New("outbox row no longer claimed by this try")

// OutboxSent records a delivered mail, the try being claim attempts.
// (claimed_at stays: only pending rows hold others back.)
func (db *DB) OutboxSent(ctx context.Context, id int64, attempts int, at time.Time) error {
	return db.updateOutbox(ctx, `UPDATE outbox SET status = 'sent', sent_at = $3
		WHERE id = $1 AND attempts = $2 AND status = 'pending'`, id, attempts, at)
}

// OutboxRetry records a try that failed for now, and when to try again.
func (db *DB) OutboxRetry(ctx context.Context, id int64, attempts int, next time.Time, lastError string) error {
	return db.updateOutbox(ctx, `UPDATE outbox SET next_attempt_at = $3, last_error = $4, claimed_at = NULL
		WHERE id = $1 AND attempts = $2 AND status = 'pending'`, id, attempts, next, lastError)
}

// OutboxRelease gives a claimed row back untried: the relay refused the
// session, which says nothing of this mail, so the claim does not count as
// an attempt; the row is due again at next.
func (db *DB) OutboxRelease(ctx context.Context, id int64, attempts int, next time.Time, lastError string) error {
	return db.updateOutbox(ctx, `UPDATE outbox SET attempts = attempts - 1, next_attempt_at = $3, last_error = $4, claimed_at = NULL
		WHERE id = $1 AND attempts = $2 AND status = 'pending'`, id, attempts, next, lastError)
}

// OutboxFailed marks a row failed for good when it is not failed already
// and is still the try it was when read (attempts), and returns the row as
// it now is; ErrLeaseLost when nothing changed. Package conversation calls
// it (Service.DeliveryFailed), which also tells the people concerned.
func (db *DB) OutboxFailed(ctx context.Context, id int64, attempts int, lastError string) (*OutboxItem, error) {
	it, err := scanOutbox(db.q.QueryRow(ctx, `UPDATE outbox SET status = 'failed', last_error = $3
		WHERE id = $1 AND attempts = $2 AND status <> 'failed' RETURNING `+outboxColumns, id, attempts, lastError))
	if isNoRows(err) {
		return nil, fmt.Errorf("outbox %d failed: %w", id, ErrLeaseLost)
	}
	if err != nil {
		return nil, fmt.Errorf("outbox %d failed: %w", id, err)
	}
	return it, nil
}

func (db *DB) updateOutbox(ctx context.Context, sql string, args ...any) error {
	tag, err := db.q.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("update outbox: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update outbox %v: %w", args[0], ErrLeaseLost)
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
// than the row beforeID, to recipient when it is not "", leaving out the rows
// of the templates in notices (package conversation says which mails are
// notices about failures): the failure that an older delivery_failed notice,
// one that does not name its row, is about.
func (db *DB) LastOutboxFailure(ctx context.Context, conversationID, beforeID int64, recipient string, notices []string) (*OutboxItem, error) {
	sql := `SELECT ` + outboxColumns + ` FROM outbox
		WHERE conversation_id = $1 AND id < $2 AND status = 'failed' AND NOT (template = ANY($3))`
	args := []any{conversationID, beforeID, notices}
	if recipient != "" {
		sql += ` AND recipient = lower($4)`
		args = append(args, recipient)
	}
	it, err := scanOutbox(db.q.QueryRow(ctx, sql+` ORDER BY id DESC LIMIT 1`, args...))
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
