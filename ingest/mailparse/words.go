package mailparse

import (
	"errors"
	"mime"
	"strings"
)

// An encoded word (RFC 2047 section 2) found in a header value.
type encodedWord struct {
	end     int    // index just past "?="
	charset string // as written, language tag included
	data    []byte // the decoded octets, still in charset
}

// maxCharsetLabel bounds the charset of an encoded word: no label is longer,
// and a bound keeps "=?" in ordinary text from starting a long search.
const maxCharsetLabel = 75

// maxWordText bounds the encoded text of one word. RFC 2047 allows 75
// characters for the whole word; some encoders put a long subject in one
// word, but none this long. The bound keeps a value of a million "=?a?q?"
// from costing a search to its end from each of them.
const maxWordText = 2048

// parseWord reads the encoded word that starts at s[i] ("=?"). Unlike
// mime.WordDecoder it keeps raw 8-bit octets of the encoded text (common from
// old clients: the bytes are in the word's charset, not escaped) instead of
// rejecting the word, and it reads base64 leniently.
func parseWord(s string, i int) (encodedWord, bool) {
	rest := s[i+2:]
	q := strings.IndexByte(rest, '?')
	if q <= 0 || q > maxCharsetLabel || strings.ContainsAny(rest[:q], " \t\r\n") {
		return encodedWord{}, false
	}
	if len(rest) < q+3 || rest[q+2] != '?' {
		return encodedWord{}, false
	}
	enc := rest[q+1]
	text := rest[q+3:]
	if len(text) > maxWordText {
		text = text[:maxWordText]
	}
	if sp := strings.IndexAny(text, " \t\r\n"); sp >= 0 {
		text = text[:sp] // a word holds no white space
	}
	e := strings.Index(text, "?=")
	if e < 0 {
		return encodedWord{}, false
	}
	text = text[:e]
	w := encodedWord{end: i + 2 + q + 3 + e + 2, charset: rest[:q]}
	switch enc {
	case 'B', 'b':
		w.data, _ = decodeBase64([]byte(text))
	case 'Q', 'q':
		w.data = qDecode(text)
	default:
		return encodedWord{}, false
	}
	return w, true
}

// qDecode undoes the Q encoding (RFC 2047 section 4.2); an '=' that starts no
// escape and every other octet stay as they are.
func qDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '_':
			out = append(out, ' ')
		case c == '=' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out
}

// decodeWords decodes the RFC 2047 encoded words of a header value. The
// octets of adjacent words in one charset are joined before they are
// converted, so a character split across two words (as some encoders do with
// UTF-8) survives; the white space between adjacent words is dropped (section
// 6.2). Every charset decodeCharset knows works, UTF-7 included. A word in an
// unknown charset is read as UTF-8 or Windows-1252 and reported in the error;
// text outside words that is not UTF-8 is read as Windows-1252. The result is
// always valid UTF-8.
func decodeWords(s string) (string, error) {
	if !strings.Contains(s, "=?") {
		return fixUTF8(s), nil
	}
	var b strings.Builder
	var unknown error
	var pending []byte
	cs := ""
	flush := func() {
		if pending == nil {
			return
		}
		txt, err := decodeCharset(cs, pending)
		if errors.Is(err, errUnknownCharset) && unknown == nil {
			unknown = err
		}
		b.WriteString(txt)
		pending = nil
	}
	text := 0 // start of the text not yet written
	afterWord := false
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '=' || s[i+1] != '?' {
			continue
		}
		w, ok := parseWord(s, i)
		if !ok {
			continue
		}
		between := s[text:i]
		if !afterWord || strings.Trim(between, " \t\r\n") != "" {
			flush()
			b.WriteString(fixUTF8(between))
		}
		if pending != nil && !strings.EqualFold(cs, w.charset) {
			flush()
		}
		cs = w.charset
		pending = append(pending, w.data...)
		if pending == nil {
			pending = []byte{}
		}
		text, afterWord = w.end, true
		i = w.end - 1
	}
	flush()
	b.WriteString(fixUTF8(s[text:]))
	return b.String(), unknown
}

// normalizeWords rewrites the encoded words of an address header that hold
// raw 8-bit octets as UTF-8 base64 words, which net/mail's parser accepts,
// and makes the rest valid UTF-8. The list's structure (quotes, commas,
// brackets) is left as it was.
func normalizeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return fixUTF8(s)
	}
	var b strings.Builder
	text := 0
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '=' || s[i+1] != '?' {
			continue
		}
		w, ok := parseWord(s, i)
		if !ok {
			continue
		}
		if raw := s[i:w.end]; !is7bit(raw) {
			txt, _ := decodeCharset(w.charset, w.data)
			b.WriteString(fixUTF8(s[text:i]))
			b.WriteString(mime.BEncoding.Encode("utf-8", txt))
			text = w.end
		}
		i = w.end - 1
	}
	b.WriteString(fixUTF8(s[text:]))
	return b.String()
}

func is7bit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
