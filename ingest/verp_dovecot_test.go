package ingest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"postdesk/conversation"
	"postdesk/store"
	"postdesk/threading"
)

// dsn is a delivery report (RFC 3464) as an MTA writes it, delivered to the
// envelope address to, about the mail with Message-ID orig.
func dsn(id, to, orig string) []byte {
	return fmt.Appendf(nil, "Delivered-To: %s\r\nReturn-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.acme.example>\r\n"+
		"To: %s\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <%s@mx.acme.example>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n"+
		"--b\r\nContent-Type: text/plain\r\n\r\nYour answer was wrong, call +358 40 000 0000.\r\n"+
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.example\r\n\r\n"+
		"Final-Recipient: rfc822; cara.customer@acme.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"+
		"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: payroll@example.com\r\nMessage-ID: <%s>\r\n--b--\r\n", to, to, id, orig)
}

// Issue 10, forged bounces, through a real Dovecot: a report naming our
// answer's Message-ID sent to the bare category address changes nothing,
// tells nobody and is not shown to the customer; the report at the answer's
// return path marks exactly that row failed and tells the Handler.
func TestDeskDovecotForgedAndRealBounce(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	ctx := context.Background()
	sg, err := threading.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	svc := conversation.New(e.st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg})
	start(t, e.options(), e.desk, e.desk, nil)
	e.dovecot.Append(t, e.user.Name, "INBOX", customerMail("q1"))
	waitFor(t, 10*time.Second, "the conversation", func() bool { return e.inbound(t) == 1 })

	var conv int64
	if err := e.st.Pool().QueryRow(ctx, `SELECT id FROM conversations`).Scan(&conv); err != nil {
		t.Fatal(err)
	}
	aino, err := svc.ActorByEmail(ctx, "aino.handler@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Reply(ctx, aino, conv, "Your salary is right.", nil); err != nil {
		t.Fatal(err)
	}
	rows := func() map[string]string { // template/recipient -> status
		items, err := e.st.OutboxFor(ctx, conv)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, it := range items {
			out[fmt.Sprintf("%d %s %s", it.ID, it.Template, it.Recipient)] = it.Status
		}
		return out
	}
	items, _ := e.st.OutboxFor(ctx, conv)
	answer := items[len(items)-1]
	if answer.Template != store.TemplateAnswer {
		t.Fatalf("last row %+v, want the answer", answer)
	}
	before := rows()

	// Forged: the answer's Message-ID, to the bare address.
	e.dovecot.Append(t, e.user.Name, "INBOX", dsn("forged", "payroll@example.com", answer.MailMessageID))
	waitFor(t, 10*time.Second, "the forged report", func() bool { return e.inbound(t) == 2 })
	if after := rows(); !maps.Equal(after, before) {
		t.Fatalf("a forged report changed the outbox:\nbefore %v\nafter  %v", before, after)
	}
	if n := e.count(t, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND event = 'delivery_failed'`, conv); n != 0 {
		t.Fatalf("a forged report put %d delivery failures in the timeline", n)
	}
	cara, err := svc.ActorByEmail(ctx, "cara.customer@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	v, err := svc.Get(ctx, cara, conv)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(v.Messages, func(m store.Message) bool { return strings.Contains(m.Text, "+358") }) {
		t.Fatal("the customer sees the forged report's text")
	}
	sv, _ := svc.Get(ctx, aino, conv)
	if !slices.ContainsFunc(sv.Messages, func(m store.Message) bool {
		return m.Kind == store.KindBounce && strings.Contains(strings.Join(m.Problems, " "), "Unverified")
	}) {
		t.Fatal("staff do not see the forged report marked unverified")
	}

	// Real: to the answer's return path, whatever Message-ID it names.
	verp, err := sg.ReturnPath("payroll@example.com", answer.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.dovecot.Append(t, e.user.Name, "INBOX", dsn("real", verp, "not-ours@elsewhere.example"))
	waitFor(t, 10*time.Second, "the real report", func() bool { return e.inbound(t) == 3 })
	after := rows()
	for k, status := range after {
		want := before[k]
		switch {
		case strings.HasPrefix(k, fmt.Sprintf("%d ", answer.ID)):
			want = "failed"
		case want == "" && strings.Contains(k, store.TemplateDeliveryFailed+" aino.handler@example.com"):
			want = "pending" // the one notice, to the Handler
		}
		if status != want {
			t.Errorf("outbox %s is %q, want %q", k, status, want)
		}
	}
	if len(after) != len(before)+1 {
		t.Errorf("outbox rows %v, want the old ones and one delivery_failed notice", after)
	}
}
