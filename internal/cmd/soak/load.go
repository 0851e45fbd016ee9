package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// desk is the invented organisation of the run: four categories, each fed by
// its own IMAP account, their roles and members.
type desk struct {
	categories []category
	roles      map[string][]string // role -> member addresses
	staffName  map[string]string   // address -> display name
}

type category struct {
	key, address string
	roles        []string
	retention    string
}

const deskDomain = "desk.example"

func newDesk(purgeRetention string) *desk {
	d := &desk{
		categories: []category{
			{key: "payroll", roles: []string{"payroll-team"}, retention: "4y"},
			{key: "hr", roles: []string{"hr-team"}, retention: "4y"},
			{key: "benefits", roles: []string{"benefits-team", "hr-team"}, retention: "4y"},
			{key: "travel", roles: []string{"travel-team"}, retention: purgeRetention},
		},
		roles: map[string][]string{
			"payroll-team":  {"aino.palkka@staff.example", "bruno.lonn@staff.example"},
			"hr-team":       {"cilla.henkilo@staff.example", "dario.hr@staff.example"},
			"benefits-team": {"eevi.etu@staff.example"},
			"travel-team":   {"fredrik.matka@staff.example", "greta.resa@staff.example"},
		},
		staffName: map[string]string{},
	}
	for i := range d.categories {
		d.categories[i].address = d.categories[i].key + "@" + deskDomain
	}
	for _, ms := range d.roles {
		for _, m := range ms {
			local := strings.SplitN(m, "@", 2)[0]
			parts := strings.Split(local, ".")
			for i, p := range parts {
				parts[i] = strings.ToUpper(p[:1]) + p[1:]
			}
			d.staffName[m] = strings.Join(parts, " ")
		}
	}
	return d
}

const purgeCategory = "travel"

// mailboxOf is the mailbox a mail to addr lands in: the category of its
// local part before any '+'.
func (d *desk) mailboxOf(addr string) string {
	local, _, _ := strings.Cut(strings.ToLower(addr), "@")
	local, _, _ = strings.Cut(local, "+")
	for _, c := range d.categories {
		if c.key == local {
			return c.key
		}
	}
	return ""
}

// Appender puts mail into the Dovecot mailboxes, retrying through outages.
type Appender struct {
	addr     string
	password string
	mu       sync.Mutex
	log      []Appended
}

func (a *Appender) Append(ctx context.Context, mailbox, kind, from, replyTo string, raw []byte) {
	sum := sha256.Sum256(raw)
	mid := headerMessageID(raw)
	for attempt := 0; ; attempt++ {
		err := imapAppend(a.addr, mailbox, a.password, raw)
		if err == nil {
			break
		}
		if ctx.Err() != nil || attempt > 120 {
			logf("append <%s> to %s given up: %v", mid, mailbox, err)
			return
		}
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return
		}
	}
	a.mu.Lock()
	a.log = append(a.log, Appended{At: time.Now(), Mailbox: mailbox, Kind: kind, MessageID: mid, From: from, SHA256: hex.EncodeToString(sum[:]), ReplyTo: replyTo})
	a.mu.Unlock()
}

func (a *Appender) Snapshot() []Appended {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Appended(nil), a.log...)
}

func headerMessageID(raw []byte) string {
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		return ""
	}
	return strings.Trim(m.Header.Get("Message-Id"), "<> ")
}

func imapAppend(addr, user, password string, raw []byte) error {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		return err
	}
	cmd := c.Append("INBOX", int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		cmd.Close()
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	if _, err := cmd.Wait(); err != nil {
		return err
	}
	return c.Logout().Wait()
}

// imapMessageIDs lists the Message-IDs of the mails in a mailbox that are
// not flagged deleted.
func imapMessageIDs(addr, user, password string) ([]string, error) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		return nil, err
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, err
	}
	var ids []string
	if sel.NumMessages > 0 {
		var set imap.SeqSet
		set.AddRange(1, 0)
		msgs, err := c.Fetch(set, &imap.FetchOptions{Envelope: true, Flags: true}).Collect()
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			deleted := false
			for _, f := range m.Flags {
				if f == imap.FlagDeleted {
					deleted = true
				}
			}
			if !deleted && m.Envelope != nil {
				ids = append(ids, m.Envelope.MessageID)
			}
		}
	}
	return ids, c.Logout().Wait()
}

// Generator is the load: customers writing in at a steady rate with bursts,
// and reactions to what the sink receives (staff replies, auto-replies,
// bounces) as mail clients and mail servers build them.
type Generator struct {
	d      *desk
	app    *Appender
	seed   uint64
	mu     sync.Mutex
	rng    *rand.Rand
	n      int
	answer map[string]bool // In-Reply-To of notifications already answered
	react  chan SinkMail
	wg     sync.WaitGroup
	stop   chan struct{}
	once   sync.Once
}

func newGenerator(d *desk, app *Appender, seed uint64) *Generator {
	return &Generator{d: d, app: app, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x50a4)), answer: map[string]bool{},
		react: make(chan SinkMail, 10000), stop: make(chan struct{})}
}

func (g *Generator) intn(n int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rng.IntN(n)
}

func (g *Generator) next() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	return g.n
}

// Stop ends the load; reactions already queued are dropped.
func (g *Generator) Stop() {
	g.once.Do(func() { close(g.stop) })
	g.wg.Wait()
}

func (g *Generator) stopped() bool {
	select {
	case <-g.stop:
		return true
	default:
		return false
	}
}

// OnMail is the sink's hook: it must not block the SMTP session.
func (g *Generator) OnMail(m SinkMail) {
	if g.stopped() {
		return
	}
	select {
	case g.react <- m:
	default:
	}
}

func (g *Generator) Run(ctx context.Context) {
	g.wg.Add(3)
	go g.steady(ctx)
	go g.bursts(ctx)
	go g.reactions(ctx)
}

func (g *Generator) wait(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-g.stop:
		return false
	case <-ctx.Done():
		return false
	}
}

func (g *Generator) steady(ctx context.Context) {
	defer g.wg.Done()
	for g.wait(ctx, time.Duration(800+g.intn(1400))*time.Millisecond) {
		g.customer(ctx)
	}
}

func (g *Generator) bursts(ctx context.Context) {
	defer g.wg.Done()
	for g.wait(ctx, time.Duration(25+g.intn(35))*time.Second) {
		n := 8 + g.intn(12)
		logf("load: burst of %d customer mails", n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() { defer wg.Done(); g.customer(ctx) }()
		}
		wg.Wait()
	}
}

var firstNames = []string{"Ilona", "Jussi", "Kerttu", "Lauri", "Mirja", "Niklas", "Oona", "Pekka", "Riikka", "Sami", "Tuula", "Ulla", "Veikko", "Wilma"}
var lastNames = []string{"Aaltonen", "Berg", "Carlsson", "Dahl", "Ek", "Forsman", "Granlund", "Holm", "Isaksson", "Jokela"}
var topics = []string{"payslip for November", "tax card change", "holiday pay", "travel expense claim", "parental leave", "bank account change", "overtime hours", "pension insurance", "sick leave certificate", "lunch benefit"}

func (g *Generator) customer(ctx context.Context) {
	n := g.next()
	c := g.intn(300)
	first, last := firstNames[c%len(firstNames)], lastNames[(c/len(firstNames))%len(lastNames)]
	from := fmt.Sprintf("%s.%s%d@client%d.example", strings.ToLower(first), strings.ToLower(last), c, c%50)
	cat := g.d.categories[g.intn(len(g.d.categories))]
	topic := topics[g.intn(len(topics))]
	mid := fmt.Sprintf("soak-%d-c%d@client%d.example", g.seed, n, c%50)
	raw := fmt.Sprintf("From: %s %s <%s>\r\nTo: %s\r\nSubject: Question %d: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nI have a question about my %s (case %d).\r\n\r\nBest regards,\r\n%s %s\r\n",
		first, last, from, cat.address, n, topic, time.Now().Format(time.RFC1123Z), mid, topic, n, first, last)
	g.app.Append(ctx, cat.key, "customer", from, "", []byte(raw))
}

func (g *Generator) reactions(ctx context.Context) {
	defer g.wg.Done()
	for {
		select {
		case <-g.stop:
			return
		case <-ctx.Done():
			return
		case m := <-g.react:
			g.reactTo(ctx, m)
		}
	}
}

func (g *Generator) reactTo(ctx context.Context, m SinkMail) {
	if len(m.Rcpts) != 1 {
		return
	}
	to := m.Rcpts[0]
	replyTo := ""
	if l, err := mail.ParseAddressList(m.Header.Get("Reply-To")); err == nil && len(l) == 1 {
		replyTo = l[0].Address
	}
	fromAddr := ""
	if a, err := mail.ParseAddress(m.Header.Get("From")); err == nil {
		fromAddr = a.Address
	}
	if _, staff := g.d.staffName[to]; staff {
		// A staff member answers a notification about a customer's mail
		// through its Reply-To, as their mail client builds a reply.
		irt := m.Header.Get("In-Reply-To")
		mb := g.d.mailboxOf(replyTo)
		if replyTo == "" || !strings.Contains(replyTo, "+") || mb == "" || mb == purgeCategory || irt == "" {
			return
		}
		g.mu.Lock()
		done := g.answer[irt]
		if !done && g.rng.IntN(100) < 35 {
			g.answer[irt] = true
		} else {
			done = true
		}
		g.mu.Unlock()
		if done {
			return
		}
		g.staffReply(ctx, m, to, replyTo, mb)
		return
	}
	if !strings.HasSuffix(to, ".example") || strings.HasSuffix(to, "@staff.example") {
		return
	}
	mb := g.d.mailboxOf(fromAddr)
	if mb == "" {
		return
	}
	switch r := g.intn(100); {
	case r < 12:
		g.autoReply(ctx, m, to, fromAddr, mb)
	case r < 20:
		if vmb := g.d.mailboxOf(m.From); vmb != "" && strings.Contains(m.From, "+b-") {
			g.bounce(ctx, m, to, vmb)
		}
	}
}

func quoted(body string) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		if i >= 8 {
			break
		}
		b.WriteString("> " + l + "\r\n")
	}
	return b.String()
}

func (g *Generator) staffReply(ctx context.Context, m SinkMail, staff, replyTo, mb string) {
	n := g.next()
	mid := fmt.Sprintf("soak-%d-s%d@staff.example", g.seed, n)
	refs := strings.TrimSpace(m.Header.Get("References") + " <" + m.MessageID + ">")
	raw := fmt.Sprintf("From: %s <%s>\r\nTo: %s\r\nSubject: Re: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\nIn-Reply-To: <%s>\r\nReferences: %s\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nUser-Agent: Thunderbird/140.0\r\n\r\n"+
		"Hello, this is now fixed in the system (answer %d).\r\n\r\nOn %s, %s wrote:\r\n%s",
		g.d.staffName[staff], staff, replyTo, m.Header.Get("Subject"), time.Now().Format(time.RFC1123Z), mid, m.MessageID, refs,
		n, time.Now().Format("Mon, 2 Jan 2006 at 15:04"), m.Header.Get("From"), quoted(m.Body))
	g.app.Append(ctx, mb, "staff", staff, m.MessageID, []byte(raw))
}

func (g *Generator) autoReply(ctx context.Context, m SinkMail, customer, to, mb string) {
	n := g.next()
	dom := customer[strings.IndexByte(customer, '@')+1:]
	mid := fmt.Sprintf("soak-%d-a%d@%s", g.seed, n, dom)
	raw := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: Automatic reply: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\nIn-Reply-To: <%s>\r\n"+
		"Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"I am out of the office until Monday.\r\n", customer, to, m.Header.Get("Subject"), time.Now().Format(time.RFC1123Z), mid, m.MessageID)
	g.app.Append(ctx, mb, "auto_reply", customer, m.MessageID, []byte(raw))
}

// bounce is a DSN (RFC 3464) from the customer's mail server to the VERP
// return path of the mail it could not deliver.
func (g *Generator) bounce(ctx context.Context, m SinkMail, customer, mb string) {
	n := g.next()
	dom := customer[strings.IndexByte(customer, '@')+1:]
	mid := fmt.Sprintf("soak-%d-b%d@mx.%s", g.seed, n, dom)
	boundary := fmt.Sprintf("dsn-%d", n)
	raw := fmt.Sprintf("Return-Path: <>\r\nDelivered-To: %s\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.%s>\r\nTo: %s\r\n"+
		"Subject: Undelivered Mail Returned to Sender\r\nDate: %s\r\nMessage-ID: <%s>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"%s\"\r\n\r\n"+
		"--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nYour message could not be delivered to %s.\r\n\r\n"+
		"--%s\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.%s\r\n\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: 5.1.1\r\n"+
		"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"+
		"--%s\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\n--%s--\r\n",
		m.From, dom, m.From, time.Now().Format(time.RFC1123Z), mid, boundary,
		boundary, customer,
		boundary, dom, customer,
		boundary, m.Header.Get("From"), customer, m.Header.Get("Subject"), m.MessageID, boundary)
	g.app.Append(ctx, mb, "bounce", "MAILER-DAEMON@mx."+dom, m.MessageID, []byte(raw))
}
