package mailparse

import (
	"errors"
	"strings"
	"testing"
)

// Finnish text in each charset that mail arrives in.
func TestDecodeCharset(t *testing.T) {
	const fi = "Hyvää päivää, Åsa! Öljy 5 €"
	tests := []struct {
		label string
		in    []byte
		want  string
		err   error
	}{
		{"utf-8", []byte(fi), fi, nil},
		{"UTF8", []byte(fi), fi, nil},
		{"", []byte(fi), fi, nil},
		{"us-ascii", []byte("plain"), "plain", nil},
		{`"utf-8"`, []byte("ä"), "ä", nil},
		// Latin-1 is read as Windows-1252, so Outlook's euro comes out.
		{"iso-8859-1", []byte("Hyv\xe4\xe4 p\xe4iv\xe4\xe4, \xc5sa! \xd6ljy 5 \x80"), fi, nil},
		{"ISO-8859-1", []byte("\x93lainaus\x94"), "“lainaus”", nil},
		{"latin1", []byte("\xe4"), "ä", nil},
		{"windows-1252", []byte("Hyv\xe4\xe4 p\xe4iv\xe4\xe4, \xc5sa! \xd6ljy 5 \x80"), fi, nil},
		{"cp1252", []byte("\x96"), "–", nil},
		{"iso-8859-15", []byte("Hyv\xe4\xe4 p\xe4iv\xe4\xe4, \xc5sa! \xd6ljy 5 \xa4"), fi, nil},
		{"macintosh", []byte("\x8a"), "ä", nil},
		{"koi8-r", []byte("\xf0\xd2\xc9\xd7\xc5\xd4"), "Привет", nil},
		{"shift_jis", []byte("\x93\xfa\x96\x7b\x8c\xea"), "日本語", nil},
		{"iso-2022-jp", []byte("\x1b$BF|K\\8l\x1b(B"), "日本語", nil},
		{"utf-16le", []byte("a\x00\xe4\x00"), "aä", nil},
		{"gb2312", []byte("\xc4\xe3\xba\xc3"), "你好", nil},
		// Mislabelled or unlabelled 8-bit text.
		{"utf-8", []byte("Hyv\xe4\xe4"), "Hyvää", errNotUTF8},
		{"", []byte("\xe4"), "ä", errNotUTF8},
		{"us-ascii", []byte("\xe4"), "ä", errNotUTF8},
		{"utf-8", []byte("Latin-1 \xe4 and UTF-8 \xc3\xa4"), "Latin-1 ä and UTF-8 ä", errNotUTF8},
		// Unknown charsets: valid UTF-8 stays, anything else is Windows-1252.
		{"x-klingon", []byte("ä"), "ä", errUnknownCharset},
		{"x-klingon", []byte("\xe4"), "ä", errUnknownCharset},
	}
	for _, tt := range tests {
		got, err := decodeCharset(tt.label, tt.in)
		if got != tt.want {
			t.Errorf("decodeCharset(%q, %q) = %q, want %q", tt.label, tt.in, got, tt.want)
		}
		if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("decodeCharset(%q, %q) error %v, want %v", tt.label, tt.in, err, tt.err)
		}
	}
}

// RFC 2045 section 6.8, leniently.
func TestDecodeBase64(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"aGVsbG8=", "hello", true},
		{"aGVs\r\nbG8=\r\n", "hello", true},
		{" aGVs bG8= ", "hello", true},
		{"aGVsbG8", "hello", true},       // padding left out
		{"aGVsbA==aGk=", "hellhi", true}, // concatenated blocks
		{"aGV*sbG8=", "hello", false},    // junk is skipped
		{"aGVsbG8=a", "hello", false},    // a lone sextet is no byte
		{"", "", true},
		{"====", "", true},
	}
	for _, tt := range tests {
		got, ok := decodeBase64([]byte(tt.in))
		if string(got) != tt.want || ok != tt.ok {
			t.Errorf("decodeBase64(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// RFC 2045 section 6.7, leniently.
func TestDecodeQuotedPrintable(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"p=C3=A4iv=C3=A4=C3=A4", "päivää", true},
		{"p=c3=a4", "pä", true}, // lower-case hex
		{"soft=\r\nbreak", "softbreak", true},
		{"soft=  \r\nbreak", "softbreak", true},
		{"soft=\nbreak", "softbreak", true},
		{"line  \r\nnext\r\n", "line\r\nnext\r\n", true}, // rule 3: trailing white space goes
		{"line\nnext\n", "line\nnext\n", true},
		{"a=20\r\n", "a \r\n", true},
		{"100%=3D", "100%=", true},
		{"bad =ZZ escape", "bad =ZZ escape", false},
		{"cut =4", "cut =4", false},
		{"end=", "end", true},
		{"ctrl\x0cchar\x00", "ctrl\x0cchar\x00", true},
		{"8bit ä", "8bit ä", true},
	}
	for _, tt := range tests {
		got, ok := decodeQuotedPrintable([]byte(tt.in))
		if string(got) != tt.want || ok != tt.ok {
			t.Errorf("decodeQuotedPrintable(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// RFC 3676 section 4.
func TestUnflow(t *testing.T) {
	tests := []struct {
		in    string
		delsp bool
		want  string
	}{
		{"one \ntwo\n", false, "one two\n"},
		{"one \ntwo\n", true, "onetwo\n"},
		{"hard\nlines\n", false, "hard\nlines\n"},
		{"> quoted \n> more\n", false, "> quoted more\n"},
		{">> deep \n>> deeper\n", false, ">> deep deeper\n"},
		{"> a \n>> b\n", false, "> a \n>> b\n"}, // section 4.5: depths never join
		{" From stuffed\n", false, "From stuffed\n"},
		{"text \n-- \nsig\n", false, "text \n-- \nsig\n"}, // the signature line is hard
		{">\n> x\n", false, ">\n> x\n"},
		{"soft at end ", false, "soft at end "},
	}
	for _, tt := range tests {
		if got := unflow(tt.in, tt.delsp); got != tt.want {
			t.Errorf("unflow(%q, %v) = %q, want %q", tt.in, tt.delsp, got, tt.want)
		}
	}
}

func TestLooksBinary(t *testing.T) {
	tests := []struct {
		in      string
		charset string
		want    bool
	}{
		{"plain text\r\nwith lines\tand tabs\f", "", false},
		{"\x1b$BF|K\\8l\x1b(B", "iso-2022-jp", false},
		{"has a NUL\x00", "", true},
		{"a\x00\xe4\x00", "utf-16le", false},
		{strings.Repeat("\x01\x02\x03abcdefg", 10), "", true},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := looksBinary([]byte(tt.in), tt.charset); got != tt.want {
			t.Errorf("looksBinary(%q, %q) = %v, want %v", tt.in, tt.charset, got, tt.want)
		}
	}
}

func TestTextParts(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		text     string
		html     string
		problems int
	}{
		{"flowed", "Content-Type: text/plain; format=flowed\r\n\r\nhello \r\nworld\r\n", "hello world\n", "", 0},
		{"flowed delsp", "Content-Type: text/plain; format=flowed; delsp=yes\r\n\r\nhel \r\nlo\r\n", "hello\n", "", 0},
		{"bom", "Content-Type: text/plain; charset=utf-8\r\n\r\n\xef\xbb\xbfhei", "hei", "", 0},
		{"cr only", "Subject: x\r\n\r\na\rb", "a\nb", "", 0},
		{"html only gets a text made from it", "Content-Type: text/html\r\n\r\n<p>hei</p>", "hei", "<p>hei</p>", 0},
		{"latin1 without charset", "Subject: x\r\n\r\nh\xe4h", "häh", "", 1},
		{"unknown encoding", "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644", "begin 644", "", 1},
		{"transfer encoding with comment", "Content-Transfer-Encoding: base64 (yes)\r\n\r\naGVp", "hei", "", 0},
		{"multipart alternative keeps both",
			"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\r\nplain\r\n--b\r\nContent-Type: text/html\r\n\r\n<b>html</b>\r\n--b--\r\n",
			"plain", "<b>html</b>", 0},
		{"several plain parts join with a blank line",
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n\r\n\r\n--b\r\n\r\ntwo\r\n--b\r\n\r\nthree\r\n--b--\r\n",
			"one\n\ntwo\n\nthree", "", 0},
		{"binary text part",
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nbody\r\n--b\r\n\r\n\x00\x01\x02\x03\r\n--b--\r\n",
			"body", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Parse([]byte(tt.raw), nil)
			if m.Text != tt.text || m.HTML != tt.html || len(m.Problems) != tt.problems {
				t.Errorf("Text %q, HTML %q, problems %q; want %q, %q, %d problems", m.Text, m.HTML, m.Problems, tt.text, tt.html, tt.problems)
			}
		})
	}
}
