package threading

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
)

// A VERP token (variable envelope return path) names one outbox row: every
// mail postdesk sends has its own envelope sender (SMTP MAIL FROM),
// payroll+b-TOKEN@example.com, and a delivery report comes back to exactly
// that address. Only a report that arrives at such an address with a token
// that verifies changes delivery state, and it changes only the row the token
// names; a report's Message-ID, which everyone who got the mail has seen, is
// never enough.
//
// The token is a second kind beside the reply token, with its own version
// byte and its own HMAC label, so one can never be taken for the other:
// lower-case base32 (no padding) of
//
//	version 2 | varint(outbox id) | HMAC-SHA256(label, version | varint)[:10]
//
// and in the address it follows the "b-" prefix, which no reply token has
// (base32 has no '-').

// BouncePrefix starts the plus-tag of a return path: payroll+b-TOKEN@.
const BouncePrefix = "b-"

const (
	bounceVersion  = 2
	bounceLabel    = "postdesk bounce-token\x00"
	bounceMinBytes = 1 + 1 + tokenMACLen
	bounceMaxBytes = 1 + binary.MaxVarintLen64 + tokenMACLen
)

var (
	bounceMinChars = tokenEncoding.EncodedLen(bounceMinBytes)
	bounceMaxChars = tokenEncoding.EncodedLen(bounceMaxBytes)
)

// SignBounce returns the VERP token for the outbox row id.
func (s *Signer) SignBounce(outboxID int64) string {
	b := make([]byte, 0, bounceMaxBytes)
	b = append(b, bounceVersion)
	b = binary.AppendVarint(b, outboxID)
	b = append(b, s.bounceMAC(b)...)
	return tokenEncoding.EncodeToString(b)
}

func (s *Signer) bounceMAC(payload []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(bounceLabel))
	h.Write(payload)
	return h.Sum(nil)[:tokenMACLen]
}

// VerifyBounce checks a token made by SignBounce (without the "b-" prefix)
// and returns the outbox row it names. As for reply tokens, letters may be in
// any case, the spelling must be canonical, and the MAC is compared in
// constant time; every failure wraps ErrBadToken.
func (s *Signer) VerifyBounce(str string) (int64, error) {
	if len(str) < bounceMinChars || len(str) > bounceMaxChars {
		return 0, fmt.Errorf("%w: return path token length %d", ErrBadToken, len(str))
	}
	raw, err := decodeCanonical(str)
	if err != nil {
		return 0, err
	}
	if len(raw) < bounceMinBytes || raw[0] != bounceVersion {
		return 0, fmt.Errorf("%w: not a return path token", ErrBadToken)
	}
	id, k := binary.Varint(raw[1:])
	if k <= 0 || len(raw[1+k:]) != tokenMACLen {
		return 0, fmt.Errorf("%w: bad outbox id", ErrBadToken)
	}
	payload := binary.AppendVarint([]byte{bounceVersion}, id)
	if string(payload) != string(raw[:1+k]) {
		return 0, fmt.Errorf("%w: non-minimal varint", ErrBadToken)
	}
	if !hmac.Equal(s.bounceMAC(payload), raw[1+k:]) {
		return 0, fmt.Errorf("%w: signature mismatch", ErrBadToken)
	}
	if id <= 0 {
		return 0, fmt.Errorf("%w: no outbox row %d", ErrBadToken, id)
	}
	return id, nil
}

// ReturnPath returns the envelope sender of the mail of outbox row id sent
// from categoryAddr: local+b-TOKEN@domain.
func (s *Signer) ReturnPath(categoryAddr string, outboxID int64) (string, error) {
	return PlusAddress(categoryAddr, BouncePrefix+s.SignBounce(outboxID))
}

// BounceRow finds a return path among recipients (the envelope ones,
// Delivered-To and X-Original-To, and To) and returns the outbox row its token
// names. bad reports a "b-" tag that failed to verify.
func BounceRow(recipients []string, s *Signer) (outboxID int64, ok bool, bad bool) {
	if s == nil {
		return 0, false, false
	}
	for _, r := range recipients {
		_, tag := SplitPlus(r)
		rest, isBounce := strings.CutPrefix(tag, BouncePrefix)
		if !isBounce {
			continue
		}
		id, err := s.VerifyBounce(rest)
		if err != nil {
			bad = true
			continue
		}
		return id, true, bad
	}
	return 0, false, bad
}

// decodeCanonical lower-cases (ASCII only) and decodes a token, refusing
// anything but the one spelling the encoder makes.
func decodeCanonical(str string) ([]byte, error) {
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
	if tokenEncoding.EncodeToString(raw) != string(lower) {
		return nil, fmt.Errorf("%w: not canonical base32", ErrBadToken)
	}
	return raw, nil
}
