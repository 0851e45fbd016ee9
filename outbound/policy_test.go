package outbound

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"postdesk/store"
)

func TestBackoff(t *testing.T) {
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute,
		32 * time.Minute, time.Hour, time.Hour, time.Hour}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("wait after try %d: %s, want %s", i+1, got, w)
		}
	}
	if got := backoff(1000); got != time.Hour {
		t.Errorf("wait after try 1000: %s", got)
	}
}

// The one bit that drives the retry policy.
func TestTemporaryOrPermanent(t *testing.T) {
	cases := []struct {
		name string
		err  error
		temp bool
	}{
		{"421 closing", &smtp.SMTPError{Code: 421}, true},
		{"450 mailbox busy", &smtp.SMTPError{Code: 450}, true},
		{"451 local error", fmt.Errorf("end of DATA: %w", &smtp.SMTPError{Code: 451}), true},
		{"452 no space", &smtp.SMTPError{Code: 452}, true},
		{"550 no such user", fmt.Errorf("RCPT: %w", &smtp.SMTPError{Code: 550}), false},
		{"552 too large", &smtp.SMTPError{Code: 552}, false},
		{"553 bad address", &smtp.SMTPError{Code: 553}, false},
		{"554 rejected", &smtp.SMTPError{Code: 554}, false},
		{"connection reset", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, true},
		{"EOF", io.ErrUnexpectedEOF, true},
		{"timeout", os.ErrDeadlineExceeded, true},
		{"unknown", errors.New("something odd"), true},
		{"marked permanent", permanentf("subject holds a line break"), false},
		{"535 while setting up, marked temporary", temporary(&smtp.SMTPError{Code: 535}), true},
	}
	for _, c := range cases {
		if got := isTemporary(c.err); got != c.temp {
			t.Errorf("%s: temporary %v, want %v", c.name, got, c.temp)
		}
		if got := isTemporary(classify(c.err)); got != c.temp {
			t.Errorf("%s, classified: temporary %v, want %v", c.name, got, c.temp)
		}
	}
}

func TestHeaderSafe(t *testing.T) {
	cases := []struct {
		in string
		ok bool
	}{
		{"Salary for October", true},
		{"Palkka ja verokortti – äö", true},
		{"tab\tinside", true},
		{"Salary\r\nBcc: x@example.net", false},
		{"Salary\nBcc: x@example.net", false},
		{"Salary\rBcc", false},
		{"nul\x00", false},
		{"bell\x07", false},
		{"del\x7f", false},
		{"c1\u0085next line", false},
		{"bad \xff utf-8", false},
	}
	for _, c := range cases {
		if err := headerSafe(c.in); (err == nil) != c.ok {
			t.Errorf("headerSafe(%q) = %v, want ok %v", c.in, err, c.ok)
		}
	}
}

func TestPlainAddress(t *testing.T) {
	for in, ok := range map[string]bool{
		"cara@acme.example":                     true,
		"Cara <cara@acme.example>":              false,
		"cara@acme.example, bob@acme.example":   false,
		"cara@acme.example\r\nBcc: x@y.example": false,
		"not an address":                        false,
		"":                                      false,
	} {
		if _, err := plainAddress(in); (err == nil) != ok {
			t.Errorf("plainAddress(%q): %v, want ok %v", in, err, ok)
		}
	}
}

// RFC 5322 3.6.4: In-Reply-To names the mail replied to; References the
// thread, here its root and the newest, within the line limit.
func TestReferences(t *testing.T) {
	id := func(i int) string { return fmt.Sprintf("%024d@postdesk.example.com", i) }
	var thread []store.ThreadMail
	for i := 1; i <= 30; i++ {
		thread = append(thread, store.ThreadMail{MessageID: id(i), Message: int64(i)})
	}
	t.Run("notice carrying a customer mail", func(t *testing.T) {
		irt, refs := references(thread[:5], &store.Message{ID: 3})
		if irt != id(3) || refs != "<"+id(1)+"> <"+id(2)+"> <"+id(3)+">" {
			t.Errorf("In-Reply-To %s References %s", irt, refs)
		}
	})
	t.Run("answer carrying the Handler's message", func(t *testing.T) {
		irt, _ := references(thread[:5], &store.Message{ID: 99})
		if irt != id(5) {
			t.Errorf("In-Reply-To %s, want the newest %s", irt, id(5))
		}
	})
	t.Run("long thread", func(t *testing.T) {
		irt, refs := references(thread, nil)
		ids := strings.Fields(refs)
		if irt != id(30) || ids[0] != "<"+id(1)+">" || ids[len(ids)-1] != "<"+id(30)+">" {
			t.Errorf("In-Reply-To %s References %s", irt, refs)
		}
		if len(ids) > maxReferences || len(refs) > maxReferencesLen {
			t.Errorf("%d IDs, %d octets: over the caps", len(ids), len(refs))
		}
		if len("References: ")+len(refs) > 998 {
			t.Error("over the line limit of RFC 5322 2.1.1")
		}
	})
	t.Run("broken and repeated IDs are left out", func(t *testing.T) {
		th := []store.ThreadMail{{MessageID: "a@b"}, {MessageID: "bad id@x"}, {MessageID: "a@b"}, {MessageID: "c@d\r\nX: y"}, {MessageID: "e@f"}}
		irt, refs := references(th, nil)
		if irt != "e@f" || refs != "<a@b> <e@f>" {
			t.Errorf("In-Reply-To %s References %s", irt, refs)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if irt, refs := references(nil, nil); irt != "" || refs != "" {
			t.Errorf("%q %q", irt, refs)
		}
	})
}

func TestContentType(t *testing.T) {
	for in, want := range map[string]string{
		"application/pdf": "application/pdf",
		`text/plain; charset="utf-8"; name="a.txt"`: "text/plain; charset=utf-8",
		"text/html\r\nX-Evil: 1":                    "application/octet-stream",
		"":                                          "application/octet-stream",
		"garbage/":                                  "application/octet-stream",
	} {
		if got := contentType(in); got != want {
			t.Errorf("contentType(%q) = %q, want %q", in, got, want)
		}
	}
}
