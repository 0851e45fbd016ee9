package mailparse

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
)

var errBadParams = errors.New("malformed parameters")

// contentType returns the media type of an entity, lower-case, and its
// parameters. A missing type is def; an unreadable one is def too, as
// RFC 2045 section 5.2 says, keeping the parameters so a charset still counts.
func (p *parser) contentType(h message.Header, def string) (string, map[string]string) {
	v := h.Get("Content-Type")
	if strings.TrimSpace(v) == "" {
		return def, map[string]string{}
	}
	typ, params, err := parseMediaType(v)
	if err != nil {
		p.problem(fmt.Sprintf("The Content-Type %q has malformed parameters; the readable ones were used.", short(v)))
	}
	if len(typ) > MaxContentTypeBytes {
		p.problem(fmt.Sprintf("A content type is longer than %d bytes; the part was read as %s.", MaxContentTypeBytes, def))
		return def, params
	}
	if !validMediaType(typ) {
		p.problem(fmt.Sprintf("The content type %q is not valid; the part was read as %s.", short(typ), def))
		typ = def
	}
	return typ, params
}

// disposition returns "inline", "attachment" or "" (no header) and the
// parameters of Content-Disposition. A well-formed but unknown disposition
// type is an attachment (RFC 2183 section 2.8); a value that cannot be read
// as a disposition at all counts as inline, as Thunderbird and enmime read
// it, so that a body is never hidden behind a broken header.
func (p *parser) disposition(h message.Header) (string, map[string]string) {
	v := h.Get("Content-Disposition")
	if strings.TrimSpace(v) == "" {
		return "", map[string]string{}
	}
	disp, params, err := parseMediaType(v)
	if err != nil {
		p.problem(fmt.Sprintf("The Content-Disposition %q has malformed parameters; the readable ones were used.", short(v)))
	}
	switch {
	case disp == "inline" || disp == "attachment":
	case isToken(disp):
		disp = "attachment"
	default:
		// "attachment filename=x" (no semicolon) still says attachment.
		if f := strings.FieldsFunc(disp, func(r rune) bool { return r == ' ' || r == '\t' || r == '=' }); len(f) > 0 && f[0] == "attachment" {
			disp = "attachment"
			break
		}
		p.problem(fmt.Sprintf("The Content-Disposition %q could not be read; the part was taken as inline.", short(v)))
		disp = "inline"
	}
	return disp, params
}

func validMediaType(t string) bool {
	typ, sub, ok := strings.Cut(t, "/")
	return ok && isToken(typ) && isToken(sub)
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// parseMediaType splits a raw Content-Type or Content-Disposition value into
// its lower-case first word and parameters, with RFC 2231 values assembled
// and decoded; everything it returns but the boundary is valid UTF-8.
//
// It stands in for mime.ParseMediaType, which go-message's ContentType uses:
// on a duplicate or malformed parameter that function returns no parameters
// at all, losing the boundary or the file name beside the bad one, and it
// drops RFC 2231 values in any charset but UTF-8 and US-ASCII. Here a bad
// parameter costs only itself and is reported as errBadParams.
func parseMediaType(v string) (string, map[string]string, error) {
	typ, rest, _ := strings.Cut(v, ";")
	typ = strings.ToLower(strings.TrimSpace(fixUTF8(typ)))
	raw, err := parseParams(rest)
	params := assembleParams(raw)
	for k, s := range params {
		switch {
		case (k == "name" || k == "filename") && strings.Contains(s, "=?"):
			// Encoded words in a quoted file name break RFC 2047 section
			// 5 but are what Outlook and many webmails send; they are
			// decoded from the raw value, whose 8-bit octets inside a
			// word are in the word's charset.
			params[k], _ = decodeWords(s)
		case k == "boundary":
			// Matched against the raw body, and never shown.
		default:
			params[k] = fixUTF8(s)
		}
	}
	return typ, params, err
}

// parseParams reads "; name=value" pairs (RFC 2045 section 5.1) into a map of
// lower-case names to values, quotes removed.
func parseParams(s string) (map[string]string, error) {
	raw := map[string]string{}
	var err error
	for {
		s = strings.TrimLeft(s, " \t\r\n;")
		if s == "" {
			return raw, err
		}
		i := strings.IndexAny(s, "=;")
		if i < 0 || s[i] == ';' {
			err = errBadParams // a name without a value
			if i < 0 {
				return raw, err
			}
			s = s[i:]
			continue
		}
		name := strings.ToLower(strings.TrimSpace(s[:i]))
		s = strings.TrimLeft(s[i+1:], " \t\r\n")
		var val string
		if strings.HasPrefix(s, `"`) {
			var ok bool
			val, s, ok = quotedString(s)
			if !ok {
				err = errBadParams
			}
			j := strings.IndexByte(s, ';')
			if j < 0 {
				j = len(s)
			}
			if strings.TrimSpace(s[:j]) != "" {
				err = errBadParams
			}
			s = s[j:]
		} else {
			j := strings.IndexByte(s, ';')
			if j < 0 {
				j = len(s)
			}
			// A value with spaces is not a token, but "name=my file.pdf"
			// means what it says.
			val, s = strings.TrimSpace(s[:j]), s[j:]
		}
		if _, dup := raw[name]; dup || !isToken(name) {
			err = errBadParams
			continue
		}
		raw[name] = val
	}
}

// quotedString reads a quoted-string at the start of s (RFC 5322 section
// 3.2.4) and returns its content and the rest of s; ok is false when the
// closing quote is missing, and then the content runs to the end. A backslash
// escapes only a quote or a backslash: mailers that put Windows paths in
// filename="C:\Users\..." do not escape them, and browsers read them so too.
func quotedString(s string) (val, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
				i++
			}
			b.WriteByte(s[i])
		case '"':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), "", false
}

// assembleParams applies RFC 2231: name*=charset'lang'%XX values, and
// name*0, name*1* continuations joined in order. Those win over a plain value
// of the same name, which old clients are sent alongside.
func assembleParams(raw map[string]string) map[string]string {
	type piece struct {
		v       string
		encoded bool
	}
	out := map[string]string{}
	cont := map[string]map[int]piece{}
	ext := map[string]string{}
	for k, v := range raw {
		name, rest, star := strings.Cut(k, "*")
		switch {
		case !star:
			out[k] = v
		case rest == "":
			ext[name] = v
		default:
			encoded := strings.HasSuffix(rest, "*")
			n, err := strconv.Atoi(strings.TrimSuffix(rest, "*"))
			if err != nil || n < 0 {
				continue
			}
			if cont[name] == nil {
				cont[name] = map[int]piece{}
			}
			cont[name][n] = piece{v, encoded}
		}
	}
	for name, pieces := range cont {
		var buf []byte
		cs := ""
		for i := 0; ; i++ {
			pc, ok := pieces[i]
			if !ok {
				break
			}
			if !pc.encoded {
				buf = append(buf, pc.v...)
				continue
			}
			v := pc.v
			if i == 0 {
				cs, v = splitCharset(v)
			}
			buf = append(buf, percentDecode(v)...)
		}
		if len(buf) > 0 {
			out[name], _ = decodeCharset(cs, buf)
		}
	}
	for name, v := range ext {
		cs, v := splitCharset(v)
		out[name], _ = decodeCharset(cs, percentDecode(v))
	}
	return out
}

// splitCharset cuts "charset'language'value".
func splitCharset(v string) (charset, value string) {
	cs, rest, ok := strings.Cut(v, "'")
	if !ok {
		return "", v
	}
	_, value, ok = strings.Cut(rest, "'")
	if !ok {
		return "", v
	}
	return cs, value
}

// percentDecode undoes %XX; a '%' not followed by two hex digits stays.
func percentDecode(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return b
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
