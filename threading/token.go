package threading

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
)

// Token is what a reply address proves: the mail it answers was sent about
// Conversation to the user Recipient.
type Token struct {
	Conversation int64
	Recipient    int64 // user id
}

// ErrBadToken is wrapped by every error Verify returns.
var ErrBadToken = errors.New("threading: bad reply token")

// MinSecretLen is the shortest secret NewSigner accepts.
const MinSecretLen = 32

const (
	tokenVersion1 = 1
	tokenMACLen   = 10 // bytes of HMAC-SHA256 kept: 80 bits
	// The binary token is version | varint conv | varint recipient | mac; a
	// varint of an int64 takes 1 to 10 bytes.
	tokenMinBytes = 1 + 1 + 1 + tokenMACLen
	tokenMaxBytes = 1 + binary.MaxVarintLen64*2 + tokenMACLen
)

// tokenLabel separates reply-token MACs from anything else the same secret
// signs (sessions, links): it is the first input to every token HMAC.
const tokenLabel = "postdesk reply-token\x00"

// tokenEncoding is lower-case RFC 4648 base32 without padding: letters and
// digits only, so a token is a valid dot-atom local-part tag (RFC 5322 3.2.3).
var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Encoded token lengths in characters.
var (
	tokenMinChars = tokenEncoding.EncodedLen(tokenMinBytes)
	tokenMaxChars = tokenEncoding.EncodedLen(tokenMaxBytes)
)

// Signer makes and verifies reply tokens with one secret.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer for secret, which must be at least MinSecretLen
// bytes. The secret is copied.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("threading: reply-token secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	return &Signer{key: append([]byte(nil), secret...)}, nil
}

// Sign returns the token for t: lower-case base32 (no padding) of
// version | varint(Conversation) | varint(Recipient) | HMAC-SHA256[:10].
// For ids below about a million it is 28 characters; it is never more than 50.
func (s *Signer) Sign(t Token) string {
	b := make([]byte, 0, tokenMaxBytes)
	b = append(b, tokenVersion1)
	b = binary.AppendVarint(b, t.Conversation)
	b = binary.AppendVarint(b, t.Recipient)
	b = append(b, s.mac(b)...)
	return tokenEncoding.EncodeToString(b)
}

// mac is the truncated HMAC of the label and payload (version and ids).
func (s *Signer) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(tokenLabel))
	h.Write(payload)
	return h.Sum(nil)[:tokenMACLen]
}

// Verify checks a token made by Sign and returns what it names. Letters may be
// in any case, since some MTAs upper-case local parts. Every failure wraps
// ErrBadToken; the MAC is compared in constant time.
func (s *Signer) Verify(str string) (Token, error) {
	if len(str) < tokenMinChars || len(str) > tokenMaxChars {
		return Token{}, fmt.Errorf("%w: length %d", ErrBadToken, len(str))
	}
	// ASCII-only lower-casing: strings.ToLower would map e.g. the Kelvin sign
	// U+212A to 'k' and so accept spellings Sign never made.
	lower := make([]byte, len(str))
	for i := 0; i < len(str); i++ {
		c := str[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	raw := make([]byte, tokenEncoding.DecodedLen(len(lower)))
	n, err := tokenEncoding.Decode(raw, lower)
	if err != nil {
		return Token{}, fmt.Errorf("%w: not base32", ErrBadToken)
	}
	raw = raw[:n]
	// The decoder ignores the unused low bits of the last character; demand
	// the canonical spelling so one token has exactly one (case-folded) form.
	if tokenEncoding.EncodeToString(raw) != string(lower) {
		return Token{}, fmt.Errorf("%w: not canonical base32", ErrBadToken)
	}
	if len(raw) < tokenMinBytes || raw[0] != tokenVersion1 {
		return Token{}, fmt.Errorf("%w: unknown version", ErrBadToken)
	}
	rest := raw[1:]
	conv, k := binary.Varint(rest)
	if k <= 0 {
		return Token{}, fmt.Errorf("%w: bad conversation", ErrBadToken)
	}
	rest = rest[k:]
	rcpt, k := binary.Varint(rest)
	if k <= 0 {
		return Token{}, fmt.Errorf("%w: bad recipient", ErrBadToken)
	}
	rest = rest[k:]
	if len(rest) != tokenMACLen {
		return Token{}, fmt.Errorf("%w: bad length", ErrBadToken)
	}
	// Demand the minimal varints Sign writes, so a token's ids have exactly
	// one encoding.
	payload := make([]byte, 0, tokenMaxBytes)
	payload = append(payload, tokenVersion1)
	payload = binary.AppendVarint(payload, conv)
	payload = binary.AppendVarint(payload, rcpt)
	if string(payload) != string(raw[:len(raw)-tokenMACLen]) {
		return Token{}, fmt.Errorf("%w: non-minimal varint", ErrBadToken)
	}
	if !hmac.Equal(s.mac(payload), rest) {
		return Token{}, fmt.Errorf("%w: signature mismatch", ErrBadToken)
	}
	return Token{Conversation: conv, Recipient: rcpt}, nil
}

// looksLikeToken reports whether tag has roughly the shape of a reply token,
// possibly damaged (a few characters lost or added), so a failed verification
// is worth a note rather than being some other plus-address ("alice+work").
func looksLikeToken(tag string) bool {
	if len(tag) < 16 || len(tag) > tokenMaxChars+8 {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}
