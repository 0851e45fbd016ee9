package mailparse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/charmap"
)

var (
	errUnknownCharset = errors.New("unknown charset")
	errNotUTF8        = errors.New("not valid UTF-8")
	errBadUTF7        = errors.New("malformed UTF-7")
)

// transferDecode undoes the Content-Transfer-Encoding (RFC 2045 section 6).
// The decoders are written for bytes already in memory: they make one
// allocation the size of the result and keep going past damage where the
// standard library's readers stop at the first bad byte. owned is false when
// the result is body itself.
func (p *parser) transferDecode(h message.Header, body []byte) (data []byte, owned bool) {
	enc := transferEncoding(h)
	switch enc {
	case "base64":
		out, ok := decodeBase64(body)
		if !ok {
			p.problem(damageProblem(enc))
		}
		return out, true
	case "quoted-printable":
		out, ok := decodeQuotedPrintable(body)
		if !ok {
			p.problem(damageProblem(enc))
		}
		return out, true
	case "", "7bit", "8bit", "binary":
		return body, false
	default:
		p.problem(unknownEncoding(enc))
		return body, false
	}
}

// damageProblem is the problem noted for a base64 or quoted-printable part
// that decoding had to go around damage in.
func damageProblem(enc string) string {
	if enc == "base64" {
		return "A base64 part has characters outside the base64 alphabet or is cut short; what could be decoded was kept."
	}
	return "A quoted-printable part has malformed escapes; they were kept as they are."
}

func unknownEncoding(enc string) string {
	return fmt.Sprintf("The transfer encoding %q is unknown; the part was kept undecoded.", short(enc))
}

// bodyDecode undoes the transfer encoding of a body part. Text that is
// declared base64 but plainly is not (words with spaces between them, or
// many characters outside the alphabet) is shown as it arrived: decoding it
// would turn a readable mail into noise.
func (p *parser) bodyDecode(h message.Header, body []byte) (data []byte, owned bool) {
	if transferEncoding(h) == "base64" && notBase64(body) {
		p.problem("A text part declared base64 is not base64; it is shown as it arrived.")
		return body, false
	}
	return p.transferDecode(h, body)
}

// notBase64 tells text from base64 with damage in it: base64 lines hold no
// spaces, and damage is a few stray characters.
func notBase64(body []byte) bool {
	lines, spaced, chars, bad := 0, 0, 0, 0
	for rest := body; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		lines++
		if bytes.ContainsAny(line, " \t") {
			spaced++
		}
		for _, c := range line {
			switch b64Values[c] {
			case b64Space:
			case b64Invalid:
				bad++
				chars++
			default:
				chars++
			}
		}
	}
	return lines > 0 && (spaced*2 >= lines || bad*20 > chars)
}

func transferEncoding(h message.Header) string {
	enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	if i := strings.IndexAny(enc, " \t;("); i >= 0 {
		enc = enc[:i]
	}
	return enc
}

// looksBinary tells a file sent as text (or a mail that is no mail at all)
// from text: NUL bytes or many control characters. UTF-16 and UTF-32 text is
// full of NULs, so it is not judged.
func looksBinary(data []byte, charset string) bool {
	if cs := strings.ToLower(charset); strings.HasPrefix(cs, "utf-16") || strings.HasPrefix(cs, "utf-32") ||
		strings.HasPrefix(cs, "ucs-") || strings.HasPrefix(cs, "unicode") && cs != "unicode-1-1-utf-8" {
		return false
	}
	n := len(data)
	if n > 4096 {
		data, n = data[:4096], 4096
	}
	controls := 0
	for _, c := range data {
		switch {
		case c == 0:
			return true
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1b:
			controls++
		}
	}
	return controls*10 > n
}

// decodeText returns decoded body data as UTF-8 text with \n line ends.
func (p *parser) decodeText(label string, data []byte) string {
	if isUTF8Label(label) && utf8.Valid(data) {
		return normalizeText(data)
	}
	s, err := decodeCharset(label, data)
	switch {
	case errors.Is(err, errBadUTF7):
		p.problem("The UTF-7 text is malformed; what could not be read was replaced.")
	case errors.Is(err, errUnknownCharset):
		p.problem(fmt.Sprintf("The charset %q is unknown; the text was read as UTF-8 or Windows-1252.", short(label)))
	case errors.Is(err, errNotUTF8) && strings.TrimSpace(label) == "":
		p.problem("Text without a charset has 8-bit characters; they were read as Windows-1252.")
	case errors.Is(err, errNotUTF8):
		p.problem(fmt.Sprintf("Text declared as %q is not valid in it; the bytes that are not UTF-8 were read as Windows-1252.", short(label)))
	}
	s = strings.TrimPrefix(s, "\uFEFF")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\x00", "")
}

// decodeCharset converts b from the named charset to UTF-8. The result is
// always valid UTF-8: in text declared as UTF-8, US-ASCII (or not declared)
// that is not, the bytes that are not UTF-8 are read as Windows-1252; text in
// an unknown charset is read as UTF-8 when it is valid UTF-8 and as
// Windows-1252 otherwise; the error says which happened.
func decodeCharset(label string, b []byte) (string, error) {
	name := strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	name, _, _ = strings.Cut(name, "*") // an RFC 2231 section 5 language tag
	switch name {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "unicode-1-1-utf-8": // isUTF8Label
		if utf8.Valid(b) {
			return string(b), nil
		}
		return fixUTF8(string(b)), fmt.Errorf("charset %q: %w", label, errNotUTF8)
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp819", "ibm819":
		// Windows-1252 is what mail labelled Latin-1 really is (it is how
		// the WHATWG Encoding Standard reads the label): Outlook writes € and
		// typographic quotes in 0x80-0x9F, which are unused in real Latin-1.
		return windows1252(b), nil
	case "utf-7", "utf7", "unicode-1-1-utf-7", "csunicode11utf7", "x-unicode-2-0-utf-7":
		s, ok := decodeUTF7(b)
		if !ok {
			return sanitize(s), fmt.Errorf("charset %q: %w", label, errBadUTF7)
		}
		return sanitize(s), nil
	}
	r, err := charset.Reader(name, bytes.NewReader(b))
	if err != nil {
		// What mail in an unknown charset really is: UTF-8 when it is
		// valid UTF-8 (a typo in the label), else most likely a Western
		// single-byte charset.
		if utf8.Valid(b) {
			return sanitize(string(b)), fmt.Errorf("charset %q: %w", label, errUnknownCharset)
		}
		return sanitize(windows1252(b)), fmt.Errorf("charset %q: %w", label, errUnknownCharset)
	}
	out, err := io.ReadAll(r)
	s := sanitize(string(out))
	if err != nil {
		return s, fmt.Errorf("charset %q: %w", label, err)
	}
	return s, nil
}

// isUTF8Label tells the labels decodeCharset reads as UTF-8 when the bytes
// are valid UTF-8.
func isUTF8Label(label string) bool {
	name := strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	name, _, _ = strings.Cut(name, "*")
	switch name {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "unicode-1-1-utf-8":
		return true
	}
	return false
}

// normalizeText is what decodeText makes of valid UTF-8, in one copy
// instead of one per step: no byte order mark, \r\n and lone \r as \n, no
// NUL.
func normalizeText(b []byte) string {
	b = bytes.TrimPrefix(b, []byte("\uFEFF"))
	var s strings.Builder
	s.Grow(len(b))
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\r\x00")
		if i < 0 {
			s.Write(b)
			break
		}
		s.Write(b[:i])
		if b[i] == '\r' {
			s.WriteByte('\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		}
		b = b[i+1:]
	}
	return s.String()
}

func windows1252(b []byte) string {
	var s strings.Builder
	s.Grow(len(b) + len(b)/2)
	for _, c := range b {
		if c < utf8.RuneSelf {
			s.WriteByte(c)
		} else {
			s.WriteRune(charmap.Windows1252.DecodeByte(c))
		}
	}
	return s.String()
}

// fixUTF8 repairs text that is not valid UTF-8: each byte that is not part of
// a UTF-8 sequence is read as Windows-1252. Raw 8-bit header values (against
// RFC 5322 but common from old clients) and mislabelled bodies are Latin-1
// far more often than anything else, and byte by byte the valid UTF-8 in the
// same text (a signature, a quoted reply) survives.
func fixUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			r = charmap.Windows1252.DecodeByte(s[i])
		}
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// sanitize makes s fit for storage: valid UTF-8 and no NUL, which PostgreSQL
// text refuses.
func sanitize(s string) string {
	s = fixUTF8(s)
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

const (
	b64Invalid = 0xff
	b64Space   = 0xfe
	b64Pad     = 0xfd
)

var b64Values = func() [256]byte {
	var t [256]byte
	for i := range t {
		t[i] = b64Invalid
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	for _, c := range []byte(" \t\r\n\f\v") {
		t[c] = b64Space
	}
	t['='] = b64Pad
	return t
}()

// decodeBase64 decodes base64 (RFC 2045 section 6.8), skipping line breaks
// and, unlike encoding/base64, skipping characters outside the alphabet and
// carrying on after padding, which concatenated base64 blocks contain. ok is
// false when something had to be skipped or the input was cut short.
func decodeBase64(in []byte) (out []byte, ok bool) {
	var d b64Decoder
	out = d.decode(make([]byte, 0, len(in)/4*3+3), in)
	out = d.finish(out)
	return out, d.ok()
}

// b64Decoder is decodeBase64 in pieces: fed the input in any cuts it gives
// the same bytes, so an attachment is decoded as a stream (partReader) by
// the same rules as a body part decoded whole.
type b64Decoder struct {
	q   [4]byte
	n   int
	bad bool
}

func (d *b64Decoder) ok() bool { return !d.bad }

func (d *b64Decoder) flush(out []byte) []byte {
	switch d.n {
	case 1:
		d.bad = true
	case 2:
		out = append(out, d.q[0]<<2|d.q[1]>>4)
	case 3:
		out = append(out, d.q[0]<<2|d.q[1]>>4, d.q[1]<<4|d.q[2]>>2)
	}
	d.n = 0
	return out
}

// decode appends what in decodes to and keeps an unfinished quantum for the
// next piece.
func (d *b64Decoder) decode(out, in []byte) []byte {
	for _, c := range in {
		switch v := b64Values[c]; v {
		case b64Space:
		case b64Pad:
			out = d.flush(out)
		case b64Invalid:
			d.bad = true
		default:
			d.q[d.n] = v
			d.n++
			if d.n == 4 {
				out = append(out, d.q[0]<<2|d.q[1]>>4, d.q[1]<<4|d.q[2]>>2, d.q[2]<<6|d.q[3])
				d.n = 0
			}
		}
	}
	return out
}

// finish decodes the quantum the input ended in.
func (d *b64Decoder) finish(out []byte) []byte { return d.flush(out) }

// decodeQuotedPrintable decodes RFC 2045 section 6.7: =XX escapes (lower-case
// hex accepted), "=" at a line end as a soft break, and trailing white space
// dropped as rule 3 asks. An '=' that starts no escape is kept as it is and ok
// is false. Line ends are kept as they were.
func decodeQuotedPrintable(in []byte) (out []byte, ok bool) {
	return appendQuotedPrintable(make([]byte, 0, len(in)), in)
}

// appendQuotedPrintable is decodeQuotedPrintable appending to out. Each line
// decodes on its own, so input cut after a line end decodes piece by piece
// to the same bytes (partReader).
func appendQuotedPrintable(out, in []byte) ([]byte, bool) {
	ok := true
	for len(in) > 0 {
		line, rest, nl := bytes.Cut(in, []byte("\n"))
		in = rest
		crlf := bytes.HasSuffix(line, []byte("\r"))
		line = bytes.TrimRight(line, " \t\r")
		soft := bytes.HasSuffix(line, []byte("="))
		if soft {
			line = line[:len(line)-1]
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c == '=' {
				if i+2 < len(line) && isHex(line[i+1]) && isHex(line[i+2]) {
					out = append(out, unhex(line[i+1])<<4|unhex(line[i+2]))
					i += 2
					continue
				}
				ok = false
			}
			out = append(out, c)
		}
		if nl && !soft {
			if crlf {
				out = append(out, '\r')
			}
			out = append(out, '\n')
		}
	}
	return out, ok
}

// unflow undoes format=flowed (RFC 3676 section 4.2): a line ending in a space
// continues on the next line of the same quote depth. Space-stuffing is
// removed (section 4.4) and quoted lines keep their "> " prefix.
func unflow(s string, delsp bool) string {
	lines := strings.Split(s, "\n")
	var b strings.Builder
	b.Grow(len(s))
	open := false // the previous line was soft
	depth := 0
	for i, line := range lines {
		d := 0
		for d < len(line) && line[d] == '>' {
			d++
		}
		text := strings.TrimPrefix(line[d:], " ")
		sig := text == "-- "
		if open && (d != depth || sig) {
			// Section 4.5: a flowed line never joins one of another depth,
			// nor the signature separator (section 4.3).
			b.WriteByte('\n')
			open = false
		}
		if !open && d > 0 {
			b.WriteString(strings.Repeat(">", d))
			if text != "" {
				b.WriteByte(' ')
			}
		}
		soft := strings.HasSuffix(text, " ") && !sig
		if soft && delsp {
			text = text[:len(text)-1]
		}
		b.WriteString(text)
		open, depth = soft, d
		if !soft && i < len(lines)-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}
