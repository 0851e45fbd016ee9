package mailparse

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// RFC 2152 section "Examples" and edge cases.
func TestDecodeUTF7(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"A+ImIDkQ.", "A\u2262\u0391.", true},
		{"Hi Mom -+Jjo--!", "Hi Mom -\u263a-!", true},
		{"+ZeVnLIqe-", "\u65e5\u672c\u8a9e", true},
		{"Item 3 is +AKM-1.", "Item 3 is £1.", true},
		{"1 +- 1 = 2", "1 + 1 = 2", true},
		{"+AOQ-itiysloma", "äitiysloma", true},
		{"+2D3eAQ-", "\U0001F601", true}, // a surrogate pair
		{"+2D0-x", "\uFFFDx", false},     // a lone high surrogate
		{"+3gE-", "\uFFFD", false},       // a lone low surrogate
		{"+AOQ", "ä", true},              // the run may end with the text
		{"+AOQB-", "ä", false},           // leftover bits not zero
		{"caf\xe9", "café", false},       // 8-bit is not UTF-7
		{"", "", true},
		{"+", "", true},
	}
	for _, tt := range tests {
		got, ok := decodeUTF7([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("decodeUTF7(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDecodeCharsetFallbacks(t *testing.T) {
	tests := []struct {
		label, in, want string
		err             error
	}{
		{"x-unknown", "päivä", "päivä", errUnknownCharset},
		{"x-unknown", "p\xe4iv\xe4", "päivä", errUnknownCharset},
		{"x-unknown", "\x80 p\xc3\xa4", "€ pÃ¤", errUnknownCharset}, // not UTF-8: all of it is Windows-1252
		{"us-ascii", "päivä", "päivä", nil},
		{"", "päivä", "päivä", nil},
		{"UTF-7", "+AOQ-", "ä", nil},
		{"unicode-1-1-utf-7", "+AOQ-", "ä", nil},
		{"utf-7", "+2D0-", "\uFFFD", errBadUTF7},
	}
	for _, tt := range tests {
		got, err := decodeCharset(tt.label, []byte(tt.in))
		if got != tt.want || !errors.Is(err, tt.err) && !(tt.err == nil && err == nil) {
			t.Errorf("decodeCharset(%q, %q) = %q, %v; want %q, %v", tt.label, tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestDecodeWordsLenient(t *testing.T) {
	tests := []struct {
		in, want string
		unknown  bool
	}{
		{"=?utf-8?q?Lomaraha?=", "Lomaraha", false},
		{"=?iso-8859-1?q?L=E4hete?= =?iso-8859-1?q?_2026?=", "Lähete 2026", false},
		{"=?ISO-8859-1?Q?caf\xe9?=", "café", false}, // raw 8-bit in its own charset
		{"=?koi8-r?B?8NLJ18XU?= and =?koi8-r?Q?\xf0\xd2\xc9\xd7\xc5\xd4?=", "Привет and Привет", false},
		{"=?utf-8?q?p=C3?= =?utf-8?q?=A4iv=C3=A4?=", "päivä", false}, // a character split across words
		{"=?utf-7?q?+AOQ-itiysloma?=", "äitiysloma", false},
		{"=?x-klingon?q?p=C3=A4iv=C3=A4?=", "päivä", true},
		{"=?x-klingon?q?p=E4iv=E4?=", "päivä", true},
		{"=?utf-8?b?cMOkaXbDpA==?=", "päivä", false},
		{"a =?utf-8?q?b?= c", "a b c", false},
		{"=?utf-8?q?not a word?=", "=?utf-8?q?not a word?=", false},
		{"=?utf-8?x?a?=", "=?utf-8?x?a?=", false},
		{"=??q?a?= =?", "=??q?a?= =?", false},
		{"plain \xe4", "plain ä", false},
	}
	for _, tt := range tests {
		got, err := decodeWords(tt.in)
		if got != tt.want || (err != nil) != tt.unknown || !utf8.ValidString(got) {
			t.Errorf("decodeWords(%q) = %q, %v; want %q, unknown %v", tt.in, got, err, tt.want, tt.unknown)
		}
	}
}

func TestEncodedWordsInHeaders(t *testing.T) {
	raw := []byte("From: =?iso-8859-1?q?J=F6rg_M\xfcller?= <jorg@example.com>\r\n" +
		"To: =?x-unknown?q?Sari?= <sari@example.com>, b@example.com\r\n" +
		"Subject: =?iso-8859-1?Q?Lomakorvaus_p\xe4iv\xe4t?=\r\n\r\nbody\r\n")
	m := Parse(raw, nil)
	if m.Subject != "Lomakorvaus päivät" {
		t.Errorf("Subject %q", m.Subject)
	}
	if m.From.Name != "Jörg Müller" || m.From.Email != "jorg@example.com" {
		t.Errorf("From %+v", m.From)
	}
	if len(m.To) != 2 || m.To[0].Name != "Sari" {
		t.Errorf("To %+v", m.To)
	}
	if len(m.Problems) == 0 {
		t.Error("the unknown charset and the 8-bit header were not noted")
	}
}

func TestBodyCharsets(t *testing.T) {
	tests := []struct {
		name, raw, text, html string
		problems              int
	}{
		{"utf-7 body", "Content-Type: text/plain; charset=utf-7\r\n\r\nHyv+AOQA5A- p+AOQ-iv+AOQ-+AOQ-", "Hyvää päivää", "", 0},
		{"us-ascii that is UTF-8", "Content-Type: text/plain; charset=us-ascii\r\n\r\npäivä", "päivä", "", 0},
		{"unknown charset, UTF-8 bytes", "Content-Type: text/plain; charset=x-foo\r\n\r\npäivä", "päivä", "", 1},
		{"unknown charset, 8-bit bytes", "Content-Type: text/plain; charset=x-foo\r\n\r\np\xe4iv\xe4", "päivä", "", 1},
		{"html meta charset", "Content-Type: text/html\r\n\r\n<html><head><meta charset=\"koi8-r\"></head><body>\xf0\xd2\xc9\xd7\xc5\xd4</body></html>",
			"Привет", "<html><head><meta charset=\"koi8-r\"></head><body>Привет</body></html>", 0},
		{"html meta http-equiv", "Content-Type: text/html\r\n\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1252\"><p>\x80 5</p>",
			"€ 5", "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1252\"><p>€ 5</p>", 0},
		{"MIME charset wins over meta", "Content-Type: text/html; charset=utf-8\r\n\r\n<meta charset=koi8-r><p>päivä</p>",
			"päivä", "<meta charset=koi8-r><p>päivä</p>", 0},
		{"base64 that is not base64", "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nHello, this is plain text\r\nand not base64 at all.\r\n",
			"Hello, this is plain text\nand not base64 at all.\n", "", 1},
		{"base64 with a stray character still decodes", "Content-Transfer-Encoding: base64\r\n\r\ncMOkaXbD!pCBww6RpdsOkIHDDpGl2w6QgcMOkaXbDpA==\r\n", "päivä päivä päivä päivä", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Parse([]byte(tt.raw), nil)
			if m.Text != tt.text || m.HTML != tt.html || len(m.Problems) != tt.problems {
				t.Errorf("Text %q, HTML %q, problems %q; want %q, %q, %d", m.Text, m.HTML, m.Problems, tt.text, tt.html, tt.problems)
			}
		})
	}
}

func TestMetaCharset(t *testing.T) {
	tests := []struct{ in, want string }{
		{`<meta charset="iso-8859-15">`, "iso-8859-15"},
		{`<META HTTP-EQUIV="content-type" CONTENT="text/html; charset=koi8-r">`, "koi8-r"},
		{`<meta name="x" content="text/html; charset=koi8-r">`, ""},
		{`<html><body><meta charset="koi8-r">`, ""},
		{`<p>no meta</p>`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		if got := metaCharset([]byte(tt.in)); got != tt.want {
			t.Errorf("metaCharset(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A value full of word openings that never close is read in one pass, not
// one search to its end per opening.
func TestDecodeWordsUnclosed(t *testing.T) {
	s := strings.Repeat("=?a?q?x", 70000)
	if got, _ := decodeWords(s); got != s {
		t.Errorf("decodeWords changed an unclosed value")
	}
	raw := []byte("Subject: " + s + "\r\nFrom: " + s + " <a@example.com>\r\n\r\nbody")
	m := Parse(raw, nil)
	if len(m.Subject) != MaxSubjectBytes || m.From.Email != "a@example.com" {
		t.Errorf("Subject %d bytes, From %q", len(m.Subject), m.From.Email)
	}
}

func TestEightBitEncodedWordInFilename(t *testing.T) {
	raw := []byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ntext\r\n--b\r\n" +
		"Content-Type: application/pdf; name=\"=?iso-8859-1?Q?Lomap\xe4iv\xe4t.pdf?=\"\r\nContent-Disposition: attachment\r\n\r\n%PDF\r\n" +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"Palkka \xe4.pdf\"\r\n\r\n%PDF\r\n--b--\r\n")
	m := Parse(raw, nil)
	checkInvariants(t, raw, m)
	if len(m.Attachments) != 2 || m.Attachments[0].Filename != "Lomapäivät.pdf" || m.Attachments[1].Filename != "Palkka ä.pdf" {
		t.Errorf("attachments %+v", m.Attachments)
	}
}
