package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"postdesk/conversation"
	"postdesk/store"
	"postdesk/store/storetest"
)

// stallSink is an SMTP server that takes mail, except that one DATA (the
// stallAt-th) is read in full and then never answered: the relay has the
// mail and the sender does not know it.
type stallSink struct {
	mu       sync.Mutex
	data     int
	stallAt  int
	stalled  string         // the Message-ID of the unanswered mail
	accepted map[string]int // Message-ID -> times accepted
	accepts  chan struct{}  // a signal for each mail accepted
	inStall  chan struct{}
	release  chan struct{}
}

func startStallSink(t *testing.T, stallAt int) (*stallSink, int) {
	t.Helper()
	s := &stallSink{stallAt: stallAt, accepted: map[string]int{}, accepts: make(chan struct{}, 100), inStall: make(chan struct{}), release: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return stallSession{s}, nil }))
	srv.Domain = "sink.example"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { close(s.release); srv.Close() })
	return s, ln.Addr().(*net.TCPAddr).Port
}

type stallSession struct{ s *stallSink }

func (stallSession) Mail(string, *smtp.MailOptions) error { return nil }
func (stallSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (stallSession) Reset()                               {}
func (stallSession) Logout() error                        { return nil }

func (ss stallSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return err
	}
	id := strings.Trim(m.Header.Get("Message-Id"), "<>")
	s := ss.s
	s.mu.Lock()
	s.data++
	if s.data == s.stallAt {
		s.stalled = id
		s.mu.Unlock()
		close(s.inStall)
		<-s.release
		return fmt.Errorf("the test is over")
	}
	s.accepted[id]++
	s.mu.Unlock()
	s.accepts <- struct{}{}
	return nil
}

func (s *stallSink) snapshot() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.accepted {
		out[k] = v
	}
	return out
}

// kill -9 of serve while the relay is in the middle of DATA: after a
// restart the mail in flight is sent again with the same Message-ID (once
// its lease has run out), the mail sent before is not sent again, and the
// mail not yet tried is sent once.
// One SMTP session (smtp.sessions: 1), so that the mails go in a known
// sequence and exactly one is in flight at the kill; with several, each
// session's mail in flight is left to its lease the same way.
func TestKilledMidSendResendsOnlyTheMailInFlight(t *testing.T) {
	t.Parallel()
	dbURL := storetest.EmptyURL(t)
	sink, port := startStallSink(t, 3)
	cfg := filepath.Join(t.TempDir(), "postdesk.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
listen: %s
database_url: env:TEST_DATABASE_URL
secret: env:TEST_SECRET
smtp: {host: 127.0.0.1, port: %d, tls: none, sessions: 1}
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
users:
  - {email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team]}
  - {email: ben.payroll@example.com, name: Ben Payroll, roles: [payroll-team]}
  - {email: cara.customer@acme.example, name: Cara Customer}
`, freePort(t), port)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, logs, ready := startServe(t, dbURL, cfg)

	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: "postdesk.example.com"})
	cara, err := svc.ActorByEmail(ctx, "cara.customer@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"Salary for October", "Tax card for 2027"} {
		if _, err := svc.Open(ctx, cara, conversation.NewRequest{Category: "payroll", Subject: subj, Body: "Hello."}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-sink.inStall: // woken by the commit's notification, serve is sending the third mail
	case <-time.After(30 * time.Second):
		t.Fatalf("the third mail never reached DATA:\n%s", logs.String())
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait() //nolint:errcheck // killed
	for range ready {
	}
	before := sink.snapshot()

	var rows int
	var stalled store.OutboxItem
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	var leaseLeft time.Duration
	if err := st.Pool().QueryRow(ctx, `SELECT id, status, attempts, next_attempt_at - now() FROM outbox WHERE mail_message_id = $1`, sink.stalled).
		Scan(&stalled.ID, &stalled.Status, &stalled.Attempts, &leaseLeft); err != nil {
		t.Fatalf("the stalled mail %q: %v", sink.stalled, err)
	}
	if stalled.Status != "pending" || stalled.Attempts != 1 || leaseLeft < time.Minute {
		t.Fatalf("the row in flight after the kill: status %s attempts %d lease left %s, want pending, claimed once, leased",
			stalled.Status, stalled.Attempts, leaseLeft)
	}
	if len(before) != 2 || rows < 4 {
		t.Fatalf("before the kill: %d mails accepted of %d rows, want the first two", len(before), rows)
	}
	// The lease runs out (the clock moves on), and serve comes back.
	if _, err := st.Pool().Exec(ctx, `UPDATE outbox SET next_attempt_at = now() WHERE id = $1`, stalled.ID); err != nil {
		t.Fatal(err)
	}
	startServe(t, dbURL, cfg)

	// Wait for the sink to have every row's mail; each accept signals.
	timeout := time.After(30 * time.Second)
	for len(sink.snapshot()) < rows {
		select {
		case <-sink.accepts:
		case <-timeout:
			t.Fatalf("%d of %d mails accepted after the restart:\n%s", len(sink.snapshot()), rows, logs.String())
		}
	}
	after := sink.snapshot()
	if len(after) != rows {
		t.Errorf("%d distinct mails accepted, want every row's (%d)", len(after), rows)
	}
	for id, n := range after {
		if n != 1 {
			t.Errorf("%s accepted %d times, want once (the stalled one was never answered)", id, n)
		}
	}
	if after[sink.stalled] != 1 {
		t.Errorf("the mail in flight (%s) was not sent again after the restart", sink.stalled)
	}
	var attempts int
	if err := st.Pool().QueryRow(ctx, `SELECT attempts FROM outbox WHERE id = $1`, stalled.ID).Scan(&attempts); err != nil || attempts != 2 {
		t.Errorf("the row in flight: %d attempts (%v), want 2", attempts, err)
	}
}
