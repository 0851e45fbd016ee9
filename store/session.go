package store

import (
	"context"
	"fmt"
	"time"
)

// Session is a signed-in browser. Only the SHA-256 of the random session id
// is stored: a copy of the table does not let anyone sign in.
type Session struct {
	Hash      []byte
	UserID    int64
	CSRF      string // a per-session token the forms carry
	CreatedAt time.Time
	ExpiresAt time.Time
	// Stage is "full", or "mfa" / "enrol" for a session that still owes a
	// second factor or must enrol one ("" is "full").
	Stage string
}

// Session stages.
const (
	StageFull  = "full"
	StageMFA   = "mfa"
	StageEnrol = "enrol"
)

// CreateSession stores a session under the hash of its id.
func (db *DB) CreateSession(ctx context.Context, s *Session) error {
	stage := s.Stage
	if stage == "" {
		stage = StageFull
	}
	_, err := db.q.Exec(ctx, `INSERT INTO sessions (hash, user_id, csrf, created_at, expires_at, stage) VALUES ($1, $2, $3, $4, $5, $6)`,
		s.Hash, s.UserID, s.CSRF, s.CreatedAt, s.ExpiresAt, stage)
	if err != nil {
		if uniqueViolation(err) {
			return fmt.Errorf("create session: %w", ErrConflict)
		}
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionByHash finds a session that has not expired at now.
func (db *DB) SessionByHash(ctx context.Context, hash []byte, now time.Time) (*Session, error) {
	var s Session
	err := db.q.QueryRow(ctx, `SELECT hash, user_id, csrf, created_at, expires_at, stage FROM sessions
		WHERE hash = $1 AND expires_at > $2`, hash, now).Scan(&s.Hash, &s.UserID, &s.CSRF, &s.CreatedAt, &s.ExpiresAt, &s.Stage)
	if err != nil {
		return nil, notFound(err, "session")
	}
	return &s, nil
}

// ExtendSession moves a session's expiry (sliding expiry).
func (db *DB) ExtendSession(ctx context.Context, hash []byte, expires time.Time) error {
	if _, err := db.q.Exec(ctx, `UPDATE sessions SET expires_at = $2 WHERE hash = $1`, hash, expires); err != nil {
		return fmt.Errorf("extend session: %w", err)
	}
	return nil
}

// DeleteSession ends one session; deleting one that is gone is no error.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := db.q.Exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends every session of a user (after a password change).
func (db *DB) DeleteUserSessions(ctx context.Context, userID int64) error {
	if _, err := db.q.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("delete user sessions: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes the sessions expired at now and says how many.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	tag, err := db.q.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}
