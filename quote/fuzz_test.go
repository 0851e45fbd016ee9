package quote

import (
	"strings"
	"testing"
)

// FuzzStrip: Strip never panics, never lengthens its input, is idempotent,
// agrees with Split, and returns either the input unchanged or lines of the
// input (without their "\r") in their original order.
func FuzzStrip(f *testing.F) {
	for _, seed := range []string{
		"",
		"\r\n",
		"Thanks!",
		"> a\n\nb\n> c\nd",
		"Fixed.\n\nOn Mon, 2 Nov 2026 at 09:00, Cara Customer <cara@example.com>\nwrote:\n> Is it fixed?",
		"Fixed.\n-- \nHarri\n________________________________\nFrom: a\nSent: b\nTo: c\nSubject: d\n\ne",
		"Hei\r\n\r\nCara Customer kirjoitti 2.11.2026 kello 9.00:\r\n> x\r\n",
		"a\n---------- Forwarded message ---------\nFrom: a\nDate: b\nTo: c\n> d",
		"De : a\nEnvoyé : b\nÀ : c\n-----Message d\u2019origine-----\nx",
		"x\r\r\n-- \r",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := Strip(in)
		if len(got) > len(in) {
			t.Fatalf("Strip(%q) = %q is longer than its input", in, got)
		}
		if again := Strip(got); again != got {
			t.Fatalf("Strip not idempotent:\n in   %q\n once %q\n twice %q", in, got, again)
		}
		if fresh, _ := Split(in); fresh != got {
			t.Fatalf("Split(%q) fresh = %q, Strip = %q", in, fresh, got)
		}
		if got == in {
			return
		}
		src := strings.Split(in, "\n")
		j := 0
		for _, l := range strings.Split(got, "\n") {
			for j < len(src) && strings.TrimRight(src[j], "\r") != l {
				j++
			}
			if j == len(src) {
				t.Fatalf("Strip(%q) = %q: line %q is not a later line of the input", in, got, l)
			}
			j++
		}
	})
}
