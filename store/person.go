package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// personIn is the one rule of which conversations are about a person (a
// data subject): conversation c, for the address $1 and, when the address
// is a user's, that user's id $2 (NULL otherwise). The person is the
// customer or the customer assignee, a participant, the sender or a
// recipient of a message, the author of one, or a recipient in the outbox.
// Export and Erase both select with it.
const personIn = `(($2::bigint IS NOT NULL AND (c.customer_id = $2 OR c.assignee_id = $2))
	OR EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = c.id AND p.email = $1)
	OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id
		AND (m.from_addr = $1 OR $1 = ANY(m.to_addrs) OR $1 = ANY(m.cc_addrs) OR ($2::bigint IS NOT NULL AND m.author_id = $2)))
	OR EXISTS (SELECT 1 FROM outbox o WHERE o.conversation_id = c.id AND o.recipient = $1))`

// PersonConversation is one conversation about a person, and how they are in it.
type PersonConversation struct {
	Conversation
	// As are the person's parts: customer, assignee, participant, sender,
	// recipient (in that order, each at most once).
	As []string
}

// PersonConversations are the conversations about the person with address
// email (personIn), oldest first, and the person's user row (nil when the
// address is no user's).
func (db *DB) PersonConversations(ctx context.Context, email string) ([]PersonConversation, *User, error) {
	addr := strings.ToLower(strings.TrimSpace(email))
	u, err := db.UserByEmail(ctx, addr)
	if errors.Is(err, ErrNotFound) {
		u = nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("person: %w", err)
	}
	var uid *int64
	if u != nil {
		uid = &u.ID
	}
	rows, err := db.q.Query(ctx, `SELECT
			array_remove(ARRAY[
				CASE WHEN c.customer_id = $2 THEN 'customer' END,
				CASE WHEN c.assignee_id = $2 THEN 'assignee' END,
				CASE WHEN EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = c.id AND p.email = $1) THEN 'participant' END,
				CASE WHEN EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND (m.from_addr = $1 OR m.author_id = $2)) THEN 'sender' END,
				CASE WHEN EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND ($1 = ANY(m.to_addrs) OR $1 = ANY(m.cc_addrs)))
					OR EXISTS (SELECT 1 FROM outbox o WHERE o.conversation_id = c.id AND o.recipient = $1) THEN 'recipient' END
			], NULL), `+conversationColumns+conversationFrom+`
		WHERE `+personIn+` ORDER BY c.created_at, c.id`, addr, uid)
	if err != nil {
		return nil, nil, fmt.Errorf("person: %w", err)
	}
	defer rows.Close()
	var out []PersonConversation
	for rows.Next() {
		var as []string
		c, err := scanConversation(withFirst{rows, &as})
		if err != nil {
			return nil, nil, fmt.Errorf("person: %w", err)
		}
		out = append(out, PersonConversation{Conversation: *c, As: as})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("person: %w", err)
	}
	return out, u, nil
}

// withFirst scans a row's first column into first and the rest as asked,
// so that scanConversation reads rows that carry one more column in front.
type withFirst struct {
	row   interface{ Scan(...any) error }
	first any
}

func (w withFirst) Scan(dest ...any) error { return w.row.Scan(append([]any{w.first}, dest...)...) }

// AuditByActor lists the entries of one user's own actions, oldest first.
func (db *DB) AuditByActor(ctx context.Context, userID int64) ([]AuditEntry, error) {
	es, err := db.auditEntries(ctx, `actor_id = $1`, userID)
	if err != nil {
		return nil, fmt.Errorf("audit by actor: %w", err)
	}
	return es, nil
}
