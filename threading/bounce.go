package threading

import (
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
	bounceVersion = 2
	bounceLabel   = "postdesk bounce-token\x00"
)

// SignBounce returns the VERP token for the outbox row id.
func (s *Signer) SignBounce(outboxID int64) string {
	return s.signIDs(bounceLabel, bounceVersion, outboxID)
}

// VerifyBounce checks a token made by SignBounce (without the "b-" prefix)
// and returns the outbox row it names. As for reply tokens, letters may be in
// any case, the spelling must be canonical, and the MAC is compared in
// constant time; every failure wraps ErrBadToken.
func (s *Signer) VerifyBounce(str string) (int64, error) {
	ids, err := s.verifyIDs(str, bounceLabel, bounceVersion, 1)
	if err != nil {
		return 0, fmt.Errorf("return path: %w", err)
	}
	if ids[0] <= 0 {
		return 0, fmt.Errorf("%w: no outbox row %d", ErrBadToken, ids[0])
	}
	return ids[0], nil
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
