package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"postdesk/conversation"
	"postdesk/internal/dovecottest"
	"postdesk/outbound"
	"postdesk/store"
	"postdesk/store/storetest"
	"postdesk/templates"
	"postdesk/threading"
)

// latencyMails is how many mails one round of BenchmarkMailToNotification
// sends through each desk.
const latencyMails = 200

// BenchmarkMailToNotification measures the whole path a customer's mail
// takes to the role's inbox: from the APPEND to the Dovecot mailbox (which
// the worker watches with IDLE) until the SMTP sink has accepted the first
// notification to a member of the category's role. latencyMails mails go
// one at a time, each waited for to the end, through two desks that differ
// only in what wakes the outbox: LISTEN/NOTIFY (store.Listen calling
// outbound.Worker.Wake) and, as the baseline, only the worker's own poll
// (every 2 s). The two desks take turns mail by mail, so a slow moment
// of the machine falls on both.
//
// Dovecot's own part is reported apart (dovecot-p50-ms): an observer session
// idles on the same mailbox, and the time until it hears EXISTS is Dovecot's
// delay in announcing new mail, the same for the worker. Dovecot 2.3 waits
// a fixed 500 ms after the file-system notification before it tells an
// idling client (NOTIFY_DELAY_MSECS in lib-storage/mailbox-watch.c); no
// setting changes it (mailbox_idle_check_interval takes whole seconds and
// only adds a slower check), so the APPEND-to-notification figure on that
// Dovecot cannot go below about 505 ms. postdesk-*-ms is the rest: from
// EXISTS to the accepted notification, which is what postdesk controls.
//
// Run it once: go test -run '^$' -bench MailToNotification -benchtime 1x ./ingest
// (one round is latencyMails mails per desk, some minutes).
func BenchmarkMailToNotification(b *testing.B) {
	woken, polled := newLatencyDesk(b, true), newLatencyDesk(b, false)
	var w, p latencies
	for b.Loop() {
		for i := range latencyMails {
			w.add(woken.mail(b, fmt.Sprintf("w%d", i)))
			p.add(polled.mail(b, fmt.Sprintf("p%d", i)))
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(w.total.pct(50)), "p50-ms")
	b.ReportMetric(ms(w.total.pct(99)), "p99-ms")
	b.ReportMetric(ms(p.total.pct(50)), "poll-p50-ms")
	b.ReportMetric(ms(p.total.pct(99)), "poll-p99-ms")
	b.ReportMetric(ms(w.dovecot.pct(50)), "dovecot-p50-ms")
	b.ReportMetric(ms(w.postdesk.pct(50)), "postdesk-p50-ms")
	b.ReportMetric(ms(w.postdesk.pct(99)), "postdesk-p99-ms")
	b.ReportMetric(ms(w.outbox.pct(50)), "outbox-p50-ms")
	b.ReportMetric(ms(w.outbox.pct(99)), "outbox-p99-ms")
	b.ReportMetric(float64(p.total.pct(50))/float64(w.total.pct(50)), "poll/woken-p50")
	b.Logf("APPEND -> first role notification accepted, %d mails each: woken by NOTIFY p50 %.0f ms p99 %.0f ms; "+
		"poll only (baseline, same run) p50 %.0f ms p99 %.0f ms; ratio p50 %.1fx p99 %.1fx. "+
		"Of the woken figure, Dovecot's IDLE delay p50 %.0f ms p99 %.0f ms; postdesk (EXISTS -> accepted) p50 %.0f ms p99 %.0f ms; "+
		"outbox (commit -> accepted) p50 %.0f ms p99 %.0f ms (poll only: %.0f / %.0f ms)",
		len(w.total), ms(w.total.pct(50)), ms(w.total.pct(99)), ms(p.total.pct(50)), ms(p.total.pct(99)),
		float64(p.total.pct(50))/float64(w.total.pct(50)), float64(p.total.pct(99))/float64(w.total.pct(99)),
		ms(w.dovecot.pct(50)), ms(w.dovecot.pct(99)), ms(w.postdesk.pct(50)), ms(w.postdesk.pct(99)),
		ms(w.outbox.pct(50)), ms(w.outbox.pct(99)), ms(p.outbox.pct(50)), ms(p.outbox.pct(99)))
}

// durations is a sample of latencies.
type durations []time.Duration

// pct is the p-th percentile by nearest rank.
func (ds durations) pct(p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	i := (p*len(s)+99)/100 - 1
	return s[max(i, 0)]
}

// latencies are the times of one mail's steps, from its APPEND.
type latencies struct {
	total, dovecot, postdesk, outbox durations
}

func (l *latencies) add(m mailTimes) {
	l.total = append(l.total, m.accepted)
	l.dovecot = append(l.dovecot, m.exists)
	l.postdesk = append(l.postdesk, m.accepted-m.exists)
	l.outbox = append(l.outbox, m.accepted-m.committed)
}

// mailTimes is when, after the APPEND, an observer heard EXISTS, the
// ingest transaction committed, and the first role notification was accepted.
type mailTimes struct{ exists, committed, accepted time.Duration }

// latencyDesk is one whole postdesk: Dovecot, the ingest worker, the rules,
// PostgreSQL, the outbound worker and an SMTP sink.
type latencyDesk struct {
	st       *store.Store
	appender *imapclient.Client
	exists   chan time.Time // the observer heard EXISTS
	commits  chan time.Time // an outbox notification was delivered (a commit that queued mail)
	sink     *latencySink
}

// newLatencyDesk starts a desk; listen wires the outbound worker's Wake to
// the outbox channel, as cmd/postdesk does.
func newLatencyDesk(b *testing.B, listen bool) *latencyDesk {
	b.Helper()
	st, c := storetest.Org(b, deskConfig)
	sg, err := threading.NewSigner([]byte(c.Secret))
	if err != nil {
		b.Fatal(err)
	}
	set, err := templates.Load("")
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	// One sender writes every mail: lift the loop breaker above the run.
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg,
		SenderLimit: 10 * latencyMails, DomainLimit: 10 * latencyMails, Logger: quiet})
	d := &latencyDesk{st: st, exists: make(chan time.Time, 16), commits: make(chan time.Time, 16), sink: newLatencySink(b)}
	dc := dovecottest.Start(b)
	user := dovecottest.DefaultUser
	e := &deskEnv{st: st, desk: NewDesk(st, svc, map[string]string{"payroll": "payroll"}), dovecot: dc, user: user}
	start(b, e.options(), e.desk, e.desk, nil)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait() })
	ow := outbound.New(st, &outbound.Options{Host: "127.0.0.1", Port: d.sink.port, TLS: "none", HeloName: "postdesk.test",
		PublicURL: "https://desk.example.com/", Signer: sg, Templates: set, Conversations: svc, Logger: quiet,
		// The baseline's only wake-up; serve's default poll is a mere safety net.
		Poll: 2 * time.Second})
	wg.Go(func() {
		if err := ow.Run(ctx); err != nil {
			b.Error(err)
		}
	})
	ready := make(chan struct{}, 4)
	if listen {
		wg.Go(func() {
			st.Listen(ctx, map[string]func(){store.ChannelOutbox: ow.Wake}, func() { ready <- struct{}{} }, quiet)
		})
		<-ready
	}
	// The commit times, on a listener of the bench's own.
	wg.Go(func() {
		st.Listen(ctx, map[string]func(){store.ChannelOutbox: func() { d.commits <- time.Now() }}, func() { ready <- struct{}{} }, quiet)
	})
	<-ready
	d.observe(b, dc, user)
	d.appender = dc.Dial(b, user.Name)
	// The first mail warms every connection and cache; it is not counted.
	d.mail(b, "warmup")
	return d
}

// observe starts a session that idles on the INBOX for the whole run and
// reports each EXISTS.
func (d *latencyDesk) observe(b *testing.B, dc *dovecottest.Server, user dovecottest.User) {
	b.Helper()
	c, err := imapclient.DialInsecure(dc.Addr, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(m *imapclient.UnilateralDataMailbox) {
			if m.NumMessages != nil {
				d.exists <- time.Now()
			}
		}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Login(user.Name, user.Password).Wait(); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = idle.Close() })
}

// mail appends one customer mail and waits until all three mails it causes
// (two role notifications and the acknowledgement) are accepted, so that no
// mail overlaps the next.
func (d *latencyDesk) mail(b *testing.B, id string) mailTimes {
	b.Helper()
	drain(d.exists)
	drain(d.commits)
	raw := customerMail(id)
	t0 := time.Now()
	cmd := d.appender.Append("INBOX", int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		b.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		b.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		b.Fatalf("append: %v", err)
	}
	var m mailTimes
	timeout := time.After(30 * time.Second)
	subject, tag := "Salary question "+id, ""
	for got := 0; got < 3 || m.exists == 0 || m.committed == 0; {
		select {
		case t := <-d.exists:
			m.exists = t.Sub(t0)
		case t := <-d.commits:
			m.committed = t.Sub(t0)
		case a := <-d.sink.accepted:
			// The notifications name the subject; the acknowledgement
			// only the number, learnt from them (they are queued first).
			switch {
			case strings.HasSuffix(a.subject, subject):
				tag, _, _ = strings.Cut(a.subject, "] ")
			case tag == "" || !strings.HasPrefix(a.subject, tag+"] "):
				continue // a late mail of an earlier round
			}
			got++
			if m.accepted == 0 && slices.ContainsFunc(a.rcpts, isRoleMember) {
				m.accepted = a.at.Sub(t0)
			}
		case <-timeout:
			b.Fatalf("mail %s: after 30 s: %+v", id, m)
		}
	}
	return m
}

func isRoleMember(rcpt string) bool {
	return rcpt == "aino.handler@example.com" || rcpt == "ben.payroll@example.com"
}

func drain(c chan time.Time) {
	for len(c) > 0 {
		<-c
	}
}

// latencySink is an SMTP server that accepts everything and reports when.
type latencySink struct {
	port     int
	accepted chan acceptedMail
}

type acceptedMail struct {
	subject string
	rcpts   []string
	at      time.Time
}

func newLatencySink(b *testing.B) *latencySink {
	b.Helper()
	s := &latencySink{accepted: make(chan acceptedMail, 64)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &latencySession{s: s}, nil }))
	srv.Domain = "sink.example"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l) //nolint:errcheck // ends with Close
	b.Cleanup(func() { srv.Close() })
	return s
}

type latencySession struct {
	s     *latencySink
	rcpts []string
}

func (s *latencySession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *latencySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}

// Data accepts the mail; the time is taken when the whole mail is read,
// just before the 250 that accepts it.
func (s *latencySession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, m.Body); err != nil {
		return err
	}
	at := time.Now()
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		return err
	}
	s.s.accepted <- acceptedMail{subject: subject, rcpts: s.rcpts, at: at}
	s.rcpts = nil
	return nil
}

func (s *latencySession) Reset()        { s.rcpts = nil }
func (s *latencySession) Logout() error { return nil }
