package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// What ingest needs beyond messages: recognising a mail stored already, the
// further server copies of a stored mail, the go-live archive and the
// quarantine notice's rate.

// Stored is an inbound mail found stored already.
type Stored struct {
	MessageID      int64
	ConversationID int64
	// ByIMAPKey: found under the same (mailbox, UIDVALIDITY, UID), as the
	// message itself or a recorded copy (a refetch); else found by content
	// (the same mail in another mailbox or under another UIDVALIDITY).
	ByIMAPKey bool
}

// InboundStored finds an inbound mail stored already: under its IMAP key
// (the message or one of its copies), or by rawKey (ContentKey of its raw
// source; nil for none). ErrNotFound when it is new.
func (db *DB) InboundStored(ctx context.Context, mailbox string, uidValidity, uid uint32, rawKey []byte) (*Stored, error) {
	var s Stored
	err := db.q.QueryRow(ctx, `SELECT id, conversation_id, by_key FROM (
			SELECT m.id, m.conversation_id, true AS by_key, 0 AS ord FROM messages m
			WHERE m.mailbox = $1 AND m.uid_validity = $2 AND m.uid = $3
			UNION ALL
			SELECT m.id, m.conversation_id, true, 1 FROM message_copies c JOIN messages m ON m.id = c.message_id
			WHERE c.mailbox = $1 AND c.uid_validity = $2 AND c.uid = $3
			UNION ALL
			SELECT m.id, m.conversation_id, false, 2 FROM messages m WHERE $4::bytea IS NOT NULL AND m.raw_key = $4
		) hits ORDER BY ord LIMIT 1`, mailbox, int64(uidValidity), int64(uid), rawKey).Scan(&s.MessageID, &s.ConversationID, &s.ByIMAPKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("inbound stored: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("inbound stored: %w", err)
	}
	return &s, nil
}

// AddCopy records a further server copy of a stored message. Recording the
// same copy again is a no-op.
func (db *DB) AddCopy(ctx context.Context, messageID int64, mailbox string, uidValidity, uid uint32) error {
	_, err := db.q.Exec(ctx, `INSERT INTO message_copies (mailbox, uid_validity, uid, message_id) VALUES ($1, $2, $3, $4)
		ON CONFLICT (mailbox, uid_validity, uid) DO NOTHING`, mailbox, int64(uidValidity), int64(uid), messageID)
	if err != nil {
		return fmt.Errorf("add copy: %w", err)
	}
	return nil
}

// MessageCopy is a further server copy of a stored message.
type MessageCopy struct {
	Mailbox          string
	UIDValidity, UID uint32
}

// CopiesOf lists a message's further server copies, by mailbox and UID.
func (db *DB) CopiesOf(ctx context.Context, messageID int64) ([]MessageCopy, error) {
	rows, err := db.q.Query(ctx, `SELECT mailbox, uid_validity, uid FROM message_copies WHERE message_id = $1
		ORDER BY mailbox, uid_validity, uid`, messageID)
	if err != nil {
		return nil, fmt.Errorf("copies: %w", err)
	}
	defer rows.Close()
	var out []MessageCopy
	for rows.Next() {
		var c MessageCopy
		var uv, uid int64
		if err := rows.Scan(&c.Mailbox, &uv, &uid); err != nil {
			return nil, fmt.Errorf("copies: %w", err)
		}
		c.UIDValidity, c.UID = uint32(uv), uint32(uid)
		out = append(out, c)
	}
	return out, rows.Err()
}

// ArchiveConversation sets the status of a conversation that archive mail
// (the go-live import) went into, by the date of its newest mail: solved
// then when that date is before solvedBefore, else new. A conversation with
// a Handler is left alone (the import never sets one).
func (db *DB) ArchiveConversation(ctx context.Context, id int64, mailDate, solvedBefore time.Time) error {
	_, err := db.q.Exec(ctx, `UPDATE conversations SET
			status = CASE WHEN $2::timestamptz < $3 THEN 'solved' ELSE 'new' END,
			solved_at = CASE WHEN $2::timestamptz < $3 THEN $2::timestamptz END
		WHERE id = $1 AND handler_id IS NULL`, id, mailDate, solvedBefore)
	if err != nil {
		return fmt.Errorf("archive conversation %d: %w", id, err)
	}
	return nil
}

// QuarantineNoticeDue reports whether the staff of a category may be told
// of a quarantined mail now: no notice of that template went to the category
// within the last interval. It takes a transaction lock on the category's
// notices, so of concurrent quarantines one decides at a time; call it in
// the transaction that queues the notice.
func (db *DB) QuarantineNoticeDue(ctx context.Context, categoryID int64, template string, interval time.Duration) (bool, error) {
	if _, err := db.q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('postdesk quarantine notice', $1::bigint))`, categoryID); err != nil {
		return false, fmt.Errorf("quarantine notice lock: %w", err)
	}
	var sent bool
	err := db.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE category_id = $1 AND template = $2
		AND created_at > now() - make_interval(secs => $3))`, categoryID, template, interval.Seconds()).Scan(&sent)
	if err != nil {
		return false, fmt.Errorf("quarantine notice due: %w", err)
	}
	return !sent, nil
}

// TemplateQuarantined is the notice to a category's staff that a mail could
// not be processed and waits for them in a conversation of its own.
const TemplateQuarantined = "quarantined"

// GenericPlans makes the rest of the transaction run its prepared
// statements on generic plans. The ingest transaction runs the same few
// dozen statements for every mail, with ids as parameters, where a custom
// plan buys nothing; but PostgreSQL plans the audience query (the
// visibility rule, a dozen subqueries) afresh for each custom plan, and
// that planning was the largest single cost of storing a mail.
func (db *DB) GenericPlans(ctx context.Context) error {
	return db.later(ctx, "generic plans", `SET LOCAL plan_cache_mode = force_generic_plan`)
}

// InboundKey is one mail of a batch, for MaybeStored.
type InboundKey struct {
	UID    uint32
	RawKey []byte // ContentKey of the raw source; nil for none
}

// MaybeStored answers InboundStored for a whole batch of one mailbox in one
// query: the indexes of keys that may be stored already (under their IMAP
// key, as a copy, or by content). A mail not named is certainly new as of
// this statement; for a named one the caller asks InboundStored, which
// tells how it is stored.
func (db *DB) MaybeStored(ctx context.Context, mailbox string, uidValidity uint32, keys []InboundKey) (map[int]bool, error) {
	uids := make([]int64, len(keys))
	raws := make([][]byte, len(keys))
	for i, k := range keys {
		uids[i], raws[i] = int64(k.UID), k.RawKey
	}
	rows, err := db.q.Query(ctx, `SELECT x.i - 1 FROM unnest($3::bigint[], $4::bytea[]) WITH ORDINALITY AS x(uid, raw_key, i)
		WHERE EXISTS (SELECT 1 FROM messages m WHERE m.mailbox = $1 AND m.uid_validity = $2 AND m.uid = x.uid)
		OR EXISTS (SELECT 1 FROM message_copies c WHERE c.mailbox = $1 AND c.uid_validity = $2 AND c.uid = x.uid)
		OR (x.raw_key IS NOT NULL AND EXISTS (SELECT 1 FROM messages m WHERE m.raw_key = x.raw_key))`,
		mailbox, int64(uidValidity), uids, raws)
	if err != nil {
		return nil, fmt.Errorf("maybe stored: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("maybe stored: %w", err)
	}
	set := make(map[int]bool, len(out))
	for _, i := range out {
		set[int(i)] = true
	}
	return set, nil
}

// RecentInboundOf is RecentInbound for several senders in one query, keyed
// by the lower-case address; a sender with none is absent.
func (db *DB) RecentInboundOf(ctx context.Context, froms []string) (map[string]int, error) {
	rows, err := db.q.Query(ctx, `SELECT m.from_addr, count(*) FROM messages m
		WHERE md5(m.from_addr) = ANY (SELECT md5(lower(f)) FROM unnest($1::text[]) f)
		AND m.from_addr = ANY (SELECT lower(f) FROM unnest($1::text[]) f) AND m.direction = 'in'
		AND m.created_at > now() - interval '1 hour'
		AND NOT EXISTS (SELECT 1 FROM mailboxes mb WHERE mb.name = m.mailbox AND mb.uid_validity = m.uid_validity
			AND m.uid <= mb.import_until)
		GROUP BY m.from_addr`, froms)
	if err != nil {
		return nil, fmt.Errorf("recent inbound: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var from string
		var n int
		if err := rows.Scan(&from, &n); err != nil {
			return nil, fmt.Errorf("recent inbound: %w", err)
		}
		out[from] = n
	}
	return out, rows.Err()
}

// UsersByEmail finds the users of several addresses in one query, keyed by
// the lower-case address; an address of nobody is absent.
func (db *DB) UsersByEmail(ctx context.Context, emails []string) (map[string]*User, error) {
	rows, err := db.q.Query(ctx, `SELECT `+userColumns+` FROM users WHERE email = ANY (SELECT lower(e) FROM unnest($1::text[]) e)`, emails)
	if err != nil {
		return nil, fmt.Errorf("users by email: %w", err)
	}
	defer rows.Close()
	out := map[string]*User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("users by email: %w", err)
		}
		out[u.Email] = u
	}
	return out, rows.Err()
}
