package outbound_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"postdesk/conversation"
	"postdesk/outbound"
	"postdesk/store"
	"postdesk/store/storetest"
	"postdesk/templates"
	"postdesk/threading"
)

// The invented organisation: Payroll (two members, Ben reads Finnish) and
// Sick leave (one member), and a customer.
const testConfig = `
listen: 127.0.0.1:18080 # never served: the organisation only
database_url: postgres://unused
secret: 0123456789abcdef0123456789abcdef
smtp: {host: 127.0.0.1, port: 10025, tls: none} # never dialled: the tests give the sink's port
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
  - {email: cara.customer@acme.example, name: Cara Customer}
`

const (
	aino = "aino.handler@example.com"
	ben  = "ben.payroll@example.com"
	hila = "hilla.hr@example.com"
	cara = "cara.customer@acme.example"
)

type fixture struct {
	t    *testing.T
	ctx  context.Context
	st   *store.Store
	svc  *conversation.Service
	sg   *threading.Signer
	set  *templates.Set
	sink *sink
	skew atomic.Int64 // how far the workers' clock is ahead of the real one
}

func setup(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	st, cfg := storetest.Org(t, testConfig)
	f := &fixture{t: t, ctx: context.Background(), st: st, sink: newSink(t, "none")}
	var err error
	if f.sg, err = threading.NewSigner([]byte(cfg.Secret)); err != nil {
		t.Fatal(err)
	}
	if f.set, err = templates.Load(""); err != nil {
		t.Fatal(err)
	}
	f.svc = conversation.New(f.st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: f.sg})
	return f
}

// now is the workers' clock: the real one moved on by advance, so rows the
// database stamps now are due at once.
func (f *fixture) now() time.Time { return time.Now().Add(time.Duration(f.skew.Load())) }

func (f *fixture) advance(d time.Duration) { f.skew.Add(int64(d)) }

// at sets the workers' clock to t.
func (f *fixture) at(t time.Time) { f.skew.Store(int64(time.Until(t))) }

func (f *fixture) worker(mod ...func(*outbound.Options)) *outbound.Worker {
	o := &outbound.Options{Host: "127.0.0.1", Port: f.sink.port, TLS: "none", HeloName: "postdesk.test",
		PublicURL: "https://desk.example.com/", Signer: f.sg, Templates: f.set, Conversations: f.svc, Now: f.now,
		CommandTimeout: 20 * time.Second, SendTimeout: 30 * time.Second,
		Logger: slog.New(slog.NewTextHandler(testLog{f.t}, nil))}
	for _, m := range mod {
		m(o)
	}
	return outbound.New(f.st, o)
}

// oneSession makes a worker send over one SMTP session at a time, for
// tests of what a single session does.
func oneSession(o *outbound.Options) { o.Sessions = 1 }

// testLog shows the worker's log with the test's output (on failure, or -v).
type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func (f *fixture) run(w *outbound.Worker) (int, int) {
	f.t.Helper()
	sent, failed, err := w.RunOnce(f.ctx)
	if err != nil {
		f.t.Fatalf("RunOnce: %v", err)
	}
	return sent, failed
}

func (f *fixture) actor(email string) *conversation.Actor {
	f.t.Helper()
	a, err := f.svc.ActorByEmail(f.ctx, email)
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

func (f *fixture) open(category, subject, body string, files ...store.NewAttachment) *store.Conversation {
	f.t.Helper()
	c, err := f.svc.Open(f.ctx, f.actor(cara), conversation.NewRequest{Category: category, Subject: subject, Body: body, Attachments: files})
	if err != nil {
		f.t.Fatalf("open: %v", err)
	}
	return c
}

func (f *fixture) reply(email string, convID int64, body string, files ...store.NewAttachment) *store.Message {
	f.t.Helper()
	m, err := f.svc.Reply(f.ctx, f.actor(email), convID, body, files)
	if err != nil {
		f.t.Fatalf("reply: %v", err)
	}
	return m
}

func (f *fixture) outbox(convID int64) []store.OutboxItem {
	f.t.Helper()
	its, err := f.st.OutboxFor(f.ctx, convID)
	if err != nil {
		f.t.Fatal(err)
	}
	return its
}

// row is the conversation's only outbox row of a template to an address.
func (f *fixture) row(convID int64, template, to string) store.OutboxItem {
	f.t.Helper()
	var found []store.OutboxItem
	for _, it := range f.outbox(convID) {
		if it.Template == template && it.Recipient == to {
			found = append(found, it)
		}
	}
	if len(found) != 1 {
		f.t.Fatalf("%d %s rows to %s, want 1: %+v", len(found), template, to, f.outbox(convID))
	}
	return found[0]
}

func (f *fixture) recipients(convID int64, template string) []string {
	var to []string
	for _, it := range f.outbox(convID) {
		if it.Template == template {
			to = append(to, it.Recipient)
		}
	}
	slices.Sort(to)
	return to
}

func (f *fixture) customerMessage(convID int64) store.Message {
	f.t.Helper()
	ms, err := f.st.Messages(f.ctx, convID, true)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, m := range ms {
		if m.Kind == store.KindCustomer {
			return m
		}
	}
	f.t.Fatal("no customer message")
	return store.Message{}
}

func (f *fixture) events(convID int64, name string) []store.Message {
	f.t.Helper()
	ms, err := f.st.Messages(f.ctx, convID, true)
	if err != nil {
		f.t.Fatal(err)
	}
	var es []store.Message
	for _, m := range ms {
		if m.Kind == store.KindEvent && m.Event == name {
			es = append(es, m)
		}
	}
	return es
}

// waitFor polls a condition for at most thirty seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	// Generous: under make test's race detector on 2 busy cores a relay
	// outage of several backoffs took over 10 s once.
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// parsed is a received mail taken apart with the standard library.
type parsed struct {
	h           mail.Header
	subject     string
	text, html  string
	attachments []part
}

type part struct {
	name, ctype string
	data        []byte
}

func parse(t *testing.T, raw []byte) *parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	p := &parsed{h: m.Header}
	dec := new(mime.WordDecoder)
	if p.subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	p.walk(t, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), "", m.Body)
	return p
}

func (p *parsed) walk(t *testing.T, ctype, cte, disp string, body io.Reader) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("content type %q: %v", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			pt, err := mr.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p.walk(t, pt.Header.Get("Content-Type"), pt.Header.Get("Content-Transfer-Encoding"), pt.Header.Get("Content-Disposition"), pt)
		}
	}
	switch strings.ToLower(cte) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if d, dp, err := mime.ParseMediaType(disp); err == nil && d == "attachment" {
		p.attachments = append(p.attachments, part{name: dp["filename"], ctype: mt, data: b})
		return
	}
	switch mt {
	case "text/plain":
		p.text = string(b)
	case "text/html":
		p.html = string(b)
	}
}

// to returns the mail delivered to an address; there must be exactly one.
func to(t *testing.T, ds []delivery, addr string) *parsed {
	t.Helper()
	got := toAll(t, ds, addr)
	if len(got) != 1 {
		t.Fatalf("%d mails to %s, want 1", len(got), addr)
	}
	return got[0]
}

// toAll returns the mail delivered to an address, in order.
func toAll(t *testing.T, ds []delivery, addr string) []*parsed {
	t.Helper()
	var got []*parsed
	for _, d := range ds {
		if slices.Contains(d.To, addr) {
			got = append(got, parse(t, d.Data))
		}
	}
	return got
}

func addr(t *testing.T, h mail.Header, key string) *mail.Address {
	t.Helper()
	a, err := mail.ParseAddress(h.Get(key))
	if err != nil {
		t.Fatalf("%s %q: %v", key, h.Get(key), err)
	}
	return a
}

func TestNewConversationMailsEachMember(t *testing.T) {
	f := setup(t)
	c := f.open("payroll", "Salary for October", "My October salary was 200 € short.")
	cust := f.customerMessage(c.ID)
	w := f.worker(oneSession) // the two mails share its session

	if sent, failed := f.run(w); sent != 2 || failed != 0 {
		t.Fatalf("sent %d failed %d, want 2 and 0", sent, failed)
	}
	ds := f.sink.delivered()
	if len(ds) != 2 {
		t.Fatalf("%d mails delivered, want 2", len(ds))
	}
	// Each mail's envelope sender (MAIL FROM on the wire) is its own return
	// path: the category address with a VERP token naming its outbox row.
	for _, d := range ds {
		row := f.row(c.ID, store.TemplateNewConversation, d.To[0])
		want, err := f.sg.ReturnPath("payroll@example.com", row.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.From != want {
			t.Errorf("envelope sender %q, want the return path %q", d.From, want)
		}
		base, tag := threading.SplitPlus(d.From)
		id, err := f.sg.VerifyBounce(strings.TrimPrefix(tag, threading.BouncePrefix))
		if base != "payroll@example.com" || err != nil || id != row.ID {
			t.Errorf("return path %q: base %s row %d %v, want row %d", d.From, base, id, err, row.ID)
		}
	}
	if ds[0].From == ds[1].From {
		t.Error("two mails share a return path")
	}
	for _, member := range []string{aino, ben} {
		u, err := f.st.UserByEmail(f.ctx, member)
		if err != nil {
			t.Fatal(err)
		}
		row := f.row(c.ID, store.TemplateNewConversation, member)
		m := to(t, ds, member)

		if from := addr(t, m.h, "From"); from.Name != "Payroll" || from.Address != "payroll@example.com" {
			t.Errorf("From %q", m.h.Get("From"))
		}
		if got := addr(t, m.h, "To"); got.Address != member || got.Name != u.Name {
			t.Errorf("To %q", m.h.Get("To"))
		}
		base, tag := threading.SplitPlus(addr(t, m.h, "Reply-To").Address)
		tok, err := f.sg.Verify(tag)
		if base != "payroll@example.com" || err != nil || tok != (threading.Token{Conversation: c.ID, Recipient: u.ID}) {
			t.Errorf("Reply-To %q: base %s token %+v %v, want conversation %d recipient %d", m.h.Get("Reply-To"), base, tok, err, c.ID, u.ID)
		}
		if n, ok := threading.Tag(m.subject); !ok || n != c.Number || !strings.Contains(m.subject, "Salary for October") {
			t.Errorf("Subject %q, want the tag [#%d] and the subject", m.subject, c.Number)
		}
		if got := m.h.Get("Message-Id"); got != "<"+row.MailMessageID+">" {
			t.Errorf("Message-ID %s, want the stored <%s>", got, row.MailMessageID)
		}
		if got := m.h.Get("Auto-Submitted"); got != "auto-generated" {
			t.Errorf("Auto-Submitted %q", got)
		}
		if got := m.h.Get(conversation.LoopHeader); got != "postdesk.example.com" {
			t.Errorf("%s %q", conversation.LoopHeader, got)
		}
		if got := m.h.Get("In-Reply-To"); got != "<"+cust.MessageID+">" {
			t.Errorf("In-Reply-To %q, want the customer's <%s>", got, cust.MessageID)
		}
		if got := m.h.Get("References"); got != "<"+cust.MessageID+">" {
			t.Errorf("References %q, want <%s>", got, cust.MessageID)
		}
		if _, err := mail.ParseDate(m.h.Get("Date")); err != nil {
			t.Errorf("Date %q: %v", m.h.Get("Date"), err)
		}
		link := fmt.Sprintf("https://desk.example.com/conversations/%d", c.ID)
		for _, want := range []string{"My October salary was 200 € short.", link, "#note", "#take", "#solved", "Cara Customer"} {
			if !strings.Contains(m.text, want) || !strings.Contains(m.html, want) {
				t.Errorf("text or HTML lacks %q:\n%s\n%s", want, m.text, m.html)
			}
		}
		if got := f.row(c.ID, store.TemplateNewConversation, member); got.Status != "sent" || got.SentAt == nil || got.Attempts != 1 {
			t.Errorf("row after sending: status %s sent_at %v attempts %d", got.Status, got.SentAt, got.Attempts)
		}
	}
	if fi := to(t, ds, ben); !strings.Contains(fi.subject, "Uusi viesti") || !strings.Contains(fi.text, "Avaa keskustelu") {
		t.Errorf("Ben reads Finnish: %q\n%s", fi.subject, fi.text)
	}
	if en := to(t, ds, aino); !strings.Contains(en.subject, "New in Payroll") {
		t.Errorf("Aino reads English: %q", en.subject)
	}
	// Both mails went over the one connection, which was closed with QUIT.
	if n := f.sink.count(func(s *sink) int { return s.sessions }); n != 1 {
		t.Errorf("%d SMTP connections for two mails, want 1", n)
	}
	waitFor(t, "QUIT", func() bool { return f.sink.count(func(s *sink) int { return s.logouts }) == 1 })

	// Nothing is due any more: a second run sends nothing.
	if sent, failed := f.run(w); sent != 0 || failed != 0 || len(f.sink.delivered()) != 2 {
		t.Errorf("second run: sent %d failed %d, delivered %d", sent, failed, len(f.sink.delivered()))
	}
}

func TestAnswerGoesToTheCustomerThreaded(t *testing.T) {
	f := setup(t)
	c := f.open("payroll", "Salary for October", "My October salary was 200 € short.")
	cust := f.customerMessage(c.ID)
	w := f.worker()
	f.run(w)
	f.reply(aino, c.ID, "Hi Cara,\n\nthe difference is paid on the 15th.\n\nAino")

	if sent, failed := f.run(w); sent != 1 || failed != 0 {
		t.Fatalf("sent %d failed %d, want 1 and 0", sent, failed)
	}
	m := to(t, f.sink.delivered(), cara)
	row := f.row(c.ID, store.TemplateAnswer, cara)
	// net/mail (through which jordan-wright/email writes From) quotes every
	// display name: "Payroll" <payroll@example.com> is the same address.
	if from := addr(t, m.h, "From"); from.String() != (&mail.Address{Name: "Payroll", Address: "payroll@example.com"}).String() {
		t.Errorf("From %q, want Payroll <payroll@example.com>", m.h.Get("From"))
	}
	if !strings.Contains(m.text, "the difference is paid on the 15th.") || !strings.Contains(m.html, "the difference is paid on the 15th.") {
		t.Errorf("the Handler's text is missing:\n%s\n%s", m.text, m.html)
	}
	for _, notHere := range []string{"#note", "#take", "Open the conversation"} {
		if strings.Contains(m.text, notHere) || strings.Contains(m.html, notHere) {
			t.Errorf("the answer to the customer holds %q:\n%s", notHere, m.text)
		}
	}
	if got := m.h.Get("In-Reply-To"); got != "<"+cust.MessageID+">" {
		t.Errorf("In-Reply-To %q, want the customer's <%s>", got, cust.MessageID)
	}
	if refs := m.h.Get("References"); refs != "<"+cust.MessageID+">" {
		t.Errorf("References %q: the customer has seen only their own mail", refs)
	}
	if got := m.h.Get("Auto-Submitted"); got != "" {
		t.Errorf("an answer is a person's reply, but Auto-Submitted is %q", got)
	}
	if got := m.h.Get("X-Auto-Response-Suppress"); got != "OOF, AutoReply" {
		t.Errorf("X-Auto-Response-Suppress %q", got)
	}
	if got := m.h.Get("Message-Id"); got != "<"+row.MailMessageID+">" {
		t.Errorf("Message-ID %s, want <%s>", got, row.MailMessageID)
	}
	if n, ok := threading.Tag(m.subject); !ok || n != c.Number || !strings.Contains(m.subject, "Re: Salary for October") {
		t.Errorf("Subject %q", m.subject)
	}
	u, _ := f.st.UserByEmail(f.ctx, cara)
	_, tag := threading.SplitPlus(addr(t, m.h, "Reply-To").Address)
	if tok, err := f.sg.Verify(tag); err != nil || tok.Recipient != u.ID || tok.Conversation != c.ID {
		t.Errorf("Reply-To token %+v %v", tok, err)
	}

	// The customer writes again and the next answer threads on: the first
	// answer we sent them is in its References.
	f.reply(cara, c.ID, "Thanks! And the tax card?")
	f.run(w)
	f.reply(aino, c.ID, "The tax card is in use.")
	f.run(w)
	var answers []*parsed
	for _, d := range f.sink.delivered() {
		if slices.Contains(d.To, cara) {
			answers = append(answers, parse(t, d.Data))
		}
	}
	if len(answers) != 2 {
		t.Fatalf("%d mails to the customer, want 2", len(answers))
	}
	second := answers[1]
	if refs := second.h.Get("References"); !strings.HasPrefix(refs, "<"+cust.MessageID+">") || !strings.Contains(refs, row.MailMessageID) {
		t.Errorf("References %q should start at the customer's first mail and hold our first answer %s", refs, row.MailMessageID)
	}
	var again store.Message
	ms, _ := f.st.Messages(f.ctx, c.ID, false)
	for _, m := range ms {
		if m.Kind == store.KindCustomer {
			again = m
		}
	}
	if got := second.h.Get("In-Reply-To"); got != "<"+again.MessageID+">" {
		t.Errorf("In-Reply-To %q, want the customer's newest <%s>", got, again.MessageID)
	}
}

func TestTemporaryFailureRetriesWithBackoff(t *testing.T) {
	f := setup(t)
	f.sink.set(func(s *sink) { s.dataErrs = []*smtp.SMTPError{errTempFail, errTempFail} })
	c := f.open("sick-leave", "Sick since Monday", "I have been sick since Monday.")
	w := f.worker()

	check := func(attempts int, wait time.Duration, before time.Time) {
		t.Helper()
		it := f.row(c.ID, store.TemplateNewConversation, hila)
		if it.Status != "pending" || it.Attempts != attempts || !strings.Contains(it.LastError, "451") {
			t.Fatalf("after %d tries: status %s attempts %d last_error %q", attempts, it.Status, it.Attempts, it.LastError)
		}
		if lo, hi := before.Add(wait), f.now().Add(wait); it.NextAttemptAt.Before(lo.Add(-time.Millisecond)) || it.NextAttemptAt.After(hi) {
			t.Fatalf("after %d tries: next attempt %s, want %s after the try (%s..%s)", attempts, it.NextAttemptAt, wait, lo, hi)
		}
	}
	before := f.now()
	if sent, failed := f.run(w); sent != 0 || failed != 0 {
		t.Fatalf("sent %d failed %d after a 451", sent, failed)
	}
	check(1, time.Minute, before)

	// Not due yet: nothing is tried.
	f.advance(59 * time.Second)
	f.run(w)
	if n := f.sink.count(func(s *sink) int { return s.tries }); n != 1 {
		t.Fatalf("%d tries before the row was due again, want 1", n)
	}

	f.advance(time.Second)
	before = f.now()
	f.run(w)
	check(2, 2*time.Minute, before)

	f.advance(2 * time.Minute)
	if sent, failed := f.run(w); sent != 1 || failed != 0 {
		t.Fatalf("third try: sent %d failed %d", sent, failed)
	}
	if ds := f.sink.delivered(); len(ds) != 1 || !slices.Equal(ds[0].To, []string{hila}) {
		t.Fatalf("delivered %d mails, want one to %s", len(ds), hila)
	}
	it := f.row(c.ID, store.TemplateNewConversation, hila)
	if it.Status != "sent" || it.Attempts != 3 || it.SentAt == nil {
		t.Errorf("after delivery: status %s attempts %d sent_at %v", it.Status, it.Attempts, it.SentAt)
	}
	f.advance(time.Hour)
	f.run(w)
	if n := len(f.sink.delivered()); n != 1 {
		t.Errorf("delivered %d times, want exactly once", n)
	}
}

func TestPermanentFailureIsRecordedAndTold(t *testing.T) {
	f := setup(t)
	c := f.open("payroll", "Salary for October", "My October salary was 200 € short.")
	w := f.worker()
	f.run(w)
	if err := f.svc.Take(f.ctx, f.actor(aino), c.ID); err != nil {
		t.Fatal(err)
	}
	f.sink.set(func(s *sink) { s.rcptErr[cara] = errNoUser })
	f.reply(aino, c.ID, "The difference is paid on the 15th.")

	sent, failed := f.run(w)
	if failed != 1 || sent != 1 {
		t.Fatalf("sent %d failed %d: want the answer failed and the notice to the Handler sent", sent, failed)
	}
	ans := f.row(c.ID, store.TemplateAnswer, cara)
	if ans.Status != "failed" || !strings.Contains(ans.LastError, "550") || ans.Attempts != 1 {
		t.Errorf("answer row: status %s attempts %d last_error %q", ans.Status, ans.Attempts, ans.LastError)
	}
	evs := f.events(c.ID, "delivery_failed")
	if len(evs) != 1 || !strings.Contains(evs[0].Text, cara) || !strings.Contains(evs[0].Text, "550") {
		t.Fatalf("delivery_failed events %+v, want one naming %s and the reply", evs, cara)
	}
	if got := f.recipients(c.ID, store.TemplateDeliveryFailed); !slices.Equal(got, []string{aino}) {
		t.Errorf("delivery_failed notices to %v, want only the Handler", got)
	}
	var notice *parsed
	for _, m := range toAll(t, f.sink.delivered(), aino) {
		if m.h.Get("Message-Id") == "<"+f.row(c.ID, store.TemplateDeliveryFailed, aino).MailMessageID+">" {
			notice = m
		}
	}
	if notice == nil {
		t.Fatal("the notice was not delivered")
	}
	if !strings.Contains(notice.subject, "Delivery failed") || !strings.Contains(notice.text, cara) ||
		!strings.Contains(notice.text, "550") || !strings.Contains(notice.text, "did not get this answer") {
		t.Errorf("notice:\n%s\n%s", notice.subject, notice.text)
	}
	if notice.h.Get("Auto-Submitted") != "auto-generated" {
		t.Error("the notice is not marked Auto-Submitted")
	}

	// When the notice fails too, it is recorded, but no notice of the
	// notice follows.
	f.sink.set(func(s *sink) { s.rcptErr[aino] = errNoUser })
	f.reply(aino, c.ID, "Another try.")
	sent, failed = f.run(w)
	if sent != 0 || failed != 2 {
		t.Fatalf("sent %d failed %d: want the answer and its notice failed", sent, failed)
	}
	notices := f.outbox(c.ID)
	var n int
	for _, it := range notices {
		if it.Template == store.TemplateDeliveryFailed {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d delivery_failed rows, want 2 (one per failed answer, none for the failed notice)", n)
	}
	if evs := f.events(c.ID, "delivery_failed"); len(evs) != 3 {
		t.Errorf("%d delivery_failed events, want 3 (both answers and the notice)", len(evs))
	}
	f.advance(time.Hour)
	if sent, failed := f.run(w); sent != 0 || failed != 0 {
		t.Errorf("later run: sent %d failed %d, want nothing left", sent, failed)
	}
}

func TestFailureNoticeNeverGoesToTheFailedAddress(t *testing.T) {
	f := setup(t)
	f.sink.set(func(s *sink) { s.rcptErr[ben] = errNoUser })
	c := f.open("payroll", "Salary for October", "My October salary was 200 € short.")
	w := f.worker()
	sent, failed := f.run(w)
	if sent != 2 || failed != 1 {
		t.Fatalf("sent %d failed %d: want Ben's mail failed, Aino's and the notice to her sent", sent, failed)
	}
	if got := f.recipients(c.ID, store.TemplateDeliveryFailed); !slices.Equal(got, []string{aino}) {
		t.Errorf("notices to %v: with no Handler the roles hear of it, but never the address that failed", got)
	}
	var toAino int
	for _, d := range f.sink.delivered() {
		if slices.Contains(d.To, aino) {
			toAino++
		}
	}
	if toAino != 2 {
		t.Errorf("%d mails to Aino, want the new conversation and the notice", toAino)
	}
}

func TestRetriesRunOutAfter48Hours(t *testing.T) {
	f := setup(t)
	f.sink.set(func(s *sink) { s.dataAlways = errTempFail })
	c := f.open("sick-leave", "Sick since Monday", "I have been sick since Monday.")
	w := f.worker()
	f.run(w)
	created := f.row(c.ID, store.TemplateNewConversation, hila).CreatedAt

	f.at(created.Add(47*time.Hour + 59*time.Minute))
	if sent, failed := f.run(w); sent != 0 || failed != 0 {
		t.Fatalf("before 48h: sent %d failed %d, want a retry", sent, failed)
	}
	it := f.row(c.ID, store.TemplateNewConversation, hila)
	if it.Status != "pending" || it.Attempts != 2 {
		t.Fatalf("before 48h: status %s attempts %d", it.Status, it.Attempts)
	}
	// The wait would be 2m, but the last try is made at the 48h mark.
	if want := created.Add(48 * time.Hour); !it.NextAttemptAt.Equal(want) {
		t.Errorf("next attempt %s, want the mark %s", it.NextAttemptAt, want)
	}

	f.at(created.Add(48 * time.Hour))
	if sent, failed := f.run(w); sent != 0 || failed != 1 {
		t.Fatalf("after 48h: sent %d failed %d, want the row failed", sent, failed)
	}
	it = f.row(c.ID, store.TemplateNewConversation, hila)
	if it.Status != "failed" || !strings.Contains(it.LastError, "gave up") || !strings.Contains(it.LastError, "451") {
		t.Errorf("after 48h: status %s last_error %q", it.Status, it.LastError)
	}
	if evs := f.events(c.ID, "delivery_failed"); len(evs) != 1 {
		t.Errorf("%d delivery_failed events, want 1", len(evs))
	}
	// Hilla was the only member of the roles, and the address that failed.
	if got := f.recipients(c.ID, store.TemplateDeliveryFailed); len(got) != 0 {
		t.Errorf("notices to %v, want none", got)
	}
	if n := f.sink.count(func(s *sink) int { return len(s.mails) }); n != 0 {
		t.Errorf("%d mails delivered", n)
	}
}

func TestConcurrentWorkersSendEachMailOnce(t *testing.T) {
	f := setup(t)
	for i := range 4 {
		f.open("payroll", fmt.Sprintf("Question %d", i), "Hello.")
	}
	// The first two mails wait in DATA for each other: the workers must be
	// sending different rows at the same time.
	var (
		mu      sync.Mutex
		inData  int
		both    = make(chan struct{})
		overlap atomic.Bool
	)
	f.sink.set(func(s *sink) {
		s.onData = func() error {
			mu.Lock()
			inData++
			n := inData
			mu.Unlock()
			switch n {
			case 1: // wait, in DATA, for the other worker to get here too
				select {
				case <-both:
					overlap.Store(true)
				case <-time.After(10 * time.Second):
				}
			case 2:
				close(both)
			}
			return nil
		}
	})
	w1, w2 := f.worker(), f.worker()
	var wg sync.WaitGroup
	var total, errs atomic.Int64
	for _, w := range []*outbound.Worker{w1, w2} {
		wg.Go(func() {
			sent, _, err := w.RunOnce(f.ctx)
			if err != nil {
				t.Error(err)
				errs.Add(1)
			}
			total.Add(int64(sent))
		})
	}
	wg.Wait()
	if !overlap.Load() {
		t.Error("the two workers never sent at the same time: one waited for the other's row")
	}
	ds := f.sink.delivered()
	if total.Load() != 8 || len(ds) != 8 {
		t.Fatalf("sent %d, delivered %d, want 8 (4 conversations × 2 members)", total.Load(), len(ds))
	}
	ids := map[string]int{}
	for _, d := range ds {
		ids[parse(t, d.Data).h.Get("Message-Id")]++
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	if len(ids) != 8 {
		t.Errorf("%d distinct mails, want 8", len(ids))
	}
}

func TestInterruptedSendLeavesTheRowPending(t *testing.T) {
	f := setup(t)
	c := f.open("sick-leave", "Sick since Monday", "I have been sick since Monday.")
	inData := make(chan struct{})
	release := make(chan struct{})
	f.sink.set(func(s *sink) {
		s.onData = func() error {
			close(inData)
			<-release
			return errAborted // the server never accepted this mail
		}
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	w := f.worker()
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() {
		_, _, err := w.RunOnce(ctx)
		done <- err
	}()
	<-inData
	cancel() // the worker is stopped (or dies) while the server is in DATA
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunOnce did not return after its context ended mid-send")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("RunOnce: %v, want context.Canceled", err)
	}
	// The try was made (the relay may have had the mail), so it counts;
	// the row is due again at once, for this or another instance.
	it := f.row(c.ID, store.TemplateNewConversation, hila)
	if it.Status != "pending" || it.Attempts != 1 || !strings.Contains(it.LastError, "interrupted") || it.NextAttemptAt.After(f.now()) {
		t.Fatalf("after the interrupted send: status %s attempts %d last_error %q next %s, want pending and due now",
			it.Status, it.Attempts, it.LastError, it.NextAttemptAt)
	}
	close(release)
	f.sink.set(func(s *sink) { s.onData = nil })

	if sent, failed := f.run(w); sent != 1 || failed != 0 {
		t.Fatalf("next run: sent %d failed %d", sent, failed)
	}
	ds := f.sink.delivered()
	if len(ds) != 1 || parse(t, ds[0].Data).h.Get("Message-Id") != "<"+it.MailMessageID+">" {
		t.Fatalf("delivered %d mails, want the interrupted one exactly once", len(ds))
	}
	if it := f.row(c.ID, store.TemplateNewConversation, hila); it.Status != "sent" || it.Attempts != 2 {
		t.Errorf("status %s attempts %d", it.Status, it.Attempts)
	}
}

func TestHeaderInjectionIsRefused(t *testing.T) {
	t.Run("subject", func(t *testing.T) {
		f := setup(t)
		c := f.open("payroll", "Salary for October", "Hello.")
		// conversation.Open refuses such a subject; a row made by another
		// door (or an older version) must still not reach the wire.
		if _, err := f.st.Pool().Exec(f.ctx, `UPDATE conversations SET subject = $2 WHERE id = $1`,
			c.ID, "Salary\r\nBcc: everyone@example.net"); err != nil {
			t.Fatal(err)
		}
		sent, failed := f.run(f.worker())
		// Both members' mails fail, and so do the notices about them
		// (their subjects hold the same line break); nothing follows those.
		if sent != 0 || failed != 4 {
			t.Errorf("sent %d failed %d, want 0 and 4", sent, failed)
		}
		for _, it := range f.outbox(c.ID) {
			if it.Status != "failed" || !strings.Contains(it.LastError, "line break") || it.Attempts != 1 {
				t.Errorf("%s to %s: status %s attempts %d last_error %q", it.Template, it.Recipient, it.Status, it.Attempts, it.LastError)
			}
		}
		if got := f.recipients(c.ID, store.TemplateDeliveryFailed); !slices.Equal(got, []string{aino, ben}) {
			t.Errorf("notices to %v", got)
		}
		if n := f.sink.count(func(s *sink) int { return s.sessions }); n != 0 {
			t.Errorf("%d SMTP connections, want none", n)
		}
	})
	t.Run("attachment name", func(t *testing.T) {
		f := setup(t)
		c := f.open("sick-leave", "Doctor's note", "Attached.", store.NewAttachment{
			Filename: "note.pdf\r\nContent-Type: text/html", ContentType: "application/pdf", Data: []byte("%PDF-1.4")})
		if sent, failed := f.run(f.worker()); sent != 0 || failed != 1 {
			t.Errorf("sent %d failed %d, want the mail failed", sent, failed)
		}
		if it := f.row(c.ID, store.TemplateNewConversation, hila); it.Status != "failed" || !strings.Contains(it.LastError, "attachment name") {
			t.Errorf("status %s last_error %q", it.Status, it.LastError)
		}
		if n := len(f.sink.delivered()); n != 0 {
			t.Errorf("%d mails delivered", n)
		}
	})
	t.Run("recipient name", func(t *testing.T) {
		f := setup(t)
		if _, err := f.st.Pool().Exec(f.ctx, `UPDATE users SET name = $2 WHERE email = $1`, hila, "Hilla\nBcc: x@example.net"); err != nil {
			t.Fatal(err)
		}
		c := f.open("sick-leave", "Sick", "Hello.")
		if sent, failed := f.run(f.worker()); sent != 0 || failed != 1 {
			t.Errorf("sent %d failed %d", sent, failed)
		}
		if it := f.row(c.ID, store.TemplateNewConversation, hila); !strings.Contains(it.LastError, "recipient name") {
			t.Errorf("last_error %q", it.LastError)
		}
	})
}

func TestAttachmentsAreCarried(t *testing.T) {
	f := setup(t)
	pdf := bytes.Repeat([]byte("%PDF-1.4 tax card "), 500)
	c := f.open("payroll", "Tax card", "My new tax card is attached.",
		store.NewAttachment{Filename: "verokortti 2025 (Äänekoski).pdf", ContentType: "application/pdf", Data: pdf})
	w := f.worker()
	f.run(w)
	for _, member := range []string{aino, ben} {
		m := to(t, f.sink.delivered(), member)
		if len(m.attachments) != 1 {
			t.Fatalf("%s got %d attachments, want 1", member, len(m.attachments))
		}
		a := m.attachments[0]
		if a.name != "verokortti 2025 (Äänekoski).pdf" || a.ctype != "application/pdf" || !bytes.Equal(a.data, pdf) {
			t.Errorf("attachment %q %s %d bytes", a.name, a.ctype, len(a.data))
		}
		if !strings.Contains(m.text, "verokortti 2025 (Äänekoski).pdf") {
			t.Errorf("the text does not list the file:\n%s", m.text)
		}
	}
	f.reply(aino, c.ID, "Thanks, here is the corrected payslip.", store.NewAttachment{Filename: "payslip.txt", ContentType: "text/plain; charset=utf-8", Data: []byte("net: 2000 €\n")})
	f.run(w)
	m := to(t, f.sink.delivered(), cara)
	if len(m.attachments) != 1 || m.attachments[0].name != "payslip.txt" || string(m.attachments[0].data) != "net: 2000 €\n" {
		t.Errorf("the answer's attachments: %+v", m.attachments)
	}
	if m.text == "" || !strings.Contains(m.text, "corrected payslip") {
		t.Errorf("the answer's text is not the text part:\n%s", m.text)
	}
}

func TestTLSAndAuth(t *testing.T) {
	for _, mode := range []string{"starttls", "implicit"} {
		t.Run(mode, func(t *testing.T) {
			f := setup(t)
			tlsSink := newSink(t, mode)
			tlsSink.set(func(s *sink) { s.user, s.pass = "postdesk@example.com", "s3cret" })
			c := f.open("sick-leave", "Sick", "Hello.")

			wrong := f.worker(func(o *outbound.Options) {
				o.Port, o.TLS, o.TLSConfig, o.Username, o.Password = tlsSink.port, mode, tlsSink.clientTLS(), "postdesk@example.com", "wrong"
			})
			if sent, failed := f.run(wrong); sent != 0 || failed != 0 {
				t.Fatalf("wrong password: sent %d failed %d, want a retry (it is the relay, not the mail)", sent, failed)
			}
			if it := f.row(c.ID, store.TemplateNewConversation, hila); it.Status != "pending" || !strings.Contains(it.LastError, "AUTH") {
				t.Fatalf("wrong password: status %s last_error %q", it.Status, it.LastError)
			}

			untrusted := f.worker(func(o *outbound.Options) {
				o.Port, o.TLS, o.Username, o.Password = tlsSink.port, mode, "postdesk@example.com", "s3cret"
			})
			f.advance(time.Minute)
			if sent, failed := f.run(untrusted); sent != 0 || failed != 0 {
				t.Fatalf("untrusted certificate: sent %d failed %d, want a retry", sent, failed)
			}
			if it := f.row(c.ID, store.TemplateNewConversation, hila); it.Status != "pending" || !strings.Contains(it.LastError, "certificate") {
				t.Fatalf("untrusted certificate: status %s last_error %q", it.Status, it.LastError)
			}

			right := f.worker(func(o *outbound.Options) {
				o.Port, o.TLS, o.TLSConfig, o.Username, o.Password = tlsSink.port, mode, tlsSink.clientTLS(), "postdesk@example.com", "s3cret"
			})
			f.advance(time.Hour)
			if sent, failed := f.run(right); sent != 1 || failed != 0 {
				t.Fatalf("sent %d failed %d", sent, failed)
			}
			if n := tlsSink.count(func(s *sink) int { return s.tlsSessions }); n != 1 {
				t.Errorf("%d authenticated TLS sessions, want 1", n)
			}
			if len(tlsSink.delivered()) != 1 {
				t.Errorf("delivered %d", len(tlsSink.delivered()))
			}
		})
	}
}

func TestRunSendsWhenWoken(t *testing.T) {
	f := setup(t)
	w := f.worker(func(o *outbound.Options) { o.Poll = time.Hour })
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	f.open("payroll", "Salary", "Hello.")
	go func() { done <- w.Run(ctx) }()
	waitFor(t, "the first run to send and end", func() bool {
		// Every session the run opened has ended: the run is over.
		return len(f.sink.delivered()) == 2 && f.sink.count(func(s *sink) int { return s.logouts - s.sessions }) == 0
	})
	// Run now waits an hour unless woken.
	f.open("payroll", "Salary again", "Hello again.")
	w.Wake()
	waitFor(t, "the woken run", func() bool { return len(f.sink.delivered()) == 4 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end with its context")
	}
}

// A mailbox alert, the one mail about no conversation, reaches the
// category's staff in their language, marked as machine mail, with no reply
// token.
func TestMailboxAlertIsSent(t *testing.T) {
	f := setup(t)
	sent, err := f.svc.AlertMailbox(f.ctx, "payroll-inbox", "payroll", "no successful connection for 1h0m0s")
	if err != nil || !sent {
		t.Fatalf("alert: %v %v", sent, err)
	}
	if n, failed := f.run(f.worker()); n != 2 || failed != 0 {
		t.Fatalf("sent %d failed %d, want 2 and 0", n, failed)
	}
	ds := f.sink.delivered()
	en, fi := to(t, ds, aino), to(t, ds, ben)
	if en.subject != "Mailbox payroll-inbox of Payroll needs attention" || !strings.Contains(en.text, "no successful connection for 1h0m0s") {
		t.Errorf("English alert: %q\n%s", en.subject, en.text)
	}
	if !strings.HasPrefix(fi.subject, "Postilaatikko payroll-inbox") {
		t.Errorf("Finnish alert subject %q", fi.subject)
	}
	for _, m := range []*parsed{en, fi} {
		if m.h.Get("Auto-Submitted") != "auto-generated" || m.h.Get("Reply-To") != "" || m.h.Get(conversation.LoopHeader) == "" {
			t.Errorf("alert headers: %v", m.h)
		}
	}
}
