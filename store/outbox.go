package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Outbox templates: what a queued mail is.
const (
	TemplateNewConversation = "new_conversation" // to members of the receiver roles
	TemplateAnswer          = "answer"           // the Handler's reply, to the customer
	TemplateCustomerReply   = "customer_reply"   // to the Handler (or the roles)
	TemplateAssigned        = "assigned"         // to a new Handler
	TemplateSolved          = "solved"           // to the customer
	TemplateReceived        = "received"         // to a customer who opened one by email or web
	TemplateDeliveryFailed  = "delivery_failed"  // to the Handler (or the roles)
	TemplateTooLarge        = "too_large"        // to a sender whose mail was over the size limit
	TemplateMailboxAlert    = "mailbox_alert"    // to the category's staff: a mailbox is failing or silent
)

// OutboxItem is one mail to send.
type OutboxItem struct {
	ID             int64
	ConversationID *int64
	MessageID      *int64 // the message whose content the mail carries
	CategoryID     *int64 // for mail about no conversation
	Detail         map[string]string
	Template       string
	Recipient      string
	RecipientID    *int64
	MailMessageID  string // Message-ID header, fixed before the first try
	Status         string
	Attempts       int
	NextAttemptAt  time.Time
	LastError      string
	CreatedAt      time.Time
	SentAt         *time.Time
}

// Enqueue adds a mail to the outbox, to be sent after the transaction
// commits, and notifies ChannelOutbox so that a worker of any instance wakes
// at the commit (PostgreSQL sends one notification per transaction however
// many rows it queues).
func (db *DB) Enqueue(ctx context.Context, it *OutboxItem) error {
	detail := it.Detail
	if detail == nil {
		detail = map[string]string{}
	}
	// One round trip: the notification rides on the insert.
	err := db.q.QueryRow(ctx, `WITH ins AS (
			INSERT INTO outbox (conversation_id, message_id, category_id, detail, template, recipient, recipient_id, mail_message_id)
			VALUES ($1, $2, $3, $4, $5, lower($6), $7, $8) RETURNING id, status, next_attempt_at, created_at)
		SELECT ins.* FROM ins CROSS JOIN (SELECT pg_notify($9, '')) n`,
		it.ConversationID, it.MessageID, it.CategoryID, detail, it.Template, it.Recipient, it.RecipientID, it.MailMessageID, ChannelOutbox).
		Scan(&it.ID, &it.Status, &it.NextAttemptAt, &it.CreatedAt)
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", it.Template, err)
	}
	return nil
}

// EnqueueAll adds mails to the outbox in one statement, with one
// notification, as Enqueue does for one; it leaves the items' ID, Status
// and times unset (the callers that queue many never read them), and under
// write-behind (Tx.WriteBehind) it is queued like any write.
func (db *DB) EnqueueAll(ctx context.Context, items []*OutboxItem) error {
	if len(items) == 0 {
		return nil
	}
	if _, behind := db.q.(*pipeQuerier); len(items) == 1 && !behind {
		return db.Enqueue(ctx, items[0])
	}
	n := len(items)
	convs, msgs, cats, recipientIDs := make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n)
	details, templates, recipients, mailIDs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, it := range items {
		detail := it.Detail
		if detail == nil {
			detail = map[string]string{}
		}
		b, err := json.Marshal(detail)
		if err != nil {
			return fmt.Errorf("enqueue %s: %w", it.Template, err)
		}
		convs[i], msgs[i], cats[i], recipientIDs[i] = it.ConversationID, it.MessageID, it.CategoryID, it.RecipientID
		details[i], templates[i], recipients[i], mailIDs[i] = string(b), it.Template, it.Recipient, it.MailMessageID
	}
	return db.later(ctx, fmt.Sprintf("enqueue %d mails (%s)", n, items[0].Template), `WITH ins AS (
			INSERT INTO outbox (conversation_id, message_id, category_id, detail, template, recipient, recipient_id, mail_message_id)
			SELECT conv, msg, cat, detail::jsonb, template, lower(recipient), recipient_id, mail_id
			FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[])
				AS x(conv, msg, cat, detail, template, recipient, recipient_id, mail_id)
			RETURNING 1)
		SELECT count(*) FROM ins CROSS JOIN (SELECT pg_notify($9, '')) n`,
		convs, msgs, cats, details, templates, recipients, recipientIDs, mailIDs, ChannelOutbox)
}

// OutboxFor lists a conversation's queued and sent mail, oldest first.
func (db *DB) OutboxFor(ctx context.Context, conversationID int64) ([]OutboxItem, error) {
	rows, err := db.q.Query(ctx, `SELECT id, conversation_id, message_id, template, recipient, recipient_id, mail_message_id,
			status, attempts, next_attempt_at, last_error, created_at, sent_at
		FROM outbox WHERE conversation_id = $1 ORDER BY id`, conversationID)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	defer rows.Close()
	var its []OutboxItem
	for rows.Next() {
		var it OutboxItem
		if err := rows.Scan(&it.ID, &it.ConversationID, &it.MessageID, &it.Template, &it.Recipient, &it.RecipientID,
			&it.MailMessageID, &it.Status, &it.Attempts, &it.NextAttemptAt, &it.LastError, &it.CreatedAt, &it.SentAt); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		its = append(its, it)
	}
	return its, rows.Err()
}

// AudienceMail is one template to queue for each person who is to hear of
// a conversation's news (EnqueueAudience).
type AudienceMail struct {
	ConversationID int64
	MessageID      *int64 // the message whose content the mails carry
	Template       string
	// RoleIDs names the audience: every member of these roles whose view
	// the rule lets see the conversation, as RoleAudience reads it. With
	// UserID set, that one user is the audience instead (a Handler).
	RoleIDs []int64
	UserID  *int64
	Skip    int64  // never this user (who wrote the news); 0 for none
	Domain  string // of the Message-IDs, postdesk's own
}

// EnqueueAudience queues a mail for each user of an audience in one
// statement, reading the audience where it is stored instead of sending
// it to Go and back: under write-behind it travels with the next read, so
// notifying the roles of a new conversation costs ingest no round trip.
// Each mail gets a fresh random Message-ID in Domain (128 bits from
// gen_random_uuid, as Service.NewMessageID's 96 do in Go); ordered by
// address, as RoleAudience lists them.
func (db *DB) EnqueueAudience(ctx context.Context, rule Rule, m AudienceMail) error {
	who := `v.id IN (SELECT user_id FROM role_members WHERE role_id = ANY ($4))
		AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = $1 AND ` + rule.SeesRow + `)`
	var arg any = m.RoleIDs
	if m.UserID != nil {
		who, arg = `v.id = $4`, *m.UserID
	}
	return db.later(ctx, "enqueue "+m.Template, `WITH ins AS (
			INSERT INTO outbox (conversation_id, message_id, template, recipient, recipient_id, mail_message_id)
			SELECT $1, $2, $3, v.email, v.id, encode(uuid_send(gen_random_uuid()), 'hex') || '@' || $6
			FROM users v WHERE v.id <> $5 AND `+who+`
			ORDER BY v.email
			RETURNING 1)
		SELECT pg_notify($7, '') FROM (SELECT count(*) AS n FROM ins) x WHERE x.n > 0`,
		m.ConversationID, m.MessageID, m.Template, arg, m.Skip, m.Domain, ChannelOutbox)
}
