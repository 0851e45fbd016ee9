package mailparse

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// RFC 5322 section 3.6.4, and what mailers write instead.
func TestMessageIDs(t *testing.T) {
	tests := []struct {
		value string
		want  []string
	}{
		{"<a@example.com>", []string{"a@example.com"}},
		{"  <a@example.com>  ", []string{"a@example.com"}},
		{"<a@example.com> <b@example.com>", []string{"a@example.com", "b@example.com"}},
		{"<a@example.com><b@example.com>", []string{"a@example.com", "b@example.com"}},
		// Folding: the unfolded value keeps a space inside the ID.
		{"<a@example.com>\r\n\t<b@example.com>", []string{"a@example.com", "b@example.com"}},
		{"<very-long-id-folded-by-\r\n a-broken-mailer@example.com>", []string{"very-long-id-folded-by-a-broken-mailer@example.com"}},
		// Duplicates keep their first place.
		{"<a@x> <b@x> <a@x>", []string{"a@x", "b@x"}},
		// Text between IDs, as in old In-Reply-To fields.
		{`Your message of "Mon, 2 Mar 2026" <a@example.com>`, []string{"a@example.com"}},
		{"<a@x> garbage (comment) <b@x>", []string{"a@x", "b@x"}},
		// No angle brackets at all.
		{"a@example.com", []string{"a@example.com"}},
		{"a@example.com, b@example.com", []string{"a@example.com", "b@example.com"}},
		{"a@example.com b@example.com", []string{"a@example.com", "b@example.com"}},
		{"not an id", nil},
		// Cut short.
		{"<a@x> <b@x", []string{"a@x", "b@x"}},
		// Literal domains and odd but legal characters.
		{"<CAAbc123=Def456+x/y@[192.0.2.1]>", []string{"CAAbc123=Def456+x/y@[192.0.2.1]"}},
		{"", nil},
		{"<>", nil},
	}
	for _, tt := range tests {
		if got := messageIDs(tt.value); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("messageIDs(%q) = %q, want %q", tt.value, got, tt.want)
		}
	}
}

func TestFirstMessageID(t *testing.T) {
	tests := []struct{ value, want string }{
		{"<a@example.com>", "a@example.com"},
		{"<a@example.com> (added by mx.example.com)", "a@example.com"},
		{"1234.5678", "1234.5678"}, // no '@': still tells duplicates apart
		{"<1234.5678>", "1234.5678"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := firstMessageID(tt.value); got != tt.want {
			t.Errorf("firstMessageID(%q) = %q, want %q", tt.value, got, tt.want)
		}
	}
}

// RFC 5322 section 3.4 with RFC 2047 section 5 words in display names.
func TestAddressList(t *testing.T) {
	tests := []struct {
		value   string
		want    []Address
		problem bool
	}{
		{"Matti Meikäläinen <Matti@Example.COM>", []Address{{"Matti Meikäläinen", "matti@example.com"}}, false},
		{"=?UTF-8?Q?Matti_Meik=C3=A4l=C3=A4inen?= <matti@example.com>", []Address{{"Matti Meikäläinen", "matti@example.com"}}, false},
		{"=?ISO-8859-1?Q?J=F6rgen?= <j@example.com>", []Address{{"Jörgen", "j@example.com"}}, false},
		{"=?koi8-r?B?6dfBzg==?= <ivan@example.net>", []Address{{"Иван", "ivan@example.net"}}, false},
		// Encoded word inside a quoted string, as Outlook sends it.
		{`"=?utf-8?Q?Virtanen=2C_Matti?=" <m@example.com>`, []Address{{"Virtanen, Matti", "m@example.com"}}, false},
		{`'Outlook Quotes' <q@example.com>`, []Address{{"Outlook Quotes", "q@example.com"}}, false},
		{"a@example.com, B <b@example.com>", []Address{{"", "a@example.com"}, {"B", "b@example.com"}}, false},
		{"undisclosed-recipients:;", []Address{}, false},
		{"Team: a@example.com, b@example.com;", []Address{{"", "a@example.com"}, {"", "b@example.com"}}, false},
		// What net/mail rejects: picked out one by one.
		{"a@example.com; b@example.com", []Address{{"", "a@example.com"}, {"", "b@example.com"}}, true},
		{"Matti Virtanen matti@example.com", []Address{{"Matti Virtanen", "matti@example.com"}}, true},
		{"Good <g@example.com>, broken <<b@example.com>", []Address{{"Good", "g@example.com"}, {"broken", "b@example.com"}}, true},
		{"no address here", nil, true},
	}
	for _, tt := range tests {
		p := &parser{lim: DefaultLimits, m: &Message{}}
		got := p.addressList("To", []string{tt.value})
		if len(got) == 0 && len(tt.want) == 0 {
			got, tt.want = nil, nil
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("addressList(%q) = %+v, want %+v", tt.value, got, tt.want)
		}
		if (len(p.m.Problems) > 0) != tt.problem {
			t.Errorf("addressList(%q): problems %q, want some: %v", tt.value, p.m.Problems, tt.problem)
		}
	}
}

func TestEnvelope(t *testing.T) {
	raw := "Return-Path: <>\r\n" +
		"Delivered-To: Payroll+TOKEN@Example.com\r\n" +
		"X-Original-To: payroll@example.com\r\n" +
		"Delivered-To: payroll@example.com\r\n" +
		"From: A <a@example.com>\r\n" +
		"Sender: S <s@example.com>\r\n" +
		"Date: Tue, 3 Mar 2026 10:15:42 +0200 (EET)\r\n" +
		"Subject: =?utf-8?q?Hyv=C3=A4=C3=A4?=\r\n =?utf-8?q?_p=C3=A4iv=C3=A4=C3=A4?=\r\n" +
		"\r\nbody\r\n"
	m := Parse([]byte(raw), nil)
	if m.ReturnPath == nil || *m.ReturnPath != "" {
		t.Errorf("ReturnPath = %v, want pointer to \"\"", m.ReturnPath)
	}
	if want := []string{"payroll+token@example.com", "payroll@example.com"}; !reflect.DeepEqual(m.DeliveredTo, want) {
		t.Errorf("DeliveredTo = %q, want %q", m.DeliveredTo, want)
	}
	if m.Sender == nil || m.Sender.Email != "s@example.com" {
		t.Errorf("Sender = %+v", m.Sender)
	}
	if want := time.Date(2026, 3, 3, 8, 15, 42, 0, time.UTC); !m.Date.Equal(want) {
		t.Errorf("Date = %v, want %v", m.Date, want)
	}
	if m.Subject != "Hyvää päivää" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if got := m.Header.Get("Delivered-To"); got != "Payroll+TOKEN@Example.com" {
		t.Errorf("Header keeps raw values in order: Delivered-To = %q", got)
	}
	if len(m.Problems) > 0 {
		t.Errorf("problems: %q", m.Problems)
	}

	m = Parse([]byte("From: a@example.com\r\n\r\n"), nil)
	if m.ReturnPath != nil {
		t.Errorf("ReturnPath = %q, want nil when absent", *m.ReturnPath)
	}
	m = Parse([]byte("Return-Path: <Bounce@Example.COM>\r\n\r\n"), nil)
	if m.ReturnPath == nil || *m.ReturnPath != "bounce@example.com" {
		t.Errorf("ReturnPath = %v", m.ReturnPath)
	}
}

func TestDates(t *testing.T) {
	tests := []struct {
		value string
		want  time.Time
	}{
		{"Tue, 3 Mar 2026 10:15:42 +0200", time.Date(2026, 3, 3, 8, 15, 42, 0, time.UTC)},
		{"3 Mar 2026 10:15:42 +0200", time.Date(2026, 3, 3, 8, 15, 42, 0, time.UTC)},
		{"Tue,  3 Mar 2026 10:15:42 +0200 (EET)", time.Date(2026, 3, 3, 8, 15, 42, 0, time.UTC)},
		{"Tue Mar  3 10:15:42 2026", time.Date(2026, 3, 3, 10, 15, 42, 0, time.UTC)},
		{"2026-03-03T10:15:42+02:00", time.Date(2026, 3, 3, 8, 15, 42, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseDate(tt.value)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseDate(%q) = %v, %v; want %v", tt.value, got, err, tt.want)
		}
	}
	m := Parse([]byte("Date: last Tuesday\r\n\r\n"), nil)
	if !m.Date.IsZero() || len(m.Problems) != 1 || !strings.Contains(m.Problems[0], "Date") {
		t.Errorf("unreadable date: Date %v, problems %q", m.Date, m.Problems)
	}
}

// The header is read leniently: one bad line costs only itself.
func TestReadHeader(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		subject  string // "" when the header has no Subject
		body     string
		problems int
	}{
		{"plain", "Subject: s\r\n\r\nbody", "s", "body", 0},
		{"LF only", "Subject: s\n\nbody", "s", "body", 0},
		{"folded", "Subject: a\r\n b\r\n\tc\r\n\r\nbody", "a b c", "body", 0},
		{"space before colon", "Subject : s\r\n\r\nbody", "s", "body", 0},
		{"no body", "Subject: s\r\n", "s", "", 0},
		{"empty body", "Subject: s\r\n\r\n", "s", "", 0},
		{"line without colon", "From: a@example.com\r\nbroken line\r\nSubject: s\r\n\r\nbody", "s", "body", 1},
		{"bad key byte", "From: a@example.com\r\nX Bad: v\r\nSubject: s\r\n\r\nbody", "s", "body", 1},
		{"no blank line", "Subject: s\r\nHello there,\r\nthis is the body\r\n", "s", "Hello there,\r\nthis is the body\r\n", 1},
		{"no header", "Hello there,\r\nthis is the body\r\n", "", "Hello there,\r\nthis is the body\r\n", 1},
		{"starts with blank line", "\r\nHello", "", "Hello", 1},
		{"leading space", " Subject: s\r\nFrom: a@example.com\r\n\r\nbody", "", "body", 1},
		{"mbox From line", "From a@example.com Tue Mar  3 10:15:42 2026\r\nSubject: s\r\n\r\nbody", "s", "body", 1},
		{"colon only", ":\r\nSubject: s\r\n\r\nbody", "s", "body", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Parse([]byte(tt.raw), nil)
			if m.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.subject)
			}
			if want := strings.ReplaceAll(tt.body, "\r\n", "\n"); m.Text != want {
				t.Errorf("Text = %q, want %q", m.Text, want)
			}
			if len(m.Problems) != tt.problems {
				t.Errorf("problems %q, want %d", m.Problems, tt.problems)
			}
		})
	}
}

func TestEightBitHeader(t *testing.T) {
	raw := []byte("Subject: P\xe4iv\xe4\xe4\r\nFrom: J\xf6rgen <j@example.com>\r\n\r\n")
	m := Parse(raw, nil)
	if m.Subject != "Päivää" || m.From.Name != "Jörgen" {
		t.Errorf("Subject %q, From %+v", m.Subject, m.From)
	}
	if got := m.Header.Get("Subject"); got != "Päivää" {
		t.Errorf("Header value %q is not valid UTF-8 for storage", got)
	}
	if len(m.Problems) != 1 {
		t.Errorf("problems %q, want the 8-bit note", m.Problems)
	}
}

func TestSubjectUnknownCharset(t *testing.T) {
	m := Parse([]byte("Subject: =?x-klingon?q?Qapla=27?= =?utf-8?q?ja_ty=C3=B6?=\r\n\r\n"), nil)
	if m.Subject != "Qapla'ja työ" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if len(m.Problems) != 1 || !strings.Contains(m.Problems[0], "unknown charset") {
		t.Errorf("problems %q", m.Problems)
	}
}

func TestSubjectMislabelledUTF8(t *testing.T) {
	m := Parse([]byte("Subject: =?utf-8?q?P=E4iv=E4?= =?utf-8?q?_ja_y=C3=B6?=\r\n\r\n"), nil)
	if m.Subject != "Päivä ja yö" {
		t.Errorf("Subject = %q", m.Subject)
	}
}
