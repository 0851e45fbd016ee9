package outbound_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"postdesk/conversation"
	"postdesk/internal/benchscale"
	"postdesk/outbound"
	"postdesk/store/storetest"
	"postdesk/templates"
	"postdesk/threading"
)

// benchBatch is the worker's default Batch: it sends that many rows over one
// SMTP session and then QUITs, so the baseline client does the same.
const benchBatch = 100

// BenchmarkOutbound is figure 4 of `make bench`: about
// benchscale.N(2000, 100) notifications (new_conversation mail to the
// Payroll team, queued by customers opening conversations) delivered by the
// real Worker to a go-smtp sink on 127.0.0.1, against a bare go-smtp client
// sending the very mails the sink received, over the same sink, with the
// same session policy (one connection per benchBatch mails, MAIL with SIZE,
// QUIT at the end). The worker's figure includes everything it does per row
// (claim, build from the database, send, record); the baseline is the SMTP
// part alone, so the ratio says what the queue's guarantees cost.
//
//	go test -run '^$' -bench '^BenchmarkOutbound$' -benchtime 1x ./outbound
func BenchmarkOutbound(b *testing.B) {
	for i := 0; i < b.N; i++ {
		benchOutboundOnce(b, benchscale.N(2000, 100))
	}
}

func benchOutboundOnce(b *testing.B, want int) {
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
		Batch: benchBatch, Logger: quiet})

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
	if err := bareSend(ctx, sk.port, mails); err != nil {
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
	workerRate, bareRate := float64(n)/workerTook.Seconds(), float64(n)/bareTook.Seconds()
	b.ReportMetric(workerRate, "mails/s")
	b.ReportMetric(bareRate, "gosmtp-mails/s")
	b.ReportMetric(workerRate/bareRate, "ratio")
	b.ReportMetric(float64(n), "mails")
	b.ReportMetric(float64(size)/float64(n), "bytes/mail")
	b.Logf("%d mails (%d bytes on average): worker %v (%.0f mails/s), bare go-smtp client %v (%.0f mails/s)",
		n, size/n, workerTook.Round(time.Millisecond), workerRate, bareTook.Round(time.Millisecond), bareRate)
}

// bareSend is the baseline: go-smtp's client alone, one session per
// benchBatch mails, as the worker does.
func bareSend(ctx context.Context, port int, mails []delivery) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for len(mails) > 0 {
		k := min(benchBatch, len(mails))
		if err := bareSession(ctx, addr, mails[:k]); err != nil {
			return err
		}
		mails = mails[k:]
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
