package store

import (
	"context"
	"fmt"
	"time"
)

// MFA is a user's TOTP enrolment.
type MFA struct {
	UserID    int64
	Secret    []byte // encrypted by the caller
	EnabledAt *time.Time
	LastStep  int64
}

// MFAOf returns a user's enrolment, pending or enabled, or ErrNotFound.
func (db *DB) MFAOf(ctx context.Context, userID int64) (*MFA, error) {
	var m MFA
	err := db.q.QueryRow(ctx, `SELECT user_id, secret, enabled_at, last_step FROM user_mfa WHERE user_id = $1`, userID).
		Scan(&m.UserID, &m.Secret, &m.EnabledAt, &m.LastStep)
	if err != nil {
		return nil, notFound(err, "mfa")
	}
	return &m, nil
}

// StartMFA stores a new pending enrolment, replacing a pending one but
// never an enabled one (only `postdesk user reset-mfa` removes that).
func (db *DB) StartMFA(ctx context.Context, userID int64, secret []byte) error {
	if _, err := db.q.Exec(ctx, `INSERT INTO user_mfa (user_id, secret) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET secret = EXCLUDED.secret, enabled_at = NULL, last_step = 0
		WHERE user_mfa.enabled_at IS NULL`, userID, secret); err != nil {
		return fmt.Errorf("start mfa: %w", err)
	}
	return nil
}

// UseStep records that a code of time step step was accepted, if no code
// of that step or a later one was: false means the code was used before.
func (db *DB) UseStep(ctx context.Context, userID, step int64) (bool, error) {
	tag, err := db.q.Exec(ctx, `UPDATE user_mfa SET last_step = $2 WHERE user_id = $1 AND last_step < $2`, userID, step)
	if err != nil {
		return false, fmt.Errorf("use totp step: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ConfirmMFA enables a pending enrolment and replaces the recovery codes
// with new ones (their hashes).
func (tx *Tx) ConfirmMFA(ctx context.Context, userID int64, now time.Time, recovery [][]byte) error {
	if _, err := tx.q.Exec(ctx, `UPDATE user_mfa SET enabled_at = $2 WHERE user_id = $1`, userID, now); err != nil {
		return fmt.Errorf("confirm mfa: %w", err)
	}
	if _, err := tx.q.Exec(ctx, `DELETE FROM mfa_recovery WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("confirm mfa: %w", err)
	}
	if _, err := tx.q.Exec(ctx, `INSERT INTO mfa_recovery (user_id, hash) SELECT $1, unnest($2::bytea[])`, userID, recovery); err != nil {
		return fmt.Errorf("confirm mfa: %w", err)
	}
	return nil
}

// UseRecoveryCode spends a recovery code: false when it is unknown or was
// used already. One statement, so a code is spent once however many try.
func (db *DB) UseRecoveryCode(ctx context.Context, userID int64, hash []byte, now time.Time) (bool, error) {
	tag, err := db.q.Exec(ctx, `UPDATE mfa_recovery SET used_at = $3 WHERE user_id = $1 AND hash = $2 AND used_at IS NULL`,
		userID, hash, now)
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecoveryCodesLeft counts a user's unused recovery codes.
func (db *DB) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := db.q.QueryRow(ctx, `SELECT count(*) FROM mfa_recovery WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("recovery codes: %w", err)
	}
	return n, nil
}

// ResetMFA removes a user's second factor and recovery codes and ends their
// sessions (`postdesk user reset-mfa`); false when they had none.
func (s *Store) ResetMFA(ctx context.Context, userID int64) (bool, error) {
	var had bool
	err := s.InTx(ctx, func(tx *Tx) error {
		tag, err := tx.q.Exec(ctx, `DELETE FROM user_mfa WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		had = tag.RowsAffected() > 0
		if _, err := tx.q.Exec(ctx, `DELETE FROM mfa_recovery WHERE user_id = $1`, userID); err != nil {
			return err
		}
		_, err = tx.q.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("reset mfa: %w", err)
	}
	return had, nil
}

// SetSessionStage moves a session to another stage (after its second
// factor, or after enrolling one).
func (db *DB) SetSessionStage(ctx context.Context, hash []byte, stage string) error {
	if _, err := db.q.Exec(ctx, `UPDATE sessions SET stage = $2 WHERE hash = $1`, hash, stage); err != nil {
		return fmt.Errorf("session stage: %w", err)
	}
	return nil
}
