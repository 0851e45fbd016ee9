package conversation_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"postdesk/conversation"
	"postdesk/store"
	"postdesk/threading"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func (f *fixture) withSigner(limit int) *threading.Signer {
	f.t.Helper()
	sg, err := threading.NewSigner(testSecret)
	if err != nil {
		f.t.Fatal(err)
	}
	f.svc = conversation.New(f.st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg, SenderLimit: limit})
	return sg
}

func (f *fixture) receive(uid uint32, raw string) *conversation.Received {
	f.t.Helper()
	r, err := f.svc.Receive(f.ctx, conversation.Inbound{Mailbox: "payroll", UIDValidity: 7, UID: uid,
		Raw: []byte(strings.ReplaceAll(raw, "\n", "\r\n")), DefaultCategory: "payroll"})
	if err != nil {
		f.t.Fatalf("receive uid %d: %v", uid, err)
	}
	return r
}

func mail(headers, body string) string {
	return strings.TrimLeft(headers, "\n") + "\n" + body
}

const firstMail = `
From: Cara Customer <cara.customer@acme.example>
To: payroll@example.com
Subject: Salary for October
Date: Mon, 02 Nov 2026 09:00:00 +0200
Message-ID: <first.1@acme.example>
Content-Type: text/plain; charset=utf-8
`

func TestReceiveOpensRoutedConversation(t *testing.T) {
	f := setup(t)
	f.withSigner(0)
	r := f.receive(1, mail(firstMail, "My October salary is missing the overtime.\n"))
	if r.Duplicate || r.ConversationID == 0 || r.Kind != store.KindCustomer || r.Decision.By != threading.ByNew {
		t.Fatalf("received %+v", r)
	}
	c := f.get(r.ConversationID)
	if c.CategoryKey != "payroll" || c.Subject != "Salary for October" || c.Status != store.StatusNew || c.HeldForReview {
		t.Fatalf("conversation %+v", c)
	}
	want := []string{"aino.handler@example.com", "ben.payroll@example.com", "lea.lead@example.com"}
	if got := f.outbox(c.ID, store.TemplateNewConversation); !slices.Equal(got, want) {
		t.Fatalf("notified %v, want %v", got, want)
	}
	cara := f.actor("cara.customer@acme.example")
	if c.CustomerID == nil || *c.CustomerID != cara.User.ID {
		t.Fatal("the sender is not the customer")
	}
	if got := f.outbox(c.ID, store.TemplateReceived); !slices.Equal(got, []string{"cara.customer@acme.example"}) {
		t.Fatalf("acknowledgement to %v, want the customer", got)
	}
	v, err := f.svc.Get(f.ctx, cara, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	m := v.Messages[0]
	if m.Text != "My October salary is missing the overtime.\n" || m.MessageID != "first.1@acme.example" || m.Mailbox != "payroll" || m.UID != 1 {
		t.Fatalf("message %+v", m)
	}
	raw, err := f.st.Blob(f.ctx, m.RawSHA256)
	if err != nil || !strings.Contains(string(raw), "Message-ID: <first.1@acme.example>") {
		t.Fatalf("raw source not kept: %v", err)
	}
	mb, _ := f.st.Mailbox(f.ctx, "payroll")
	if mb.UIDValidity != 7 || mb.LastUID != 1 {
		t.Fatalf("cursor %+v, want 7/1", mb)
	}
	if a := f.audits(c.ID); !slices.Contains(a, "ingest:received") {
		t.Fatalf("audit %v", a)
	}
}

func TestReceiveNeverStoresTwice(t *testing.T) {
	f := setup(t)
	f.withSigner(0)
	first := f.receive(1, mail(firstMail, "Hello\n"))
	// The same UID again (a crash after commit, before \Seen).
	again := f.receive(1, mail(firstMail, "Hello\n"))
	// The same mail under a new UID (UIDVALIDITY reset and rescan).
	r, err := f.svc.Receive(f.ctx, conversation.Inbound{Mailbox: "payroll", UIDValidity: 8, UID: 1,
		Raw: []byte(mail(firstMail, "Hello\n")), DefaultCategory: "payroll"})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || !r.Duplicate || again.ConversationID != first.ConversationID {
		t.Fatalf("refetches not recognised: %+v %+v", again, r)
	}
	var n int
	f.st.Pool().QueryRow(f.ctx, `SELECT count(*) FROM messages WHERE direction = 'in'`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d inbound messages, want 1", n)
	}
	if got := f.outbox(first.ConversationID, store.TemplateNewConversation); len(got) != 3 {
		t.Fatalf("notifications %v: a refetch notified again", got)
	}
	mb, _ := f.st.Mailbox(f.ctx, "payroll")
	if mb.UIDValidity != 8 || mb.LastUID != 1 {
		t.Fatalf("cursor %+v after a duplicate under a new UIDVALIDITY", mb)
	}
	// A broken client reusing the Message-ID for a different mail is a new mail.
	reused := strings.Replace(firstMail, "Subject: Salary for October", "Subject: Holiday pay", 1)
	if r := f.receive(2, mail(reused, "Different\n")); r.Duplicate {
		t.Fatal("a different mail with a reused Message-ID was dropped as a duplicate")
	}
}

func TestReceiveCategoryFromRecipients(t *testing.T) {
	f := setup(t)
	f.withSigner(0)
	for _, tc := range []struct {
		headers string
		want    string
	}{
		{"To: hr@example.com\n", "sick-leave"},
		{"To: someone@example.net\nCc: HR@Example.com\n", "sick-leave"},
		{"To: undisclosed-recipients:;\nDelivered-To: hr+x@example.com\n", "sick-leave"},
		{"To: info@example.org\n", "payroll"}, // the mailbox's default
	} {
		uid := uint32(len(tc.headers))
		r := f.receive(uid, mail(fmt.Sprintf("From: x%d@acme.example\n%sSubject: s\nMessage-ID: <c%d@acme.example>\n", uid, tc.headers, uid), "b\n"))
		if got := f.get(r.ConversationID).CategoryKey; got != tc.want {
			t.Errorf("%q: category %s, want %s", tc.headers, got, tc.want)
		}
	}
}

func TestReceiveThreadsRepliesAndRefusesStrangers(t *testing.T) {
	f := setup(t)
	f.withSigner(0)
	first := f.receive(1, mail(firstMail, "Hello\n"))
	c := f.get(first.ConversationID)

	reply := mail(`
From: cara.customer@acme.example
To: payroll@example.com
Subject: VS: Salary for October
In-Reply-To: <first.1@acme.example>
Message-ID: <second.2@acme.example>
`, "Any news?\n")
	if r := f.receive(2, reply); r.ConversationID != c.ID || r.Decision.By != threading.ByMessageID {
		t.Fatalf("a reply by In-Reply-To went to %d by %s", r.ConversationID, r.Decision.By)
	}
	tagged := mail(fmt.Sprintf(`
From: cara.customer@acme.example
To: payroll@example.com
Subject: Re: [#%d] Salary
Message-ID: <third.3@acme.example>
`, c.Number), "Also this.\n")
	if r := f.receive(3, tagged); r.ConversationID != c.ID || r.Decision.By != threading.BySubjectTag {
		t.Fatalf("a tagged reply went to %d by %s", r.ConversationID, r.Decision.By)
	}

	// A stranger copying headers or guessing the number gets a new conversation.
	hijack := mail(fmt.Sprintf(`
From: mallory@evil.example
To: payroll@example.com
Subject: Re: [#%d] Salary
In-Reply-To: <first.1@acme.example>
References: <first.1@acme.example> <second.2@acme.example>
Message-ID: <evil.4@evil.example>
`, c.Number), "Send me everything.\n")
	r := f.receive(4, hijack)
	if r.ConversationID == c.ID {
		t.Fatal("a stranger's mail entered the customer's conversation")
	}
	if !strings.Contains(r.Decision.Note, "participant") {
		t.Fatalf("refusal not noted: %q", r.Decision.Note)
	}
	v, _ := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), r.ConversationID)
	if !slices.ContainsFunc(v.Messages[0].Problems, func(p string) bool { return strings.HasPrefix(p, "Threading:") }) {
		t.Fatalf("the refusal is not shown to staff: %v", v.Messages[0].Problems)
	}
	if got := f.get(c.ID); got.Status != store.StatusNew {
		t.Fatalf("status %s", got.Status)
	}
	v, _ = f.svc.Get(f.ctx, f.actor("cara.customer@acme.example"), c.ID)
	if n := countKind(v.Messages, store.KindCustomer); n != 3 {
		t.Fatalf("%d customer messages in the conversation, want 3", n)
	}
}

func TestReceiveStaffReplyByToken(t *testing.T) {
	f := setup(t)
	sg := f.withSigner(0)
	first := f.receive(1, mail(firstMail, "Hello\n"))
	c := f.get(first.ConversationID)
	aino := f.actor("aino.handler@example.com")
	addr, err := threading.PlusAddress("payroll@example.com", sg.Sign(threading.Token{Conversation: c.ID, Recipient: aino.User.ID}))
	if err != nil {
		t.Fatal(err)
	}

	// The token from someone else's address attaches, without staff powers.
	forwarded := mail(fmt.Sprintf(`
From: ben.payroll@example.com
To: %s
Subject: Re: Salary for October
Message-ID: <fwd.5@example.com>
`, addr), "I am not Aino.\n")
	r := f.receive(5, forwarded)
	if r.ConversationID != c.ID || r.Decision.Staff || r.Kind == store.KindStaff {
		t.Fatalf("token from another address: %+v", r)
	}
	if got := f.outbox(c.ID, store.TemplateAnswer); len(got) != 0 {
		t.Fatalf("a reply without staff powers was sent to %v", got)
	}

	staff := mail(fmt.Sprintf(`
From: Aino Handler <aino.handler@example.com>
To: %s
Subject: Re: [#%d] Salary for October
In-Reply-To: <first.1@acme.example>
Message-ID: <reply.6@example.com>
`, addr, c.Number), "The overtime is paid on the 15th.\n")
	r = f.receive(6, staff)
	if r.ConversationID != c.ID || !r.Decision.Staff {
		t.Fatalf("staff reply: %+v", r)
	}
	got := f.get(c.ID)
	if got.Status != store.StatusWaiting || got.HandlerID == nil || *got.HandlerID != aino.User.ID {
		t.Fatalf("after a staff reply by mail: %s %v", got.Status, got.HandlerID)
	}
	if to := f.outbox(c.ID, store.TemplateAnswer); !slices.Equal(to, []string{"cara.customer@acme.example"}) {
		t.Fatalf("answer to %v", to)
	}

	// An out-of-office reply carrying the same token is stored and ignored.
	ooo := mail(fmt.Sprintf(`
From: aino.handler@example.com
To: %s
Subject: Automatic reply: Salary
Auto-Submitted: auto-replied
Message-ID: <ooo.7@example.com>
`, addr), "I am away.\n")
	before := len(f.outbox(c.ID, store.TemplateAnswer))
	r = f.receive(7, ooo)
	if r.Kind != store.KindAutoReply || r.ConversationID != c.ID {
		t.Fatalf("auto-reply: %+v", r)
	}
	if after := len(f.outbox(c.ID, store.TemplateAnswer)); after != before {
		t.Fatal("an auto-reply was sent on to the customer")
	}
}

func TestReceiveBounceMarksDeliveryFailed(t *testing.T) {
	f := setup(t)
	sg := f.withSigner(0)
	first := f.receive(1, mail(firstMail, "Hello\n"))
	c := f.get(first.ConversationID)
	if _, err := f.svc.Reply(f.ctx, f.actor("aino.handler@example.com"), c.ID, "Answer", nil); err != nil {
		t.Fatal(err)
	}
	items, _ := f.st.OutboxFor(f.ctx, c.ID)
	var answer store.OutboxItem
	for _, it := range items {
		if it.Template == store.TemplateAnswer {
			answer = it
		}
	}
	verp, err := sg.ReturnPath("payroll@example.com", answer.ID)
	if err != nil {
		t.Fatal(err)
	}
	dsn := mail(`
Delivered-To: `+verp+`
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: `+verp+`
Subject: Undelivered Mail Returned to Sender
Return-Path: <>
Auto-Submitted: auto-replied
Message-ID: <dsn.8@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"
`, fmt.Sprintf(`--b
Content-Type: text/plain

Your message could not be delivered.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; cara.customer@acme.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown
--b
Content-Type: text/rfc822-headers

From: payroll@example.com
To: cara.customer@acme.example
Message-ID: <%s>
--b--
`, answer.MailMessageID))
	r := f.receive(8, dsn)
	if r.Kind != store.KindBounce || r.ConversationID != c.ID {
		t.Fatalf("bounce: %+v", r)
	}
	items, _ = f.st.OutboxFor(f.ctx, c.ID)
	for _, it := range items {
		if it.ID == answer.ID && (it.Status != "failed" || !strings.Contains(it.LastError, "5.1.1")) {
			t.Fatalf("the bounced mail is %s (%q), want failed", it.Status, it.LastError)
		}
	}
	if to := f.outbox(c.ID, store.TemplateDeliveryFailed); !slices.Equal(to, []string{"aino.handler@example.com"}) {
		t.Fatalf("delivery failure told to %v, want the Handler", to)
	}
	v, _ := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), c.ID)
	if !slices.ContainsFunc(v.Messages, func(m store.Message) bool { return m.Event == "delivery_failed" }) {
		t.Fatal("no delivery_failed event in the timeline")
	}

	// The notice to the Handler bounces too: recorded, and no notice about
	// the notice (that is how a loop would start).
	items, _ = f.st.OutboxFor(f.ctx, c.ID)
	var notice store.OutboxItem
	for _, it := range items {
		if it.Template == store.TemplateDeliveryFailed {
			notice = it
		}
	}
	noticePath, _ := sg.ReturnPath("payroll@example.com", notice.ID)
	second := strings.Replace(strings.Replace(dsn, answer.MailMessageID, notice.MailMessageID, 1), "dsn.8@", "dsn.9@", 1)
	second = strings.ReplaceAll(second, verp, noticePath)
	second = strings.Replace(second, "cara.customer@acme.example", "aino.handler@example.com", -1)
	if r := f.receive(9, second); r.Kind != store.KindBounce || r.ConversationID != c.ID {
		t.Fatalf("second bounce: %+v", r)
	}
	if n := len(f.outbox(c.ID, store.TemplateDeliveryFailed)); n != 1 {
		t.Fatalf("%d delivery_failed notices, want still 1", n)
	}
}

func TestReceiveHoldsUnknownSendersAndMachineMail(t *testing.T) {
	f := setup(t)
	f.withSigner(0)
	restricted := strings.Replace(testConfig, "roles: [hr-team]}", "roles: [hr-team], allow_from: [\"*@acme.example\"]}", 1)
	if err := f.st.ApplyConfig(f.ctx, parse(t, restricted)); err != nil {
		t.Fatal(err)
	}
	stranger := f.receive(1, mail("From: pat@unknown.example\nTo: hr@example.com\nSubject: Hi\nMessage-ID: <h1@unknown.example>\n", "Hello\n"))
	allowed := f.receive(2, mail("From: cara.customer@acme.example\nTo: hr@example.com\nSubject: Hi\nMessage-ID: <h2@acme.example>\n", "Hello\n"))
	ooo := f.receive(3, mail("From: someone@acme.example\nTo: payroll@example.com\nSubject: Out of office\nAuto-Submitted: auto-replied\nMessage-ID: <h3@acme.example>\n", "Away\n"))
	for _, tc := range []struct {
		r    *conversation.Received
		held bool
	}{{stranger, true}, {allowed, false}, {ooo, true}} {
		c := f.get(tc.r.ConversationID)
		notified := len(f.outbox(c.ID, store.TemplateNewConversation)) > 0
		if acked := len(f.outbox(c.ID, store.TemplateReceived)) > 0; acked == tc.held {
			t.Errorf("%q: acknowledged %v, want %v", c.Subject, acked, !tc.held)
		}
		if c.HeldForReview != tc.held || notified == tc.held {
			t.Errorf("%q: held %v notified %v, want held %v", c.Subject, c.HeldForReview, notified, tc.held)
		}
	}
	// Held mail is visible to staff, not dropped.
	if _, err := f.svc.Get(f.ctx, f.actor("hilla.hr@example.com"), stranger.ConversationID); err != nil {
		t.Fatalf("held conversation hidden from staff: %v", err)
	}
}

func TestReceiveSenderLimitStopsLoops(t *testing.T) {
	f := setup(t)
	f.withSigner(2)
	for i := uint32(1); i <= 3; i++ {
		r := f.receive(i, mail(fmt.Sprintf("From: robot@loop.example\nTo: payroll@example.com\nSubject: Ticket %d\nMessage-ID: <l%d@loop.example>\n", i, i), "again\n"))
		notified := len(f.outbox(r.ConversationID, store.TemplateNewConversation)) > 0
		if notified != (i <= 2) {
			t.Fatalf("mail %d from one sender: notified %v", i, notified)
		}
	}
}

func TestReceiveBrokenAndOversizeMail(t *testing.T) {
	f := setup(t)
	f.withSigner(0)
	garbage := "\x00\xff\xfe not a mail at all\r\n\r\n\x01\x02"
	r, err := f.svc.Receive(f.ctx, conversation.Inbound{Mailbox: "payroll", UIDValidity: 7, UID: 1, Raw: []byte(garbage), DefaultCategory: "payroll"})
	if err != nil {
		t.Fatalf("a broken mail failed the delivery: %v", err)
	}
	v, err := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), r.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	m := v.Messages[0]
	raw, _ := f.st.Blob(f.ctx, m.RawSHA256)
	if string(raw) != garbage || len(m.Problems) == 0 {
		t.Fatalf("broken mail: raw kept %v, problems %v", string(raw) == garbage, m.Problems)
	}

	header := mail("From: cara.customer@acme.example\nTo: payroll@example.com\nSubject: Scans\nMessage-ID: <big@acme.example>\n", "")
	r, err = f.svc.Receive(f.ctx, conversation.Inbound{Mailbox: "payroll", UIDValidity: 7, UID: 2, Raw: []byte(header),
		TooLarge: true, Size: 40e6, DefaultCategory: "payroll"})
	if err != nil {
		t.Fatal(err)
	}
	v, _ = f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), r.ConversationID)
	if !slices.ContainsFunc(v.Messages[0].Problems, func(p string) bool { return strings.Contains(p, "40.0 MB") }) {
		t.Fatalf("size problem not noted: %v", v.Messages[0].Problems)
	}
	if to := f.outbox(r.ConversationID, store.TemplateTooLarge); !slices.Equal(to, []string{"cara.customer@acme.example"}) {
		t.Fatalf("too-large notice to %v, want the sender", to)
	}
}

func TestReceiveNeedsSigner(t *testing.T) {
	f := setup(t)
	_, err := f.svc.Receive(f.ctx, conversation.Inbound{Raw: []byte(mail(firstMail, "x")), DefaultCategory: "payroll"})
	if err == nil || errors.Is(err, conversation.ErrInvalid) {
		t.Fatalf("receive without a signer: %v", err)
	}
}

func countKind(ms []store.Message, kind string) int {
	n := 0
	for _, m := range ms {
		if m.Kind == kind {
			n++
		}
	}
	return n
}

// staffMailFixture opens a conversation from a customer mail and returns the
// reply address of Aino's token for it.
func staffMailFixture(t *testing.T) (*fixture, *store.Conversation, string) {
	f := setup(t)
	sg := f.withSigner(0)
	first := f.receive(1, mail(firstMail, "My October salary is missing the overtime.\n"))
	c := f.get(first.ConversationID)
	aino := f.actor("aino.handler@example.com")
	addr, err := threading.PlusAddress("payroll@example.com", sg.Sign(threading.Token{Conversation: c.ID, Recipient: aino.User.ID}))
	if err != nil {
		t.Fatal(err)
	}
	return f, c, addr
}

func staffMail(addr, id, body string) string {
	return mail(fmt.Sprintf(`
From: Aino Handler <aino.handler@example.com>
To: %s
Subject: Re: Salary for October
In-Reply-To: <first.1@acme.example>
References: <first.1@acme.example>
Message-ID: <%s@example.com>
`, addr, id), body)
}

func TestStaffMailStripsQuotedHistory(t *testing.T) {
	f, c, addr := staffMailFixture(t)
	thunderbird := "The overtime is paid on the 15th.\n\nAino\n\nOn 02/11/2026 9.00, Cara Customer wrote:\n> My October salary is missing the overtime.\n"
	r := f.receive(2, staffMail(addr, "tb", thunderbird))
	v, _ := f.svc.Get(f.ctx, f.actor("cara.customer@acme.example"), c.ID)
	var got *store.Message
	for i := range v.Messages {
		if v.Messages[i].ID == r.MessageID {
			got = &v.Messages[i]
		}
	}
	if got == nil || got.Kind != store.KindStaff || got.Text != "The overtime is paid on the 15th.\n\nAino" {
		t.Fatalf("stored staff reply %+v", got)
	}
	if to := f.outbox(c.ID, store.TemplateAnswer); !slices.Equal(to, []string{"cara.customer@acme.example"}) {
		t.Fatalf("answer to %v", to)
	}
}

func TestStaffMailCommands(t *testing.T) {
	t.Run("note", func(t *testing.T) {
		f, c, addr := staffMailFixture(t)
		f.receive(2, staffMail(addr, "note", "#note\nCheck the 2025 tax card first.\n\nOn Mon, 2 Nov 2026 at 9.00, Cara wrote:\n> quoted\n"))
		if to := f.outbox(c.ID, store.TemplateAnswer); len(to) != 0 {
			t.Fatalf("a #note was sent to %v", to)
		}
		staff, _ := f.svc.Get(f.ctx, f.actor("ben.payroll@example.com"), c.ID)
		customer, _ := f.svc.Get(f.ctx, f.actor("cara.customer@acme.example"), c.ID)
		i := slices.IndexFunc(staff.Messages, func(m store.Message) bool { return m.Kind == store.KindNote })
		if i < 0 || staff.Messages[i].Text != "Check the 2025 tax card first." {
			t.Fatalf("note not stored for staff: %+v", staff.Messages)
		}
		if hasKind(customer.Messages, store.KindNote) {
			t.Fatal("the customer sees a #note")
		}
		if got := f.get(c.ID); got.Status != store.StatusNew || got.HandlerID != nil {
			t.Fatalf("a note changed status/handler: %s %v", got.Status, got.HandlerID)
		}
	})
	t.Run("take", func(t *testing.T) {
		f, c, addr := staffMailFixture(t)
		f.receive(2, staffMail(addr, "take", "#take\n\nOn Mon, 2 Nov 2026 at 9.00, Cara wrote:\n> quoted\n"))
		got := f.get(c.ID)
		if got.HandlerID == nil || *got.HandlerID != f.actor("aino.handler@example.com").User.ID || got.Status != store.StatusOpen {
			t.Fatalf("after #take: %s %v", got.Status, got.HandlerID)
		}
		if to := f.outbox(c.ID, store.TemplateAnswer); len(to) != 0 {
			t.Fatalf("a bare #take sent %v", to)
		}
	})
	t.Run("solved", func(t *testing.T) {
		f, c, addr := staffMailFixture(t)
		f.receive(2, staffMail(addr, "solved", "#solved Paid in the next run.\n"))
		got := f.get(c.ID)
		if got.Status != store.StatusSolved || got.HandlerID == nil {
			t.Fatalf("after #solved: %s %v", got.Status, got.HandlerID)
		}
		if to := f.outbox(c.ID, store.TemplateAnswer); !slices.Equal(to, []string{"cara.customer@acme.example"}) {
			t.Fatalf("#solved did not send the rest first: %v", to)
		}
		v, _ := f.svc.Get(f.ctx, f.actor("cara.customer@acme.example"), c.ID)
		i := slices.IndexFunc(v.Messages, func(m store.Message) bool { return m.Kind == store.KindStaff })
		if i < 0 || v.Messages[i].Text != "Paid in the next run." {
			t.Fatalf("answer text: %+v", v.Messages)
		}
	})
	t.Run("from a customer", func(t *testing.T) {
		f, c, _ := staffMailFixture(t)
		r := f.receive(2, mail(`
From: cara.customer@acme.example
To: payroll@example.com
Subject: Re: Salary for October
In-Reply-To: <first.1@acme.example>
Message-ID: <cust-cmd@acme.example>
`, "#solved\nI solved it myself, close it.\n"))
		if got := f.get(c.ID); got.Status == store.StatusSolved {
			t.Fatal("a customer's #solved closed the conversation")
		}
		v, _ := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), c.ID)
		i := slices.IndexFunc(v.Messages, func(m store.Message) bool { return m.ID == r.MessageID })
		if i < 0 || !slices.ContainsFunc(v.Messages[i].Problems, func(p string) bool { return strings.Contains(p, "#solved was ignored") }) {
			t.Fatalf("the ignored command is not noted: %+v", v.Messages[i])
		}
	})
}

// A reply whose conversation is gone (purged) starts a new one; it must not
// fail, which would stop the mailbox at that mail for ever.
func TestReceiveReplyToPurgedConversation(t *testing.T) {
	f := setup(t)
	sg := f.withSigner(0)
	first := f.receive(1, mail(firstMail, "Hello\n"))
	cara := f.actor("cara.customer@acme.example")
	addr, _ := threading.PlusAddress("payroll@example.com", sg.Sign(threading.Token{Conversation: first.ConversationID, Recipient: cara.User.ID}))
	if _, err := f.st.Pool().Exec(f.ctx, `DELETE FROM conversations WHERE id = $1`, first.ConversationID); err != nil {
		t.Fatal(err)
	}
	r := f.receive(2, mail(fmt.Sprintf(`
From: cara.customer@acme.example
To: %s
Subject: Re: Salary for October
In-Reply-To: <first.1@acme.example>
Message-ID: <late.2@acme.example>
`, addr), "One more question about last year.\n"))
	if r.ConversationID == 0 || r.ConversationID == first.ConversationID || r.Decision.By != threading.ByNew ||
		!strings.Contains(r.Decision.Note, "no longer exists") {
		t.Fatalf("a reply to a purged conversation: %+v", r)
	}
	if c := f.get(r.ConversationID); c.Subject != "Salary for October" || c.Status != store.StatusNew {
		t.Fatalf("the new conversation %+v", c)
	}
}

// dsnFor is a delivery report saying the mail with this Message-ID did not
// reach rcpt, delivered to the address to (a return path, or the bare
// category address of a forged one).
func dsnFor(id, msgID, rcpt, to string) string {
	return mail(fmt.Sprintf(`
Delivered-To: %s
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: %[1]s
Subject: Undelivered Mail Returned to Sender
Return-Path: <>
Message-ID: <%s@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"
`, to, id), fmt.Sprintf(`--b
Content-Type: text/plain

Your message could not be delivered.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; %s
Action: failed
Status: 5.1.1
--b
Content-Type: text/rfc822-headers

From: payroll@example.com
To: %s
Message-ID: <%s>
--b--
`, rcpt, rcpt, msgID))
}

// With no Handler, a bounce is told to the roles' other members, never to
// the address that bounced; and a bounced notice of a failure is told to
// nobody, so failures cannot feed each other.
func TestReceiveBounceOfANoticeTellsNobody(t *testing.T) {
	f := setup(t)
	sg := f.withSigner(0)
	c := f.get(f.receive(1, mail(firstMail, "Hello\n")).ConversationID)
	idOf := func(template, to string) (string, string) {
		items, _ := f.st.OutboxFor(f.ctx, c.ID)
		for _, it := range items {
			if it.Template == template && it.Recipient == to {
				verp, err := sg.ReturnPath("payroll@example.com", it.ID)
				if err != nil {
					t.Fatal(err)
				}
				return it.MailMessageID, verp
			}
		}
		t.Fatalf("no %s to %s", template, to)
		return "", ""
	}
	id, verp := idOf(store.TemplateNewConversation, "ben.payroll@example.com")
	f.receive(2, dsnFor("b1", id, "ben.payroll@example.com", verp))
	want := []string{"aino.handler@example.com", "lea.lead@example.com"}
	if got := f.outbox(c.ID, store.TemplateDeliveryFailed); !slices.Equal(got, want) {
		t.Fatalf("a bounce to Ben was told to %v, want %v", got, want)
	}
	id, verp = idOf(store.TemplateDeliveryFailed, "aino.handler@example.com")
	f.receive(3, dsnFor("b2", id, "aino.handler@example.com", verp))
	if got := f.outbox(c.ID, store.TemplateDeliveryFailed); !slices.Equal(got, want) {
		t.Fatalf("a bounced failure notice was told on: %v", got)
	}
}
