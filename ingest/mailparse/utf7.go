package mailparse

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeUTF7 decodes UTF-7 (RFC 2152), which old Exchange and Outlook
// Express servers still send, in bodies and in encoded words. Neither
// golang.org/x/text nor go-message/charset has it (the WHATWG Encoding
// Standard leaves it out on purpose), and no maintained Go package does, so
// it is written here; IMAP's modified UTF-7 (RFC 3501) is a different
// encoding, for mailbox names only.
//
// Direct characters pass through; "+" opens a run of modified base64 (no
// padding) holding UTF-16 code units, which ends at the first character
// outside the base64 alphabet, a "-" there being absorbed; "+-" is "+".
// ok is false when something was malformed: an 8-bit octet (read as
// Windows-1252), an unpaired surrogate (U+FFFD) or a run whose leftover bits
// are not zero.
func decodeUTF7(b []byte) (s string, ok bool) {
	var out strings.Builder
	out.Grow(len(b))
	ok = true
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c >= utf8.RuneSelf:
			out.WriteString(windows1252(b[i : i+1]))
			ok = false
			i++
		case c != '+':
			out.WriteByte(c)
			i++
		case i+1 < len(b) && b[i+1] == '-':
			out.WriteByte('+')
			i += 2
		default:
			var runOK bool
			i, runOK = utf7Run(b, i+1, &out)
			ok = ok && runOK
		}
	}
	return out.String(), ok
}

// utf7Run decodes the base64 run starting at b[i] into out and returns where
// the direct text resumes.
func utf7Run(b []byte, i int, out *strings.Builder) (int, bool) {
	ok := true
	var bits uint32
	nbits := 0
	var high rune // a high surrogate waiting for its low half
	for ; i < len(b); i++ {
		v := b64Values[b[i]]
		if v >= 64 { // space, '=', or outside the alphabet: the run ends
			break
		}
		bits = bits<<6 | uint32(v)
		nbits += 6
		if nbits < 16 {
			continue
		}
		nbits -= 16
		u := rune(bits >> nbits & 0xffff)
		bits &= 1<<nbits - 1
		switch {
		case high != 0 && u >= 0xdc00 && u <= 0xdfff:
			out.WriteRune(utf16.DecodeRune(high, u))
			high = 0
			continue
		case high != 0:
			out.WriteRune(utf8.RuneError)
			high, ok = 0, false
		}
		switch {
		case u >= 0xd800 && u <= 0xdbff:
			high = u
		case u >= 0xdc00 && u <= 0xdfff:
			out.WriteRune(utf8.RuneError)
			ok = false
		default:
			out.WriteRune(u)
		}
	}
	if high != 0 {
		out.WriteRune(utf8.RuneError)
		ok = false
	}
	if nbits >= 6 || bits != 0 {
		ok = false
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	return i, ok
}
