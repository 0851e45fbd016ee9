package quote

import (
	"golang.org/x/net/html"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The replies of testdata/: a customer answering a postdesk mail from
// Gmail, Outlook desktop, Outlook on the web, Apple Mail and Thunderbird,
// in Finnish and English, as plain text (NAME.txt) and HTML (NAME.html),
// with the attribution and header lines those clients write.
var clientFresh = map[string]string{
	"fi": "Hei,\n\nkiitos nopeasta vastauksesta! Verokortti on nyt liitteenä.\n\nYstävällisin terveisin\nMaija Mallikas",
	"en": "Hi,\n\nthanks for the quick answer! The tax card is attached now.\n\nBest regards,\nMaija Mallikas",
}

// clientOriginal is a line of the quoted original, by language.
var clientOriginal = map[string]string{
	"fi": "tarvitsemme uuden verokorttisi",
	"en": "we need your new tax card",
}

func clientFixtures(t *testing.T, ext string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*."+ext))
	if err != nil || len(paths) < 10 {
		t.Fatalf("fixtures *.%s: %d, %v", ext, len(paths), err)
	}
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), "."+ext)] = string(b)
	}
	return out
}

func fixtureLang(name string) string { return name[strings.LastIndexByte(name, '-')+1:] }

func TestSplitClientReplies(t *testing.T) {
	for name, body := range clientFixtures(t, "txt") {
		lang := fixtureLang(name)
		fresh, quoted := Split(body)
		if fresh != clientFresh[lang] {
			t.Errorf("%s: fresh\n%q\nwant\n%q", name, fresh, clientFresh[lang])
		}
		if !strings.Contains(quoted, clientOriginal[lang]) || !strings.Contains(quoted, "Palkat") {
			t.Errorf("%s: the history is not kept whole:\n%s", name, quoted)
		}
	}
}

func TestSplitHTMLClientReplies(t *testing.T) {
	for name, body := range clientFixtures(t, "html") {
		lang := fixtureLang(name)
		fresh, quoted := SplitHTML(body)
		ft, qt := flat(fresh), flat(quoted)
		if strings.Contains(ft, clientOriginal[lang]) || strings.Contains(ft, "Palkat") {
			t.Errorf("%s: the history is left in the fresh part:\n%s", name, fresh)
		}
		if want := flat(clientFresh[lang]); ft != want {
			t.Errorf("%s: fresh text %q, want %q\n%s", name, ft, want, fresh)
		}
		if !strings.Contains(qt, clientOriginal[lang]) || !strings.Contains(qt, "Palkat") {
			t.Errorf("%s: the history is not kept:\n%s", name, quoted)
		}
	}
}

// Losing text is worse than keeping history: a forward, a mail with no
// history and one that is all history come back whole.
func TestSplitHTMLKeeps(t *testing.T) {
	for name, body := range map[string]string{
		"no history":                `<div dir="ltr">Hei,<br>palkka puuttuu.</div>`,
		"forward":                   `<div dir="ltr">Katso alta.</div><div class="gmail_quote"><div dir="ltr" class="gmail_attr">---------- Välitetty viesti ---------<br>Lähettäjä: Palkat</div>Alkuperäinen</div>`,
		"all history":               `<blockquote type="cite">On 30 Nov 2026, at 14:05, Palkat &lt;palkat@example.com&gt; wrote:<br>Hi</blockquote>`,
		"sentence ending in wrote:": `<p>This is what my manager wrote:</p><p>"Overtime is paid in December."</p>`,
	} {
		fresh, quoted := SplitHTML(body)
		if quoted != "" || fresh != body {
			t.Errorf("%s: cut into %q and %q", name, fresh, quoted)
		}
	}
}

// flat is the words of an HTML fragment or a text, one space apart.
func flat(s string) string {
	if strings.Contains(s, "<") {
		s = textOf(mustParse(s))
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\u00a0", " ")), " ")
}

func mustParse(s string) *html.Node {
	n, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return &html.Node{Type: html.DocumentNode}
	}
	return n
}
