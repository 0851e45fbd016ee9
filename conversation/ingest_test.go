package conversation_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"postdesk/conversation"
	"postdesk/ingest/mailparse"
	"postdesk/store"
	"postdesk/threading"
)

// ContentKey: the same mail delivered twice has one key; two different mails
// never share one.
func TestContentKey(t *testing.T) {
	base := "From: Cara Customer <cara.customer@acme.example>\r\nTo: payroll@example.com\r\nSubject: Tax card\r\n" +
		"Message-ID: <tax.1@acme.example>\r\nDate: Mon, 02 Nov 2026 09:00:00 +0200\r\n\r\nMy new tax card.\r\n"
	key := conversation.ContentKey([]byte(base))
	for _, tc := range []struct {
		name string
		raw  string
		same bool
	}{
		{"trace fields of another hop", "Return-Path: <cara.customer@acme.example>\r\nDelivered-To: hr@example.com\r\n" +
			"X-Original-To: hr@example.com\r\nReceived: from mx.example.com\r\n\tby imap.example.com; Mon, 2 Nov 2026 09:00:05 +0200\r\n" +
			"Authentication-Results: mx.example.com; dmarc=pass\r\nARC-Seal: i=1; a=rsa-sha256; cv=none\r\n" +
			"ARC-Authentication-Results: i=1; mx.example.com\r\nReceived-SPF: pass\r\nX-Received: by 10.0.0.1\r\n" +
			"DKIM-Signature: v=1; d=example.com; b=abc\r\n" + base, true},
		{"a trace field below the others", strings.Replace(base, "Subject: Tax card\r\n", "Subject: Tax card\r\nReceived: from relay.example.com\r\n", 1), true},
		{"bare LF line ends", strings.ReplaceAll(base, "\r\n", "\n"), true},
		{"another body", strings.Replace(base, "My new tax card.", "My old tax card.", 1), false},
		{"another subject", strings.Replace(base, "Subject: Tax card", "Subject: Tax card 2", 1), false},
		{"another header field", strings.Replace(base, "\r\n\r\n", "\r\nX-Mailer: Example Mail 1.0\r\n\r\n", 1), false},
		{"fields in another order", strings.Replace(base, "To: payroll@example.com\r\nSubject: Tax card\r\n", "Subject: Tax card\r\nTo: payroll@example.com\r\n", 1), false},
		{"a trace-like line in the body", strings.Replace(base, "My new tax card.", "Received: my new tax card.", 1), false},
		{"a field continued by a fold", strings.Replace(base, "Subject: Tax card", "Subject: Tax\r\n card", 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bytes.Equal(conversation.ContentKey([]byte(tc.raw)), key); got != tc.same {
				t.Fatalf("same key = %v, want %v", got, tc.same)
			}
		})
	}
}

func (f *fixture) receiveIn(mailbox string, uidValidity, uid uint32, raw string) *conversation.Received {
	f.t.Helper()
	r, err := f.svc.Receive(f.ctx, conversation.Inbound{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid,
		Raw: []byte(strings.ReplaceAll(raw, "\n", "\r\n")), DefaultCategory: "payroll"})
	if err != nil {
		f.t.Fatalf("receive %s uid %d: %v", mailbox, uid, err)
	}
	return r
}

func (f *fixture) count(sql string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.st.Pool().QueryRow(f.ctx, sql, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// The same mail in two category mailboxes is stored once with both copies
// recorded, and the purge lists both server copies; a refetch is stored
// once; two mails sharing every header but the body are both stored.
func TestReceiveDuplicatesAreTheSameMail(t *testing.T) {
	f := setup(t)
	f.withSigner(0)
	first := f.receiveIn("payroll", 7, 1, mail(firstMail, "Hello\n"))
	// The same mail delivered to a second mailbox: its own trace fields.
	second := f.receiveIn("payroll-2", 3, 5, "Return-Path: <cara.customer@acme.example>\nDelivered-To: payroll-archive@example.com\n"+
		"Received: from mx.example.com by imap.example.com\n"+mail(firstMail, "Hello\n"))
	if !second.Duplicate || second.DuplicateBy != conversation.DuplicateContent || second.MessageID != first.MessageID {
		t.Fatalf("second delivery %+v, want a content duplicate of message %d", second, first.MessageID)
	}
	// A refetch of either copy.
	for _, r := range []*conversation.Received{
		f.receiveIn("payroll", 7, 1, mail(firstMail, "Hello\n")),
		f.receiveIn("payroll-2", 3, 5, "Received: from elsewhere\n"+mail(firstMail, "Hello\n")),
	} {
		if !r.Duplicate || r.DuplicateBy != conversation.DuplicateIMAP || r.MessageID != first.MessageID {
			t.Fatalf("refetch %+v, want an IMAP duplicate", r)
		}
	}
	copies, err := f.st.CopiesOf(f.ctx, first.MessageID)
	if err != nil || !slices.Equal(copies, []store.MessageCopy{{Mailbox: "payroll-2", UIDValidity: 3, UID: 5}}) {
		t.Fatalf("copies %+v %v", copies, err)
	}
	if n := f.count(`SELECT count(*) FROM messages WHERE direction = 'in'`); n != 1 {
		t.Fatalf("%d inbound messages, want 1", n)
	}
	if got := f.outbox(first.ConversationID, store.TemplateNewConversation); len(got) != 3 {
		t.Fatalf("notified %v: a duplicate notified again", got)
	}

	// Same headers, Message-ID included, another body: another mail.
	other := f.receiveIn("payroll", 7, 2, mail(firstMail, "Hello again, with the attachment this time\n"))
	if other.Duplicate {
		t.Fatal("a mail differing only in its body was taken for a duplicate")
	}
	if n := f.count(`SELECT count(*) FROM messages WHERE message_id = 'first.1@acme.example' AND direction = 'in'`); n != 2 {
		t.Fatalf("%d messages with the shared Message-ID, want both", n)
	}

	// Both server copies of the first mail go with its conversation.
	if _, err := f.st.Pool().Exec(f.ctx, `UPDATE conversations SET status = 'solved', solved_at = now() - interval '5 years'`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Purge(f.ctx, store.PurgeOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	// The purge queues one IMAP deletion per server copy (imap_deletions).
	rows, err := f.st.Pool().Query(f.ctx, `SELECT mailbox || '/' || uid_validity || '/' || uid FROM imap_deletions
		WHERE message_id = 'first.1@acme.example' AND length(raw_sha256) = 32 AND raw_size > 0 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"payroll-2/3/5", "payroll/7/1", "payroll/7/2"}; !slices.Equal(got, want) {
		t.Fatalf("purged copies %v, want %v", got, want)
	}
	if n := f.count(`SELECT count(*) FROM message_copies`); n != 0 {
		t.Fatalf("%d copies left after the purge", n)
	}
}

func randomText(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// Values of any length from a mail reach the store, which must take them:
// a 6 KB Message-ID (stored, found again by a reply) and a 3 KB sender
// address (not an address: the mail is held without a sender, and says so).
// The parser is made to hand them on uncut, whatever it caps.
func TestReceiveUnboundedValues(t *testing.T) {
	f := setup(t)
	sg := f.withSigner(0)
	longID := randomText(6000) + "@acme.example"
	longAddr := randomText(3000) + "@acme.example"
	f.svc = conversation.New(f.st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg,
		Parse: func(raw []byte) *mailparse.Message {
			m := mailparse.Parse(raw, nil)
			switch m.Subject {
			case "Long id":
				m.MessageID = longID
			case "Reply":
				m.InReplyTo, m.References = []string{longID}, []string{longID}
			case "Long sender":
				m.From.Email = longAddr
			}
			return m
		}})
	withID := f.receive(1, mail("From: cara.customer@acme.example\nTo: payroll@example.com\nSubject: Long id\nMessage-ID: <"+longID+">\n", "Hi\n"))
	reply := f.receive(2, mail("From: cara.customer@acme.example\nTo: payroll@example.com\nSubject: Reply\nIn-Reply-To: <"+longID+">\n", "Again\n"))
	if withID.Duplicate || reply.ConversationID != withID.ConversationID {
		t.Fatalf("the reply to the long Message-ID went to %d, want %d", reply.ConversationID, withID.ConversationID)
	}
	if n := f.count(`SELECT count(*) FROM messages WHERE message_id = $1`, longID); n != 1 {
		t.Fatalf("long Message-ID stored %d times", n)
	}
	sender := f.receive(3, mail("From: <"+longAddr+">\nTo: payroll@example.com\nSubject: Long sender\n", "Who am I\n"))
	c := f.get(sender.ConversationID)
	if !c.HeldForReview || c.CustomerID != nil {
		t.Fatalf("conversation %+v: want held, without a customer", c)
	}
	ms, err := f.st.Messages(f.ctx, c.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ms[0].Problems, func(p string) bool { return strings.Contains(p, "3013 bytes long") }) {
		t.Fatalf("problems %q: the dropped sender is not noted", ms[0].Problems)
	}
	if n := f.count(`SELECT count(*) FROM users WHERE length(email) > 254`); n != 0 {
		t.Fatalf("%d users with an over-long address", n)
	}
}

// A parser panic is a permanent error; nothing is stored, the cursor stays.
func TestReceivePanicIsPermanent(t *testing.T) {
	f := setup(t)
	sg := f.withSigner(0)
	f.svc = conversation.New(f.st, &conversation.Options{Signer: sg, Parse: func([]byte) *mailparse.Message { panic("parser bug") }})
	_, err := f.svc.Receive(f.ctx, conversation.Inbound{Mailbox: "payroll", UIDValidity: 7, UID: 1,
		Raw: []byte(mail(firstMail, "Hi\n")), DefaultCategory: "payroll"})
	var pe *conversation.PanicError
	if !errors.As(err, &pe) || !pe.Permanent() || !strings.Contains(err.Error(), "parser bug") {
		t.Fatalf("error %v, want a permanent *PanicError", err)
	}
	if n := f.count(`SELECT count(*) FROM messages`); n != 0 {
		t.Fatalf("%d messages stored", n)
	}
	if mb, _ := f.st.Mailbox(f.ctx, "payroll"); mb.LastUID != 0 {
		t.Fatalf("cursor moved to %d", mb.LastUID)
	}
}

// A quarantined mail: kept raw in a staff-only conversation, the cursor
// moved, the staff told once an hour at most, never twice for one mail.
func TestQuarantine(t *testing.T) {
	f := setup(t)
	f.withSigner(0)
	// Whatever the mail holds, the record can be written: NUL, bad UTF-8,
	// a 6 KB header value.
	raw := []byte("From: Cara Customer <cara.customer@acme.example>\r\nTo: payroll@example.com\r\nSubject: \x00\xff\xfe\r\n" +
		"Message-ID: <" + randomText(6000) + "@acme.example>\r\n\r\nMy salary\x00\r\n")
	in := conversation.Inbound{Mailbox: "payroll", UIDValidity: 7, UID: 4, Raw: raw, DefaultCategory: "payroll"}
	r, err := f.svc.Quarantine(f.ctx, in, errors.New("index row size 6080 exceeds btree version 4 maximum 2704\x00\xff"))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Quarantined || r.Duplicate {
		t.Fatalf("received %+v", r)
	}
	c := f.get(r.ConversationID)
	if c.Subject != conversation.QuarantineSubject || !c.HeldForReview || c.CustomerID != nil || c.CategoryKey != "payroll" {
		t.Fatalf("conversation %+v", c)
	}
	if mb, _ := f.st.Mailbox(f.ctx, "payroll"); mb.UIDValidity != 7 || mb.LastUID != 4 {
		t.Fatalf("cursor %+v, want 7/4", mb)
	}
	// Nobody but the category's staff sees it: not the From address, not a
	// manager of its company, not another category's staff.
	for _, who := range []string{"cara.customer@acme.example", "mika.manager@acme.example", "hilla.hr@example.com"} {
		if _, err := f.svc.Get(f.ctx, f.actor(who), c.ID); !errors.Is(err, conversation.ErrNotFound) {
			t.Errorf("%s: %v, want not found", who, err)
		}
	}
	v, err := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var note *store.Message
	for i := range v.Messages {
		if v.Messages[i].Kind == store.KindNote {
			note = &v.Messages[i]
		}
	}
	if note == nil || len(note.Attachments) != 1 || note.Attachments[0].Filename != "message.eml" ||
		!strings.Contains(note.Text, "UID 4") || !strings.Contains(note.Text, "index row size") {
		t.Fatalf("timeline %+v: want a note naming the error and the position, with message.eml", v.Messages)
	}
	eml, err := f.st.Blob(f.ctx, note.Attachments[0].SHA256)
	if err != nil || !bytes.Equal(eml, raw) {
		t.Fatalf("message.eml is not the raw mail: %v", err)
	}
	if !hasKind(v.Messages, store.KindEvent) {
		t.Fatal("no quarantined event")
	}
	want := []string{"aino.handler@example.com", "ben.payroll@example.com", "lea.lead@example.com"}
	if got := f.outbox(c.ID, store.TemplateQuarantined); !slices.Equal(got, want) {
		t.Fatalf("told %v, want the category's staff %v", got, want)
	}
	if got := f.outbox(c.ID, store.TemplateReceived); len(got) != 0 {
		t.Fatalf("acknowledged to %v", got)
	}

	// The same mail again (its commit was not seen): nothing new.
	again, err := f.svc.Quarantine(f.ctx, in, errors.New("again"))
	if err != nil || !again.Duplicate || again.ConversationID != c.ID {
		t.Fatalf("quarantine again: %+v %v", again, err)
	}
	// The same mail failing in a second mailbox: a copy of the first record.
	twin, err := f.svc.Quarantine(f.ctx, conversation.Inbound{Mailbox: "payroll-2", UIDValidity: 2, UID: 9,
		Raw: append([]byte("Received: from mx2.example.com\r\n"), raw...), DefaultCategory: "payroll"}, errors.New("again"))
	if err != nil || !twin.Duplicate || twin.DuplicateBy != conversation.DuplicateContent || twin.MessageID != note.ID {
		t.Fatalf("the twin: %+v %v, want a content duplicate of message %d", twin, err, note.ID)
	}
	if cs, _ := f.st.CopiesOf(f.ctx, note.ID); len(cs) != 1 || cs[0].Mailbox != "payroll-2" {
		t.Fatalf("copies %+v", cs)
	}
	// Another one within the hour: recorded, nobody told again.
	next, err := f.svc.Quarantine(f.ctx, conversation.Inbound{Mailbox: "payroll", UIDValidity: 7, UID: 5,
		Raw: []byte("Subject: x\r\n\r\nbody\r\n"), DefaultCategory: "payroll"}, errors.New("boom"))
	if err != nil || next.Duplicate || next.ConversationID == c.ID {
		t.Fatalf("second quarantine %+v %v", next, err)
	}
	if got := f.outbox(next.ConversationID, store.TemplateQuarantined); len(got) != 0 {
		t.Fatalf("told again within the hour: %v", got)
	}
	if n := f.count(`SELECT count(*) FROM conversations WHERE subject = $1`, conversation.QuarantineSubject); n != 2 {
		t.Fatalf("%d quarantine conversations, want 2", n)
	}
}

// Archive mail (the go-live import) is stored and filed, and mails nobody:
// no acknowledgement, no notification, no answer.
func TestReceiveArchive(t *testing.T) {
	f := setup(t)
	f.withSigner(0)
	archive := func(uid uint32, raw string) *conversation.Received {
		t.Helper()
		r, err := f.svc.Receive(f.ctx, conversation.Inbound{Mailbox: "payroll", UIDValidity: 7, UID: uid, Archive: true,
			Raw: []byte(strings.ReplaceAll(raw, "\n", "\r\n")), DefaultCategory: "payroll", InternalDate: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	old := archive(1, mail(strings.Replace(firstMail, "Date: Mon, 02 Nov 2026", "Date: Mon, 03 Nov 2025", 1), "Where is my overtime?\n"))
	recentDate := time.Now().Add(-48 * time.Hour).Format(time.RFC1123Z)
	recent := archive(2, mail("From: cara.customer@acme.example\nTo: payroll@example.com\nSubject: Holiday pay\nMessage-ID: <hol.1@acme.example>\nDate: "+recentDate+"\n", "And holiday pay?\n"))
	// A staff member's old answer in the thread, with a command: a record.
	staff := archive(3, mail("From: Aino Handler <aino.handler@example.com>\nTo: cara.customer@acme.example\nCc: payroll@example.com\n"+
		"Subject: Re: Holiday pay\nMessage-ID: <ans.1@example.com>\nIn-Reply-To: <hol.1@acme.example>\nDate: "+recentDate+"\n", "#solved\nPaid on the 15th.\n"))
	if c := f.get(staff.ConversationID); c.Status == store.StatusSolved || c.HandlerID != nil {
		t.Fatalf("the archived answer's command was obeyed: %+v", c)
	}
	if c := f.get(old.ConversationID); c.Status != store.StatusSolved || c.SolvedAt == nil || !c.SolvedAt.Equal(time.Date(2025, 11, 3, 7, 0, 0, 0, time.UTC)) {
		t.Fatalf("old archive conversation %+v, want solved at its mail's date", c)
	}
	if old.ConversationID == recent.ConversationID {
		t.Fatal("two unrelated mails in one conversation")
	}
	if c := f.get(recent.ConversationID); c.Status != store.StatusNew || c.HandlerID != nil {
		t.Fatalf("recent archive conversation %+v, want new", c)
	}
	if n := f.count(`SELECT count(*) FROM outbox`); n != 0 {
		t.Fatalf("%d outbox rows for archive mail, want none", n)
	}
	// Mail after the import notifies as usual.
	f.receive(4, mail("From: cara.customer@acme.example\nTo: payroll@example.com\nSubject: New question\nMessage-ID: <new.1@acme.example>\n", "Hi\n"))
	if n := f.count(`SELECT count(*) FROM outbox`); n == 0 {
		t.Fatal("new mail after the archive notified nobody")
	}
}

// A batch creates the senders of its new mails only: the copy of a mail
// whose sender was erased since (their address replaced by a pseudonym)
// brings nobody back. A new sender named only by a later mail of the batch
// gets that name.
func TestReceiveBatchCreatesOnlyNewMailsSenders(t *testing.T) {
	f := setup(t)
	f.withSigner(0)
	old := mail("From: Otso Oja <otso.oja@koivu.example>\nTo: payroll@example.com\nSubject: Verokortti\nMessage-ID: <e1@koivu.example>\n", "Uusi verokortti liitteenä.\n")
	f.receive(1, old)
	if _, err := f.st.Pool().Exec(f.ctx, `UPDATE users SET email = 'erased-1@erased.invalid', name = '' WHERE email = 'otso.oja@koivu.example'`); err != nil {
		t.Fatal(err)
	}
	nameless := mail("From: iida.ilola@koivu.example\nTo: payroll@example.com\nSubject: Lomat\nMessage-ID: <e2@koivu.example>\n", "Kysymys.\n")
	named := mail("From: Iida Ilola <iida.ilola@koivu.example>\nTo: payroll@example.com\nSubject: Lomat 2\nMessage-ID: <e3@koivu.example>\n", "Toinen.\n")
	var ins []conversation.Inbound
	for i, raw := range []string{old, nameless, named} {
		ins = append(ins, conversation.Inbound{Mailbox: "payroll-2", UIDValidity: 3, UID: uint32(i + 1),
			Raw: []byte(strings.ReplaceAll(raw, "\n", "\r\n")), DefaultCategory: "payroll"})
	}
	rs, err := f.svc.ReceiveBatch(f.ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	if !rs[0].Duplicate {
		t.Fatalf("the erased sender's mail again: %+v, want a duplicate", rs[0])
	}
	if n := f.count(`SELECT count(*) FROM users WHERE email = 'otso.oja@koivu.example'`); n != 0 {
		t.Errorf("the copy of an erased sender's mail made %d users of them again, want none", n)
	}
	if n := f.count(`SELECT count(*) FROM users WHERE email = 'iida.ilola@koivu.example' AND name = 'Iida Ilola'`); n != 1 {
		t.Errorf("%d users for the new sender with the name a later mail gave, want 1", n)
	}
	if rs[1].ConversationID == 0 || rs[2].ConversationID == 0 {
		t.Fatalf("the new sender's mails: %+v %+v", rs[1], rs[2])
	}
}

// ReceiveBatch stores a batch as Receive would mail by mail: a reply finds
// the conversation an earlier mail of the same batch opened, the same mail
// twice in the batch is stored once (the second a copy), a new sender is
// created once, the sender limit counts the batch's own mail, and the
// cursor is past the batch.
func TestReceiveBatchLikeOneByOne(t *testing.T) {
	f := setup(t)
	f.withSigner(3)
	first := mail("From: Vilja Vainikka <vilja.vainikka@koivu.example>\nTo: payroll@example.com\nSubject: Lomaraha\nMessage-ID: <b1@koivu.example>\n", "Missä lomarahani on?\n")
	reply := mail("From: vilja.vainikka@koivu.example\nTo: payroll@example.com\nSubject: Re: Lomaraha\nMessage-ID: <b2@koivu.example>\nIn-Reply-To: <b1@koivu.example>\nReferences: <b1@koivu.example>\n", "Lisätieto.\n")
	var ins []conversation.Inbound
	raws := []string{first, reply, first}
	for i := range 4 {
		raws = append(raws, mail(fmt.Sprintf("From: vilja.vainikka@koivu.example\nTo: payroll@example.com\nSubject: Asia %d\nMessage-ID: <c%d@koivu.example>\n", i, i), "Taas.\n"))
	}
	for i, raw := range raws {
		ins = append(ins, conversation.Inbound{Mailbox: "payroll", UIDValidity: 7, UID: uint32(i + 1),
			Raw: []byte(strings.ReplaceAll(raw, "\n", "\r\n")), DefaultCategory: "payroll"})
	}
	rs, err := f.svc.ReceiveBatch(f.ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	if rs[1].ConversationID != rs[0].ConversationID {
		t.Errorf("the reply went to conversation %d, want %d (opened earlier in the batch)", rs[1].ConversationID, rs[0].ConversationID)
	}
	if !rs[2].Duplicate || rs[2].DuplicateBy != conversation.DuplicateContent || rs[2].MessageID != rs[0].MessageID {
		t.Errorf("the same mail again in the batch: %+v, want a content duplicate of message %d", rs[2], rs[0].MessageID)
	}
	if n := f.count(`SELECT count(*) FROM users WHERE email = 'vilja.vainikka@koivu.example' AND name = 'Vilja Vainikka'`); n != 1 {
		t.Errorf("%d users for the sender, want one with the name", n)
	}
	// The limit is 3 an hour: the first, the reply and the third new mail
	// notify; then the sender is quiet.
	for i, r := range rs[3:] {
		notified := len(f.outbox(r.ConversationID, store.TemplateNewConversation)) > 0
		if want := i == 0; notified != want {
			t.Errorf("new mail %d of the sender in the batch: notified %v, want %v", i, notified, want)
		}
	}
	mb, err := f.st.Mailbox(f.ctx, "payroll")
	if err != nil || mb.LastUID != uint32(len(ins)) {
		t.Fatalf("cursor %+v, %v: want UID %d", mb, err, len(ins))
	}
}

// A mail failing inside a batch fails the batch as a whole, naming it; the
// other mails and the cursor are not stored.
func TestReceiveBatchFailsWhole(t *testing.T) {
	f := setup(t)
	sg, err := threading.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = conversation.New(f.st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg,
		Parse: func(raw []byte) *mailparse.Message {
			if bytes.Contains(raw, []byte("X-Test-Parser: panic")) {
				panic("injected")
			}
			return mailparse.Parse(raw, nil)
		}})
	var ins []conversation.Inbound
	for i := range 3 {
		h := fmt.Sprintf("From: cara.customer@acme.example\nTo: payroll@example.com\nSubject: S%d\nMessage-ID: <f%d@acme.example>\n", i, i)
		if i == 1 {
			h += "X-Test-Parser: panic\n"
		}
		ins = append(ins, conversation.Inbound{Mailbox: "payroll", UIDValidity: 7, UID: uint32(i + 1),
			Raw: []byte(strings.ReplaceAll(mail(h, "x\n"), "\n", "\r\n")), DefaultCategory: "payroll"})
	}
	_, err = f.svc.ReceiveBatch(f.ctx, ins)
	var be *conversation.BatchError
	var pe *conversation.PanicError
	if !errors.As(err, &be) || be.Index != 1 || !errors.As(err, &pe) {
		t.Fatalf("err %v, want a BatchError for mail 1 wrapping a PanicError", err)
	}
	if n := f.count(`SELECT count(*) FROM messages`); n != 0 {
		t.Fatalf("%d messages stored by a failed batch", n)
	}
	if _, err := f.st.Mailbox(f.ctx, "payroll"); !errors.Is(err, store.ErrNotFound) {
		if mb, _ := f.st.Mailbox(f.ctx, "payroll"); mb != nil && mb.LastUID != 0 {
			t.Fatalf("cursor moved to %d by a failed batch", mb.LastUID)
		}
	}
}
