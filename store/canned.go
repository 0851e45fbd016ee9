package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// CannedAnswer is a prepared reply of one receiver role in one language;
// its body holds placeholders the conversation package fills.
type CannedAnswer struct {
	ID        int64
	RoleID    int64
	Language  string
	Title     string
	Body      string
	UpdatedAt time.Time
}

const cannedColumns = `id, role_id, language, title, body, updated_at`

// CannedAnswers lists the canned answers of the given roles by title; nil
// roles lists every role's.
func (db *DB) CannedAnswers(ctx context.Context, roleIDs []int64) ([]CannedAnswer, error) {
	rows, err := db.q.Query(ctx, `SELECT `+cannedColumns+` FROM canned_answers
		WHERE $1::bigint[] IS NULL OR role_id = ANY($1) ORDER BY title, language, id`, roleIDs)
	if err != nil {
		return nil, fmt.Errorf("canned answers: %w", err)
	}
	defer rows.Close()
	var out []CannedAnswer
	for rows.Next() {
		var c CannedAnswer
		if err := rows.Scan(&c.ID, &c.RoleID, &c.Language, &c.Title, &c.Body, &c.UpdatedAt); err != nil {
			return nil, fmt.Errorf("canned answers: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("canned answers: %w", err)
	}
	return out, nil
}

// CannedAnswer finds one canned answer.
func (db *DB) CannedAnswer(ctx context.Context, id int64) (*CannedAnswer, error) {
	var c CannedAnswer
	err := db.q.QueryRow(ctx, `SELECT `+cannedColumns+` FROM canned_answers WHERE id = $1`, id).
		Scan(&c.ID, &c.RoleID, &c.Language, &c.Title, &c.Body, &c.UpdatedAt)
	if err != nil {
		return nil, notFound(err, "canned answer")
	}
	return &c, nil
}

// SaveCannedAnswer inserts a canned answer (ID 0) or updates one, setting
// its ID.
func (db *DB) SaveCannedAnswer(ctx context.Context, c *CannedAnswer) error {
	if c.ID == 0 {
		err := db.q.QueryRow(ctx, `INSERT INTO canned_answers (role_id, language, title, body) VALUES ($1, $2, $3, $4)
			RETURNING id, updated_at`, c.RoleID, c.Language, c.Title, c.Body).Scan(&c.ID, &c.UpdatedAt)
		if err != nil {
			return fmt.Errorf("insert canned answer: %w", err)
		}
		return nil
	}
	err := db.q.QueryRow(ctx, `UPDATE canned_answers SET role_id = $2, language = $3, title = $4, body = $5, updated_at = now()
		WHERE id = $1 RETURNING updated_at`, c.ID, c.RoleID, c.Language, c.Title, c.Body).Scan(&c.UpdatedAt)
	if err != nil {
		return notFound(err, "canned answer")
	}
	return nil
}

// DeleteCannedAnswer removes a canned answer.
func (db *DB) DeleteCannedAnswer(ctx context.Context, id int64) error {
	tag, err := db.q.Exec(ctx, `DELETE FROM canned_answers WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete canned answer: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("canned answer %d: %w", id, ErrNotFound)
	}
	return nil
}

// Signature is the signature of a role or of a user in one language.
type Signature struct {
	RoleID   *int64
	UserID   *int64
	Language string
	Body     string
}

// Signatures lists the signatures of the given roles and of one user (0:
// none), every language.
func (db *DB) Signatures(ctx context.Context, roleIDs []int64, userID int64) ([]Signature, error) {
	rows, err := db.q.Query(ctx, `SELECT role_id, user_id, language, body FROM signatures
		WHERE role_id = ANY($1) OR user_id = $2 ORDER BY user_id NULLS LAST, role_id, language`, roleIDs, userID)
	if err != nil {
		return nil, fmt.Errorf("signatures: %w", err)
	}
	defer rows.Close()
	var out []Signature
	for rows.Next() {
		var s Signature
		if err := rows.Scan(&s.RoleID, &s.UserID, &s.Language, &s.Body); err != nil {
			return nil, fmt.Errorf("signatures: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("signatures: %w", err)
	}
	return out, nil
}

// SetSignature sets the signature of a role or a user (exactly one of
// RoleID and UserID) in a language; an empty body removes it.
func (db *DB) SetSignature(ctx context.Context, s Signature) error {
	if (s.RoleID == nil) == (s.UserID == nil) {
		return fmt.Errorf("signature: one of role and user: %w", ErrInvalidInput)
	}
	var err error
	switch {
	case strings.TrimSpace(s.Body) == "":
		_, err = db.q.Exec(ctx, `DELETE FROM signatures WHERE language = $1
			AND (role_id = $2 OR user_id = $3)`, s.Language, s.RoleID, s.UserID)
	case s.RoleID != nil:
		_, err = db.q.Exec(ctx, `INSERT INTO signatures (role_id, language, body) VALUES ($1, $2, $3)
			ON CONFLICT (role_id, language) WHERE role_id IS NOT NULL DO UPDATE SET body = excluded.body`, s.RoleID, s.Language, s.Body)
	default:
		_, err = db.q.Exec(ctx, `INSERT INTO signatures (user_id, language, body) VALUES ($1, $2, $3)
			ON CONFLICT (user_id, language) WHERE user_id IS NOT NULL DO UPDATE SET body = excluded.body`, s.UserID, s.Language, s.Body)
	}
	if err != nil {
		return fmt.Errorf("set signature: %w", err)
	}
	return nil
}

// StaffRoles lists the active staff roles by name: the roles that own
// canned answers and role signatures.
func (db *DB) StaffRoles(ctx context.Context) ([]Role, error) {
	rows, err := db.q.Query(ctx, `SELECT `+roleColumns+` FROM roles r WHERE r.staff AND r.active ORDER BY r.name, r.key`)
	if err != nil {
		return nil, fmt.Errorf("staff roles: %w", err)
	}
	rs, err := scanRoles(rows)
	if err != nil {
		return nil, fmt.Errorf("staff roles: %w", err)
	}
	return rs, nil
}
