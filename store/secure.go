package store

import (
	"context"
	"fmt"
	"time"
)

// SetOutboxBuilt records the mode a mail was built in: secure (without
// content) or not. It is written in the transaction that builds the mail,
// so what it says is what the recipient was sent.
func (tx *Tx) SetOutboxBuilt(ctx context.Context, id int64, secure bool) error {
	if _, err := tx.q.Exec(ctx, `UPDATE outbox SET built_secure = $2 WHERE id = $1`, id, secure); err != nil {
		return fmt.Errorf("outbox %d: %w", id, err)
	}
	return nil
}

// MailSent is one mail the outbox holds for a message, as staff see it.
type MailSent struct {
	MessageID int64
	Recipient string
	Template  string
	Status    string
	Secure    *bool // the mode it was built in; nil while not built yet
	SentAt    *time.Time
}

// MailsOf lists the outbox's mails about the messages of a conversation,
// by message, oldest first.
func (db *DB) MailsOf(ctx context.Context, conversationID int64) (map[int64][]MailSent, error) {
	rows, err := db.q.Query(ctx, `SELECT message_id, recipient, template, status, built_secure, sent_at FROM outbox
		WHERE conversation_id = $1 AND message_id IS NOT NULL ORDER BY id`, conversationID)
	if err != nil {
		return nil, fmt.Errorf("mails of %d: %w", conversationID, err)
	}
	defer rows.Close()
	out := map[int64][]MailSent{}
	for rows.Next() {
		var m MailSent
		if err := rows.Scan(&m.MessageID, &m.Recipient, &m.Template, &m.Status, &m.Secure, &m.SentAt); err != nil {
			return nil, fmt.Errorf("mails of %d: %w", conversationID, err)
		}
		out[m.MessageID] = append(out[m.MessageID], m)
	}
	return out, rows.Err()
}
