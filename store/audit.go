package store

import (
	"context"
	"fmt"
	"time"
)

// AuditEntry is one recorded action. It never holds message content.
type AuditEntry struct {
	ID             int64
	At             time.Time
	ActorID        *int64
	Actor          string
	Action         string
	ConversationID *int64
	Detail         map[string]any
}

// Audit records an action: who (a user, or a process such as "config",
// "ingest" or "schedule"), what, on which conversation, with small details.
func (db *DB) Audit(ctx context.Context, actorID *int64, actor, action string, conversationID *int64, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	return db.later(ctx, "audit "+action, `INSERT INTO audit (actor_id, actor, action, conversation_id, detail) VALUES ($1, $2, $3, $4, $5)`,
		actorID, actor, action, conversationID, detail)
}

// AuditNumbered is Audit of an action on a conversation with the
// conversation's public number added to the detail ("number") in SQL, for
// a record that names it after the conversation is gone, written where the
// number was never read back (CreateConversation behind).
func (db *DB) AuditNumbered(ctx context.Context, actorID *int64, actor, action string, conversationID int64, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	return db.later(ctx, "audit "+action, `INSERT INTO audit (actor_id, actor, action, conversation_id, detail)
		SELECT $1, $2, $3, c.id, $5::jsonb || jsonb_build_object('number', c.number) FROM conversations c WHERE c.id = $4`,
		actorID, actor, action, conversationID, detail)
}

// AuditTrail lists a conversation's entries, oldest first.
func (db *DB) AuditTrail(ctx context.Context, conversationID int64) ([]AuditEntry, error) {
	es, err := db.auditEntries(ctx, `conversation_id = $1`, conversationID)
	if err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	return es, nil
}

// auditEntries lists the entries matching where (a constant condition on
// the audit table with one parameter), oldest first.
func (db *DB) auditEntries(ctx context.Context, where string, arg any) ([]AuditEntry, error) {
	rows, err := db.q.Query(ctx, `SELECT id, at, actor_id, actor, action, conversation_id, detail FROM audit
		WHERE `+where+` ORDER BY at, id`, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var es []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, &e.At, &e.ActorID, &e.Actor, &e.Action, &e.ConversationID, &e.Detail); err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	return es, rows.Err()
}
