package threading

import (
	"errors"
	"strings"
	"testing"

	"postdesk/ingest/mailparse"
)

func TestBounceTokenRoundTrip(t *testing.T) {
	s := testSigner(t)
	for _, id := range []int64{1, 63, 64, 700, 1 << 40, 1<<63 - 1} {
		tok := s.SignBounce(id)
		got, err := s.VerifyBounce(tok)
		if err != nil || got != id {
			t.Errorf("VerifyBounce(SignBounce(%d)) = %d, %v", id, got, err)
		}
		if got, err := s.VerifyBounce(strings.ToUpper(tok)); err != nil || got != id {
			t.Errorf("upper-cased token of %d: %d, %v", id, got, err)
		}
		addr, err := s.ReturnPath("payroll@example.com", id)
		if err != nil {
			t.Fatalf("ReturnPath(%d): %v", id, err)
		}
		if !strings.HasPrefix(addr, "payroll+b-") || !strings.HasSuffix(addr, "@example.com") {
			t.Errorf("ReturnPath(%d) = %q", id, addr)
		}
	}
}

// A VERP token is not a reply token and the other way round, even with the
// same secret: the version byte and the HMAC label differ.
func TestBounceTokenKindsDoNotMix(t *testing.T) {
	s := testSigner(t)
	if _, err := s.Verify(s.SignBounce(700)); !errors.Is(err, ErrBadToken) {
		t.Errorf("a return path token verified as a reply token: %v", err)
	}
	if _, err := s.VerifyBounce(s.Sign(Token{Conversation: 700, Recipient: 1})); !errors.Is(err, ErrBadToken) {
		t.Errorf("a reply token verified as a return path token: %v", err)
	}
}

func TestVerifyBounceRejects(t *testing.T) {
	s := testSigner(t)
	other, err := NewSigner([]byte("another secret of thirty-two bytes!!"))
	if err != nil {
		t.Fatal(err)
	}
	good := s.SignBounce(700)
	flipped := []byte(good)
	flipped[3] ^= 0x01
	for name, tok := range map[string]string{
		"empty":        "",
		"other secret": other.SignBounce(700),
		"flipped":      string(flipped),
		"truncated":    good[:len(good)-1],
		"extended":     good + "a",
		"not base32":   strings.Repeat("1", len(good)),
		"zero row":     s.SignBounce(0),
		"negative row": s.SignBounce(-5),
		"too long":     strings.Repeat("a", 60),
	} {
		if id, err := s.VerifyBounce(tok); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: VerifyBounce(%q) = %d, %v; want ErrBadToken", name, tok, id, err)
		}
	}
}

func TestBounceRow(t *testing.T) {
	s := testSigner(t)
	verp, _ := s.ReturnPath("payroll@example.com", 700)
	bad := strings.Replace(verp, "+b-", "+b-x", 1)
	for _, tc := range []struct {
		name   string
		rcpts  []string
		id     int64
		ok     bool
		badTag bool
	}{
		{"bare category address", []string{"payroll@example.com"}, 0, false, false},
		{"return path in Delivered-To", []string{"payroll@example.com", verp}, 700, true, false},
		{"damaged return path", []string{bad}, 0, false, true},
		{"reply token is no return path", []string{"payroll+" + s.Sign(Token{10, 1}) + "@example.com"}, 0, false, false},
	} {
		id, ok, badTag := BounceRow(tc.rcpts, s)
		if id != tc.id || ok != tc.ok || badTag != tc.badTag {
			t.Errorf("%s: BounceRow = %d, %v, %v; want %d, %v, %v", tc.name, id, ok, badTag, tc.id, tc.ok, tc.badTag)
		}
	}
	if _, ok, _ := BounceRow([]string{verp}, nil); ok {
		t.Error("BounceRow without a signer found a row")
	}
}

// RFC 3464 reports: only one at a signed return path names a row.
func TestDecideBounceByReturnPath(t *testing.T) {
	s := testSigner(t)
	verp := func(id int64) string { a, _ := s.ReturnPath("payroll@example.com", id); return a }
	report := func(id string) mailparse.Message {
		return mailparse.Message{From: daemon, Report: &mailparse.DeliveryReport{OriginalMessageID: id, Status: "5.1.1"}}
	}
	for _, tc := range []struct {
		name   string
		m      mailparse.Message
		rcpts  []string
		conv   int64
		by     string
		bounce int64
		note   string
	}{
		{"real report at the return path", report("r1@postdesk.example.com"), []string{"payroll@example.com", verp(700)}, 10, ByReturnPath, 700, ""},
		{"the return path decides, not the Message-ID", report("r2@postdesk.example.com"), []string{verp(700)}, 10, ByReturnPath, 700, ""},
		{"forged report to the bare address: found by Message-ID, names no row", report("r1@postdesk.example.com"), []string{"payroll@example.com"}, 10, ByMessageID, 0, ""},
		{"report with a forged return path", report("r1@postdesk.example.com"), []string{strings.Replace(verp(700), "+b-", "+b-a", 1)}, 10, ByMessageID, 0, "did not verify"},
		{"report for a row whose conversation was purged", report("gone@postdesk.example.com"), []string{verp(702)}, 0, ByReturnPath, 702, "no longer exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decide(&tc.m, tc.rcpts, s, testIndex(), OwnMail{MessageIDDomain: "postdesk.example.com"})
			if err != nil {
				t.Fatal(err)
			}
			if d.Conversation != tc.conv || d.By != tc.by || d.Bounce != tc.bounce || d.Kind != KindBounce || d.Staff {
				t.Errorf("Decide = conv %d by %q bounce %d kind %s staff %v; want conv %d by %q bounce %d",
					d.Conversation, d.By, d.Bounce, d.Kind, d.Staff, tc.conv, tc.by, tc.bounce)
			}
			if (tc.note == "") != (d.Note == "") || !strings.Contains(d.Note, tc.note) {
				t.Errorf("note %q, want %q", d.Note, tc.note)
			}
		})
	}
}

// FuzzVerifyBounce: no string verifies unless signed, every signed row
// verifies in either case, and a changed token does not.
func FuzzVerifyBounce(f *testing.F) {
	for _, seed := range []string{"", "b-", "aaaa", strings.Repeat("a", 23), strings.Repeat("7", 30), "\u212a"} {
		f.Add(seed, int64(700))
	}
	f.Add("AE", int64(-1))
	s := testSigner(f)
	f.Fuzz(func(t *testing.T, in string, row int64) {
		if got, err := s.VerifyBounce(in); err == nil {
			t.Fatalf("VerifyBounce(%q) = %d: a string no one signed verified", in, got)
		} else if !errors.Is(err, ErrBadToken) {
			t.Fatalf("VerifyBounce(%q) error %v does not wrap ErrBadToken", in, err)
		}
		tok := s.SignBounce(row)
		got, err := s.VerifyBounce(strings.ToUpper(tok))
		if row > 0 && (err != nil || got != row) || row <= 0 && err == nil {
			t.Fatalf("VerifyBounce(SignBounce(%d)) = %d, %v", row, got, err)
		}
		if in != "" {
			if _, err := s.VerifyBounce(tok + in); err == nil {
				t.Fatalf("token with a suffix %q verified", in)
			}
		}
	})
}
