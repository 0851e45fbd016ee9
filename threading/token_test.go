package threading

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

func testSigner(t testing.TB) *Signer {
	t.Helper()
	s, err := NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawToken encodes version|payload|mac where mac is computed by macFn over
// version|payload, so tests can build tokens with a valid signature but a
// shape Sign never makes.
func rawToken(version byte, payload []byte, macFn func([]byte) []byte) string {
	b := append([]byte{version}, payload...)
	b = append(b, macFn(b)...)
	return tokenEncoding.EncodeToString(b)
}

func TestNewSigner(t *testing.T) {
	for _, tc := range []struct {
		n  int
		ok bool
	}{{0, false}, {16, false}, {31, false}, {32, true}, {64, true}} {
		s, err := NewSigner(bytes.Repeat([]byte{'k'}, tc.n))
		if (err == nil) != tc.ok || (s != nil) != tc.ok {
			t.Errorf("NewSigner(%d bytes) = %v, %v; want ok=%v", tc.n, s, err, tc.ok)
		}
	}
	if _, err := NewSigner(nil); err == nil {
		t.Error("NewSigner(nil) succeeded")
	}
}

func TestSignerCopiesSecret(t *testing.T) {
	secret := append([]byte(nil), testSecret...)
	s, err := NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	tok := s.Sign(Token{Conversation: 5, Recipient: 6})
	secret[0] ^= 0xff // the caller reusing its buffer must not change the key
	if _, err := s.Verify(tok); err != nil {
		t.Fatalf("token no longer verifies after the caller changed its secret buffer: %v", err)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := testSigner(t)
	for _, tc := range []struct {
		tok      Token
		maxChars int
	}{
		{Token{1, 1}, 21},
		{Token{63, 63}, 21},
		{Token{4242, 17}, 23},
		{Token{1_000_000, 1_000_000}, 28}, // a long-lived installation
		{Token{math.MaxInt64, math.MaxInt64}, 50},
		{Token{math.MinInt64, 0}, 50},
		{Token{-1, -2}, 21},
	} {
		str := s.Sign(tc.tok)
		if len(str) > tc.maxChars {
			t.Errorf("Sign(%+v) = %q: %d chars, want at most %d", tc.tok, str, len(str), tc.maxChars)
		}
		for i := 0; i < len(str); i++ {
			if c := str[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
				t.Fatalf("Sign(%+v) = %q: %q is not lower-case base32", tc.tok, str, c)
			}
		}
		for _, spelled := range []string{str, strings.ToUpper(str), strings.ToUpper(str[:len(str)/2]) + str[len(str)/2:]} {
			got, err := s.Verify(spelled)
			if err != nil || got != tc.tok {
				t.Errorf("Verify(%q) = %+v, %v; want %+v", spelled, got, err, tc.tok)
			}
		}
	}
	if a, b := s.Sign(Token{1, 2}), s.Sign(Token{2, 1}); a == b {
		t.Errorf("tokens for swapped ids are equal: %q", a)
	}
}

func TestVerifyRejects(t *testing.T) {
	s := testSigner(t)
	good := s.Sign(Token{Conversation: 10, Recipient: 2})
	other, _ := NewSigner(bytes.Repeat([]byte{'x'}, 32))

	ids := func(conv, rcpt int64) []byte {
		return binary.AppendVarint(binary.AppendVarint(nil, conv), rcpt)
	}
	// A token for conversation 11 carrying the MAC of conversation 10's.
	goodRaw, _ := tokenEncoding.DecodeString(good)
	spliced := append([]byte{tokenVersion1}, ids(11, 2)...)
	spliced = append(spliced, goodRaw[len(goodRaw)-tokenMACLen:]...)
	// Without the domain-separation label: a plain HMAC of the payload.
	unlabeled := rawToken(tokenVersion1, ids(10, 2), func(b []byte) []byte {
		return hmacSHA256(testSecret, b)[:tokenMACLen]
	})
	// Validly signed, but a version we do not know.
	replyMAC := func(b []byte) []byte { return s.mac(tokenLabel, b) }
	v2 := rawToken(2, ids(10, 2), replyMAC)
	// Validly signed, but conversation 10 as a non-minimal varint (20 = 0x14
	// zig-zagged, written in two bytes).
	nonMinimal := rawToken(tokenVersion1, append([]byte{0x94, 0x00}, binary.AppendVarint(nil, 2)...), replyMAC)
	// Validly signed with a trailing byte after the MAC.
	long := append(append([]byte{tokenVersion1}, ids(10, 2)...), replyMAC(append([]byte{tokenVersion1}, ids(10, 2)...))...)
	long = append(long, 0)

	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"short", "abc"},
		{"garbage", "this-is-not-a-token-at-all-really"},
		{"padding", good + "===="},
		{"too long", good + strings.Repeat("a", 64)},
		{"truncated by one", good[:len(good)-1]},
		{"truncated by eight", good[:len(good)-8]},
		{"one more char", good + "a"},
		{"digit outside alphabet", "1" + good[1:]},
		{"space", " " + good},
		{"other secret", other.Sign(Token{10, 2})},
		{"token of another conversation", tokenEncoding.EncodeToString(spliced)},
		{"no label", unlabeled},
		{"version 2", v2},
		{"non-minimal varint", nonMinimal},
		{"trailing byte", tokenEncoding.EncodeToString(long)},
		{"kelvin sign", strings.Replace(good, "k", "\u212a", 1)},
	} {
		if tc.name == "kelvin sign" && !strings.Contains(good, "k") {
			continue
		}
		got, err := s.Verify(tc.in)
		if err == nil {
			t.Errorf("%s: Verify(%q) = %+v, want error", tc.name, tc.in, got)
		} else if !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: Verify(%q) error %v does not wrap ErrBadToken", tc.name, tc.in, err)
		}
	}
}

// Changing any one character of a token, or any one bit of its bytes, must
// make it fail.
func TestVerifyRejectsEveryFlip(t *testing.T) {
	s := testSigner(t)
	good := s.Sign(Token{Conversation: 123456, Recipient: 789})
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	for i := 0; i < len(good); i++ {
		for _, c := range []byte(alphabet) {
			if c == good[i] {
				continue
			}
			bad := good[:i] + string(c) + good[i+1:]
			if _, err := s.Verify(bad); err == nil {
				t.Fatalf("Verify accepted %q (char %d of %q changed)", bad, i, good)
			}
		}
	}
	raw, _ := tokenEncoding.DecodeString(good)
	for i := 0; i < len(raw)*8; i++ {
		b := append([]byte(nil), raw...)
		b[i/8] ^= 1 << (i % 8)
		if _, err := s.Verify(tokenEncoding.EncodeToString(b)); err == nil {
			t.Fatalf("Verify accepted a token with bit %d flipped", i)
		}
	}
}

// The last base32 character carries unused low bits; the decoder ignores them,
// Verify must not.
func TestVerifyRejectsNonCanonicalBase32(t *testing.T) {
	s := testSigner(t)
	for _, tok := range []Token{{1, 1}, {4242, 17}, {1_000_000, 1_000_000}} {
		good := s.Sign(tok)
		unused := len(good)*5 - tokenEncoding.DecodedLen(len(good))*8
		if unused == 0 {
			continue
		}
		last := strings.IndexByte("abcdefghijklmnopqrstuvwxyz234567", good[len(good)-1])
		bad := good[:len(good)-1] + string("abcdefghijklmnopqrstuvwxyz234567"[last|1])
		if bad == good {
			bad = good[:len(good)-1] + string("abcdefghijklmnopqrstuvwxyz234567"[last&^1])
		}
		if raw, err := tokenEncoding.DecodeString(bad); err != nil {
			t.Fatalf("test setup: %q does not decode: %v", bad, err)
		} else if want, _ := tokenEncoding.DecodeString(good); !bytes.Equal(raw, want) {
			t.Fatalf("test setup: %q decodes differently from %q", bad, good)
		}
		if _, err := s.Verify(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("Verify(%q), a second spelling of %q, = %v; want ErrBadToken", bad, good, err)
		}
	}
}

func hmacSHA256(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}
