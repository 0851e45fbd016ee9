package quote

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// SplitHTML is Split for an HTML body: fresh is the markup before the point
// where the quoted history starts, quoted the history from there on, both
// as HTML fragments. Neither is sanitized: the caller sanitizes each as it
// would the whole body.
//
// Clients mark the history in their HTML, and those marks are trusted
// before any text: Gmail's div.gmail_quote, Thunderbird's div.moz-cite-prefix
// and Apple Mail's and Thunderbird's blockquote type="cite", Outlook on the
// web's div#divRplyFwdMsg (and the hr above it) and div#appendonsend, and
// Outlook desktop's header block, a div with a top border above a "From:"
// paragraph. Without a mark, the first block whose text is an attribution
// line or an Outlook header block starts the history, as in Split.
//
// As in Split, a forwarded message is never cut, and when nothing would be
// left, fresh is the body unchanged and quoted "".
func SplitHTML(body string) (fresh, quoted string) {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return body, ""
	}
	cut := findHTMLCut(doc)
	if cut == nil || isForwardMarker(firstLine(textOf(cut))) {
		return body, ""
	}
	// Everything from cut on, in document order: cut itself and every
	// sibling after it, at its level and at each level above.
	var later []*html.Node
	for n := cut; n != nil && n.Type != html.DocumentNode; n = n.Parent {
		start := n
		if n != cut {
			start = n.NextSibling
		}
		for s := start; s != nil; s = s.NextSibling {
			later = append(later, s)
		}
	}
	for _, n := range later {
		n.Parent.RemoveChild(n)
	}
	body2 := bodyOf(doc)
	if strings.TrimSpace(textOf(body2)) == "" && !hasImage(body2) {
		return body, ""
	}
	var f, q strings.Builder
	for c := body2.FirstChild; c != nil; c = c.NextSibling {
		html.Render(&f, c) //nolint:errcheck // a strings.Builder does not fail
	}
	for _, n := range later {
		if n.Type == html.ElementNode && (n.DataAtom == atom.Body || n.DataAtom == atom.Html) {
			continue
		}
		html.Render(&q, n) //nolint:errcheck
	}
	return strings.TrimSpace(f.String()), strings.TrimSpace(q.String())
}

// findHTMLCut returns the first node, in document order, where the history
// starts, or nil.
func findHTMLCut(doc *html.Node) *html.Node {
	var marked, byText *html.Node
	var walk func(n *html.Node) bool
	walk = func(n *html.Node) bool {
		if n.Type == html.ElementNode {
			if isHistoryMark(n) {
				marked = n
				return true
			}
			if byText == nil && isLeafBlock(n) {
				if t := textOf(n); isAttribution(t) || startsHeaderBlock(n) {
					byText = n
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if walk(c) {
				return true
			}
		}
		return false
	}
	walk(doc)
	switch {
	case marked == nil:
		return byText
	case byText != nil && precedes(byText, marked):
		return byText
	}
	// The hr Outlook on the web draws above its reply header belongs to it.
	if p := prevElement(marked); p != nil && p.DataAtom == atom.Hr && attr(marked, "id") == "divRplyFwdMsg" {
		return p
	}
	return marked
}

func isHistoryMark(n *html.Node) bool {
	class := " " + attr(n, "class") + " "
	switch {
	case n.DataAtom == atom.Div && (strings.Contains(class, " gmail_quote ") || strings.Contains(class, " gmail_quote_container ") ||
		strings.Contains(class, " moz-cite-prefix ")):
		return true
	case n.DataAtom == atom.Blockquote && strings.EqualFold(attr(n, "type"), "cite"):
		return true
	case attr(n, "id") == "divRplyFwdMsg" || attr(n, "id") == "appendonsend":
		return true
	case n.DataAtom == atom.Div && outlookBorder(attr(n, "style")) && startsHeaderBlock(n):
		return true
	}
	return false
}

// outlookBorder matches the top border Outlook desktop draws above the
// header block of the original ("border:none;border-top:solid #E1E1E1 1.0pt").
func outlookBorder(style string) bool {
	s := strings.ToLower(strings.ReplaceAll(style, " ", ""))
	return strings.Contains(s, "border-top:solid")
}

// startsHeaderBlock reports whether n's text reads as an Outlook header
// block: a From line followed by a date and a To or Subject line.
func startsHeaderBlock(n *html.Node) bool {
	lines := strings.Split(textOf(n), "\n")
	for i, l := range lines {
		if isBlank(l) {
			continue
		}
		if !fromLabels[headerLabel(l)] {
			return false
		}
		idx := make([]int, 0, len(lines)-i-1)
		for j := i + 1; j < len(lines); j++ {
			idx = append(idx, j)
		}
		return headerBlockFollows(lines, idx)
	}
	return false
}

// isLeafBlock: a p or div holding no other block, the unit a client
// writes one attribution line or one header block in.
func isLeafBlock(n *html.Node) bool {
	if n.DataAtom != atom.P && n.DataAtom != atom.Div {
		return false
	}
	var block func(*html.Node) bool
	block = func(x *html.Node) bool {
		for c := x.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode && (c.DataAtom == atom.P || c.DataAtom == atom.Div || c.DataAtom == atom.Blockquote ||
				c.DataAtom == atom.Table) {
				return true
			}
			if block(c) {
				return true
			}
		}
		return false
	}
	return !block(n)
}

// textOf is the text of n, a line per br and block.
func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(x *html.Node) {
		switch {
		case x.Type == html.TextNode:
			b.WriteString(x.Data)
		case x.Type == html.ElementNode && (x.DataAtom == atom.Script || x.DataAtom == atom.Style || x.DataAtom == atom.Head):
			return
		case x.Type == html.ElementNode && x.DataAtom == atom.Br:
			b.WriteString("\n")
		}
		for c := x.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		if x.Type == html.ElementNode && (x.DataAtom == atom.P || x.DataAtom == atom.Div) {
			b.WriteString("\n")
		}
	}
	walk(n)
	return b.String()
}

func firstLine(s string) string {
	for l := range strings.SplitSeq(s, "\n") {
		if !isBlank(l) {
			return l
		}
	}
	return ""
}

func hasImage(n *html.Node) bool {
	if n.Type == html.ElementNode && n.DataAtom == atom.Img {
		return true
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if hasImage(c) {
			return true
		}
	}
	return false
}

func bodyOf(doc *html.Node) *html.Node {
	var find func(*html.Node) *html.Node
	find = func(n *html.Node) *html.Node {
		if n.Type == html.ElementNode && n.DataAtom == atom.Body {
			return n
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if b := find(c); b != nil {
				return b
			}
		}
		return nil
	}
	if b := find(doc); b != nil {
		return b
	}
	return doc
}

func prevElement(n *html.Node) *html.Node {
	for p := n.PrevSibling; p != nil; p = p.PrevSibling {
		if p.Type == html.ElementNode {
			return p
		}
		if p.Type == html.TextNode && !isBlank(p.Data) {
			return nil
		}
	}
	return nil
}

// precedes reports whether a comes before b in document order.
func precedes(a, b *html.Node) bool {
	for n := b; n != nil; n = n.Parent {
		if n == a {
			return false // a holds b
		}
	}
	seen := false
	var walk func(*html.Node) bool
	walk = func(n *html.Node) bool {
		if n == a {
			seen = true
			return true
		}
		if n == b {
			return true
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if walk(c) {
				return true
			}
		}
		return false
	}
	root := a
	for root.Parent != nil {
		root = root.Parent
	}
	walk(root)
	return seen
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val
		}
	}
	return ""
}
