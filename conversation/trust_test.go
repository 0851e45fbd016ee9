package conversation_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"postdesk/conversation"
	"postdesk/senderauth"
	"postdesk/store"
	"postdesk/threading"
)

// withSenderAuth makes the service trust mx.example.com's
// Authentication-Results and require a pass for staff powers.
func (f *fixture) withSenderAuth(domainLimit int) *threading.Signer {
	f.t.Helper()
	sg, err := threading.NewSigner(testSecret)
	if err != nil {
		f.t.Fatal(err)
	}
	f.svc = conversation.New(f.st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg, DomainLimit: domainLimit,
		SenderAuth: &senderauth.Policy{AuthservIDs: []string{"mx.example.com"}, RequirePass: true}})
	return sg
}

const (
	arPass = "Authentication-Results: mx.example.com; dkim=pass header.d=example.com; dmarc=pass header.from=example.com\n"
	arFail = "Authentication-Results: mx.example.com; dkim=none; dmarc=fail header.from=example.com\n"
	mxHop  = "Received: from out.example.net by mx.example.com (Postfix) with ESMTPS id 1; Tue, 1 Dec 2026 08:00:00 +0000\n"
)

// Through Receive against the database: a staff reply by mail with a
// trusted pass is sent to the customer; one that fails DMARC is held,
// reaches nobody, and only Aino may release it, once.
func TestReceiveStaffReplyNeedsSenderAuth(t *testing.T) {
	f := setup(t)
	sg := f.withSenderAuth(0)
	cust := arPass + mxHop // Cara's mail is not verified: acme.example, and the header names example.com
	first := f.receive(1, mail(cust+strings.TrimLeft(firstMail, "\n"), "Hello\n"))
	c := f.get(first.ConversationID)
	aino := f.actor("aino.handler@example.com")
	addr, err := threading.PlusAddress("payroll@example.com", sg.Sign(threading.Token{Conversation: c.ID, Recipient: aino.User.ID}))
	if err != nil {
		t.Fatal(err)
	}
	reply := func(uid uint32, auth, body string) *conversation.Received {
		return f.receive(uid, mail(fmt.Sprintf(`%s%sFrom: Aino Handler <aino.handler@example.com>
To: %s
Subject: Re: [#%d] Salary for October
Message-ID: <reply.%d@example.com>
`, auth, mxHop, addr, c.Number, uid), body))
	}

	// Fail: held, nothing sent, no Handler, no command obeyed.
	r := reply(2, arFail, "#solved\nThe overtime is paid on the 15th.\n")
	if r.ConversationID != c.ID {
		t.Fatalf("held reply went to %d", r.ConversationID)
	}
	if got := f.outbox(c.ID, store.TemplateAnswer); len(got) != 0 {
		t.Fatalf("an unverified staff reply was sent to %v", got)
	}
	if got := f.get(c.ID); got.HandlerID != nil || got.Status == store.StatusSolved {
		t.Fatalf("an unverified staff reply changed the conversation: %+v", got)
	}
	cara := f.actor("cara.customer@acme.example")
	v, err := f.svc.Get(f.ctx, cara, c.ID)
	if err != nil {
		t.Fatalf("%v: %+v %+v %+v", err, first, c, cara.User)
	}
	if slices.ContainsFunc(v.Messages, func(m store.Message) bool { return m.ID == r.MessageID }) {
		t.Fatal("the customer sees the held reply")
	}
	tr, err := f.svc.Trust(f.ctx, aino, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	h, ok := tr.Held[r.MessageID]
	if !ok || !h.CanRelease || h.Claims != "aino.handler@example.com" || !strings.Contains(h.Reason, "dmarc=fail") {
		t.Fatalf("held reply as Aino sees it: %+v %v", h, ok)
	}
	if ch := tr.Checks[first.MessageID]; ch.Verified {
		t.Fatalf("Cara's mail is marked verified: %+v", ch)
	}
	if tr, _ := f.svc.Trust(f.ctx, cara, c.ID); len(tr.Held) != 0 || len(tr.Checks) != 0 {
		t.Fatalf("the customer sees trust marks: %+v", tr)
	}
	// Another staff member may not release it; the customer cannot see it.
	if _, err := f.svc.ReleaseHeld(f.ctx, f.actor("ben.payroll@example.com"), r.MessageID); !errors.Is(err, conversation.ErrForbidden) {
		t.Fatalf("Ben released Aino's held reply: %v", err)
	}
	if _, err := f.svc.ReleaseHeld(f.ctx, cara, r.MessageID); !errors.Is(err, conversation.ErrNotFound) {
		t.Fatalf("the customer released a held reply: %v", err)
	}
	sent, err := f.svc.ReleaseHeld(f.ctx, aino, r.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if sent.Kind != store.KindStaff || sent.Text != "The overtime is paid on the 15th." {
		t.Fatalf("released as %+v", sent)
	}
	if got := f.outbox(c.ID, store.TemplateAnswer); !slices.Equal(got, []string{"cara.customer@acme.example"}) {
		t.Fatalf("released reply sent to %v", got)
	}
	if _, err := f.svc.ReleaseHeld(f.ctx, aino, r.MessageID); !errors.Is(err, conversation.ErrInvalid) {
		t.Fatalf("a second release: %v", err)
	}

	// Pass: a staff reply as before.
	r = reply(3, arPass, "And the bonus on the 30th.\n")
	if !r.Decision.Staff || r.Kind != store.KindStaff {
		t.Fatalf("verified staff reply: %+v", r)
	}
	if got := f.outbox(c.ID, store.TemplateAnswer); len(got) != 2 {
		t.Fatalf("answers %v, want the released one and this one", got)
	}
	if tr, _ := f.svc.Trust(f.ctx, aino, c.ID); !tr.Checks[r.MessageID].Verified {
		t.Fatalf("the verified reply is not marked verified: %+v", tr.Checks[r.MessageID])
	}
}

// A forged report naming a Message-ID, sent to the bare category address,
// is kept for staff, marked, and changes nothing; the real one at the
// return path marks exactly its row.
func TestReceiveForgedBounceChangesNothing(t *testing.T) {
	f := setup(t)
	sg := f.withSigner(0)
	c := f.get(f.receive(1, mail(firstMail, "Hello\n")).ConversationID)
	aino := f.actor("aino.handler@example.com")
	if _, err := f.svc.Reply(f.ctx, aino, c.ID, "Answer", nil); err != nil {
		t.Fatal(err)
	}
	items, _ := f.st.OutboxFor(f.ctx, c.ID)
	answer := items[len(items)-1]
	state := func(its []store.OutboxItem) string {
		var b strings.Builder
		for _, it := range its {
			fmt.Fprintf(&b, "%d %s %s %q\n", it.ID, it.Template, it.Status, it.LastError)
		}
		return b.String()
	}
	before := state(items)

	r := f.receive(2, dsnFor("forged", answer.MailMessageID, "cara.customer@acme.example", "payroll@example.com"))
	if r.Kind != store.KindBounce || r.Decision.Bounce != 0 {
		t.Fatalf("forged report: %+v", r)
	}
	if after, _ := f.st.OutboxFor(f.ctx, c.ID); state(after) != before {
		t.Fatalf("a forged report changed the outbox:\n%v\n%v", before, after)
	}
	v, _ := f.svc.Get(f.ctx, aino, c.ID)
	i := slices.IndexFunc(v.Messages, func(m store.Message) bool { return m.ID == r.MessageID })
	if i < 0 || !strings.Contains(strings.Join(v.Messages[i].Problems, " "), "Unverified delivery report") {
		t.Fatalf("staff do not see the forged report marked: %+v", v.Messages)
	}
	if slices.ContainsFunc(v.Messages, func(m store.Message) bool { return m.Event == "delivery_failed" }) {
		t.Fatal("a forged report put a delivery failure in the timeline")
	}
	cv, _ := f.svc.Get(f.ctx, f.actor("cara.customer@acme.example"), c.ID)
	if slices.ContainsFunc(cv.Messages, func(m store.Message) bool { return m.Kind == store.KindBounce }) {
		t.Fatal("the customer sees a delivery report")
	}

	verp, _ := sg.ReturnPath("payroll@example.com", answer.ID)
	r = f.receive(3, dsnFor("real", "anything@elsewhere.example", "cara.customer@acme.example", verp))
	if r.Decision.Bounce != answer.ID || r.ConversationID != c.ID {
		t.Fatalf("real report: %+v", r)
	}
	it, _ := f.st.OutboxByID(f.ctx, answer.ID)
	if it.Status != "failed" {
		t.Fatalf("the row the return path names is %s", it.Status)
	}
	if got := f.outbox(c.ID, store.TemplateDeliveryFailed); !slices.Equal(got, []string{"aino.handler@example.com"}) {
		t.Fatalf("delivery failure told to %v", got)
	}
}

// At the return path, a "delayed" report marks nothing, and a second
// "failed" one about the same mail tells nobody again.
func TestReceiveReturnPathDelayedAndRepeated(t *testing.T) {
	f := setup(t)
	sg := f.withSigner(0)
	c := f.get(f.receive(1, mail(firstMail, "Hello\n")).ConversationID)
	if _, err := f.svc.Reply(f.ctx, f.actor("aino.handler@example.com"), c.ID, "Answer", nil); err != nil {
		t.Fatal(err)
	}
	items, _ := f.st.OutboxFor(f.ctx, c.ID)
	answer := items[len(items)-1]
	verp, _ := sg.ReturnPath("payroll@example.com", answer.ID)
	delayed := strings.Replace(strings.Replace(dsnFor("d1", answer.MailMessageID, "cara.customer@acme.example", verp),
		"Action: failed", "Action: delayed", 1), "Status: 5.1.1", "Status: 4.4.1", 1)
	f.receive(2, delayed)
	if it, _ := f.st.OutboxByID(f.ctx, answer.ID); it.Status == "failed" {
		t.Fatal("a delayed report marked the mail failed")
	}
	for uid, id := range []string{"f1", "f2"} {
		f.receive(uint32(3+uid), dsnFor(id, answer.MailMessageID, "cara.customer@acme.example", verp))
	}
	if it, _ := f.st.OutboxByID(f.ctx, answer.ID); it.Status != "failed" {
		t.Fatalf("the failed report left the mail %s", it.Status)
	}
	if got := f.outbox(c.ID, store.TemplateDeliveryFailed); !slices.Equal(got, []string{"aino.handler@example.com"}) {
		t.Fatalf("delivery failure told to %v, want the Handler once", got)
	}
}

// A report at a valid return path whose conversation was purged is kept,
// held, and breaks nothing.
func TestReceiveBounceForPurgedConversation(t *testing.T) {
	f := setup(t)
	sg := f.withSigner(0)
	verp, _ := sg.ReturnPath("payroll@example.com", 987654)
	r := f.receive(1, dsnFor("late", "x@postdesk.example.com", "cara.customer@acme.example", verp))
	if r.Decision.Bounce != 987654 || !r.Held || !strings.Contains(r.Decision.Note, "no longer exists") {
		t.Fatalf("report for a purged row: %+v", r)
	}
	if got := f.outbox(r.ConversationID, store.TemplateReceived); len(got) != 0 {
		t.Fatalf("a report was acknowledged to %v", got)
	}
}

// The acknowledgement of a new conversation is limited per remote domain.
func TestReceiptsLimitedPerDomain(t *testing.T) {
	f := setup(t)
	f.withSenderAuth(2)
	var got []int
	for i := range 4 {
		r := f.receive(uint32(i+1), mail(fmt.Sprintf(`From: person%d@acme.example
To: payroll@example.com
Subject: Question %d
Message-ID: <q%d@acme.example>
`, i, i, i), "Hi\n"))
		got = append(got, len(f.outbox(r.ConversationID, store.TemplateReceived)))
	}
	if !slices.Equal(got, []int{1, 1, 0, 0}) {
		t.Fatalf("receipts per new conversation %v, want two and then none", got)
	}
	r := f.receive(9, mail("From: someone@beta.example\nTo: payroll@example.com\nSubject: Other\nMessage-ID: <o@beta.example>\n", "Hi\n"))
	if n := len(f.outbox(r.ConversationID, store.TemplateReceived)); n != 1 {
		t.Fatalf("another domain got %d receipts", n)
	}
}

// In a batch the limit counts what the domain had before the batch and
// the batch's own receipts, as mail by mail would: with a limit of two and
// one receipt already sent, the first of three new conversations is
// acknowledged and the others are not; another domain, and the same domain
// written in capitals, count as what they are.
func TestReceiptsLimitedPerDomainInABatch(t *testing.T) {
	f := setup(t)
	f.withSenderAuth(2)
	before := f.receive(1, mail("From: early@acme.example\nTo: payroll@example.com\nSubject: Early\nMessage-ID: <e@acme.example>\n", "Hi\n"))
	if n := len(f.outbox(before.ConversationID, store.TemplateReceived)); n != 1 {
		t.Fatalf("the receipt before the batch: %d", n)
	}
	froms := []string{"person0@acme.example", "someone@beta.example", "person1@ACME.example", "person2@acme.example"}
	var ins []conversation.Inbound
	for i, from := range froms {
		raw := mail(fmt.Sprintf("From: %s\nTo: payroll@example.com\nSubject: Question %d\nMessage-ID: <q%d@batch.example>\n", from, i, i), "Hi\n")
		ins = append(ins, conversation.Inbound{Mailbox: "payroll", UIDValidity: 7, UID: uint32(i + 2),
			Raw: []byte(strings.ReplaceAll(raw, "\n", "\r\n")), DefaultCategory: "payroll"})
	}
	rs, err := f.svc.ReceiveBatch(f.ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, r := range rs {
		got = append(got, len(f.outbox(r.ConversationID, store.TemplateReceived)))
	}
	if want := []int{1, 1, 0, 0}; !slices.Equal(got, want) {
		t.Fatalf("receipts per new conversation of the batch %v, want %v", got, want)
	}
}
