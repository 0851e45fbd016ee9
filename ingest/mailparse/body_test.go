package mailparse

import (
	"strings"
	"testing"
)

func TestBodySelection(t *testing.T) {
	mixed := func(parts ...string) string {
		return "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" + strings.Join(parts, "\r\n--b\r\n") + "\r\n--b--\r\n"
	}
	alt := func(parts ...string) string {
		return "Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\n" + strings.Join(parts, "\r\n--a\r\n") + "\r\n--a--\r\n"
	}
	tests := []struct {
		name     string
		raw      string
		text     string
		html     string
		atts     []string // file names
		problems int
	}{
		{"a name parameter alone is no attachment",
			"Content-Type: text/plain; charset=utf-8; name=\"viesti.txt\"\r\n\r\nHei", "Hei", "", nil, 0},
		{"an inline disposition with a file name is body",
			"Content-Type: text/plain\r\nContent-Disposition: inline; filename=\"viesti.txt\"\r\n\r\nHei", "Hei", "", nil, 0},
		{"an attachment disposition is an attachment",
			mixed("\r\nHei", "Content-Type: text/plain\r\nContent-Disposition: attachment; filename=\"a.txt\"\r\n\r\nfile"), "Hei", "", []string{"a.txt"}, 0},
		{"an unparseable disposition counts as inline",
			"Content-Type: text/plain\r\nContent-Disposition: \"inline\r\n\r\nHei", "Hei", "", nil, 1},
		{"a disposition without a semicolon still says attachment",
			mixed("\r\nHei", "Content-Type: text/plain\r\nContent-Disposition: attachment filename=a.txt\r\n\r\nfile"), "Hei", "", []string{"attachment.txt"}, 0},
		{"an unknown disposition type is an attachment (RFC 2183 2.8)",
			mixed("\r\nHei", "Content-Type: text/plain\r\nContent-Disposition: x-stored\r\n\r\nfile"), "Hei", "", []string{"attachment.txt"}, 0},
		{"later inline text parts in mixed are appended",
			mixed("\r\nFirst", "Content-Type: image/png\r\nContent-Disposition: attachment; filename=a.png\r\n\r\npng", "Content-Type: text/plain; name=footer.txt\r\n\r\nFooter"),
			"First\n\nFooter", "", []string{"a.png"}, 0},
		{"alternative: blank plain gives way to the HTML",
			alt("Content-Type: text/plain\r\n\r\n  \r\n ", "Content-Type: text/html\r\n\r\n<p>Lomaraha maksetaan <b>kesäkuussa</b>.</p>"),
			"Lomaraha maksetaan kesäkuussa.", "<p>Lomaraha maksetaan <b>kesäkuussa</b>.</p>", nil, 0},
		{"alternative: blank HTML gives way to the plain text",
			alt("Content-Type: text/plain\r\n\r\nplain", "Content-Type: text/html\r\n\r\n<html><body> <br> </body></html>"), "plain", "", nil, 0},
		{"alternative: one text and one HTML, the last that is not blank",
			alt("Content-Type: text/plain\r\n\r\nold", "Content-Type: text/plain\r\n\r\nnew", "Content-Type: text/html\r\n\r\n<p>one</p>", "Content-Type: text/html\r\n\r\n<p>two</p>"),
			"new", "<p>two</p>", nil, 0},
		{"alternative: related HTML with its image",
			alt("Content-Type: text/plain\r\n\r\nplain", "Content-Type: multipart/related; boundary=r\r\n\r\n--r\r\nContent-Type: text/html\r\n\r\n<img src=cid:i>\r\n--r\r\nContent-Type: image/png\r\nContent-ID: <i>\r\n\r\npng\r\n--r--"),
			"plain", "<img src=cid:i>", []string{"image.png"}, 0},
		{"alternative: a calendar part stays a file",
			alt("Content-Type: text/plain\r\n\r\nplain", "Content-Type: text/html\r\n\r\n<p>html</p>", "Content-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR"),
			"plain", "<p>html</p>", []string{"invite.ics"}, 0},
		{"report: the human-readable part is the text whatever its disposition",
			"Content-Type: multipart/report; report-type=disposition-notification; boundary=r\r\n\r\n--r\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=notice.txt\r\n\r\nYour message was read.\r\n--r\r\nContent-Type: message/disposition-notification\r\n\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n--r--\r\n",
			"Your message was read.", "", []string{"disposition-notification.txt"}, 0},
		{"boundary line with trailing text",
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b  this is padding\r\n\r\nHei\r\n--b--\r\n", "Hei", "", nil, 1},
		{"missing closing boundary is noted",
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nHei\r\n", "Hei\r\n", "", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Parse([]byte(tt.raw), nil)
			checkInvariants(t, []byte(tt.raw), m)
			var atts []string
			for _, a := range m.Attachments {
				atts = append(atts, a.Filename)
			}
			if strings.TrimRight(m.Text, "\n") != strings.TrimRight(strings.ReplaceAll(tt.text, "\r\n", "\n"), "\n") || m.HTML != tt.html ||
				!sameStrings(atts, tt.atts) || len(m.Problems) != tt.problems {
				t.Errorf("Text %q, HTML %q, attachments %q, problems %q\nwant %q, %q, %q, %d problems",
					m.Text, m.HTML, atts, m.Problems, tt.text, tt.html, tt.atts, tt.problems)
			}
		})
	}
}

func TestHTMLToText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<p>Hei,</p><p>lomaraha   maksetaan\n kesäkuussa.</p>", "Hei,\n\nlomaraha maksetaan kesäkuussa."},
		{"<html><head><title>T</title><style>p{color:red}</style></head><body>Text</body></html>", "Text"},
		{"a<br>b<br><br>c", "a\nb\n\nc"},
		{"<div>one</div><div>two</div>", "one\ntwo"},
		{"<ul><li>yksi</li><li>kaksi</li></ul>", "- yksi\n- kaksi"},
		{"<p>Kiitos</p><blockquote><p>Milloin?</p></blockquote>", "Kiitos\n\n> Milloin?"},
		{"<table><tr><td>Palkka</td><td>3 000 &euro;</td></tr></table>", "Palkka 3 000 €"},
		{"<pre>  a\n  b</pre>", "  a\n  b"},
		{"<script>alert(1)</script>x&nbsp;y", "x y"},
		{"<!-- c -->", ""},
		{"", ""},
		{"<p>unclosed <b>bold", "unclosed bold"},
	}
	for _, tt := range tests {
		if got := htmlToText(tt.in); got != tt.want {
			t.Errorf("htmlToText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
