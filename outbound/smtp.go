package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"postdesk/mailtls"
)

// The mail is built with jordan-wright/email but sent with go-smtp's client:
// email's Send and SendWithTLS take no context and set no timeouts (a relay
// that stops answering hangs the worker, and the row's lock, for ever), dial
// a new connection for every mail, and return net/smtp's errors, which hide
// the reply code that decides between retrying and giving up. go-smtp gives
// the code (*smtp.SMTPError), and its connection is ours to bound and reuse.

// sender is one SMTP session to the relay, reused for the rows of one run:
// dialled on the first mail, RSET after a failed transaction, redialled after
// a broken one, and closed with QUIT when the run ends.
type sender struct {
	o      *Options
	trace  io.Writer // this session's trace, or nil
	client *smtp.Client
	conn   *deadlineConn
	dirty  bool // a mail transaction was begun and not completed
}

// send delivers one mail. Every error it returns is a *sessionError (the
// relay refused or lost the session before the mail was begun) or a
// *deliveryError (the relay judged this mail, at RCPT or DATA).
func (s *sender) send(ctx context.Context, from, to string, msg []byte) error {
	deadline := time.Now().Add(s.o.SendTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	reused := s.client != nil
	if err := s.ready(ctx, deadline); err != nil {
		return err
	}
	began, err := s.transaction(ctx, deadline, from, to, msg)
	if err != nil && reused && !began && brokenSession(err) && ctx.Err() == nil {
		// A reused connection that the server dropped while it was idle:
		// one fresh connection before this counts as a failed try.
		if err := s.ready(ctx, deadline); err != nil {
			return err
		}
		_, err = s.transaction(ctx, deadline, from, to, msg)
	}
	return err
}

// transaction runs MAIL, RCPT and DATA on the ready session; began reports
// whether the server accepted MAIL.
func (s *sender) transaction(ctx context.Context, deadline time.Time, from, to string, msg []byte) (began bool, err error) {
	s.conn.setLimit(deadline)
	conn := s.conn
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer func() {
		cancelled := !stop()
		if cancelled || (err != nil && brokenSession(err)) {
			s.drop() // closed under the client, or broken
		}
		switch {
		case err == nil:
		case cancelled && !began:
			// Stopped before the relay took MAIL: nothing of this mail
			// reached it, so it is given back untried.
			err = sessionFault(fmt.Errorf("smtp: %w (%v)", ctx.Err(), err))
		case cancelled:
			err = temporary(fmt.Errorf("smtp: %w (%v)", ctx.Err(), err))
		case !began && !isSessionFault(err):
			err = sessionFault(err) // nothing of this mail reached the relay
		default:
			err = classify(err)
		}
	}()
	if s.dirty {
		// The last transaction ended half-way (a refused RCPT, say): RSET
		// before the next MAIL (RFC 5321 4.1.1.5).
		if err := s.client.Reset(); err != nil {
			return false, sessionFault(fmt.Errorf("RSET: %w", err))
		}
		s.dirty = false
	}
	s.dirty = true
	if err := s.client.Mail(from, &smtp.MailOptions{Size: int64(len(msg))}); err != nil {
		// A refusal of the sender (530 authentication required, 550 sender
		// not allowed) is about the relay's configuration, not this mail:
		// every queued mail has this sender's domain and would meet it.
		return false, sessionFault(fmt.Errorf("MAIL FROM:<%s>: %w", from, err))
	}
	if err := s.client.Rcpt(to, nil); err != nil {
		return true, fmt.Errorf("RCPT TO:<%s>: %w", to, err)
	}
	w, err := s.client.Data()
	if err != nil {
		return true, fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return true, fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return true, fmt.Errorf("end of DATA: %w", err)
	}
	s.dirty = false
	return true, nil
}

// classify keeps session faults as they are, an SMTP reply's code deciding
// (4xx temporary, 5xx permanent) and makes every other error temporary.
func classify(err error) error {
	var de *deliveryError
	if errors.As(err, &de) || isSessionFault(err) {
		return err
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code/100 == 5 {
		return permanent(err)
	}
	return temporary(err)
}

// ready dials, secures, greets and authenticates when there is no session.
// Its failures are all session faults: they are about the relay, not the
// mail.
func (s *sender) ready(ctx context.Context, deadline time.Time) error {
	if s.client != nil {
		return nil
	}
	addr := net.JoinHostPort(s.o.Host, strconv.Itoa(s.o.Port))
	d := net.Dialer{Deadline: deadline}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return sessionFault(fmt.Errorf("connect %s: %w", addr, err))
	}
	conn := &deadlineConn{Conn: raw}
	conn.setLimit(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	cfg := s.o.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.o.Host
	}
	var c *smtp.Client
	switch s.o.TLS {
	case "implicit":
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return sessionFault(fmt.Errorf("TLS with %s: %w", addr, mailtls.Explain(err)))
		}
		c = smtp.NewClient(tc)
	case "none":
		c = smtp.NewClient(conn)
	default: // starttls
		c, err = smtp.NewClientStartTLS(conn, cfg)
		if err != nil {
			conn.Close()
			return sessionFault(fmt.Errorf("STARTTLS with %s: %w", addr, mailtls.Explain(err)))
		}
	}
	c.CommandTimeout = s.o.CommandTimeout
	c.SubmissionTimeout = s.o.SendTimeout
	if s.trace != nil {
		c.DebugWriter = s.trace
	}
	if err := c.Hello(s.o.HeloName); err != nil {
		c.Close()
		return sessionFault(fmt.Errorf("EHLO at %s: %w", addr, err))
	}
	if s.o.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			c.Close()
			return sessionFault(fmt.Errorf("%s offers no AUTH, but a username is configured", addr))
		}
		if err := s.auth(ctx, c, addr); err != nil {
			c.Close()
			return sessionFault(err)
		}
	}
	if ctx.Err() != nil {
		c.Close()
		return sessionFault(fmt.Errorf("smtp: %w", ctx.Err()))
	}
	s.client, s.conn, s.dirty = c, conn, false
	return nil
}

// quit ends an idle session politely (QUIT, RFC 5321 4.1.1.10), within a
// few seconds, and closes it.
func (s *sender) quit() {
	if s.client == nil {
		return
	}
	s.conn.setLimit(time.Now().Add(5 * time.Second))
	if err := s.client.Quit(); err != nil {
		s.client.Close()
	}
	s.client, s.conn = nil, nil
}

// drop closes a session that cannot go on.
func (s *sender) drop() {
	if s.client != nil {
		s.client.Close()
	}
	s.client, s.conn, s.dirty = nil, nil, false
}

// deadlineConn caps every deadline the SMTP client sets (it sets its own per
// command, and clears them after) at the limit of the mail in progress, so
// no step outlives the caller's context or SendTimeout.
type deadlineConn struct {
	net.Conn
	mu    sync.Mutex
	limit time.Time
}

func (c *deadlineConn) setLimit(t time.Time) {
	c.mu.Lock()
	c.limit = t
	c.mu.Unlock()
	c.Conn.SetDeadline(t) //nolint:errcheck // a closed connection fails the next read anyway
}

func (c *deadlineConn) clamp(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.limit.IsZero() && (t.IsZero() || c.limit.Before(t)) {
		return c.limit
	}
	return t
}

func (c *deadlineConn) SetDeadline(t time.Time) error     { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *deadlineConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}
