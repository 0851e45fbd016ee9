package web

import (
	"html/template"
	"io"
	"net/url"
	"strings"
	"sync"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// mailPolicy is bluemonday's user-generated-content policy, tightened for
// mail: no scripts, styles, event handlers, forms or frames (UGC allows none),
// no relative links (they would point into postdesk), links that open in a new
// tab with rel="nofollow noreferrer noopener", and cid: allowed only so that
// inline images can be pointed at their attachment afterwards.
var mailPolicy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("mailto", "http", "https", "cid")
	p.AllowRelativeURLs(false)
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
})

// mailHTML sanitizes a mail's HTML body for the page. Then, in a second pass
// over the clean markup, it points cid: images at their attachments (cids maps
// Content-ID to attachment id), drops remote images unless remote is true (and
// reports that it did, for the "Show images" link), drops images of any other
// kind, and removes id and name attributes so that mail cannot clobber the
// page's own elements.
func mailHTML(body string, cids map[string]string, remote bool) (template.HTML, bool) {
	clean := mailPolicy().Sanitize(body)
	var b strings.Builder
	blocked := false
	z := html.NewTokenizer(strings.NewReader(clean))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				// Cannot happen on a strings.Reader; show nothing rather than half.
				return "", blocked
			}
			break
		}
		tok := z.Token()
		if tt == html.StartTagToken || tt == html.SelfClosingTagToken || tt == html.EndTagToken {
			attrs := tok.Attr[:0]
			for _, a := range tok.Attr {
				if a.Namespace == "" && (a.Key == "id" || a.Key == "name") {
					continue
				}
				attrs = append(attrs, a)
			}
			tok.Attr = attrs
		}
		if tok.DataAtom == atom.Img && (tt == html.StartTagToken || tt == html.SelfClosingTagToken) {
			src, alt := "", ""
			for _, a := range tok.Attr {
				switch a.Key {
				case "src":
					src = a.Val
				case "alt":
					alt = a.Val
				}
			}
			newSrc, isRemote := imageSource(src, cids, remote)
			if newSrc == "" {
				if isRemote {
					blocked = true
					label := "image"
					if alt = strings.TrimSpace(alt); alt != "" {
						label = "image: " + alt
					}
					b.WriteString(`<span class="img-blocked">[` + html.EscapeString(label) + `]</span>`)
				}
				continue
			}
			attrs := []html.Attribute{{Key: "src", Val: newSrc}}
			for _, a := range tok.Attr {
				switch a.Key {
				case "alt", "width", "height", "title":
					attrs = append(attrs, a)
				}
			}
			attrs = append(attrs, html.Attribute{Key: "loading", Val: "lazy"}, html.Attribute{Key: "referrerpolicy", Val: "no-referrer"})
			tok.Attr = attrs
		}
		b.WriteString(tok.String())
	}
	return template.HTML(b.String()), blocked //nolint:gosec // sanitized above
}

// imageSource decides what an <img src> becomes: a cid: reference becomes
// its attachment's URL, an https URL stays only when remote images are
// wanted, everything else goes ("" as the answer). isRemote tells that the
// image was a remote one.
func imageSource(src string, cids map[string]string, remote bool) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(src))
	if err != nil {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "cid":
		id := u.Opaque
		if id == "" {
			id = strings.TrimPrefix(src, u.Scheme+":")
		}
		if un, err := url.PathUnescape(id); err == nil {
			id = un
		}
		id = strings.Trim(id, "<>")
		if att, ok := cids[id]; ok {
			return "/attachments/" + url.PathEscape(att), false
		}
		if att, ok := cids[strings.ToLower(id)]; ok {
			return "/attachments/" + url.PathEscape(att), false
		}
		return "", false
	case "https":
		if remote {
			return u.String(), true
		}
		return "", true
	case "http":
		// The page's policy loads https only: try the same image over https.
		if remote {
			u.Scheme = "https"
			return u.String(), true
		}
		return "", true
	}
	return "", false
}
