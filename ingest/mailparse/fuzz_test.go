package mailparse

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse holds Parse to its promises on any input: no panic (a recovered
// one counts too), never nil, Size is len(raw), strings fit for storage, file
// names safe. Crashers found so far live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, c := range readCorpus(f) {
		f.Add(c.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkInvariants(t, raw, Parse(raw, nil))
		// Small limits reach the limit paths with small inputs.
		checkInvariants(t, raw, Parse(raw, &Limits{MaxHeaderBytes: 64, MaxParts: 3, MaxDepth: 2}))
	})
}

// FuzzUTF7 holds the UTF-7 decoder to valid UTF-8 and to the identity on
// text that is plain ASCII without '+', which UTF-7 passes through.
func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"A+ImIDkQ.", "Hi Mom -+Jjo--!", "+ZeVnLIqe-", "+2D3eAQ-", "+2D0-", "+-", "+", "caf\xe9"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, _ := decodeUTF7(b)
		if !utf8.ValidString(s) {
			t.Fatalf("decodeUTF7(%q) = %q is not UTF-8", b, s)
		}
		if !bytes.ContainsAny(b, "+") && is7bit(string(b)) && s != string(b) {
			t.Fatalf("decodeUTF7(%q) = %q, want it unchanged", b, s)
		}
		if d, _ := decodeCharset("utf-7", b); !utf8.ValidString(d) || strings.ContainsRune(d, 0) {
			t.Fatalf("decodeCharset(utf-7, %q) = %q", b, d)
		}
	})
}

// FuzzDecodeWords holds the RFC 2047 decoder to valid UTF-8 and to leaving
// a value without "=?" as it is.
func FuzzDecodeWords(f *testing.F) {
	for _, s := range []string{"=?utf-8?q?p=C3?= =?utf-8?q?=A4iv=C3=A4?=", "=?ISO-8859-1?Q?caf\xe9?=", "=?utf-7?q?+AOQ-?=", "=?x?b?====?=", "=??q?a?= =?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, _ := decodeWords(s)
		if !utf8.ValidString(d) {
			t.Fatalf("decodeWords(%q) = %q is not UTF-8", s, d)
		}
		if !strings.Contains(s, "=?") && utf8.ValidString(s) && d != s {
			t.Fatalf("decodeWords(%q) = %q, want it unchanged", s, d)
		}
		if n := normalizeWords(s); !utf8.ValidString(n) {
			t.Fatalf("normalizeWords(%q) = %q is not UTF-8", s, n)
		}
	})
}

// FuzzHTMLToText: any markup gives valid UTF-8 text and no panic.
func FuzzHTMLToText(f *testing.F) {
	for _, s := range []string{"<p>a</p><blockquote>b<br>c</blockquote>", "<pre>x\n y</pre>", "<li><li></ul></blockquote></pre>", "<meta charset=koi8-r>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		if txt := htmlToText(s); !utf8.ValidString(txt) {
			t.Fatalf("htmlToText(%q) = %q", s, txt)
		}
		metaCharset([]byte(s))
	})
}

// FuzzTNEFPart drives arbitrary bytes through Parse as a winmail.dat part:
// whatever the stream holds, the mail keeps its promises and the winmail.dat
// itself is kept first.
func FuzzTNEFPart(f *testing.F) {
	sample, err := os.ReadFile(filepath.Join("tnef", "testdata", "winmail.dat"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte("x\x9f>\"\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		raw := []byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ntext\r\n" +
			"--b\r\nContent-Type: application/ms-tnef\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			base64.StdEncoding.EncodeToString(b) + "\r\n--b--\r\n")
		m := Parse(raw, nil)
		checkInvariants(t, raw, m)
		if len(m.Attachments) == 0 || m.Attachments[0].Filename != "winmail.dat" || !bytes.Equal(m.Attachments[0].Data, b) {
			t.Fatalf("the winmail.dat was not kept as it is: %+v", m.Attachments)
		}
	})
}
