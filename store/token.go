package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// tokenPrefix marks postdesk API tokens, so a leaked one is easy to find in
// logs and code and secret scanners can recognise it.
const tokenPrefix = "pd_"

// CreateAPIToken makes a bearer token for a user and stores only its hash; the
// token itself is returned once and cannot be read back.
func (db *DB) CreateAPIToken(ctx context.Context, userID int64, name string) (string, error) {
	b := make([]byte, 32)
	rand.Read(b) //nolint:errcheck // never fails
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(tok))
	if _, err := db.q.Exec(ctx, `INSERT INTO api_tokens (user_id, hash, name) VALUES ($1, $2, $3)`, userID, sum[:], name); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	return tok, nil
}

// UserByAPIToken finds the user a bearer token belongs to.
func (db *DB) UserByAPIToken(ctx context.Context, tok string) (*User, error) {
	sum := sha256.Sum256([]byte(tok))
	u, err := scanUser(db.q.QueryRow(ctx, `WITH t AS (UPDATE api_tokens SET last_used_at = now() WHERE hash = $1 RETURNING user_id)
		SELECT `+userColumns+` FROM users WHERE id = (SELECT user_id FROM t)`, sum[:]))
	if err != nil {
		return nil, notFound(err, "api token")
	}
	return u, nil
}
