// Package signinlink makes the tokens of the one-time links postdesk mails
// (customer sign-in, password reset). A token is the HMAC-SHA256, under the
// server secret, of its link row's id and random nonce, so the database
// holds only the nonce and the token's hash: a copy of it lets nobody open
// a link. The web side makes the row and the outbox worker, which has the
// same secret, derives the token again when it builds the mail, so the
// token is never written anywhere but the mail.
package signinlink

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// TTL is how long a link is valid after it was asked for.
const TTL = 30 * time.Minute

// Purposes of a link.
const (
	SignIn = "signin"
	Reset  = "reset"
)

// prefix marks the tokens, so that a leaked one is easy to recognise.
const prefix = "pdl_"

// ErrNoSecret is returned by New for a secret too short to sign with.
var ErrNoSecret = errors.New("signinlink: the secret must be at least 32 bytes")

// Keys derives link tokens from one secret.
type Keys struct{ key []byte }

// New returns the Keys of a secret (the config's secret, >= 32 bytes).
func New(secret []byte) (*Keys, error) {
	if len(secret) < 32 {
		return nil, ErrNoSecret
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("postdesk signin link key"))
	return &Keys{key: m.Sum(nil)}, nil
}

// Nonce returns fresh random bytes for a new link row.
func Nonce() []byte {
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck // never fails
	return b
}

// Token is the link's token: its row id and nonce under the key.
func (k *Keys) Token(id int64, nonce []byte) string {
	m := hmac.New(sha256.New, k.key)
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(id)))
	m.Write(nonce)
	return prefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Hash is what the database keeps of a token, and looks it up by.
func Hash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Placeholder is a token-shaped value for the row's hash before the real
// token is known (the id comes from the insert); it is replaced in the same
// transaction.
func Placeholder() []byte { return Hash(string(Nonce())) }
