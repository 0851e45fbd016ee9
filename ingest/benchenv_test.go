package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"postdesk/internal/benchscale"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"postdesk/conversation"
	"postdesk/internal/benchmail"
	"postdesk/internal/dovecottest"
	"postdesk/outbound"
	"postdesk/store"
	"postdesk/templates"
	"postdesk/threading"
)

// What the throughput benchmarks share: a desk wired as `postdesk serve`
// wires it, mailboxes filled with benchmail, the mbsync baseline and an SMTP
// sink that counts what it is sent.

// benchInstance is one `postdesk serve`: its own pool, its own Desk (and so
// its own leases), its workers and, optionally, its outbox worker.
type benchInstance struct {
	st   *store.Store
	svc  *conversation.Service
	desk *Desk
	sg   *threading.Signer
}

func newBenchInstance(b *testing.B, url, secret string) *benchInstance {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	sg, err := threading.NewSigner([]byte(secret))
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg, Logger: quiet})
	cats := map[string]string{}
	for i := range 4 {
		cats[benchMailboxName(i)] = "payroll"
	}
	d := NewDesk(st, svc, cats)
	d.Logger = quiet
	return &benchInstance{st: st, svc: svc, desk: d, sg: sg}
}

func benchMailboxName(i int) string { return fmt.Sprintf("payroll-%d", i) }

// runOutbox sends the instance's outbox to the sink until the benchmark ends.
func (in *benchInstance) runOutbox(b *testing.B, ctx context.Context, wg *sync.WaitGroup, sink *countingSink) {
	b.Helper()
	set, err := templates.Load("")
	if err != nil {
		b.Fatal(err)
	}
	ow := outbound.New(in.st, &outbound.Options{Host: "127.0.0.1", Port: sink.port, TLS: "none", HeloName: "postdesk.test",
		PublicURL: "https://desk.example.com/", Signer: in.sg, Templates: set, Conversations: in.svc,
		Logger: slog.New(slog.DiscardHandler), Poll: 200 * time.Millisecond})
	wg.Go(func() {
		if err := ow.Run(ctx); err != nil {
			b.Error(err)
		}
	})
	wg.Go(func() {
		in.st.Listen(ctx, map[string]func(){store.ChannelOutbox: ow.Wake}, nil, slog.New(slog.DiscardHandler))
	})
}

// benchWorker starts a worker of in on one Dovecot user's INBOX; applied
// receives each UID whose After action is done.
func (in *benchInstance) benchWorker(b *testing.B, ctx context.Context, wg *sync.WaitGroup, dc *dovecottest.Server, user dovecottest.User,
	name string, applied chan<- uint32) {
	b.Helper()
	opts := &Options{Name: name, Host: dc.Host, Port: dc.Port, TLS: TLSNone, Username: user.Name, Password: user.Password,
		Folder: "INBOX", After: AfterSeen, Existing: ExistingNotify, PollInterval: time.Hour, SafetyPoll: time.Hour,
		Logger: slog.New(slog.DiscardHandler)}
	w := NewWorker(opts, in.desk, in.desk)
	w.applied = func(uid uint32) { applied <- uid }
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			b.Error(err)
		}
	})
}

// fillBench puts n benchmail mails (seeded by seed) into user's INBOX and
// lets Dovecot index them, so neither the figure nor its baseline pays for
// the first scan.
func fillBench(b *testing.B, dc *dovecottest.Server, user string, n int, seed uint64) {
	b.Helper()
	raws := benchmail.Raws(n, &benchmail.Options{Seed: seed})
	if err := benchmail.FillMaildir(filepath.Join(dc.Dir, "mail", user), raws); err != nil {
		b.Fatal(err)
	}
	if got := len(dc.Folder(b, user, "INBOX")); got != n {
		b.Fatalf("%d mails in the mailbox, want %d", got, n)
	}
}

// awaitApplied waits until n After actions are reported.
func awaitApplied(b *testing.B, applied <-chan uint32, n int, within time.Duration) {
	b.Helper()
	timeout := time.After(within)
	for got := 0; got < n; got++ {
		select {
		case <-applied:
		case <-timeout:
			b.Fatalf("%d of %d mails committed and flagged after %v", got, n, within)
		}
	}
}

// unseen counts the mails of user's INBOX without \Seen.
func unseen(b *testing.B, dc *dovecottest.Server, user string) int {
	b.Helper()
	c := dc.Dial(b, user)
	defer c.Close()
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		b.Fatal(err)
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil {
		b.Fatal(err)
	}
	return len(data.AllUIDs())
}

// mbsync pulls user's INBOX into a fresh Maildir under dir with isync's
// mbsync and returns how long it took and the processor time the machine
// spent meanwhile (mbsync and Dovecot); it skips the benchmark when mbsync
// is not installed.
func mbsync(b *testing.B, dc *dovecottest.Server, user dovecottest.User, dir string) (took time.Duration, coreSeconds float64) {
	b.Helper()
	bin, err := exec.LookPath("mbsync")
	if err != nil {
		b.Skip("mbsync (isync) is not installed: no baseline to compare with; run scripts/install-deps")
	}
	if err := os.MkdirAll(filepath.Join(dir, "mail"), 0o700); err != nil {
		b.Fatal(err)
	}
	rc := filepath.Join(dir, "mbsyncrc")
	conf := fmt.Sprintf(`IMAPAccount bench
Host %s
Port %d
User %s
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path %[5]s/mail/
Inbox %[5]s/mail/INBOX

Channel bench
Far :remote:
Near :local:
Patterns INBOX
Sync Pull New
Create Near
SyncState %[5]s/state/
`, dc.Host, dc.Port, user.Name, user.Password, dir)
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	cpu0, err := benchscale.ReadCPU()
	if err != nil {
		b.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, bin, "-c", rc, "-q", "bench").CombinedOutput()
	took = time.Since(t0)
	if err != nil {
		b.Fatalf("mbsync: %v\n%s", err, out)
	}
	cpu1, err := benchscale.ReadCPU()
	if err != nil {
		b.Fatal(err)
	}
	return took, cpu1.CoreSecondsSince(cpu0)
}

// maildirCount counts the mails mbsync wrote under dir.
func maildirCount(b *testing.B, dir string) int {
	b.Helper()
	n := 0
	for _, sub := range []string{"cur", "new"} {
		es, err := os.ReadDir(filepath.Join(dir, "mail", "INBOX", sub))
		if err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
		n += len(es)
	}
	return n
}

// acceptSink is an SMTP server that accepts every mail and hands each to
// got, with its recipients, the moment it has read the whole mail (just
// before the 250 that accepts it).
type acceptSink struct {
	port int
	got  func(h mail.Header, rcpts []string, at time.Time)
}

func newAcceptSink(b *testing.B, got func(h mail.Header, rcpts []string, at time.Time)) *acceptSink {
	b.Helper()
	s := &acceptSink{got: got}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &acceptSession{s: s}, nil }))
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

type acceptSession struct {
	s     *acceptSink
	rcpts []string
}

func (s *acceptSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *acceptSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *acceptSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, m.Body); err != nil {
		return err
	}
	s.s.got(m.Header, s.rcpts, time.Now())
	s.rcpts = nil
	return nil
}

func (s *acceptSession) Reset()        { s.rcpts = nil }
func (s *acceptSession) Logout() error { return nil }

// countingSink counts each (Message-ID, recipient) it is sent: a count
// above one is a mail sent twice.
type countingSink struct {
	*acceptSink
	mu   sync.Mutex
	sent map[string]int
}

func newCountingSink(b *testing.B) *countingSink {
	b.Helper()
	c := &countingSink{sent: map[string]int{}}
	c.acceptSink = newAcceptSink(b, func(h mail.Header, rcpts []string, _ time.Time) {
		id := strings.Trim(h.Get("Message-Id"), "<>")
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, rc := range rcpts {
			c.sent[id+" "+rc]++
		}
	})
	return c
}

// twice is how many (Message-ID, recipient) pairs came more than once, and
// how many came at all.
func (s *countingSink) twice() (dup, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.sent {
		total += n
		if n > 1 {
			dup += n - 1
		}
	}
	return dup, total
}
