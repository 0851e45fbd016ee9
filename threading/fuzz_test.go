package threading

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"postdesk/ingest/mailparse"
)

// FuzzVerify: no string an attacker can write verifies or panics, and every
// token Sign makes verifies, in any letter case, to what was signed.
func FuzzVerify(f *testing.F) {
	for _, seed := range []string{"", "a", "abcdefghijklmnopqrstu", strings.Repeat("a", 28), strings.Repeat("7", 50), "aaaa====", "\u212a", "payroll+x@example.com"} {
		f.Add(seed, int64(10), int64(2))
	}
	f.Add("AE", int64(-1), int64(0))
	f.Add("", int64(1<<62), int64(-1<<62))
	s := testSigner(f)
	f.Fuzz(func(t *testing.T, in string, conv, rcpt int64) {
		if got, err := s.Verify(in); err == nil {
			t.Fatalf("Verify(%q) = %+v: a string no one signed verified", in, got)
		} else if !errors.Is(err, ErrBadToken) {
			t.Fatalf("Verify(%q) error %v does not wrap ErrBadToken", in, err)
		}

		want := Token{Conversation: conv, Recipient: rcpt}
		tok := s.Sign(want)
		if len(tok) > tokenMaxChars {
			t.Fatalf("Sign(%+v) is %d chars", want, len(tok))
		}
		for _, spelled := range []string{tok, strings.ToUpper(tok)} {
			if got, err := s.Verify(spelled); err != nil || got != want {
				t.Fatalf("Verify(Sign(%+v)) = %+v, %v", want, got, err)
			}
		}
		// Anything appended to or cut from a real token breaks it.
		if in != "" {
			if got, err := s.Verify(tok + in); err == nil {
				t.Fatalf("Verify(%q) = %+v: token with a suffix verified", tok+in, got)
			}
		}
		if got, err := s.Verify(tok[:len(tok)-1]); err == nil {
			t.Fatalf("truncated token verified as %+v", got)
		}
	})
}

// FuzzCleanSubject checks CleanSubject's promises on any input.
func FuzzCleanSubject(f *testing.F) {
	for _, seed := range []string{"", "Re: [#42] Salary", "VS: AW: Re[2]: x", "[#[#1]2]", "Re：x", "\xe2[#1]\x82\xac", "Re^99999: x", " \r\n "} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := CleanSubject(in)
		if again := CleanSubject(got); again != got {
			t.Fatalf("CleanSubject(%q) = %q, but CleanSubject of that = %q", in, got, again)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("CleanSubject(%q) = %q, invalid UTF-8", in, got)
		}
		if strings.ContainsAny(got, "\r\n\t") || got != strings.TrimSpace(got) {
			t.Fatalf("CleanSubject(%q) = %q, white space left", in, got)
		}
		if n, ok := Tag(got); ok {
			t.Fatalf("CleanSubject(%q) = %q still has tag %d", in, got, n)
		}
		if prefixLen(got) != 0 {
			t.Fatalf("CleanSubject(%q) = %q still starts with a prefix", in, got)
		}
		for _, variant := range []string{"Re: " + in, "AW: [#7] " + in, TaggedSubject(42, in)} {
			if c := CleanSubject(variant); c != got {
				t.Fatalf("CleanSubject(%q) = %q, want %q as for %q", variant, c, got, in)
			}
		}
	})
}

// FuzzTag checks Tag and TaggedSubject together.
func FuzzTag(f *testing.F) {
	for _, seed := range []string{"", "[#1]", "Re: [#42] x", "[#[#9]", "[#0][#5]", "[#99999999999999999999]", "[#007]"} {
		f.Add(seed, int64(42))
	}
	f.Fuzz(func(t *testing.T, in string, n int64) {
		if got, ok := Tag(in); ok {
			if got <= 0 || !strings.Contains(in, "[#") || !strings.Contains(in, "]") {
				t.Fatalf("Tag(%q) = %d", in, got)
			}
		} else if got != 0 {
			t.Fatalf("Tag(%q) = %d, false", in, got)
		}
		if _, ok := Tag(removeTags(in)); ok {
			t.Fatalf("removeTags(%q) = %q still holds a tag", in, removeTags(in))
		}
		tagged := TaggedSubject(n, in)
		if strings.ContainsAny(tagged, "\r\n") {
			t.Fatalf("TaggedSubject(%d, %q) = %q holds a line break", n, in, tagged)
		}
		got, ok := Tag(tagged)
		if n > 0 && (!ok || got != n) {
			t.Fatalf("Tag(TaggedSubject(%d, %q)) = %d, %v", n, in, got, ok)
		}
		if n <= 0 && ok {
			t.Fatalf("TaggedSubject(%d, %q) = %q holds tag %d", n, in, tagged, got)
		}
		if n > 0 && TaggedSubject(n, tagged) != tagged {
			t.Fatalf("TaggedSubject is not idempotent on %q", tagged)
		}
	})
}

// FuzzDecide builds a Message from header-ish inputs and checks that Decide
// never panics and never lets a non-participant in by Message-ID or tag.
func FuzzDecide(f *testing.F) {
	s := testSigner(f)
	bobAddr, _ := PlusAddress("payroll@example.com", s.Sign(Token{10, userBob}))
	f.Add("alice@customer.example", "Re: [#42] Salary", "r1@postdesk.example.com", "m1@customer.example n1@postdesk.example.com", "payroll@example.com", "Auto-Submitted", "no", "")
	f.Add("mallory@evil.example", "[#42]", "", "m1@customer.example", bobAddr, "X-Postdesk-Loop", "1", "")
	f.Add("bob@example.com", "Re: x", "", "", strings.ToUpper(bobAddr), "Precedence", "bulk", "")
	f.Add("mailer-daemon@x", "Undelivered", "", "", "payroll@example.com", "Content-Type", "multipart/report; report-type=delivery-status", "r1@postdesk.example.com")
	f.Add("", "", "<>", "< >", "+@", "", "", "<m1@customer.example>")
	f.Fuzz(func(t *testing.T, from, subject, inReplyTo, refs, rcpt, hkey, hval, orig string) {
		m := &mailparse.Message{
			From:       mailparse.Address{Email: from},
			Subject:    subject,
			InReplyTo:  strings.Fields(inReplyTo),
			References: strings.Fields(refs),
			Header:     header(hkey + ": " + hval),
		}
		if strings.HasPrefix(hval, "<") {
			rp := strings.Trim(hval, "<>")
			m.ReturnPath = &rp
		}
		if orig != "" {
			m.Report = &mailparse.DeliveryReport{OriginalMessageID: orig}
		}
		idx := testIndex()
		d, err := Decide(m, strings.Split(rcpt, ","), s, idx, testOwn)
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		sender := strings.ToLower(strings.TrimSpace(from))
		switch d.By {
		case ByNew:
			if d.Conversation != 0 {
				t.Fatalf("new with conversation %d", d.Conversation)
			}
		case ByToken:
			if d.Token == nil || d.Token.Conversation != d.Conversation {
				t.Fatalf("by token without the token: %+v", d)
			}
		case ByMessageID:
			if d.Kind != KindBounce && !contains(idx.participants[d.Conversation], sender) {
				t.Fatalf("%q let into conversation %d by Message-ID", sender, d.Conversation)
			}
		case BySubjectTag:
			if !contains(idx.participants[d.Conversation], sender) {
				t.Fatalf("%q let into conversation %d by subject tag", sender, d.Conversation)
			}
		default:
			t.Fatalf("By = %q", d.By)
		}
		if d.By != ByToken && d.Token != nil {
			t.Fatalf("token set but By = %q", d.By)
		}
		if d.Staff != (d.Kind == KindStaff) {
			t.Fatalf("Staff %v with kind %q", d.Staff, d.Kind)
		}
		if d.Staff && (d.Token == nil || !strings.EqualFold(idx.users[d.Token.Recipient], sender) || !contains(idx.staff[d.Conversation], sender)) {
			t.Fatalf("staff power for %q: %+v", sender, d)
		}
		switch d.Kind {
		case KindCustomer, KindStaff, KindAutoReply, KindBounce, KindLoop:
		default:
			t.Fatalf("Kind = %q", d.Kind)
		}
	})
}
