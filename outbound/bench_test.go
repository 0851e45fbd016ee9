package outbound_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/sync/errgroup"

	"postdesk/conversation"
	"postdesk/internal/benchscale"
	"postdesk/outbound"
	"postdesk/store/storetest"
	"postdesk/templates"
	"postdesk/threading"
)

// benchBatch is the worker's default Batch: a run sends that many rows and
// then QUITs its sessions, so the baseline client's sessions do the same.
const benchBatch = 100

// BenchmarkOutbound is figure 4 of `make bench`: about
// benchscale.N(2000, 100) notifications (new_conversation mail to the
// Payroll team, queued by customers opening conversations) delivered by the
// real Worker to a go-smtp sink on 127.0.0.1, against a bare go-smtp client
// sending the very mails the sink received, over the same sink, with the
// same session policy (benchBatch mails a run, shared by the sessions at
// once, MAIL with SIZE, QUIT at the end of each run). The worker's figure includes
// everything it does per row (claim, build from the database, send,
// record); the baseline is the SMTP part alone, so the ratio says what the
// queue's guarantees cost. It runs twice, each on an outbox of its own:
// with the default outbound.DefaultSessions sessions (mails/s, beside
// gosmtp-mails/s with as many client sessions at once), and with one
// (one-session-mails/s, beside one-session-gosmtp-mails/s).
//
//	go test -run '^$' -bench '^BenchmarkOutbound$' -benchtime 1x ./outbound
func BenchmarkOutbound(b *testing.B) {
	for i := 0; i < b.N; i++ {
		n := benchscale.N(2000, 100)
		one := benchOutboundOnce(b, n, 1)
		many := benchOutboundOnce(b, n, outbound.DefaultSessions)
		b.ReportMetric(many.worker, "mails/s")
		b.ReportMetric(many.bare, "gosmtp-mails/s")
		b.ReportMetric(many.worker/many.bare, "ratio")
		b.ReportMetric(one.worker, "one-session-mails/s")
		b.ReportMetric(one.bare, "one-session-gosmtp-mails/s")
		b.ReportMetric(float64(many.n), "mails")
		b.ReportMetric(float64(many.size)/float64(many.n), "bytes/mail")
		b.ReportMetric(float64(outbound.DefaultSessions), "sessions")
	}
}

// outboundRun is one run of the figure: rates in mails per second.
type outboundRun struct {
	worker, bare float64
	n, size      int
}

func benchOutboundOnce(b *testing.B, want, sessions int) outboundRun {
	b.StopTimer()
	ctx := context.Background()
	st, cfg := storetest.Org(b, testConfig)
	sg, err := threading.NewSigner([]byte(cfg.Secret))
	if err != nil {
		b.Fatal(err)
	}
	set, err := templates.Load("")
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg, Logger: quiet})
	customer, err := svc.ActorByEmail(ctx, cara)
	if err != nil {
		b.Fatal(err)
	}

	// Each conversation a customer opens queues a notification to each of
	// the Payroll team's members (and maybe a receipt to the customer).
	var n int
	for i := 0; n < want; i++ {
		if _, err := svc.Open(ctx, customer, conversation.NewRequest{Category: "payroll",
			Subject: fmt.Sprintf("Bench payslip question %d", i),
			Body:    fmt.Sprintf("Hello,\n\nmy payslip for month %d shows the wrong tax rate.\nCould you check it?\n\nCara", i%12+1)}); err != nil {
			b.Fatal(err)
		}
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM outbox WHERE status = 'pending'`).Scan(&n); err != nil {
			b.Fatal(err)
		}
	}

	sk := newBenchSink(b)
	w := outbound.New(st, &outbound.Options{Host: "127.0.0.1", Port: sk.port, TLS: "none", HeloName: "postdesk.test",
		PublicURL: "https://desk.example.com/", Signer: sg, Templates: set, Conversations: svc,
		Batch: benchBatch, Sessions: sessions, Logger: quiet})

	b.StartTimer()
	start := time.Now()
	var sent int
	for {
		s, f, err := w.RunOnce(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if f != 0 {
			b.Fatalf("%d mails failed", f)
		}
		if s == 0 {
			break
		}
		sent += s
	}
	workerTook := time.Since(start)
	b.StopTimer()
	mails := sk.take()
	if sent != n || len(mails) != n {
		b.Fatalf("worker sent %d, sink accepted %d, want %d", sent, len(mails), n)
	}
	var left int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM outbox WHERE status <> 'sent'`).Scan(&left); err != nil {
		b.Fatal(err)
	}
	if left != 0 {
		b.Fatalf("%d rows not recorded as sent", left)
	}

	b.StartTimer()
	start = time.Now()
	if err := bareSend(ctx, sk.port, mails, sessions); err != nil {
		b.Fatal(err)
	}
	bareTook := time.Since(start)
	b.StopTimer()
	if got := len(sk.take()); got != n {
		b.Fatalf("bare client: sink accepted %d, want %d", got, n)
	}

	var size int
	for _, m := range mails {
		size += len(m.Data)
	}
	r := outboundRun{worker: float64(n) / workerTook.Seconds(), bare: float64(n) / bareTook.Seconds(), n: n, size: size}
	b.Logf("%d mails (%d bytes on average), %d sessions: worker %v (%.0f mails/s), bare go-smtp client %v (%.0f mails/s)",
		n, size/n, sessions, workerTook.Round(time.Millisecond), r.worker, bareTook.Round(time.Millisecond), r.bare)
	return r
}

// bareSend is the baseline: go-smtp's client alone, with the worker's
// session policy: benchBatch mails at a time (a run), shared by sessions
// connections at once, each ended with QUIT before the next batch.
func bareSend(ctx context.Context, port int, mails []delivery, sessions int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for run := range slices.Chunk(mails, benchBatch) {
		var g errgroup.Group
		for part := range slices.Chunk(run, (len(run)+sessions-1)/sessions) {
			g.Go(func() error { return bareSession(ctx, addr, part) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

func bareSession(ctx context.Context, addr string, mails []delivery) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("postdesk.test"); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	for _, m := range mails {
		if err := c.Mail(m.From, &smtp.MailOptions{Size: int64(len(m.Data))}); err != nil {
			return fmt.Errorf("MAIL: %w", err)
		}
		for _, to := range m.To {
			if err := c.Rcpt(to, nil); err != nil {
				return fmt.Errorf("RCPT: %w", err)
			}
		}
		wc, err := c.Data()
		if err != nil {
			return fmt.Errorf("DATA: %w", err)
		}
		if _, err := wc.Write(m.Data); err != nil {
			return fmt.Errorf("DATA: %w", err)
		}
		if err := wc.Close(); err != nil {
			return fmt.Errorf("end of DATA: %w", err)
		}
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("QUIT: %w", err)
	}
	return nil
}

// benchSink is a go-smtp server on 127.0.0.1 that accepts everything and
// keeps it, with no other behaviour, so that both senders meet the same
// cost on the far side.
type benchSink struct {
	port  int
	mu    sync.Mutex
	mails []delivery
}

func newBenchSink(b *testing.B) *benchSink {
	b.Helper()
	s := &benchSink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &benchSession{s: s}, nil
	}))
	srv.Domain = "sink.example"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.ErrorLog = discardLogger{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l) //nolint:errcheck // ends with Close
	b.Cleanup(func() { srv.Close() })
	return s
}

// take returns the accepted mail and forgets it.
func (s *benchSink) take() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mails
	s.mails = nil
	return m
}

type benchSession struct {
	s    *benchSink
	from string
	to   []string
}

func (ss *benchSession) Mail(from string, _ *smtp.MailOptions) error { ss.from = from; return nil }

func (ss *benchSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *benchSession) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, delivery{From: ss.from, To: ss.to, Data: buf.Bytes()})
	ss.s.mu.Unlock()
	ss.from, ss.to = "", nil
	return nil
}

func (ss *benchSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *benchSession) Logout() error { return nil }
