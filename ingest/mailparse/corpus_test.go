package mailparse

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// expected is the NAME.json beside each testdata/corpus/NAME.eml. Kind is
// what a helpdesk should classify the mail as; threading's classifier test
// reads it, and this package checks only that it agrees with what Parse found.
type expected struct {
	Kind         string   `json:"kind"`
	Subject      string   `json:"subject"`
	From         string   `json:"from"`
	MessageID    string   `json:"message_id"`
	InReplyTo    []string `json:"in_reply_to"`
	References   []string `json:"references"`
	TextContains []string `json:"text_contains"`
	HTMLContains []string `json:"html_contains"`
	Attachments  []struct {
		Filename    string `json:"filename"`
		ContentType string `json:"content_type"`
		Inline      bool   `json:"inline"`
	} `json:"attachments"`
	Report *struct {
		OriginalMessageID string   `json:"original_message_id"`
		Recipients        []string `json:"recipients"`
		Action            string   `json:"action"`
		Status            string   `json:"status"`
	} `json:"report"`
	Problems bool `json:"problems"`
	// ProblemsContain are parts of sentences Problems must hold, one each.
	ProblemsContain []string `json:"problems_contain,omitempty"`
}

type corpusMail struct {
	name string
	raw  []byte
	want expected
}

func readCorpus(t testing.TB) []corpusMail {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	var mails []corpusMail
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		js, err := os.ReadFile(strings.TrimSuffix(f, ".eml") + ".json")
		if err != nil {
			t.Fatalf("every fixture needs its expectations: %v", err)
		}
		var want expected
		dec := json.NewDecoder(strings.NewReader(string(js)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		mails = append(mails, corpusMail{strings.TrimSuffix(filepath.Base(f), ".eml"), raw, want})
	}
	return mails
}

func TestCorpus(t *testing.T) {
	mails := readCorpus(t)
	if len(mails) < 40 {
		t.Fatalf("corpus has %d mails, want at least 40", len(mails))
	}
	ids := map[string]string{}
	for _, c := range mails {
		if id := c.want.MessageID; id != "" {
			if other, dup := ids[id]; dup {
				t.Errorf("%s and %s share Message-ID %q", c.name, other, id)
			}
			ids[id] = c.name
		}
	}

	for _, c := range mails {
		t.Run(c.name, func(t *testing.T) {
			m := Parse(c.raw, nil)
			w := c.want
			checkInvariants(t, c.raw, m)

			if m.Subject != w.Subject {
				t.Errorf("Subject = %q, want %q", m.Subject, w.Subject)
			}
			if m.From.Email != w.From {
				t.Errorf("From = %q, want %q", m.From.Email, w.From)
			}
			if m.MessageID != w.MessageID {
				t.Errorf("MessageID = %q, want %q", m.MessageID, w.MessageID)
			}
			if !sameStrings(m.InReplyTo, w.InReplyTo) {
				t.Errorf("InReplyTo = %q, want %q", m.InReplyTo, w.InReplyTo)
			}
			if !sameStrings(m.References, w.References) {
				t.Errorf("References = %q, want %q", m.References, w.References)
			}
			for _, s := range w.TextContains {
				if !strings.Contains(m.Text, s) {
					t.Errorf("Text lacks %q; Text:\n%s", s, m.Text)
				}
			}
			for _, s := range w.HTMLContains {
				if !strings.Contains(m.HTML, s) {
					t.Errorf("HTML lacks %q; HTML:\n%s", s, m.HTML)
				}
			}
			if len(w.HTMLContains) == 0 && m.HTML != "" {
				t.Errorf("HTML = %q, want none", short(m.HTML))
			}
			if len(w.TextContains) == 0 && m.Text != "" {
				t.Errorf("Text = %q, want none", short(m.Text))
			}

			var gotAtt []string
			for _, a := range m.Attachments {
				gotAtt = append(gotAtt, a.Filename+" | "+a.ContentType+" | inline="+boolString(a.Inline))
			}
			var wantAtt []string
			for _, a := range w.Attachments {
				wantAtt = append(wantAtt, a.Filename+" | "+a.ContentType+" | inline="+boolString(a.Inline))
			}
			if !sameStrings(gotAtt, wantAtt) {
				t.Errorf("attachments:\n got %q\nwant %q", gotAtt, wantAtt)
			}

			switch {
			case w.Report == nil && m.Report != nil:
				t.Errorf("Report = %+v, want none", *m.Report)
			case w.Report != nil && m.Report == nil:
				t.Errorf("no Report, want %+v", *w.Report)
			case w.Report != nil:
				r := m.Report
				if r.OriginalMessageID != w.Report.OriginalMessageID || r.Action != w.Report.Action ||
					r.Status != w.Report.Status || !sameStrings(r.Recipients, w.Report.Recipients) {
					t.Errorf("Report = %+v, want %+v", *r, *w.Report)
				}
			}

			if got := len(m.Problems) > 0; got != w.Problems {
				t.Errorf("problems: %q, want some: %v", m.Problems, w.Problems)
			}
			for _, want := range w.ProblemsContain {
				if !slices.ContainsFunc(m.Problems, func(p string) bool { return strings.Contains(p, want) }) {
					t.Errorf("no problem says %q; problems: %q", want, m.Problems)
				}
			}

			checkKind(t, w.Kind, m)
		})
	}
}

// checkKind holds each fixture's kind to what the mail itself shows, so a
// wrong label is caught here before it misleads the classifier's test.
func checkKind(t *testing.T, kind string, m *Message) {
	t.Helper()
	plus := false
	for _, a := range m.To {
		if strings.HasPrefix(a.Email, "payroll+") && strings.HasSuffix(a.Email, "@example.com") {
			plus = true
		}
	}
	loop := len(m.Header.Values("X-Postdesk-Loop")) > 0
	switch kind {
	case "customer", "staff", "auto_reply", "bounce", "loop":
	default:
		t.Fatalf("kind %q is not one of customer, staff, auto_reply, bounce, loop", kind)
	}
	if (kind == "bounce") != (m.Report != nil) {
		t.Errorf("kind %q, but Report = %v", kind, m.Report)
	}
	if (kind == "loop") != loop {
		t.Errorf("kind %q, but X-Postdesk-Loop present: %v", kind, loop)
	}
	if kind == "staff" && (!plus || m.From.Email != "alice@example.com") {
		t.Errorf("kind staff needs From alice@example.com and a payroll+ To; From %q, To %v", m.From.Email, m.To)
	}
	machine := m.ReturnPath != nil && *m.ReturnPath == ""
	for _, k := range []string{"Auto-Submitted", "X-Autoreply", "X-Auto-Response-Suppress", "List-Id", "Precedence"} {
		if len(m.Header.Values(k)) > 0 && !strings.EqualFold(m.Header.Get(k), "no") {
			machine = true
		}
	}
	if (kind == "customer" || kind == "staff") && machine {
		t.Errorf("kind %q, but the header marks it machine-written", kind)
	}
	if kind == "auto_reply" && !machine && !strings.HasPrefix(m.Header.Get("Content-Type"), "multipart/report") {
		t.Errorf("kind auto_reply, but no header marks it machine-written")
	}
}

// checkInvariants are promises Parse keeps for every input.
func checkInvariants(t testing.TB, raw []byte, m *Message) {
	t.Helper()
	if m == nil {
		t.Fatal("Parse returned nil")
	}
	if m.Size != len(raw) {
		t.Errorf("Size = %d, want %d", m.Size, len(raw))
	}
	for _, p := range m.Problems {
		if strings.HasPrefix(p, internalProblem) {
			t.Errorf("Parse recovered from a panic: %s", p)
		}
	}
	strs := []string{m.Subject, m.Text, m.HTML, m.MessageID, m.From.Name, m.From.Email}
	for _, a := range m.Attachments {
		strs = append(strs, a.Filename, a.ContentType, a.ContentID)
		if a.Filename == "" || strings.ContainsAny(a.Filename, "/\\\x00") || strings.HasPrefix(a.Filename, ".") {
			t.Errorf("unsafe file name %q", a.Filename)
		}
	}
	for _, l := range [][]Address{m.To, m.Cc, m.ReplyTo} {
		for _, a := range l {
			strs = append(strs, a.Name, a.Email)
		}
	}
	for _, s := range strs {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			t.Errorf("%q is not valid UTF-8 without NUL", short(s))
		}
	}
}

func sameStrings(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
