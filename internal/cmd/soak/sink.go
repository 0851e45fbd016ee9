package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// The sink's fault modes; "" takes every mail.
const (
	modeOK         = ""
	mode421Connect = "421-connect"
	mode451Mail    = "451-mail"
	mode530Mail    = "530-mail"
	mode550Mail    = "550-mail"
	mode451Rcpt    = "451-rcpt"
	mode550Rcpt    = "550-rcpt"
	modeStallData  = "stall-data"
)

var sinkModes = []string{mode421Connect, mode451Mail, mode530Mail, mode550Mail, mode451Rcpt, mode550Rcpt, modeStallData}

// stallFor is how long a stalled DATA stays unanswered before the sink drops
// the connection: long enough that postdesk's send is cut, short enough not
// to hold a worker for its whole send timeout.
const stallFor = 15 * time.Second

// SinkMail is a mail the sink took, with what the load generator needs to
// answer it as a mail client would.
type SinkMail struct {
	Received
	Header mail.Header
	Body   string
}

// Sink is the SMTP relay postdesk sends to, controlled by the harness.
type Sink struct {
	mu      sync.Mutex
	mode    string
	got     []Received
	refused []Refused
	onMail  func(SinkMail)
	armed   func() // run once, on the next mail taken
	srv     *smtp.Server
	Port    int
	stop    chan struct{}
}

func startSink(onMail func(SinkMail)) (*Sink, error) {
	s := &Sink{onMail: onMail, stop: make(chan struct{})}
	s.srv = smtp.NewServer(smtp.BackendFunc(s.newSession))
	s.srv.Domain = "sink.soak.example"
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	go s.srv.Serve(ln) //nolint:errcheck // ends with Close
	return s, nil
}

func (s *Sink) Close() {
	close(s.stop)
	s.srv.Close()
}

func (s *Sink) SetMode(m string) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// Arm has f run once, when the sink next takes a mail.
func (s *Sink) Arm(f func()) {
	s.mu.Lock()
	s.armed = f
	s.mu.Unlock()
}

func (s *Sink) Mode() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode
}

func (s *Sink) Snapshot() ([]Received, []Refused) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.got...), append([]Refused(nil), s.refused...)
}

func (s *Sink) newSession(c *smtp.Conn) (smtp.Session, error) {
	if s.Mode() == mode421Connect {
		return nil, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "soak: not now"}
	}
	return &sinkSession{s: s, conn: c}, nil
}

type sinkSession struct {
	s     *Sink
	conn  *smtp.Conn
	from  string
	rcpts []string
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	switch ss.s.Mode() {
	case mode451Mail:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "soak: try later"}
	case mode530Mail:
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "soak: authentication required"}
	case mode550Mail:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "soak: sender not allowed"}
	}
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch ss.s.Mode() {
	case mode451Rcpt:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "soak: mailbox busy"}
	case mode550Rcpt:
		ss.s.mu.Lock()
		ss.s.refused = append(ss.s.refused, Refused{At: time.Now(), Rcpt: strings.ToLower(to), Code: 550})
		ss.s.mu.Unlock()
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "soak: no such user"}
	}
	ss.rcpts = append(ss.rcpts, strings.ToLower(to))
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(m.Body)
	stall := ss.s.Mode() == modeStallData
	rc := Received{At: time.Now(), MessageID: strings.Trim(m.Header.Get("Message-Id"), "<> "), From: ss.from, Rcpts: ss.rcpts, Cut: stall}
	ss.s.mu.Lock()
	ss.s.got = append(ss.s.got, rc)
	ss.s.mu.Unlock()
	if stall {
		// The mail is here and the sender is never told: what a relay that
		// dies after queueing does. Dropping the connection cuts the send.
		select {
		case <-time.After(stallFor):
		case <-ss.s.stop:
		}
		ss.conn.Conn().Close()
		return errors.New("soak: stalled")
	}
	ss.s.mu.Lock()
	armed := ss.s.armed
	ss.s.armed = nil
	ss.s.mu.Unlock()
	if armed != nil {
		// Not waited for: the 250 goes out while the sender is being killed,
		// so its crash falls between the relay taking the mail and the
		// outcome being recorded (or just before the 250 reaches it).
		go armed()
	}
	if ss.s.onMail != nil {
		ss.s.onMail(SinkMail{Received: rc, Header: m.Header, Body: string(body)})
	}
	return nil
}

func (ss *sinkSession) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *sinkSession) Logout() error { return nil }
