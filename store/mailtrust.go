package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The queries of issue 10's mail trust: return paths (VERP) naming outbox
// rows, the sender checks of inbound mail, held staff replies, and the
// acknowledgement rate per domain. The rules are package conversation's.

// OutboxConversation returns the conversation of an outbox row, ErrNotFound
// when the row is gone or belongs to no conversation.
func (db *DB) OutboxConversation(ctx context.Context, outboxID int64) (int64, error) {
	var conv *int64
	err := db.q.QueryRow(ctx, `SELECT conversation_id FROM outbox WHERE id = $1`, outboxID).Scan(&conv)
	if err != nil {
		return 0, notFound(err, fmt.Sprintf("outbox %d", outboxID))
	}
	if conv == nil {
		return 0, fmt.Errorf("outbox %d has no conversation: %w", outboxID, ErrNotFound)
	}
	return *conv, nil
}

// SenderCheck is what sender authentication said of an inbound mail.
type SenderCheck struct {
	Verified bool
	Reason   string
}

// SetSenderCheck records the sender check of a stored message.
func (db *DB) SetSenderCheck(ctx context.Context, messageID int64, c SenderCheck) error {
	_, err := db.q.Exec(ctx, `INSERT INTO sender_checks (message_id, verified, reason) VALUES ($1, $2, $3)
		ON CONFLICT (message_id) DO UPDATE SET verified = EXCLUDED.verified, reason = EXCLUDED.reason`,
		messageID, c.Verified, c.Reason)
	if err != nil {
		return fmt.Errorf("sender check: %w", err)
	}
	return nil
}

// SenderChecks returns the sender checks of a conversation's messages.
func (db *DB) SenderChecks(ctx context.Context, conversationID int64) (map[int64]SenderCheck, error) {
	rows, err := db.q.Query(ctx, `SELECT s.message_id, s.verified, s.reason FROM sender_checks s
		JOIN messages m ON m.id = s.message_id WHERE m.conversation_id = $1`, conversationID)
	if err != nil {
		return nil, fmt.Errorf("sender checks: %w", err)
	}
	defer rows.Close()
	out := map[int64]SenderCheck{}
	for rows.Next() {
		var id int64
		var c SenderCheck
		if err := rows.Scan(&id, &c.Verified, &c.Reason); err != nil {
			return nil, fmt.Errorf("sender checks: %w", err)
		}
		out[id] = c
	}
	return out, rows.Err()
}

// HeldReply is a staff reply by mail kept back for want of sender proof.
type HeldReply struct {
	MessageID         int64 // the note that holds it
	UserID            int64 // the staff member it claims to come from
	Reason            string
	ReleasedAt        *time.Time
	ReleasedMessageID *int64
}

// InsertHeldReply records that a stored note is a held reply.
func (db *DB) InsertHeldReply(ctx context.Context, h HeldReply) error {
	_, err := db.q.Exec(ctx, `INSERT INTO held_replies (message_id, user_id, reason) VALUES ($1, $2, $3)`,
		h.MessageID, h.UserID, h.Reason)
	if err != nil {
		return fmt.Errorf("held reply: %w", err)
	}
	return nil
}

const heldColumns = `h.message_id, h.user_id, h.reason, h.released_at, h.released_message_id`

func scanHeld(row interface{ Scan(...any) error }) (*HeldReply, error) {
	var h HeldReply
	err := row.Scan(&h.MessageID, &h.UserID, &h.Reason, &h.ReleasedAt, &h.ReleasedMessageID)
	return &h, err
}

// HeldReplies returns a conversation's held replies by message id.
func (db *DB) HeldReplies(ctx context.Context, conversationID int64) (map[int64]HeldReply, error) {
	rows, err := db.q.Query(ctx, `SELECT `+heldColumns+` FROM held_replies h
		JOIN messages m ON m.id = h.message_id WHERE m.conversation_id = $1`, conversationID)
	if err != nil {
		return nil, fmt.Errorf("held replies: %w", err)
	}
	defer rows.Close()
	out := map[int64]HeldReply{}
	for rows.Next() {
		h, err := scanHeld(rows)
		if err != nil {
			return nil, fmt.Errorf("held replies: %w", err)
		}
		out[h.MessageID] = *h
	}
	return out, rows.Err()
}

// LockHeldReply reads and locks a held reply and returns the conversation
// of its note.
func (tx *Tx) LockHeldReply(ctx context.Context, messageID int64) (*HeldReply, int64, error) {
	var conv int64
	var h HeldReply
	err := tx.q.QueryRow(ctx, `SELECT `+heldColumns+`, m.conversation_id FROM held_replies h
		JOIN messages m ON m.id = h.message_id WHERE h.message_id = $1 FOR UPDATE OF h`, messageID).
		Scan(&h.MessageID, &h.UserID, &h.Reason, &h.ReleasedAt, &h.ReleasedMessageID, &conv)
	if err != nil {
		return nil, 0, notFound(err, "held reply")
	}
	return &h, conv, nil
}

// ReleaseHeldReply records that a held reply was sent as the message
// released; a reply already released is ErrConflict.
func (db *DB) ReleaseHeldReply(ctx context.Context, messageID, released int64) error {
	tag, err := db.q.Exec(ctx, `UPDATE held_replies SET released_at = now(), released_message_id = $2
		WHERE message_id = $1 AND released_at IS NULL`, messageID, released)
	if err != nil {
		return fmt.Errorf("release held reply: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("held reply %d already released: %w", messageID, ErrConflict)
	}
	return nil
}

// RecentReceipts counts the acknowledgements (template received) queued to
// addresses at domain within the last hour, up to upTo.
func (db *DB) RecentReceipts(ctx context.Context, domain string, upTo int) (int, error) {
	// Counted only up to the limit the caller compares with: a large
	// domain (gmail.com) has thousands within the hour, and every new
	// conversation from it asks.
	n, err := db.RecentReceiptsOf(ctx, []string{domain}, upTo)
	return n[strings.ToLower(domain)], err
}

// RecentReceiptsOf is RecentReceipts for several domains in one query,
// keyed by the lower-case domain; each count stops at upTo.
func (db *DB) RecentReceiptsOf(ctx context.Context, domains []string, upTo int) (map[string]int, error) {
	rows, err := db.q.Query(ctx, `SELECT d, (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE template = 'received'
			AND split_part(recipient, '@', 2) = d AND created_at > now() - interval '1 hour' LIMIT $2) r)
		FROM (SELECT DISTINCT lower(d) AS d FROM unnest($1::text[]) d) ds`, domains, upTo)
	if err != nil {
		return nil, fmt.Errorf("recent receipts: %w", err)
	}
	defer rows.Close()
	out := make(map[string]int, len(domains))
	for rows.Next() {
		var d string
		var n int
		if err := rows.Scan(&d, &n); err != nil {
			return nil, fmt.Errorf("recent receipts: %w", err)
		}
		out[d] = n
	}
	return out, rows.Err()
}
