package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Channels of the live view (web/live.go).
const (
	// ChannelConversation carries a conversation's id whenever it or its
	// messages change: migration 012's triggers send it, so every path
	// that writes, on every instance, is heard.
	ChannelConversation = "postdesk_conv"
	// ChannelTyping carries a Typing: a staff member is writing on a
	// conversation.
	ChannelTyping = "postdesk_typing"
)

// Typing is the payload of ChannelTyping.
type Typing struct {
	ConversationID int64  `json:"c"`
	UserID         int64  `json:"u"`
	Name           string `json:"n"`
}

// NotifyTyping announces that a user is writing on a conversation. Nothing
// is stored: the news is stale in seconds.
func (s *Store) NotifyTyping(ctx context.Context, t Typing) error {
	if r := []rune(t.Name); len(r) > 100 {
		t.Name = string(r[:100])
	}
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("notify %s: %w", ChannelTyping, err)
	}
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, ChannelTyping, string(b)); err != nil {
		return fmt.Errorf("notify %s: %w", ChannelTyping, err)
	}
	return nil
}

// MarkRead moves a user's read position on a conversation up to messageID,
// the newest message they were shown; never back, so that an older page
// loaded late does not make news unread again. Only on a conversation the
// rule lets them see. moved reports that the position moved (it was
// behind messageID, or there was none), so that their unread changed.
func (db *DB) MarkRead(ctx context.Context, rule Rule, userID, conversationID, messageID int64) (moved bool, err error) {
	// The position before, read in the statement's snapshot: RETURNING
	// sees only the row after. And its transaction commits without waiting
	// for the WAL's flush (synchronous_commit off, for this transaction
	// only; the CTE is joined so that it runs): a crash may forget the
	// last moment's positions, which makes a row bold again, while every
	// page view would otherwise wait for a disk flush holding a pooled
	// connection.
	var before *int64
	err = db.q.QueryRow(ctx, `WITH lazy AS (SELECT set_config('synchronous_commit', 'off', true)),
		before AS (SELECT message_id FROM read_positions WHERE user_id = $1 AND conversation_id = $2)
		INSERT INTO read_positions (user_id, conversation_id, message_id)
		SELECT $1, c.id, $3 FROM conversations c, lazy WHERE c.id = $2 AND `+rule.Sees+`
		ON CONFLICT (user_id, conversation_id) DO UPDATE
		SET message_id = greatest(read_positions.message_id, EXCLUDED.message_id), seen_at = now()
		RETURNING (SELECT message_id FROM before)`,
		userID, conversationID, messageID).Scan(&before)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // not theirs to see: nothing written
	}
	if err != nil {
		return false, fmt.Errorf("mark read: %w", err)
	}
	return before == nil || *before < messageID, nil
}

// unreadSQL is true when the conversation c has news for the viewer $1: a
// message after their read position that someone else wrote and they may
// read (notes and delivery reports with staff powers only: staff is the
// rule's Staff condition), or an event someone else caused. The system's
// own events (routing, acknowledgements) and everything the viewer did
// themselves are no news. The query joins the viewer's read position as rp
// (readJoin).
//
// The conversation keeps its newest news and its author (migration 019),
// so that this is one comparison per conversation; only where the viewer
// wrote the newest news themselves are the messages after their position
// probed, for an older one of someone else.
func unreadSQL(staff string) string {
	seen := `coalesce(rp.message_id, 0)`
	probe := func(kinds string) string {
		return `EXISTS (SELECT 1 FROM messages um
			WHERE um.conversation_id = c.id AND um.id > ` + seen + ` AND um.author_id IS DISTINCT FROM $1
			AND (` + kinds + `))`
	}
	public := `um.kind IN ('` + KindCustomer + `', '` + KindStaff + `') OR (um.kind = '` + KindEvent + `' AND um.author_id IS NOT NULL)`
	return `CASE WHEN ` + staff + `
		THEN c.staff_news_id > ` + seen + ` AND (c.staff_news_author_id IS DISTINCT FROM $1
			OR ` + probe(public+` OR um.kind IN ('`+KindNote+`', '`+KindBounce+`')`) + `)
		ELSE c.news_id > ` + seen + ` AND (c.news_author_id IS DISTINCT FROM $1 OR ` + probe(public) + `) END`
}

// readJoin joins the viewer $1's read position on the conversation c as rp.
const readJoin = ` LEFT JOIN read_positions rp ON rp.user_id = $1 AND rp.conversation_id = c.id`
