package web

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"html"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template/parse"
	"time"

	"postdesk/conversation"
	"postdesk/templates"
)

// templateKeys are the string arguments of every t call in the page
// templates, by file.
func templateKeys(t *testing.T) map[string][]string {
	t.Helper()
	fsys, err := templates.WebFS("")
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(fsys, "*.html")
	if err != nil || len(names) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	keys := map[string][]string{}
	for _, name := range names {
		for _, tree := range parseTemplate(t, fsys, name) {
			walk(tree.Root, func(n parse.Node) {
				c, ok := n.(*parse.CommandNode)
				if !ok || len(c.Args) < 2 {
					return
				}
				if id, ok := c.Args[0].(*parse.IdentifierNode); ok && id.Ident == "t" {
					if s, ok := c.Args[1].(*parse.StringNode); ok {
						keys[name] = append(keys[name], s.Text)
					}
				}
			})
		}
	}
	return keys
}

// parseTemplate is the parse trees of one template file.
func parseTemplate(t *testing.T, fsys fs.FS, name string) map[string]*parse.Tree {
	t.Helper()
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	tr := parse.New(name)
	tr.Mode = parse.SkipFuncCheck
	trees := map[string]*parse.Tree{}
	if _, err := tr.Parse(string(b), "{{", "}}", trees); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return trees
}

// walk calls f on n and everything under it.
func walk(n parse.Node, f func(parse.Node)) {
	if n == nil {
		return
	}
	f(n)
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walk(c, f)
		}
	case *parse.ActionNode:
		walk(n.Pipe, f)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walk(c, f)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walk(a, f)
		}
	case *parse.IfNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.RangeNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.WithNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.TemplateNode:
		walk(n.Pipe, f)
	}
}

// codeKeys are the message keys in the package's code: the arguments of
// msgKey and of every T call, by file:line.
func codeKeys(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	keys := map[string][]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			var fn string
			switch x := call.Fun.(type) {
			case *ast.Ident:
				fn = x.Name
			case *ast.SelectorExpr:
				fn = x.Sel.Name
			}
			if fn != "msgKey" && fn != "T" {
				return true
			}
			lit := call.Args[0]
			// "a " + "b": a key split over lines.
			for {
				if b, ok := lit.(*ast.BinaryExpr); ok && b.Op == token.ADD {
					l, lok := b.X.(*ast.BasicLit)
					r, rok := b.Y.(*ast.BasicLit)
					if lok && rok {
						ls, _ := strconv.Unquote(l.Value)
						rs, _ := strconv.Unquote(r.Value)
						lit = &ast.BasicLit{Kind: token.STRING, Value: strconv.Quote(ls + rs)}
						continue
					}
				}
				break
			}
			if b, ok := lit.(*ast.BasicLit); ok && b.Kind == token.STRING {
				s, err := strconv.Unquote(b.Value)
				if err == nil {
					pos := fset.Position(b.Pos()).String()
					keys[pos] = append(keys[pos], s)
				}
			}
			return true
		})
	}
	return keys
}

// statusTexts are the headings of the error pages (http.StatusText).
var statusTexts = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
	http.StatusGone, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests,
	http.StatusInternalServerError, http.StatusBadGateway}

var verb = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)

// TestCatalogueCoversEveryKey fails when a message key of a template or of
// the code has no English, Finnish or Swedish text, or when a translation
// takes other arguments than its key.
func TestCatalogueCoversEveryKey(t *testing.T) {
	rows := map[string][3]string{}
	for _, m := range allMessages() {
		if _, dup := rows[m[0]]; dup {
			t.Errorf("key %q twice in messages", m[0])
		}
		rows[m[0]] = m
	}
	pl := map[string]bool{}
	for _, p := range allPlurals() {
		pl[p.key] = true
	}
	check := func(where, key string) {
		if pl[key] {
			return
		}
		m, ok := rows[key]
		if !ok {
			t.Errorf("%s: %q is in no catalogue (want en, fi and sv)", where, key)
			return
		}
		for i, lang := range webLangs {
			if strings.TrimSpace(m[i]) == "" {
				t.Errorf("%s: %q has no %s text", where, key, lang)
			}
			if got, want := verb.FindAllString(m[i], -1), verb.FindAllString(key, -1); !slices.Equal(got, want) {
				t.Errorf("%s: %q in %s takes %v, the key %v", where, key, lang, got, want)
			}
		}
	}
	n := 0
	for file, ks := range templateKeys(t) {
		for _, k := range ks {
			check(file, k)
			n++
		}
	}
	for pos, ks := range codeKeys(t) {
		for _, k := range ks {
			check(pos, k)
			n++
		}
	}
	for _, st := range statusTexts {
		check("http.StatusText", http.StatusText(st))
	}
	for _, st := range []string{"new", "open", "waiting", "solved"} {
		check("statusLabel", statusLabel(st))
	}
	if n < 100 {
		t.Fatalf("only %d keys found: is the scan broken?", n)
	}
}

var (
	tagPattern  = regexp.MustCompile(`(?s)<[^>]*>`)
	attrPattern = regexp.MustCompile(`\b(?:title|placeholder|aria-label|alt)="([^"\x00]*)"`)
	letters     = regexp.MustCompile(`\pL{2,}`)
)

// TestTemplatesHaveNoLiteralText fails on words written into a template
// instead of taken from the catalogue: in text between tags, and in the
// attributes a reader sees (title, placeholder, aria-label, alt).
func TestTemplatesHaveNoLiteralText(t *testing.T) {
	fsys, err := templates.WebFS("")
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(fsys, "*.html")
	for _, name := range names {
		for _, tree := range parseTemplate(t, fsys, name) {
			// The text in source order, an action as \x00: the tags are whole
			// again even where actions sit inside them.
			var sb strings.Builder
			walk(tree.Root, func(n parse.Node) {
				switch n := n.(type) {
				case *parse.TextNode:
					sb.Write(n.Text)
				case *parse.ActionNode:
					sb.WriteByte(0)
				}
			})
			src := sb.String()
			for _, tag := range tagPattern.FindAllString(src, -1) {
				for _, m := range attrPattern.FindAllStringSubmatch(tag, -1) {
					if letters.MatchString(m[1]) {
						t.Errorf("%s: literal attribute %s", name, m[0])
					}
				}
			}
			text := html.UnescapeString(tagPattern.ReplaceAllString(src, "\x00"))
			for _, piece := range strings.Split(text, "\x00") {
				if w := letters.FindString(piece); w != "" && w != "postdesk" {
					t.Errorf("%s: literal text %q", name, strings.TrimSpace(piece))
				}
			}
		}
	}
}

// TestLocaleFormats: the absolute format of each language, in the zone
// given, and the relative times with their plurals.
func TestLocaleFormats(t *testing.T) {
	zone, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	at := time.Date(2026, 3, 1, 7, 5, 0, 0, time.UTC) // 09.05 in Helsinki
	for _, tc := range []struct {
		lang, when, twoHours, oneDay, fourDays, wait string
	}{
		{"fi", "1.3.2026 09.05", "2 h sitten", "1 päivä sitten", "4 päivää sitten", "5 minuuttia"},
		{"sv", "2026-03-01 09:05", "2 tim sedan", "1 dag sedan", "4 dagar sedan", "5 minuter"},
		{"en", "1 Mar 2026 09:05", "2 h ago", "1 day ago", "4 days ago", "5 minutes"},
	} {
		l := newLocale(tc.lang, zone, clock)
		if got := l.When(at); got != tc.when {
			t.Errorf("%s: When %q, want %q", tc.lang, got, tc.when)
		}
		for d, want := range map[time.Duration]string{2 * time.Hour: tc.twoHours, 25 * time.Hour: tc.oneDay, 4 * 24 * time.Hour: tc.fourDays} {
			if got := l.Ago(now.Add(-d)); got != want {
				t.Errorf("%s: Ago(-%v) %q, want %q", tc.lang, d, got, want)
			}
		}
		if got := l.Ago(at.Add(-30 * 24 * time.Hour)); got != l.When(at.Add(-30*24*time.Hour)) {
			t.Errorf("%s: a month ago shows %q, want the date", tc.lang, got)
		}
		if got := l.Wait(300); got != tc.wait {
			t.Errorf("%s: Wait(300) %q, want %q", tc.lang, got, tc.wait)
		}
	}
	if got := newLocale("fi", zone, clock).Size(1500000); got != "1,5 MB" {
		t.Errorf("fi size %q, want 1,5 MB", got)
	}
}

var (
	domainInvalid   = regexp.MustCompile(`\binvalid\("([^"%]*)"\)`)
	outboxStatus    = regexp.MustCompile(`status = '([a-z_]+)'`)
	domainForbidden = regexp.MustCompile(`fmt\.Errorf\("([^"%]*): %w", ErrForbidden\)`)
)

// TestDomainReasonsAreTranslated reads the conversation package for the
// constant reasons it refuses a request with: each must be in
// invalidReasons or forbiddenActions (and so, by the catalogue test, in
// every language), so that a new one is not shown in English by surprise;
// and likewise the outbox's states in the store's SQL.
func TestDomainReasonsAreTranslated(t *testing.T) {
	files, err := filepath.Glob("../conversation/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no conversation sources: %v", err)
	}
	n := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range domainInvalid.FindAllStringSubmatch(string(b), -1) {
			n++
			if msg := invalidMessage(fmt.Errorf("%w: %s", conversation.ErrInvalid, m[1])); !slices.Contains(invalidReasons, msg) {
				t.Errorf("%s: %q is not in invalidReasons", name, msg)
			}
		}
		for _, m := range domainForbidden.FindAllStringSubmatch(string(b), -1) {
			n++
			if !slices.Contains(forbiddenActions, m[1]) {
				t.Errorf("%s: %q is not in forbiddenActions", name, m[1])
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d reasons found: is the scan broken?", n)
	}
	outbox, err := filepath.Glob("../store/outbox*.go")
	if err != nil || len(outbox) == 0 {
		t.Fatalf("no outbox sources: %v", err)
	}
	for _, name := range outbox {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range outboxStatus.FindAllStringSubmatch(string(b), -1) {
			if !slices.Contains(outboxStatuses, m[1]) {
				t.Errorf("%s: outbox status %q is not in outboxStatuses", name, m[1])
			}
		}
	}
}
