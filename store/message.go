package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
)

// Message kinds, as the API shows them.
const (
	KindCustomer  = "customer"
	KindStaff     = "staff"
	KindNote      = "note"
	KindAutoReply = "auto_reply"
	KindBounce    = "bounce"
	KindEvent     = "event"
)

// StaffOnlyKind reports whether messages of a kind are shown to staff only:
// internal notes, and delivery reports, whose text comes from whoever sent
// the report (anyone can send one) and is never shown to the customer.
func StaffOnlyKind(kind string) bool { return kind == KindNote || kind == KindBounce }

// Message directions.
const (
	DirIn       = "in"
	DirOut      = "out"
	DirInternal = "internal"
)

// Message is one email or web post in a conversation, or an event.
type Message struct {
	ID             int64
	ConversationID int64
	Direction      string
	Kind           string
	AuthorID       *int64
	FromAddr       string
	FromName       string
	To             []string
	Cc             []string
	Subject        string
	MessageID      string
	InReplyTo      string
	References     []string
	Text           string
	HTML           string
	RawSHA256      []byte
	Problems       []string
	RawKey         []byte // inbound mail only: ContentKey of the raw source (see migration 002)
	Event          string
	Mailbox        string
	UIDValidity    uint32
	UID            uint32
	CreatedAt      time.Time
	Attachments    []Attachment
}

// Attachment is a file of a message; its content lives once in blobs.
type Attachment struct {
	ID          string // random and unguessable: it appears in URLs
	MessageID   int64
	Filename    string
	ContentType string
	ContentID   string
	Inline      bool
	SHA256      []byte
	Size        int64
}

// NewAttachment is a file to store with a message. Its content is Data or,
// for a file too large to hold in memory, Open with the SHA256 and Size of
// what it yields (see PutBlobStream: a large file already stored is not read
// again, and what is read is checked against both). A file that can be read
// only once is put in a Spool first, whose Open, SHA256 and Size these are.
type NewAttachment struct {
	Filename    string
	ContentType string
	ContentID   string
	Inline      bool
	Data        []byte
	Open        func() io.Reader
	SHA256      []byte
	Size        int64
}

// NewID returns a random identifier for URLs: 128 bits, never a sequence.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// InsertMessage stores a message with its attachments. For an inbound mail
// Mailbox/UIDValidity/UID and RawKey are unique keys, and a second insert of
// either returns an error wrapping ErrConflict (and the *pgconn.PgError that
// names the constraint), so a refetch is never stored twice.
func (db *DB) InsertMessage(ctx context.Context, m *Message, files []NewAttachment) error {
	var mailbox *string
	var uv, uid *int64
	if m.Mailbox != "" {
		mailbox = &m.Mailbox
		a, b := int64(m.UIDValidity), int64(m.UID)
		uv, uid = &a, &b
	}
	args := []any{m.ConversationID, m.Direction, m.Kind, m.AuthorID, m.FromAddr, m.FromName,
		nonNil(m.To), nonNil(m.Cc), m.Subject, m.MessageID, m.InReplyTo, nonNil(m.References), m.Text, m.HTML, m.RawSHA256,
		nonNil(m.Problems), m.Event, mailbox, uv, uid, m.RawKey}
	if id, now, ok := db.reservedMessage(m.ConversationID); ok {
		// Behind, with its id reserved: a unique key taken surfaces at the
		// next read or the commit, and fails the transaction there.
		m.ID, m.CreatedAt = id, now
		if err := db.later(ctx, "insert message", `INSERT INTO messages (conversation_id, direction, kind, author_id, from_addr, from_name,
				to_addrs, cc_addrs, subject, message_id, in_reply_to, refs, text_body, html_body, raw_sha256, problems, event,
				mailbox, uid_validity, uid, raw_key, id)
			VALUES ($1, $2, $3, $4, lower($5), $6, $7, $8, $9, nullif($10, ''), nullif($11, ''), $12, $13, $14, $15, $16, nullif($17, ''), $18, $19, $20, $21, $22)`,
			append(args, id)...); err != nil {
			return err
		}
	} else if err := db.q.QueryRow(ctx, `INSERT INTO messages (conversation_id, direction, kind, author_id, from_addr, from_name,
			to_addrs, cc_addrs, subject, message_id, in_reply_to, refs, text_body, html_body, raw_sha256, problems, event,
			mailbox, uid_validity, uid, raw_key)
		VALUES ($1, $2, $3, $4, lower($5), $6, $7, $8, $9, nullif($10, ''), nullif($11, ''), $12, $13, $14, $15, $16, nullif($17, ''), $18, $19, $20, $21)
		RETURNING id, created_at`, args...).Scan(&m.ID, &m.CreatedAt); err != nil {
		if uniqueViolation(err) {
			return fmt.Errorf("insert message: %w: %w", ErrConflict, err)
		}
		return fmt.Errorf("insert message: %w", err)
	}
	for _, f := range files {
		sha, size := f.SHA256, f.Size
		var err error
		if f.Open != nil {
			err = db.PutBlobStream(ctx, sha, size, f.Open)
		} else {
			sha, err = db.PutBlob(ctx, f.Data)
			size = int64(len(f.Data))
		}
		if err != nil {
			return err
		}
		a := Attachment{ID: NewID(), MessageID: m.ID, Filename: f.Filename, ContentType: f.ContentType,
			ContentID: f.ContentID, Inline: f.Inline, SHA256: sha, Size: size}
		if err := db.later(ctx, "insert attachment", `INSERT INTO attachments (id, message_id, filename, content_type, content_id, inline, sha256, size)
			VALUES ($1, $2, $3, $4, nullif($5, ''), $6, $7, $8)`,
			a.ID, a.MessageID, a.Filename, a.ContentType, a.ContentID, a.Inline, a.SHA256, a.Size); err != nil {
			return err
		}
		m.Attachments = append(m.Attachments, a)
	}
	return nil
}

// InsertEvent adds a line to a conversation's timeline (KindEvent): a
// write no one reads back, so under write-behind it travels with the next
// read.
func (db *DB) InsertEvent(ctx context.Context, conversationID int64, authorID *int64, name, text string) error {
	// A reserved id keeps the timeline in the order of the writes (see
	// ReserveIDs); without one the sequence's next is taken.
	if id, _, ok := db.reservedMessage(conversationID); ok {
		return db.later(ctx, "insert event "+name, `INSERT INTO messages (conversation_id, direction, kind, author_id, text_body, event, id)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, conversationID, DirInternal, KindEvent, authorID, text, name, id)
	}
	return db.later(ctx, "insert event "+name, `INSERT INTO messages (conversation_id, direction, kind, author_id, text_body, event)
		VALUES ($1, $2, $3, $4, $5, $6)`, conversationID, DirInternal, KindEvent, authorID, text, name)
}

const messageColumns = `m.id, m.conversation_id, m.direction, m.kind, m.author_id, m.from_addr, m.from_name, m.to_addrs, m.cc_addrs,
	m.subject, coalesce(m.message_id, ''), coalesce(m.in_reply_to, ''), m.refs, m.text_body, m.html_body, m.raw_sha256,
	m.problems, coalesce(m.event, ''), coalesce(m.mailbox, ''), coalesce(m.uid_validity, 0), coalesce(m.uid, 0), m.created_at`

func scanMessage(row interface{ Scan(...any) error }) (*Message, error) {
	var m Message
	var uv, uid int64
	err := row.Scan(&m.ID, &m.ConversationID, &m.Direction, &m.Kind, &m.AuthorID, &m.FromAddr, &m.FromName, &m.To, &m.Cc,
		&m.Subject, &m.MessageID, &m.InReplyTo, &m.References, &m.Text, &m.HTML, &m.RawSHA256,
		&m.Problems, &m.Event, &m.Mailbox, &uv, &uid, &m.CreatedAt)
	m.UIDValidity, m.UID = uint32(uv), uint32(uid)
	return &m, err
}

// Messages lists a conversation's messages, oldest first, with attachments;
// the staff-only kinds (internal notes, delivery reports) only when withNotes.
func (db *DB) Messages(ctx context.Context, conversationID int64, withNotes bool) ([]Message, error) {
	rows, err := db.q.Query(ctx, `SELECT `+messageColumns+` FROM messages m
		WHERE m.conversation_id = $1 AND ($2 OR m.kind NOT IN ('note', 'bounce')) ORDER BY m.created_at, m.id`, conversationID, withNotes)
	if err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	var ms []Message
	byID := map[int64]int{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("messages: %w", err)
		}
		byID[m.ID] = len(ms)
		ms = append(ms, *m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	arows, err := db.q.Query(ctx, `SELECT a.id, a.message_id, a.filename, a.content_type, coalesce(a.content_id, ''), a.inline, a.sha256, a.size
		FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.conversation_id = $1 ORDER BY a.filename, a.id`, conversationID)
	if err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	defer arows.Close()
	for arows.Next() {
		var a Attachment
		if err := arows.Scan(&a.ID, &a.MessageID, &a.Filename, &a.ContentType, &a.ContentID, &a.Inline, &a.SHA256, &a.Size); err != nil {
			return nil, fmt.Errorf("attachments: %w", err)
		}
		if i, ok := byID[a.MessageID]; ok {
			ms[i].Attachments = append(ms[i].Attachments, a)
		}
	}
	return ms, arows.Err()
}

// MessageByID finds a message.
func (db *DB) MessageByID(ctx context.Context, id int64) (*Message, error) {
	m, err := scanMessage(db.q.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages m WHERE m.id = $1`, id))
	if err != nil {
		return nil, notFound(err, "message")
	}
	return m, nil
}

// AttachmentByID finds an attachment and the conversation it belongs to.
func (db *DB) AttachmentByID(ctx context.Context, id string) (*Attachment, int64, string, error) {
	var a Attachment
	var convID int64
	var kind string
	err := db.q.QueryRow(ctx, `SELECT a.id, a.message_id, a.filename, a.content_type, coalesce(a.content_id, ''), a.inline, a.sha256, a.size,
			m.conversation_id, m.kind
		FROM attachments a JOIN messages m ON m.id = a.message_id WHERE a.id = $1`, id).
		Scan(&a.ID, &a.MessageID, &a.Filename, &a.ContentType, &a.ContentID, &a.Inline, &a.SHA256, &a.Size, &convID, &kind)
	if err != nil {
		return nil, 0, "", notFound(err, "attachment")
	}
	return &a, convID, kind, nil
}

// ConversationByMessageID finds the newest conversation holding a message
// (or a queued mail) with one of these Message-IDs and tells, in the same
// round trip, whether email takes part in it: threading asks that next of
// every reply.
func (db *DB) ConversationByMessageID(ctx context.Context, ids []string, email string) (conv int64, participant bool, err error) {
	err = db.q.QueryRow(ctx, `SELECT hit.conversation_id,
			EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = hit.conversation_id AND p.email = lower($2))
		FROM (SELECT conversation_id FROM (
			SELECT conversation_id, created_at FROM messages WHERE message_id = ANY($1)
			UNION ALL
			SELECT o.conversation_id, o.created_at FROM outbox o WHERE o.mail_message_id = ANY($1) AND o.conversation_id IS NOT NULL
		) hits ORDER BY created_at DESC LIMIT 1) hit`, ids, email).Scan(&conv, &participant)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, false, fmt.Errorf("message-id: %w", ErrNotFound)
		}
		return 0, false, fmt.Errorf("message-id: %w", err)
	}
	return conv, participant, nil
}

// RecentInbound counts the mails an address sent within the last hour (by
// the index on md5(from_addr): an address may be any length). The
// go-live import's archive mail (stored within the hour, written long ago)
// does not count.
func (db *DB) RecentInbound(ctx context.Context, from string) (int, error) {
	var n int
	err := db.q.QueryRow(ctx, `SELECT count(*) FROM messages m
		WHERE md5(m.from_addr) = md5(lower($1)) AND m.from_addr = lower($1) AND m.direction = 'in'
		AND m.created_at > now() - interval '1 hour'
		AND NOT EXISTS (SELECT 1 FROM mailboxes mb WHERE mb.name = m.mailbox AND mb.uid_validity = m.uid_validity
			AND m.uid <= mb.import_until)`, from).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("recent inbound: %w", err)
	}
	return n, nil
}
