package threading

import "testing"

func TestTag(t *testing.T) {
	for _, tc := range []struct {
		subject string
		want    int64 // 0: no tag
	}{
		{"[#123] Salary for May", 123},
		{"Re: [#123] Salary for May", 123},
		{"AW: WG: Salary [#42]", 42},
		{"[#007] leading zeros", 7},
		{"[#1] first [#2] second", 1},
		{"[#0] zero is no conversation [#5]", 5},
		{"[#] empty", 0},
		{"[# 12] space", 0},
		{"[#12 ] space", 0},
		{"[#-12] negative", 0},
		{"[#12a] letters", 0},
		{"#12 no brackets", 0},
		{"[12] no hash", 0},
		{"[#123456789012345678] 18 digits", 123456789012345678},
		{"[#1234567890123456789] 19 digits", 0},
		{"[#99999999999999999999] overflow", 0},
		{"[#[#9]", 9},
		{"", 0},
		{"[#", 0},
	} {
		n, ok := Tag(tc.subject)
		if ok != (tc.want != 0) || n != tc.want {
			t.Errorf("Tag(%q) = %d, %v; want %d", tc.subject, n, ok, tc.want)
		}
	}
}

func TestCleanSubject(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Salary for May", "Salary for May"},
		{"Re: Salary for May", "Salary for May"},
		{"RE: RE: Salary for May", "Salary for May"},
		{"Re:Re: Salary", "Salary"},
		{"re: re:re:  Salary", "Salary"},
		{"Re[2]: Salary", "Salary"},
		{"RE(3): Salary", "Salary"},
		{"Re^2: Salary", "Salary"},
		{"Re : Salary", "Salary"}, // French clients put a space before the colon
		{"Fwd: Salary", "Salary"},
		{"FW: Salary", "Salary"},
		{"Fw: Re: Salary", "Salary"},
		{"AW: Gehalt", "Gehalt"},     // German Antwort
		{"WG: AW: Gehalt", "Gehalt"}, // German Weitergeleitet
		{"SV: Lön", "Lön"},           // Swedish/Danish/Norwegian Svar
		{"VS: Palkka", "Palkka"},     // Finnish Vastaus, Norwegian Videresendt
		{"Vs: Palkka", "Palkka"},
		{"Vast: Palkka", "Palkka"},   // Finnish Vastaus
		{"VL: Palkka", "Palkka"},     // Finnish Välitetty
		{"VB: Lön", "Lön"},           // Swedish Vidarebefordrat
		{"TR: Salaire", "Salaire"},   // French Transféré
		{"Antw: Salaris", "Salaris"}, // Dutch Antwoord
		{"Re：Salary", "Salary"},      // full-width colon
		{"[#123] Salary", "Salary"},
		{"Re: [#123] Salary", "Salary"},
		{"[#123] Re: Salary", "Salary"},
		{"VS: [#123] SV: Re: Palkka", "Palkka"},
		{"Salary [#123]", "Salary"},
		{"Salary [#123] for May", "Salary for May"},
		{"  Salary \r\n\tfor   May  ", "Salary for May"},
		{"Re[#1]: Salary", "Salary"}, // the tag goes, then the prefix it hid
		{"[#[#1]2] Salary", "Salary"},
		// Not prefixes: no colon, or a word that merely starts like one.
		{"Re Salary", "Re Salary"},
		{"Vast majority: of us", "Vast majority: of us"},
		{"Reply: Salary", "Reply: Salary"},
		{"Regarding: Salary", "Regarding: Salary"},
		{"Salary Re: May", "Salary Re: May"},
		{"[payroll] Re: Salary", "[payroll] Re: Salary"},
		{"[#abc] Salary", "[#abc] Salary"},
		{"Re[x]: Salary", "Re[x]: Salary"},
		{"Re:", ""},
		{"", ""},
	} {
		if got := CleanSubject(tc.in); got != tc.want {
			t.Errorf("CleanSubject(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTaggedSubject(t *testing.T) {
	for _, tc := range []struct {
		n        int64
		in, want string
	}{
		{123, "Salary", "[#123] Salary"},
		{123, "[#123] Salary", "[#123] Salary"},
		{123, "Re: [#123] Salary", "[#123] Re: Salary"},
		{123, "Salary [#123]", "[#123] Salary"},
		{123, "[#42] Salary", "[#123] Salary"}, // a foreign or guessed tag must not survive
		{123, "", "[#123]"},
		{123, "Salary\r\nBcc: x@evil.example", "[#123] Salary Bcc: x@evil.example"},
		{0, "Salary [#5]", "Salary"},
	} {
		got := TaggedSubject(tc.n, tc.in)
		if got != tc.want {
			t.Errorf("TaggedSubject(%d, %q) = %q, want %q", tc.n, tc.in, got, tc.want)
		}
		if tc.n > 0 {
			if n, ok := Tag(got); !ok || n != tc.n {
				t.Errorf("Tag(TaggedSubject(%d, %q)) = %d, %v", tc.n, tc.in, n, ok)
			}
		}
	}
}
