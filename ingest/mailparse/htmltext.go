package mailparse

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlToText renders an HTML body as plain text, for a mail whose plain
// part is missing or blank: the text of the page, a line break for each
// block, "> " before each line of a blockquote, "- " before list items, and
// nothing of head, style, script or comments. It reads with golang.org/x/net's
// tokenizer, which decodes entities and survives any markup.
func htmlToText(s string) string {
	w := &textWriter{}
	render(s, w)
	return w.String()
}

// render feeds the HTML's text and tags to w, until the end or, for a
// probing w, until it has found text.
func render(s string, w *textWriter) {
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0 // inside <head>, <style>, <script>...
	for !w.found {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return
		case html.TextToken:
			if skip == 0 {
				w.text(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch a {
			case atom.Head, atom.Style, atom.Script, atom.Title, atom.Template, atom.Noscript:
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
				continue
			}
			if skip == 0 {
				w.tag(a, tt)
			}
		}
	}
}

// textWriter collects text with HTML's white-space rules: runs collapse to
// one space, blocks start new lines, at most one blank line in a row.
type textWriter struct {
	b      strings.Builder
	quote  int  // blockquote depth
	pre    int  // inside <pre>
	breaks int  // line ends owed before the next text
	space  bool // a space is owed before the next text
	began  bool
	// probe: write nothing, only set found at the first output that is
	// not white space (blankHTML need not render a large body to know).
	probe, found bool
}

func (w *textWriter) String() string { return strings.TrimRight(w.b.String(), " \n") }

func (w *textWriter) newline(n int) {
	if w.began && n > w.breaks {
		w.breaks = n
	}
	w.space = false
}

func (w *textWriter) tag(a atom.Atom, tt html.TokenType) {
	end := tt == html.EndTagToken
	switch a {
	case atom.Br:
		w.breaks++
		if !w.began {
			w.breaks = 0
		}
		w.space = false
	case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Table, atom.Ul, atom.Ol, atom.Hr:
		w.newline(2)
	case atom.Div, atom.Tr, atom.Li, atom.Dt, atom.Dd, atom.Section, atom.Article, atom.Header, atom.Footer,
		atom.Address, atom.Center, atom.Form, atom.Dl:
		w.newline(1)
		if a == atom.Li && !end {
			w.write("- ")
		}
	case atom.Td, atom.Th:
		if !end {
			w.space = true
		}
	case atom.Blockquote:
		w.newline(1)
		if end && w.quote > 0 {
			w.quote--
		} else if !end {
			w.quote++
		}
	case atom.Pre:
		w.newline(1)
		if end && w.pre > 0 {
			w.pre--
		} else if !end {
			w.pre++
		}
	}
}

func (w *textWriter) text(s string) {
	if w.pre > 0 {
		for i, line := range strings.Split(s, "\n") {
			if i > 0 {
				w.breaks++
			}
			w.write(line)
		}
		return
	}
	lead := len(s) > 0 && isHTMLSpace(s[0])
	if lead {
		w.space = true
	}
	words := s
	if strings.Contains(words, "\u00a0") {
		words = strings.ReplaceAll(words, "\u00a0", " ")
	}
	// The words go out one by one, as one write of them joined by spaces
	// would put them: without a slice of them or the joined copy.
	first := true
	for word := range strings.FieldsSeq(words) {
		if first {
			w.write(word)
			first = false
		} else if !w.probe {
			w.b.WriteByte(' ')
			w.b.WriteString(word)
		}
	}
	if !first {
		w.space = isHTMLSpace(s[len(s)-1])
	}
}

// write puts s out after the line ends and space owed.
func (w *textWriter) write(s string) {
	if s == "" {
		return
	}
	if w.breaks > 0 {
		n := min(w.breaks, 2)
		if !w.probe {
			w.b.WriteString("\n\n"[:n])
		}
		w.breaks = 0
		w.atLineStart()
	} else if !w.began {
		w.atLineStart()
	} else if w.space && !w.probe {
		w.b.WriteByte(' ')
	}
	w.space = false
	w.began = true
	if w.probe {
		w.found = w.found || strings.TrimSpace(s) != ""
		return
	}
	w.b.WriteString(s)
}

func (w *textWriter) atLineStart() {
	if w.quote > 0 {
		if w.probe {
			w.found = true // "> " is not white space
			return
		}
		w.b.WriteString(strings.Repeat("> ", w.quote))
	}
}

func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

// blankHTML tells an HTML body that shows nothing: no text and no image.
func blankHTML(s string) bool {
	w := &textWriter{probe: true}
	render(s, w)
	if w.found {
		return false
	}
	return !strings.Contains(strings.ToLower(s), "<img")
}

// metaCharset returns the charset an HTML document declares for itself in
// <meta charset> or <meta http-equiv="Content-Type" content="...; charset=">,
// searching the first 4 KB as browsers do (the HTML standard's prescan reads
// 1024 bytes; mail often has a long <style> first).
func metaCharset(data []byte) string {
	if len(data) > 4096 {
		data = data[:4096]
	}
	z := html.NewTokenizer(bytes.NewReader(data))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch atom.Lookup(name) {
			case atom.Body:
				return ""
			case atom.Meta:
				if cs := metaTagCharset(z, hasAttr); cs != "" {
					return cs
				}
			}
		}
	}
}

func metaTagCharset(z *html.Tokenizer, more bool) string {
	var content string
	httpEquiv := false
	for more {
		var k, v []byte
		k, v, more = z.TagAttr()
		switch string(k) {
		case "charset":
			return strings.TrimSpace(string(v))
		case "http-equiv":
			httpEquiv = strings.EqualFold(strings.TrimSpace(string(v)), "content-type")
		case "content":
			content = string(v)
		}
	}
	if !httpEquiv {
		return ""
	}
	_, params, _ := parseMediaType(content)
	return strings.TrimSpace(params["charset"])
}
