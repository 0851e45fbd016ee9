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
	// The binary reply token is version | varint conv | varint recipient |
	// mac; a varint of an int64 takes 1 to 10 bytes.
	tokenMaxBytes = 1 + binary.MaxVarintLen64*2 + tokenMACLen
)

// tokenLabel separates reply-token MACs from anything else the same secret
// signs (sessions, links): it is the first input to every token HMAC.
const tokenLabel = "postdesk reply-token\x00"

// tokenEncoding is lower-case RFC 4648 base32 without padding: letters and
// digits only, so a token is a valid dot-atom local-part tag (RFC 5322 3.2.3).
var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// tokenMaxChars is the longest reply token in characters.
var tokenMaxChars = tokenEncoding.EncodedLen(tokenMaxBytes)

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
	return s.signIDs(tokenLabel, tokenVersion1, t.Conversation, t.Recipient)
}

// Verify checks a token made by Sign and returns what it names. Letters may be
// in any case, since some MTAs upper-case local parts. Every failure wraps
// ErrBadToken; the MAC is compared in constant time.
func (s *Signer) Verify(str string) (Token, error) {
	ids, err := s.verifyIDs(str, tokenLabel, tokenVersion1, 2)
	if err != nil {
		return Token{}, err
	}
	return Token{Conversation: ids[0], Recipient: ids[1]}, nil
}

// Every token postdesk signs has one shape: lower-case base32 (no padding) of
//
//	version | varint(id) ... | HMAC-SHA256(label | version | varints)[:10]
//
// A kind of token is its label and version byte; the label separates its
// MACs from those of every other kind the same secret signs, so that one
// kind can never be taken for another.

// signIDs makes a token of the kind (label, version) naming ids.
func (s *Signer) signIDs(label string, version byte, ids ...int64) string {
	b := make([]byte, 0, 1+len(ids)*binary.MaxVarintLen64+tokenMACLen)
	b = append(b, version)
	for _, id := range ids {
		b = binary.AppendVarint(b, id)
	}
	b = append(b, s.mac(label, b)...)
	return tokenEncoding.EncodeToString(b)
}

// mac is the truncated HMAC of the label and payload (version and ids).
func (s *Signer) mac(label string, payload []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(label))
	h.Write(payload)
	return h.Sum(nil)[:tokenMACLen]
}

// verifyIDs checks a token of the kind (label, version) naming n ids and
// returns them. The spelling, the version and the varints must be exactly
// those signIDs writes, so a token has one (case-folded) form; every failure
// wraps ErrBadToken.
func (s *Signer) verifyIDs(str, label string, version byte, n int) ([]int64, error) {
	minChars := tokenEncoding.EncodedLen(1 + n + tokenMACLen)
	maxChars := tokenEncoding.EncodedLen(1 + n*binary.MaxVarintLen64 + tokenMACLen)
	if len(str) < minChars || len(str) > maxChars {
		return nil, fmt.Errorf("%w: length %d", ErrBadToken, len(str))
	}
	raw, err := decodeCanonical(str)
	if err != nil {
		return nil, err
	}
	if len(raw) < 1+n+tokenMACLen || raw[0] != version {
		return nil, fmt.Errorf("%w: not this kind of token", ErrBadToken)
	}
	ids := make([]int64, n)
	rest := raw[1:]
	for i := range ids {
		id, k := binary.Varint(rest)
		if k <= 0 {
			return nil, fmt.Errorf("%w: bad id", ErrBadToken)
		}
		ids[i], rest = id, rest[k:]
	}
	if len(rest) != tokenMACLen {
		return nil, fmt.Errorf("%w: bad length", ErrBadToken)
	}
	// Demand the minimal varints signIDs writes.
	payload := raw[:len(raw)-tokenMACLen]
	canon := append(make([]byte, 0, len(payload)), version)
	for _, id := range ids {
		canon = binary.AppendVarint(canon, id)
	}
	if string(canon) != string(payload) {
		return nil, fmt.Errorf("%w: non-minimal varint", ErrBadToken)
	}
	if !hmac.Equal(s.mac(label, payload), rest) {
		return nil, fmt.Errorf("%w: signature mismatch", ErrBadToken)
	}
	return ids, nil
}

// decodeCanonical lower-cases (ASCII only) and decodes a token, refusing
// anything but the one spelling the encoder makes.
func decodeCanonical(str string) ([]byte, error) {
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
		return nil, fmt.Errorf("%w: not base32", ErrBadToken)
	}
	raw = raw[:n]
	// The decoder ignores the unused low bits of the last character; demand
	// the canonical spelling.
	if tokenEncoding.EncodeToString(raw) != string(lower) {
		return nil, fmt.Errorf("%w: not canonical base32", ErrBadToken)
	}
	return raw, nil
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
