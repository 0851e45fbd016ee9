package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postdesk/internal/dovecottest"
	"postdesk/sandbox"
	"postdesk/store"
	"postdesk/store/storetest"
	"postdesk/threading"
)

// The whole loop on the wire, through the binary: Dovecot is the category
// mailbox, what postdesk sends goes over SMTP to the sandbox, where each
// recipient reads it from their own mailbox as a mail client would, and
// people's replies arrive in Dovecot as their MTA would deliver them.

type captured struct {
	from string // the envelope sender
	msg  *mail.Message
	body string
}

// outside is the world postdesk mails: the sandbox's SMTP server and the
// recipients' mailboxes behind it.
type outside struct{ sb *sandbox.Sandbox }

func startOutside(t *testing.T) (*outside, int) {
	t.Helper()
	sb, err := sandbox.Start(sandbox.Options{Password: "sandbox", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	_, port := splitHostPort(sb.SMTPAddr)
	return &outside{sb: sb}, port
}

// inbox reads a recipient's mailbox over IMAP; nil before their first mail.
func (o *outside) inbox(t *testing.T, user string) [][]byte {
	t.Helper()
	c, err := imapclient.DialInsecure(o.sb.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, "sandbox").Wait(); err != nil {
		return nil // no mail for them yet
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages == 0 {
		return nil
	}
	var all imap.SeqSet
	all.AddRange(1, sel.NumMessages)
	section := &imap.FetchItemBodySection{}
	msgs, err := c.Fetch(all, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	for _, m := range msgs {
		raws = append(raws, m.FindBodySection(section))
	}
	return raws
}

// waitMail waits for the n-th mail (counting from 1) to a recipient.
func (o *outside) waitMail(t *testing.T, to string, n int) captured {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if raws := o.inbox(t, to); len(raws) >= n {
			m, err := mail.ReadMessage(bytes.NewReader(raws[n-1]))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(m.Body)
			c := captured{msg: m, body: string(body)}
			k := 0
			caps := o.sb.Captured() // newest first
			for i := len(caps) - 1; i >= 0; i-- {
				if e := caps[i]; len(e.To) == 1 && e.To[0] == to {
					if k++; k == n {
						c.from = e.From
					}
				}
			}
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("mail %d to %s never came", n, to)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recipients counts the mail the SMTP server took, by recipient.
func (o *outside) recipients() map[string]int {
	out := map[string]int{}
	for _, m := range o.sb.Captured() {
		for _, r := range m.To {
			out[r]++
		}
	}
	return out
}

// text is the plain-text part of a captured mail.
func (c captured) text(t *testing.T) string {
	t.Helper()
	p := parseParts(t, c.msg.Header.Get("Content-Type"), c.msg.Header.Get("Content-Transfer-Encoding"), c.body)
	return p
}

func TestFullLoopOnTheWire(t *testing.T) {
	t.Parallel()
	dbURL := storetest.EmptyURL(t)
	dc := dovecottest.Start(t)
	sk, smtpPort := startOutside(t)
	listen := freePort(t)
	f := filepath.Join(t.TempDir(), "postdesk.yaml")
	os.WriteFile(f, []byte(fmt.Sprintf(`
listen: %s
database_url: env:TEST_DATABASE_URL
secret: env:TEST_SECRET
smtp: {host: 127.0.0.1, port: %d, tls: none}
mailboxes:
  - {name: payroll, host: %s, port: %d, tls: none, username: %s, password: %s, category: payroll, poll_interval: 200ms, existing: notify}
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team]}
  - {key: sick-leave, name: Sick leave, addresses: [hr@example.com], roles: [hr-team]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
  - {key: hr-team, name: HR team, staff: true}
users:
  - {email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team]}
  - {email: ben.payroll@example.com, name: Ben Payroll, roles: [payroll-team], language: fi}
  - {email: hilla.hr@example.com, name: Hilla HR, roles: [hr-team]}
`, listen, smtpPort, dc.Host, dc.Port, dovecottest.DefaultUser.Name, dovecottest.DefaultUser.Password)), 0o600)
	startServe(t, dbURL, f)
	user := dovecottest.DefaultUser.Name
	deliver := func(raw string) { dc.Append(t, user, "INBOX", []byte(strings.ReplaceAll(raw, "\n", "\r\n"))) }

	// 1. A customer writes to payroll@.
	deliver(`From: Cara Customer <cara.customer@acme.example>
To: payroll@example.com
Subject: Salary for October
Message-ID: <cara.1@acme.example>
Date: Mon, 02 Nov 2026 09:00:00 +0200

My October salary is missing the overtime.
`)
	// 2. Each member of the preset role is notified, and nobody else.
	toAino := sk.waitMail(t, "aino.handler@example.com", 1)
	sk.waitMail(t, "ben.payroll@example.com", 1)
	ack := sk.waitMail(t, "cara.customer@acme.example", 1)
	if n := sk.recipients()["hilla.hr@example.com"]; n != 0 {
		t.Fatalf("a member of another role was notified %d times", n)
	}
	if !strings.Contains(toAino.text(t), "missing the overtime") || toAino.msg.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Fatalf("notification: %s", toAino.text(t))
	}
	subject := toAino.msg.Header.Get("Subject")
	if !strings.Contains(ack.msg.Header.Get("Subject"), "[#") {
		t.Fatalf("acknowledgement subject %q", ack.msg.Header.Get("Subject"))
	}

	// 3. Aino presses Reply in Thunderbird: quoted original, References.
	replyTo := addrOf(t, toAino.msg.Header.Get("Reply-To"))
	notifID := toAino.msg.Header.Get("Message-Id")
	deliver(fmt.Sprintf(`From: Aino Handler <aino.handler@example.com>
To: Payroll <%s>
Subject: Re: %s
Message-ID: <tb.1@example.com>
In-Reply-To: %s
References: <cara.1@acme.example> %s
Content-Type: text/plain; charset=UTF-8; format=flowed

The overtime is paid with the November salary on the 15th.

Aino

On 02/11/2026 9.05, Payroll wrote:
> My October salary is missing the overtime.
`, replyTo, subject, notifID, notifID))

	// 4. The customer gets only the new text, threaded, from the category address.
	answer := sk.waitMail(t, "cara.customer@acme.example", 2)
	text := answer.text(t)
	if !strings.Contains(text, "paid with the November salary") || strings.Contains(text, "> My October salary") || strings.Contains(text, "wrote:") {
		t.Fatalf("the customer's answer:\n%s", text)
	}
	// The envelope sender is the answer's own signed return path (VERP).
	sg, _ := threading.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	base, tag := threading.SplitPlus(answer.from)
	_, verr := sg.VerifyBounce(strings.TrimPrefix(tag, threading.BouncePrefix))
	if from := addrOf(t, answer.msg.Header.Get("From")); from != "payroll@example.com" || base != "payroll@example.com" || verr != nil {
		t.Fatalf("answer From %q, envelope %q (%v)", answer.msg.Header.Get("From"), answer.from, verr)
	}
	// Threaded under the customer's own mail (the thread's root) and the
	// acknowledgement they got; the staff member's mail stays internal.
	refs := answer.msg.Header.Get("References")
	if !strings.HasPrefix(refs, "<cara.1@acme.example>") || !strings.Contains(refs, ack.msg.Header.Get("Message-Id")) ||
		strings.Contains(refs, "tb.1@example.com") || answer.msg.Header.Get("In-Reply-To") == "" || answer.msg.Header.Get("Auto-Submitted") != "" {
		t.Fatalf("answer threading: In-Reply-To %q References %q Auto-Submitted %q", answer.msg.Header.Get("In-Reply-To"), refs, answer.msg.Header.Get("Auto-Submitted"))
	}

	// 5. The customer replies; the Handler, and only the Handler, is told.
	before := sk.recipients()
	deliver(fmt.Sprintf(`From: Cara Customer <cara.customer@acme.example>
To: %s
Subject: Re: %s
Message-ID: <cara.2@acme.example>
In-Reply-To: %s

Thank you! Will it show on the payslip?

On Mon, 2 Nov 2026 at 10:00, Payroll <payroll@example.com> wrote:
> The overtime is paid with the November salary on the 15th.
`, addrOf(t, answer.msg.Header.Get("Reply-To")), answer.msg.Header.Get("Subject"), answer.msg.Header.Get("Message-Id")))
	toHandler := sk.waitMail(t, "aino.handler@example.com", 2)
	if !strings.Contains(toHandler.text(t), "show on the payslip") {
		t.Fatalf("the Handler's notice:\n%s", toHandler.text(t))
	}
	time.Sleep(500 * time.Millisecond)
	if sk.recipients()["ben.payroll@example.com"] != before["ben.payroll@example.com"] {
		t.Fatal("a customer reply with a Handler notified the whole role")
	}

	// 6. Aino answers from Outlook with #solved: the rest is sent, then it is Solved.
	replyTo = addrOf(t, toHandler.msg.Header.Get("Reply-To"))
	deliver(fmt.Sprintf(`From: Aino Handler <aino.handler@example.com>
To: %s
Subject: RE: %s
Message-ID: <outlook.1@example.com>
In-Reply-To: %s
Thread-Index: AQHZ1234

#solved
Yes, as a separate line "Overtime 10/2026".

________________________________
From: Payroll <payroll@example.com>
Sent: Monday, 2 November 2026 10.30
To: Aino Handler <aino.handler@example.com>
Subject: %s

Thank you! Will it show on the payslip?
`, replyTo, toHandler.msg.Header.Get("Subject"), toHandler.msg.Header.Get("Message-Id"), toHandler.msg.Header.Get("Subject")))
	last := sk.waitMail(t, "cara.customer@acme.example", 3)
	if got := last.text(t); !strings.Contains(got, "Overtime 10/2026") || strings.Contains(got, "#solved") || strings.Contains(got, "Sent:") {
		t.Fatalf("the second answer:\n%s", got)
	}
	sk.waitMail(t, "cara.customer@acme.example", 4) // the solved notice

	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var status, handler string
	var inbound int
	st.Pool().QueryRow(ctx, `SELECT c.status, u.email, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.mailbox IS NOT NULL)
		FROM conversations c JOIN users u ON u.id = c.handler_id`).Scan(&status, &handler, &inbound)
	if status != "solved" || handler != "aino.handler@example.com" || inbound != 4 {
		t.Fatalf("conversation: status %s handler %s, %d mails from the mailbox; want solved, Aino, 4", status, handler, inbound)
	}
	var conversations int
	st.Pool().QueryRow(ctx, `SELECT count(*) FROM conversations`).Scan(&conversations)
	if conversations != 1 {
		t.Fatalf("%d conversations, want the one loop", conversations)
	}
}

func addrOf(t *testing.T, h string) string {
	t.Helper()
	a, err := mail.ParseAddress(h)
	if err != nil {
		t.Fatalf("address %q: %v", h, err)
	}
	return a.Address
}

// parseParts returns the decoded text/plain part of a body.
func parseParts(t *testing.T, ctype, cte, body string) string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("content type %q: %v", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		r := multipart.NewReader(strings.NewReader(body), params["boundary"])
		for {
			p, err := r.NextRawPart()
			if err != nil {
				return ""
			}
			b, _ := io.ReadAll(p)
			if got := parseParts(t, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), string(b)); got != "" {
				return got
			}
		}
	}
	if mt != "text/plain" {
		return ""
	}
	var r io.Reader = strings.NewReader(body)
	switch strings.ToLower(cte) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}
