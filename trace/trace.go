// Package trace turns the raw protocol stream of an IMAP or SMTP client into
// log lines that are safe to keep: credentials are masked and message
// content (IMAP literals, the SMTP DATA section) is replaced by its size, so
// a trace can be switched on in production to debug a mail server without
// writing passwords or payroll data to the log.
package trace

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
)

// maxLine is the longest line logged; the rest is cut.
const maxLine = 300

var (
	imapLogin   = regexp.MustCompile(`(?i)^(\S+\s+LOGIN\s+)(.*)$`)
	authCommand = regexp.MustCompile(`(?i)^(\S+\s+AUTHENTICATE\s+\S+|AUTH\s+\S+)(\s+\S+)?\s*$`)
	literal     = regexp.MustCompile(`\{(\d+)\+?\}$`)
	base64Line  = regexp.MustCompile(`^[A-Za-z0-9+/]+=*$`)
)

// Writer returns an io.Writer for a client's debug output (go-imap's and
// go-smtp's DebugWriter) that logs one safe line per protocol line.
func Writer(log *slog.Logger, protocol, server string) *Redactor {
	return &Redactor{log: log, protocol: protocol, server: server}
}

// Redactor is the writer Writer returns.
type Redactor struct {
	log      *slog.Logger
	protocol string
	server   string

	mu       sync.Mutex
	buf      []byte
	skip     int  // bytes of a literal still to drop
	skipped  int  // bytes dropped of the current literal
	inData   bool // inside SMTP DATA, until the lone "."
	dataLen  int
	afterAut bool // the next base64 line answers an AUTH challenge
}

// Write implements io.Writer; it never fails, so a trace never breaks a session.
func (r *Redactor) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		if r.skip > 0 {
			k := min(r.skip, len(p))
			r.skip -= k
			r.skipped += k
			p = p[k:]
			if r.skip == 0 {
				r.emit(fmt.Sprintf("[%d bytes of content]", r.skipped))
				r.skipped = 0
			}
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.buf = append(r.buf, p...)
			break
		}
		r.buf = append(r.buf, p[:i]...)
		p = p[i+1:]
		r.line(string(bytes.TrimRight(r.buf, "\r")))
		r.buf = r.buf[:0]
	}
	return n, nil
}

func (r *Redactor) line(l string) {
	if r.inData {
		if l == "." {
			r.inData = false
			r.emit(fmt.Sprintf("[%d bytes of message]", r.dataLen))
			r.emit(".")
			r.dataLen = 0
		} else {
			r.dataLen += len(l) + 2
		}
		return
	}
	switch {
	case r.protocol == "smtp" && (l == "DATA" || l == "data"):
		r.inData = true
		r.emit(l)
		return
	case imapLogin.MatchString(l):
		m := imapLogin.FindStringSubmatch(l)
		l = m[1] + "***"
	case authCommand.MatchString(l):
		m := authCommand.FindStringSubmatch(l)
		l = m[1]
		if m[2] != "" {
			l += " ***"
		}
		r.afterAut = true
		r.emit(l)
		return
	case r.afterAut && (l == "+" || len(l) > 1 && l[0] == '+' && l[1] == ' '):
		// the server's challenge; the client's answer follows
	case r.afterAut && base64Line.MatchString(l) && len(l) >= 4:
		l = "***"
	default:
		r.afterAut = false
	}
	if m := literal.FindStringSubmatch(l); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
			r.skip = n
		}
	}
	r.emit(l)
}

func (r *Redactor) emit(l string) {
	if len(l) > maxLine {
		l = l[:maxLine] + "…"
	}
	r.log.Info("trace", "protocol", r.protocol, "server", r.server, "line", l)
}
