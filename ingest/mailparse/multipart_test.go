package mailparse

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// RFC 2046 section 5.1.1.
func TestSplitMultipart(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		parts  []string
		closed bool
		padded bool
	}{
		{"two parts", "--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n", []string{"\r\none", "\r\ntwo"}, true, false},
		{"LF only", "--b\n\none\n--b\n\ntwo\n--b--\n", []string{"\none", "\ntwo"}, true, false},
		{"preamble and epilogue dropped", "This is MIME.\r\n--b\r\n\r\none\r\n--b--\r\nepilogue", []string{"\r\none"}, true, false},
		{"line end before delimiter belongs to it", "--b\r\n\r\none\r\n\r\n--b--", []string{"\r\none\r\n"}, true, false},
		{"trailing white space on delimiter", "--b \t\r\n\r\none\r\n--b-- \r\n", []string{"\r\none"}, true, false},
		{"longer boundary is another", "--b\r\n\r\n--bb\r\n--b--", []string{"\r\n--bb"}, true, false},
		{"not at line start", "--b\r\n\r\nx--b\r\n--b--", []string{"\r\nx--b"}, true, false},
		{"empty part", "--b\r\n--b--", []string{""}, true, false},
		{"no close delimiter", "--b\r\n\r\none\r\n--b\r\n\r\ntwo", []string{"\r\none", "\r\ntwo"}, false, false},
		{"cut in the delimiter line", "--b\r\n\r\none\r\n--b", []string{"\r\none", ""}, false, false},
		{"no delimiter at all", "just text", nil, false, false},
		{"only close", "--b--\r\n", nil, true, false},
		{"text after transport padding", "--b foo\r\n\r\none\r\n--b--\tbar\r\n", []string{"\r\none"}, true, true},
		{"nested boundary with this one as prefix", "--b\r\n\r\n--b-1\r\n\r\nx\r\n--b-1--\r\n--b--", []string{"\r\n--b-1\r\n\r\nx\r\n--b-1--"}, true, false},
		{"text glued to every delimiter", "--bXYZ\r\n\r\none\r\n--bXYZ\r\n\r\ntwo\r\n--b--", []string{"\r\none", "\r\ntwo"}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := splitMultipart([]byte(tt.body), "b", 100)
			var got []string
			for _, p := range sp.parts {
				got = append(got, string(p))
			}
			if !reflect.DeepEqual(got, tt.parts) || sp.closed != tt.closed || sp.padded != tt.padded {
				t.Errorf("got %q, closed %v, padded %v; want %q, %v, %v", got, sp.closed, sp.padded, tt.parts, tt.closed, tt.padded)
			}
		})
	}
}

func TestSplitMultipartMax(t *testing.T) {
	body := strings.Repeat("--b\r\n\r\nx\r\n", 1000) + "--b--"
	sp := splitMultipart([]byte(body), "b", 10)
	if len(sp.parts) != 10 {
		t.Errorf("got %d parts, want 10", len(sp.parts))
	}
}

func TestStructure(t *testing.T) {
	png := "iVBORw0KGgo="
	raw := "From: a@example.com\r\n" +
		"Content-Type: multipart/mixed; boundary=outer\r\n\r\n" +
		"--outer\r\n" +
		"Content-Type: multipart/alternative; boundary=alt\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhei\r\n" +
		"--alt\r\nContent-Type: multipart/related; boundary=rel\r\n\r\n" +
		"--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<img src=\"cid:logo@x\">\r\n" +
		"--rel\r\nContent-Type: image/png\r\nContent-ID: < logo@x >\r\nContent-Transfer-Encoding: base64\r\n\r\n" + png + "\r\n" +
		"--rel--\r\n" +
		"--alt--\r\n" +
		"--outer\r\nContent-Type: application/ms-tnef; name=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n\r\neJ8+IgAA\r\n" +
		"--outer\r\nContent-Type: message/rfc822\r\n\r\nSubject: =?utf-8?q?Alkuper=C3=A4inen?=\r\n\r\nforwarded text\r\n" +
		"--outer\r\nContent-Type: multipart/digest; boundary=dig\r\n\r\n--dig\r\n\r\nSubject: in digest\r\n\r\ndigest text\r\n--dig--\r\n" +
		"--outer--\r\n"
	m := Parse([]byte(raw), nil)
	if m.Text != "hei" || m.HTML != `<img src="cid:logo@x">` {
		t.Errorf("Text %q, HTML %q", m.Text, m.HTML)
	}
	want := []Attachment{
		{Filename: "image.png", ContentType: "image/png", ContentID: "logo@x", Inline: true, Data: []byte("\x89PNG\r\n\x1a\n")},
		{Filename: "winmail.dat", ContentType: "application/ms-tnef", Data: []byte("x\x9f>\"\x00\x00")},
		{Filename: "Alkuperäinen.eml", ContentType: "message/rfc822", Data: []byte("Subject: =?utf-8?q?Alkuper=C3=A4inen?=\r\n\r\nforwarded text")},
		{Filename: "in digest.eml", ContentType: "message/rfc822", Data: []byte("Subject: in digest\r\n\r\ndigest text")},
	}
	for i := range want {
		want[i].Size, want[i].SHA256 = int64(len(want[i].Data)), sha256.Sum256(want[i].Data)
	}
	if !reflect.DeepEqual(m.Attachments, want) {
		t.Errorf("attachments:\n got %+v\nwant %+v", m.Attachments, want)
	}
	if len(m.Problems) > 0 {
		t.Errorf("problems %q", m.Problems)
	}
}

func nested(depth int) string {
	var b strings.Builder
	b.WriteString("Subject: deep\r\n")
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\nbottom\r\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.String()
}

func TestLimits(t *testing.T) {
	many := "Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
		strings.Repeat("--b\r\nContent-Type: text/plain\r\n\r\npart\r\n", 50) + "--b--\r\n"
	bigHeader := "Subject: s\r\nX-Pad: " + strings.Repeat("x", 2000) + "\r\nFrom: late@example.com\r\n\r\nbody"

	tests := []struct {
		name    string
		raw     string
		lim     *Limits
		text    string
		problem string // a word the one problem must contain; "" for none
	}{
		{"depth within", nested(12), nil, "bottom", ""},
		{"depth beyond", nested(13), nil, "", "nesting deeper than 12"},
		{"depth custom", nested(3), &Limits{MaxDepth: 2}, "", "nesting deeper than 2"},
		{"parts within", many, &Limits{MaxParts: 51}, strings.TrimSuffix(strings.Repeat("part\n\n", 50), "\n\n"), ""},
		{"parts beyond", many, &Limits{MaxParts: 4}, "part\n\npart\n\npart", "more than 4 MIME parts"},
		{"header within", bigHeader, nil, "body", ""},
		{"header beyond", bigHeader, &Limits{MaxHeaderBytes: 1000}, "body", "larger than 1000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Parse([]byte(tt.raw), tt.lim)
			if m.Text != tt.text {
				t.Errorf("Text = %q, want %q", m.Text, tt.text)
			}
			switch {
			case tt.problem == "" && len(m.Problems) > 0:
				t.Errorf("problems %q, want none", m.Problems)
			case tt.problem != "" && (len(m.Problems) != 1 || !strings.Contains(m.Problems[0], tt.problem)):
				t.Errorf("problems %q, want one about %q", m.Problems, tt.problem)
			}
		})
	}

	// Fields past the cap are not read; the body still is.
	m := Parse([]byte(bigHeader), &Limits{MaxHeaderBytes: 1000})
	if m.Subject != "s" || m.From.Email != "" {
		t.Errorf("Subject %q, From %q: want the field before the cap and not the one after", m.Subject, m.From.Email)
	}
}

func TestProblemsBounded(t *testing.T) {
	raw := "From: a@example.com\r\n"
	for i := 0; i < 500; i++ {
		raw += fmt.Sprintf("broken line %d\r\nX-Ok: %d\r\n", i, i)
	}
	m := Parse([]byte(raw+"\r\nbody"), nil)
	if len(m.Problems) != maxProblems+1 || m.Text != "body" {
		t.Errorf("%d problems, Text %q; want %d and the body", len(m.Problems), m.Text, maxProblems+1)
	}
}

func TestAttachmentOwnsData(t *testing.T) {
	raw := []byte("Content-Type: application/pdf\r\n\r\n%PDF")
	m := Parse(raw, nil)
	copy(raw, strings.Repeat("x", len(raw)))
	if len(m.Attachments) != 1 || string(m.Attachments[0].Data) != "%PDF" {
		t.Errorf("attachment data changed with raw: %+v", m.Attachments)
	}
}
