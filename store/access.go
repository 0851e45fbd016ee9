package store

import (
	"context"
	"fmt"
	"time"

	"postdesk/config"
)

// AccessEvent is one read of a conversation or one download of its file.
type AccessEvent struct {
	ID             int64
	At             time.Time
	UserID         *int64
	Email          string
	ConversationID int64
	Number         int64
	AttachmentID   string // "" for a read of the conversation
	Via            string // "web" or "api"
	As             string // "staff", "manager" or "token"
	Client         string
}

// RecordAccess adds a read to the access log.
func (tx *Tx) RecordAccess(ctx context.Context, e *AccessEvent) error {
	var att *string
	if e.AttachmentID != "" {
		att = &e.AttachmentID
	}
	_, err := tx.q.Exec(ctx, `INSERT INTO access_log (user_id, email, conversation_id, number, attachment_id, via, as_what, client)
		VALUES ($1, $2, $3, (SELECT number FROM conversations WHERE id = $3), $4, $5, $6, $7)`,
		e.UserID, e.Email, e.ConversationID, att, e.Via, e.As, e.Client)
	if err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	return nil
}

// AccessFilter narrows the access log: to one conversation (by number), one
// reader, or both; Before pages on (ids below it).
type AccessFilter struct {
	Number int64
	UserID *int64
	Before int64
	Limit  int
}

// AccessEvents lists the access log, newest first.
func (db *DB) AccessEvents(ctx context.Context, f AccessFilter) ([]AccessEvent, error) {
	if f.Limit <= 0 {
		f.Limit = 200
	}
	rows, err := db.q.Query(ctx, `SELECT id, at, user_id, email, conversation_id, number, coalesce(attachment_id, ''), via, as_what, client
		FROM access_log
		WHERE ($1 = 0 OR number = $1) AND ($2::bigint IS NULL OR user_id = $2) AND ($3 = 0 OR id < $3)
		ORDER BY id DESC LIMIT $4`, f.Number, f.UserID, f.Before, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	defer rows.Close()
	var out []AccessEvent
	for rows.Next() {
		var e AccessEvent
		if err := rows.Scan(&e.ID, &e.At, &e.UserID, &e.Email, &e.ConversationID, &e.Number, &e.AttachmentID, &e.Via, &e.As, &e.Client); err != nil {
			return nil, fmt.Errorf("access log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PurgeAccessLog deletes the reads older than keep (the config's
// audit_retention) before now.
func (db *DB) PurgeAccessLog(ctx context.Context, keep config.Retention, now time.Time) (int64, error) {
	tag, err := db.q.Exec(ctx, `DELETE FROM access_log WHERE at < $1::timestamptz - $2::interval`, now, Interval(keep))
	if err != nil {
		return 0, fmt.Errorf("purge access log: %w", err)
	}
	return tag.RowsAffected(), nil
}
