package mailparse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// normalizeSteps is decodeText's work on valid UTF-8 step by step, each a
// copy of the text, as it was done before normalizeText.
func normalizeSteps(b []byte) string {
	s := strings.TrimPrefix(string(b), "\uFEFF")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\x00", "")
}

// FuzzNormalizeText holds the one-copy normalisation to the steps.
func FuzzNormalizeText(f *testing.F) {
	for _, s := range []string{"", "a\r\nb", "\uFEFFx\r\r\n\x00y\r", "\r\x00\n", "\uFEFF\uFEFF", "\r", "\x00\r\n\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		if got, want := normalizeText(b), normalizeSteps(b); got != want {
			t.Errorf("normalizeText(%q) = %q, want %q", b, got, want)
		}
	})
}

// blankByRendering is blankHTML as it was: render all, then look.
func blankByRendering(s string) bool {
	if strings.TrimSpace(htmlToText(s)) != "" {
		return false
	}
	return !strings.Contains(strings.ToLower(s), "<img")
}

var blankCases = []string{
	"", " ", "<p> </p>", "<p>&nbsp;</p>", "<li></li>", "<blockquote><pre> </pre></blockquote>", "<pre>  \n </pre>",
	"<style>p{}</style>", "<head><title>t</title></head>", "<IMG src=x>", "<div><br></div>x", "<td> </td><td>a</td>",
	"<blockquote> </blockquote>", "<!-- c -->", "<script>x</script> ", "\u00a0", "<p>\u00a0\u00a0</p>",
}

// blankHTML, which stops at the first text it finds, decides as rendering
// the whole body and looking at the text did.
func TestBlankHTMLProbe(t *testing.T) {
	cases := append([]string(nil), blankCases...)
	paths, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.eml"))
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if html := Parse(raw, nil).HTML; html != "" {
			cases = append(cases, html)
		}
	}
	for _, s := range cases {
		if got, want := blankHTML(s), blankByRendering(s); got != want {
			t.Errorf("blankHTML(%q) = %v, want %v", short(s), got, want)
		}
	}
}

// FuzzBlankHTML holds the probe to the rendering on any input.
func FuzzBlankHTML(f *testing.F) {
	for _, s := range blankCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := blankHTML(s), blankByRendering(s); got != want {
			t.Errorf("blankHTML(%q) = %v, want %v", s, got, want)
		}
	})
}
