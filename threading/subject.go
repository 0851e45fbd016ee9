package threading

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxTagDigits bounds the number in a [#n] tag so it always fits an int64.
const maxTagDigits = 18

// Tag returns the conversation number of the first [#n] tag in subject, n > 0.
func Tag(subject string) (number int64, ok bool) {
	for i := 0; i < len(subject); i++ {
		if subject[i] != '[' {
			continue
		}
		if end := tagAt(subject, i); end > 0 {
			n, err := strconv.ParseInt(subject[i+2:end-1], 10, 64)
			if err == nil && n > 0 {
				return n, true
			}
		}
	}
	return 0, false
}

// tagAt returns the index just past a [#digits] tag starting at s[i], or 0.
func tagAt(s string, i int) int {
	if i+3 >= len(s) || s[i] != '[' || s[i+1] != '#' {
		return 0
	}
	j := i + 2
	for j < len(s) && j-(i+2) <= maxTagDigits && '0' <= s[j] && s[j] <= '9' {
		j++
	}
	if d := j - (i + 2); d == 0 || d > maxTagDigits || j >= len(s) || s[j] != ']' {
		return 0
	}
	return j + 1
}

// endsWithTag reports the length of a [#digits] tag ending b, or 0.
func endsWithTag(b []byte) int {
	n := len(b)
	if n < 4 || b[n-1] != ']' {
		return 0
	}
	j := n - 2
	for j >= 0 && n-2-j <= maxTagDigits && '0' <= b[j] && b[j] <= '9' {
		j--
	}
	if d := n - 2 - j; d == 0 || d > maxTagDigits || j < 1 || b[j] != '#' || b[j-1] != '[' {
		return 0
	}
	return n - (j - 1)
}

// removeTags drops every [#n] tag from s, including tags that only form once
// an inner one is gone ("[#[#1]2]"), in one pass.
func removeTags(s string) string {
	if !strings.Contains(s, "[#") {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		out = append(out, s[i])
		if s[i] == ']' {
			if n := endsWithTag(out); n > 0 {
				out = out[:len(out)-n]
			}
		}
	}
	return string(out)
}

// replyPrefixes are the reply and forward abbreviations mail clients put before
// a subject, lower-case: English (Re, Fw, Fwd), German (AW Antwort, WG
// Weitergeleitet), Dutch (Antw), Swedish/Danish/Norwegian (SV Svar, VS
// Videresendt, VB Vidarebefordrat), Finnish (VS Vastaus, Vast, VL Välitetty),
// French (TR Transféré). RFC 5322 3.6.5 only names "Re: ".
var replyPrefixes = map[string]bool{
	"re": true, "fw": true, "fwd": true,
	"aw": true, "wg": true, "antw": true, "antwort": true,
	"sv": true, "vs": true, "vb": true,
	"vast": true, "vl": true,
	"tr": true,
}

// prefixLen returns the length of one reply/forward prefix at the start of s:
// a known word, an optional counter ("Re[2]:", "Re(2):", "Re^2:"), optional
// spaces, and a colon (ASCII or full-width); 0 when there is none.
func prefixLen(s string) int {
	i := 0
	for i < len(s) && i < 8 && ('a' <= s[i]|0x20 && s[i]|0x20 <= 'z') {
		i++
	}
	if i == 0 || !replyPrefixes[strings.ToLower(s[:i])] {
		return 0
	}
	if i < len(s) && (s[i] == '[' || s[i] == '(' || s[i] == '^') {
		closer := byte(0)
		switch s[i] {
		case '[':
			closer = ']'
		case '(':
			closer = ')'
		}
		j := i + 1
		for j < len(s) && j-i <= 4 && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		if j == i+1 {
			return 0
		}
		if closer != 0 {
			if j >= len(s) || s[j] != closer {
				return 0
			}
			j++
		}
		i = j
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if strings.HasPrefix(s[i:], ":") {
		return i + 1
	}
	if strings.HasPrefix(s[i:], "：") { // U+FF1A, from CJK-locale clients
		return i + len("：")
	}
	return 0
}

// collapseSpace trims s and turns every run of white space (CR and LF
// included) into one space.
func collapseSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// CleanSubject returns subject for display and comparison: every [#n] tag
// removed, any number of leading reply/forward prefixes ("Re: ", "RE: RE: ",
// "Re:Re:", "Re[2]: ", "AW: WG: ", "VS: ", "SV: ", "Vast: " ...) removed, and
// white space collapsed and trimmed, invalid UTF-8 replaced. CleanSubject(CleanSubject(s)) ==
// CleanSubject(s).
func CleanSubject(subject string) string {
	if !utf8.ValidString(subject) {
		subject = strings.ToValidUTF8(subject, "\uFFFD")
	}
	s := collapseSpace(removeTags(subject))
	for {
		n := prefixLen(s)
		if n == 0 {
			break
		}
		s = strings.TrimLeft(s[n:], " ")
	}
	return s
}

// TaggedSubject returns "[#number] subject", for the subject of mail about
// conversation number. Any [#n] tag already in subject is removed first, so
// the result carries exactly one tag; white space is collapsed, so the result
// never holds CR or LF, and invalid UTF-8 is replaced. Reply prefixes are
// kept.
func TaggedSubject(number int64, subject string) string {
	if !utf8.ValidString(subject) {
		subject = strings.ToValidUTF8(subject, "\uFFFD")
	}
	s := collapseSpace(removeTags(subject))
	if number <= 0 {
		return s
	}
	tag := "[#" + strconv.FormatInt(number, 10) + "]"
	if s == "" {
		return tag
	}
	return tag + " " + s
}
