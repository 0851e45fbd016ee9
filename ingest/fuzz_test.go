package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"postdesk/conversation"
	"postdesk/store/storetest"
	"postdesk/threading"
)

// FuzzDeliverHostileHeaders drives generated hostile headers through the
// real delivery path (conversation.Receive against PostgreSQL): whatever a
// header holds, the mail must be stored. Any error but a temporary one
// (which would say the database, not the mail, is at fault) is a failure:
// it would quarantine a mail the store should have taken.
//
// Each value is repeated up to 4 KB times, so one input reaches the sizes
// that break indexes (a btree entry holds about 2.7 KB).
func FuzzDeliverHostileHeaders(f *testing.F) {
	f.Add("cara.customer@acme.example", "id.1@acme.example", "Salary", "X-Note", "hello", uint16(0))
	f.Add("<>", "", "=?utf-8?B?AAAA?=", "References", "<a@b> <c@d>", uint16(2000))
	f.Add("\"\x00\" <x@y>", "\xff\xfe@\x00", "\x00\xff", "In-Reply-To", "<\xc3\x28@acme.example>", uint16(3000))
	f.Add("a@acme.example", "abcdefghijklmnop", "Re: [#1000] x", "Content-Type", "multipart/mixed; boundary=\"", uint16(1500))
	f.Add("payroll+v1.aaaa@example.com", "x@postdesk.example.com", "x", "Authentication-Results", "mx; dmarc=pass", uint16(4000))
	f.Add("b@acme.example", "id@acme.example", "x", "Content-Disposition", "attachment; filename=", uint16(4000))

	st, c := storetest.Org(f, deskConfig)
	sg, err := threading.NewSigner([]byte(c.Secret))
	if err != nil {
		f.Fatal(err)
	}
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg,
		Logger: slog.New(slog.DiscardHandler)})
	desk := NewDesk(st, svc, map[string]string{"fuzz": "payroll"})
	var uid atomic.Uint32
	f.Fuzz(func(t *testing.T, from, msgID, subject, name, value string, repeat uint16) {
		n := 1 + int(repeat)%4096
		long := func(s string) string {
			if len(s)*n > 64<<10 {
				return s
			}
			return strings.Repeat(s, n)
		}
		if name = headerName(name); name == "" {
			name = "X-Fuzz"
		}
		raw := fmt.Sprintf("From: %s\r\nTo: payroll@example.com\r\nSubject: %s\r\nMessage-ID: <%s>\r\nReferences: <%s>\r\n%s: %s\r\n"+
			"Content-Type: text/plain; name=\"%s\"\r\n\r\nbody %s\r\n",
			oneLine(long(from)), oneLine(subject), oneLine(long(msgID)), oneLine(long(msgID)), name, oneLine(long(value)),
			oneLine(long(value)), value)
		m := Fetched{UIDValidity: 1, UID: uid.Add(1), Raw: []byte(raw), Size: int64(len(raw))}
		if err := desk.Deliver(context.Background(), "fuzz", m); err != nil && classify(err) != transient {
			t.Fatalf("delivery failed (%v): %v", classify(err), err)
		}
	})
}

// headerName keeps the characters a field name may have (RFC 5322 section
// 2.2: printable US-ASCII but colon), so the input stays one header field.
func headerName(s string) string {
	return strings.Map(func(r rune) rune {
		if r > 32 && r < 127 && r != ':' {
			return r
		}
		return -1
	}, s)
}

// oneLine keeps a value on its header line: line breaks become spaces.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}
