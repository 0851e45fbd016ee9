package tnef

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// rtfSkipped are the destinations whose text is no part of the body.
var rtfSkipped = map[string]bool{
	"fonttbl": true, "colortbl": true, "stylesheet": true, "info": true, "pict": true, "object": true,
	"header": true, "footer": true, "headerl": true, "headerr": true, "headerf": true, "footerl": true,
	"footerr": true, "footerf": true, "footnote": true, "listtable": true, "listoverridetable": true,
	"rsidtbl": true, "generator": true, "themedata": true, "colorschememapping": true, "datastore": true,
	"latentstyles": true, "xmlnstbl": true, "mhtmltag": true, "fldinst": true, "filetbl": true,
}

// maxRTFDepth bounds group nesting; deeper groups are read as text of the
// group they are in, which costs nothing but fidelity.
const maxRTFDepth = 256

type rtfState struct {
	skip    bool // inside a skipped destination
	htmlrtf bool // \htmlrtf: RTF-only text of an encapsulated HTML body
	uc      int  // characters to skip after \u
}

// RTFBody reads the text of an RTF body, such as Message.BodyRTF. An RTF that encapsulates HTML
// (\fromhtml1, as Outlook stores HTML mail; MS-OXRTFEX) gives back the HTML
// and html true; any other RTF gives its plain text. It is a reader of the
// little that mail bodies use: groups, destinations, \par, \line, \tab, \'hh
// in the \ansicpg code page (single-byte ones; Windows-1252 otherwise), \u
// with \uc, and the escaped { } \ characters.
func RTFBody(b []byte) (body string, html bool) {
	r := &rtfReader{b: b, cp: defaultOEMCodepage}
	r.state = rtfState{uc: 1}
	r.html = strings.Contains(string(b[:min(len(b), 1024)]), "\\fromhtml")
	r.read()
	return r.out.String(), r.html
}

type rtfReader struct {
	b      []byte
	i      int
	out    strings.Builder
	state  rtfState
	stack  []rtfState
	html   bool
	cp     int
	star   bool // "\*" seen: the group is an optional destination
	ucSkip int  // characters still to skip after \u
}

func (r *rtfReader) read() {
	for r.i < len(r.b) {
		c := r.b[r.i]
		r.i++
		switch c {
		case '{':
			if len(r.stack) < maxRTFDepth {
				r.stack = append(r.stack, r.state)
			}
		case '}':
			if n := len(r.stack); n > 0 {
				r.state, r.stack = r.stack[n-1], r.stack[:n-1]
			}
			r.star = false
		case '\\':
			r.control()
		case '\r', '\n':
		default:
			r.emit(string(rune(c)), c)
		}
	}
}

// emit writes text unless it is skipped; raw is the byte for the \u skip
// count and the code page (0 for text that is already a rune).
func (r *rtfReader) emit(s string, raw byte) {
	if r.ucSkip > 0 {
		r.ucSkip--
		return
	}
	if r.state.skip || r.html && r.state.htmlrtf {
		return
	}
	if raw >= 0x80 {
		s = decodeCodepage(r.cp, []byte{raw})
	}
	r.out.WriteString(s)
	if r.out.Len() > maxRTFText {
		r.i = len(r.b) // enough: the RTF is kept whole beside the text
	}
}

// maxRTFText bounds the text read out of an RTF body.
const maxRTFText = 4 << 20

func (r *rtfReader) control() {
	if r.i >= len(r.b) {
		return
	}
	c := r.b[r.i]
	if !isLetter(c) {
		r.i++
		switch c {
		case '\\', '{', '}':
			r.emit(string(rune(c)), 0)
		case '\'':
			if r.i+2 <= len(r.b) {
				if v, err := strconv.ParseUint(string(r.b[r.i:r.i+2]), 16, 8); err == nil {
					r.emit(string(rune(v)), byte(v))
				}
				r.i += 2
			}
		case '*':
			r.star = true
		case '~':
			r.emit("\u00a0", 0)
		case '_':
			r.emit("-", 0)
		case '\r', '\n':
			r.word("par", 0, false)
		}
		return
	}
	start := r.i
	for r.i < len(r.b) && isLetter(r.b[r.i]) && r.i-start < 32 {
		r.i++
	}
	word := string(r.b[start:r.i])
	numStart := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' && r.i-numStart < 10 {
		r.i++
	}
	param, err := strconv.Atoi(string(r.b[numStart:r.i]))
	if r.i < len(r.b) && r.b[r.i] == ' ' {
		r.i++
	}
	r.word(word, param, err == nil)
}

func (r *rtfReader) word(w string, param int, hasParam bool) {
	star := r.star
	r.star = false
	switch {
	case w == "htmltag" && r.html:
		return // its group is HTML to keep
	case star || rtfSkipped[w]:
		r.state.skip = true
		return
	}
	switch w {
	case "par", "line":
		r.emit("\n", 0)
	case "tab":
		r.emit("\t", 0)
	case "ansicpg":
		r.cp = param
	case "uc":
		r.state.uc = max(param, 0)
	case "u":
		if param < 0 {
			param += 65536
		}
		if ch := rune(param); utf8.ValidRune(ch) {
			r.emit(string(ch), 0)
		}
		r.ucSkip = r.state.uc
	case "htmlrtf":
		r.state.htmlrtf = !hasParam || param != 0
	}
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
