package threading

import (
	"math"
	"strings"
	"testing"
)

func TestPlusAddress(t *testing.T) {
	for _, tc := range []struct {
		addr, token, want string // want "" means an error
	}{
		{"payroll@example.com", "abc234", "payroll+abc234@example.com"},
		{"Payroll@Example.COM", "abc", "Payroll+abc@Example.COM"},
		{"sick-leave@hr.example.com", "x_y-z", "sick-leave+x_y-z@hr.example.com"},
		{"payroll@example.com", "", ""},
		{"payroll", "abc", ""},
		{"@example.com", "abc", ""},
		{"payroll@", "abc", ""},
		{"payroll+old@example.com", "abc", ""},
		{`"pay roll"@example.com`, "abc", ""},
		{"Payroll <payroll@example.com>", "abc", ""},
		{"payroll@example.com", "a+b", ""},
		{"payroll@example.com", "a@b", ""},
		{"payroll@example.com", "a b", ""},
		{"payroll@example.com", "a\r\nBcc: x@evil.example", ""},
		{"payroll@example.com", "a.b", ""},
		{"payroll@example.com", strings.Repeat("a", 56), "payroll+" + strings.Repeat("a", 56) + "@example.com"}, // 64 octets
		{"payroll@example.com", strings.Repeat("a", 57), ""},                                                    // 65 octets
	} {
		got, err := PlusAddress(tc.addr, tc.token)
		if tc.want == "" {
			if err == nil {
				t.Errorf("PlusAddress(%q, %q) = %q, want error", tc.addr, tc.token, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("PlusAddress(%q, %q) = %q, %v; want %q", tc.addr, tc.token, got, err, tc.want)
		}
	}
}

// The longest token, for the largest ids, fits a category local part of
// reasonable length within RFC 5321's 64 octets.
func TestLongestTokenFits(t *testing.T) {
	s := testSigner(t)
	tok := s.Sign(Token{math.MaxInt64, math.MaxInt64})
	addr, err := PlusAddress("sick-leave@example.com", tok)
	if err != nil {
		t.Fatalf("PlusAddress with the longest token: %v", err)
	}
	if local := addr[:strings.IndexByte(addr, '@')]; len(local) > 64 {
		t.Errorf("local part %q is %d octets", local, len(local))
	}
}

func TestSplitPlus(t *testing.T) {
	for _, tc := range []struct{ in, base, tag string }{
		{"payroll+abc@example.com", "payroll@example.com", "abc"},
		{"PAYROLL+ABC234@EXAMPLE.COM", "payroll@example.com", "abc234"},
		{"payroll@example.com", "payroll@example.com", ""},
		{"<payroll+abc@example.com>", "payroll@example.com", "abc"},
		{"  payroll+abc@example.com ", "payroll@example.com", "abc"},
		{"a+b+c@example.com", "a@example.com", "b+c"}, // first '+' delimits, as Postfix does
		{"payroll+@example.com", "payroll@example.com", ""},
		{"+abc@example.com", "+abc@example.com", ""},
		{"payroll+abc", "payroll+abc", ""},
		{"", "", ""},
	} {
		base, tag := SplitPlus(tc.in)
		if base != tc.base || tag != tc.tag {
			t.Errorf("SplitPlus(%q) = %q, %q; want %q, %q", tc.in, base, tag, tc.base, tc.tag)
		}
	}
}

// An MTA that upper-cases the whole address must not break the reply path.
func TestPlusAddressRoundTrip(t *testing.T) {
	s := testSigner(t)
	want := Token{Conversation: 77, Recipient: 3}
	addr, err := PlusAddress("payroll@example.com", s.Sign(want))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{addr, strings.ToUpper(addr)} {
		base, tag := SplitPlus(a)
		if base != "payroll@example.com" {
			t.Errorf("SplitPlus(%q) base = %q", a, base)
		}
		got, err := s.Verify(tag)
		if err != nil || got != want {
			t.Errorf("Verify(tag of %q) = %+v, %v; want %+v", a, got, err, want)
		}
	}
}
