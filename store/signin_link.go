package store

import (
	"context"
	"fmt"
	"time"
)

// Outbox templates of the sign-in links (package signinlink).
const (
	TemplateSigninLink    = "signin_link"    // a customer's one-time sign-in link
	TemplatePasswordReset = "password_reset" // a one-time link to set a new password
)

// SigninLink is a one-time link row; the token itself is never stored.
type SigninLink struct {
	ID             int64
	Hash           []byte
	Nonce          []byte
	Purpose        string
	Email          string
	UserID         int64
	ConversationID *int64
	CreatedAt      time.Time
	ExpiresAt      time.Time
	UsedAt         *time.Time
}

const linkColumns = `id, hash, nonce, purpose, email, user_id, conversation_id, created_at, expires_at, used_at`

func scanLink(row interface{ Scan(...any) error }) (*SigninLink, error) {
	var l SigninLink
	err := row.Scan(&l.ID, &l.Hash, &l.Nonce, &l.Purpose, &l.Email, &l.UserID, &l.ConversationID, &l.CreatedAt, &l.ExpiresAt, &l.UsedAt)
	return &l, err
}

// CreateLink inserts a link with a placeholder hash and returns its id;
// SetLinkHash then stores the hash of the token derived from that id.
func (db *DB) CreateLink(ctx context.Context, l *SigninLink) error {
	err := db.q.QueryRow(ctx, `INSERT INTO signin_links (hash, nonce, purpose, email, user_id, conversation_id, created_at, expires_at)
		VALUES ($1, $2, $3, lower($4), $5, $6, $7, $8) RETURNING id`,
		l.Hash, l.Nonce, l.Purpose, l.Email, l.UserID, l.ConversationID, l.CreatedAt, l.ExpiresAt).Scan(&l.ID)
	if err != nil {
		return fmt.Errorf("create link: %w", err)
	}
	return nil
}

// SetLinkHash stores the hash a link is found by.
func (db *DB) SetLinkHash(ctx context.Context, id int64, hash []byte) error {
	if _, err := db.q.Exec(ctx, `UPDATE signin_links SET hash = $2 WHERE id = $1`, id, hash); err != nil {
		return fmt.Errorf("set link hash: %w", err)
	}
	return nil
}

// LinkByID finds a link (for the outbox worker building its mail).
func (db *DB) LinkByID(ctx context.Context, id int64) (*SigninLink, error) {
	l, err := scanLink(db.q.QueryRow(ctx, `SELECT `+linkColumns+` FROM signin_links WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "signin link")
	}
	return l, nil
}

// LinkByHash finds a link that is unused and unexpired at now, without
// using it (the page that asks to confirm).
func (db *DB) LinkByHash(ctx context.Context, hash []byte, purpose string, now time.Time) (*SigninLink, error) {
	l, err := scanLink(db.q.QueryRow(ctx, `SELECT `+linkColumns+` FROM signin_links
		WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3`, hash, purpose, now))
	if err != nil {
		return nil, notFound(err, "signin link")
	}
	return l, nil
}

// UseLink marks a link used and returns it, if it is unused, unexpired at
// now and still bound to its user's address; else ErrNotFound. One
// statement, so two instances opening it at once use it once.
func (db *DB) UseLink(ctx context.Context, hash []byte, purpose string, now time.Time) (*SigninLink, error) {
	l, err := scanLink(db.q.QueryRow(ctx, `UPDATE signin_links l SET used_at = $3
		FROM users u
		WHERE l.hash = $1 AND l.purpose = $2 AND l.used_at IS NULL AND l.expires_at > $3
			AND u.id = l.user_id AND u.email = l.email
		RETURNING l.id, l.hash, l.nonce, l.purpose, l.email, l.user_id, l.conversation_id, l.created_at, l.expires_at, l.used_at`,
		hash, purpose, now))
	if err != nil {
		return nil, notFound(err, "signin link")
	}
	return l, nil
}

// RecentLinks counts the links asked for an address since a time, to
// bound how much mail one can make postdesk send to someone.
func (db *DB) RecentLinks(ctx context.Context, email string, since time.Time) (int, error) {
	var n int
	if err := db.q.QueryRow(ctx, `SELECT count(*) FROM signin_links WHERE email = lower($1) AND created_at > $2`,
		email, since).Scan(&n); err != nil {
		return 0, fmt.Errorf("recent links: %w", err)
	}
	return n, nil
}

// DeleteExpiredLinks removes the links that expired before a time.
func (db *DB) DeleteExpiredLinks(ctx context.Context, before time.Time) error {
	if _, err := db.q.Exec(ctx, `DELETE FROM signin_links WHERE expires_at < $1`, before); err != nil {
		return fmt.Errorf("delete expired links: %w", err)
	}
	return nil
}

// LinkCategory is the category a link mail is sent from: that of the
// user's newest conversation as customer, else the first active one.
func (db *DB) LinkCategory(ctx context.Context, userID int64) (int64, error) {
	var id int64
	err := db.q.QueryRow(ctx, `SELECT coalesce(
			(SELECT category_id FROM conversations WHERE customer_id = $1 ORDER BY updated_at DESC LIMIT 1),
			(SELECT id FROM categories WHERE active ORDER BY id LIMIT 1))`, userID).Scan(&id)
	if err != nil {
		return 0, notFound(err, "link category")
	}
	return id, nil
}

// CustomerConversation is the newest conversation a user is the customer
// of, or ErrNotFound for someone who never wrote in. (Someone who only
// wrote in another's conversation is not its customer, and the visibility
// rule would show them nothing of it.)
func (db *DB) CustomerConversation(ctx context.Context, userID int64) (int64, error) {
	var id int64
	err := db.q.QueryRow(ctx, `SELECT id FROM conversations WHERE customer_id = $1
		ORDER BY updated_at DESC, id DESC LIMIT 1`, userID).Scan(&id)
	if err != nil {
		return 0, notFound(err, "customer conversation")
	}
	return id, nil
}

// DeleteOtherSessions ends every session of a user but one (the one that
// changed the password).
func (db *DB) DeleteOtherSessions(ctx context.Context, userID int64, keep []byte) error {
	if _, err := db.q.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND hash <> $2`, userID, keep); err != nil {
		return fmt.Errorf("delete other sessions: %w", err)
	}
	return nil
}
