// Package sandbox stands in for the outside world of `postdesk dev` on
// localhost: an IMAP server (go-imap's in-memory server) and an SMTP server
// (go-smtp). Mail sent to a category address (plus-addresses included) is
// delivered into that category's IMAP mailbox, which postdesk ingests like
// any other; every other mail lands in a mailbox of its own recipient, so a
// real mail client (Thunderbird, neomutt) can log in as a customer or a
// staff member and read and answer what postdesk sent. Nothing leaves the
// machine.
package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"
)

// MaxMessageBytes is the largest mail the SMTP server takes.
const MaxMessageBytes = 50 << 20

// Options configures a Sandbox.
type Options struct {
	IMAPAddr string // e.g. 127.0.0.1:1143; "" picks a free port
	SMTPAddr string // e.g. 127.0.0.1:2525; "" picks a free port
	// Categories are the category addresses whose mail is kept for postdesk.
	Categories []string
	// Users get a mailbox from the start (staff and customers of the demo).
	Users    []string
	Password string // every mailbox's IMAP password
	// Generation numbers this start of the sandbox. The mailboxes live in
	// memory and number their mail from UID 1 again at every start, so each
	// generation must get UIDVALIDITY values of its own (RFC 3501 2.3.1.1):
	// the mailboxes' UIDVALIDITY is Generation+1.
	Generation uint32
	Logger     *slog.Logger
}

// Captured is one mail the SMTP server took.
type Captured struct {
	At      time.Time
	From    string
	To      []string
	Subject string
	Size    int
	Mailbox []string // the IMAP mailboxes it was delivered to
}

// Sandbox is the running pair of servers.
type Sandbox struct {
	IMAPAddr, SMTPAddr string

	opts  Options
	mem   *imapmemserver.Server
	imap  *imapserver.Server
	smtp  *smtp.Server
	mu    sync.Mutex
	users map[string]*imapmemserver.User
	seen  []Captured
	log   *slog.Logger
}

// Start runs both servers on 127.0.0.1 until Close.
func Start(opts Options) (*Sandbox, error) {
	s := &Sandbox{opts: opts, mem: imapmemserver.New(), users: map[string]*imapmemserver.User{}, log: opts.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, a := range append(slices.Clone(opts.Categories), opts.Users...) {
		if _, err := s.user(a); err != nil {
			return nil, err
		}
	}
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &session{UserSession: nil, sb: s}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}, imap.CapIdle: {}, imap.CapMove: {}, imap.CapUIDPlus: {}},
		InsecureAuth: true, // loopback only
		Logger:       log.New(io.Discard, "", 0),
	})
	iln, err := listen(opts.IMAPAddr)
	if err != nil {
		return nil, fmt.Errorf("sandbox imap: %w", err)
	}
	s.IMAPAddr = iln.Addr().String()
	go s.imap.Serve(iln) //nolint:errcheck // ends with Close

	s.smtp = smtp.NewServer(&backend{sb: s})
	s.smtp.Domain = "localhost"
	s.smtp.MaxMessageBytes = MaxMessageBytes
	s.smtp.MaxRecipients = 100
	s.smtp.ReadTimeout = time.Minute
	s.smtp.WriteTimeout = time.Minute
	sln, err := listen(opts.SMTPAddr)
	if err != nil {
		s.imap.Close()
		return nil, fmt.Errorf("sandbox smtp: %w", err)
	}
	s.SMTPAddr = sln.Addr().String()
	go s.smtp.Serve(sln) //nolint:errcheck // ends with Close
	return s, nil
}

func listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s: the sandbox listens on loopback addresses only", addr)
	}
	return net.Listen("tcp", addr)
}

// Close stops both servers.
func (s *Sandbox) Close() {
	s.smtp.Close()
	s.imap.Close()
}

// Captured lists the mail the SMTP server took, newest first.
func (s *Sandbox) Captured() []Captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.seen)
	slices.Reverse(out)
	return out
}

// user returns the mailbox of an address, creating it on first use.
func (s *Sandbox) user(addr string) (*imapmemserver.User, error) {
	addr = strings.ToLower(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[addr]; ok {
		return u, nil
	}
	u := imapmemserver.NewUser(addr, s.opts.Password)
	// The in-memory server counts UIDVALIDITY up with every mailbox a user
	// creates; creating and dropping one per earlier generation moves
	// INBOX's past every value an earlier start handed out.
	for range s.opts.Generation {
		if err := u.Create("generation", nil); err != nil {
			return nil, fmt.Errorf("sandbox mailbox %s: %w", addr, err)
		}
		if err := u.Delete("generation"); err != nil {
			return nil, fmt.Errorf("sandbox mailbox %s: %w", addr, err)
		}
	}
	if err := u.Create("INBOX", nil); err != nil {
		return nil, fmt.Errorf("sandbox mailbox %s: %w", addr, err)
	}
	s.mem.AddUser(u)
	s.users[addr] = u
	return u, nil
}

// mailboxFor is where mail for a recipient goes: its category's mailbox for
// a category address or plus-address of one, else the recipient's own.
func (s *Sandbox) mailboxFor(rcpt string) string {
	rcpt = strings.ToLower(rcpt)
	base := rcpt
	if local, domain, ok := strings.Cut(rcpt, "@"); ok {
		if l, _, plus := strings.Cut(local, "+"); plus {
			base = l + "@" + domain
		}
	}
	if slices.Contains(s.opts.Categories, base) {
		return base
	}
	return rcpt
}

// deliver appends a mail to each recipient's mailbox.
func (s *Sandbox) deliver(from string, rcpts []string, data []byte) error {
	var boxes []string
	for _, r := range rcpts {
		box := s.mailboxFor(r)
		if slices.Contains(boxes, box) {
			continue
		}
		u, err := s.user(box)
		if err != nil {
			return err
		}
		if _, err := u.Append("INBOX", bytes.NewReader(data), &imap.AppendOptions{Time: time.Now()}); err != nil {
			return fmt.Errorf("sandbox deliver to %s: %w", box, err)
		}
		boxes = append(boxes, box)
	}
	c := Captured{At: time.Now(), From: from, To: rcpts, Size: len(data), Mailbox: boxes}
	if m, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		dec := new(mimeWordDecoder)
		c.Subject = dec.decode(m.Header.Get("Subject"))
	}
	s.mu.Lock()
	s.seen = append(s.seen, c)
	s.mu.Unlock()
	s.log.Info("sandbox delivered", "from", from, "to", rcpts, "mailboxes", boxes, "bytes", len(data))
	return nil
}

// session logs an IMAP client in as the mailbox's user.
type session struct {
	*imapmemserver.UserSession
	sb *Sandbox
}

func (s *session) Login(username, password string) error {
	s.sb.mu.Lock()
	u, ok := s.sb.users[strings.ToLower(username)]
	s.sb.mu.Unlock()
	if !ok || u.Login(strings.ToLower(username), password) != nil {
		return imapserver.ErrAuthFailed
	}
	s.UserSession = imapmemserver.NewUserSession(u)
	return nil
}

// Idle first reports what changed since the client's last command: go-imap's
// in-memory server (v2.0.0-beta.8) only wakes an IDLE for changes made after
// it began, so mail that arrived between the client's last poll and its IDLE
// would wait for the next change or poll.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if err := s.UserSession.Poll(w, true); err != nil {
		return err
	}
	return s.UserSession.Idle(w, stop)
}

func (s *session) Close() error {
	if s.UserSession == nil {
		return nil
	}
	return s.UserSession.Close()
}

type backend struct{ sb *Sandbox }

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{sb: b.sb}, nil }

type smtpSession struct {
	sb    *Sandbox
	from  string
	rcpts []string
}

func (s *smtpSession) Reset()        { s.from, s.rcpts = "", nil }
func (s *smtpSession) Logout() error { return nil }

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if _, err := mail.ParseAddress(to); err != nil {
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "bad recipient address"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(s.rcpts) == 0 {
		return errors.New("no recipients")
	}
	return s.sb.deliver(s.from, s.rcpts, data)
}
