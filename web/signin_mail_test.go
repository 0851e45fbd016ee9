package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"postdesk/outbound"
	"postdesk/signinlink"
	"postdesk/store"
	"postdesk/templates"
	"postdesk/threading"
)

// mailTimeout bounds how long a test waits for a mail the worker sends.
const mailTimeout = 30 * time.Second

// sinkMail is one mail the sink took.
type sinkMail struct {
	to  []string
	raw []byte
}

// startMail runs the real outbox worker of this fixture, woken by the
// database's notifications as in production, sending to a go-smtp sink on
// a free port; the sink's mail comes out of the channel.
func (f *fixture) startMail() <-chan sinkMail {
	f.t.Helper()
	got := make(chan sinkMail, 16)
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{got: got}, nil }))
	srv.Domain = "sink.example"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	f.t.Cleanup(func() { srv.Close() })

	sg, err := threading.NewSigner(testSecret)
	if err != nil {
		f.t.Fatal(err)
	}
	mails, err := templates.Load("")
	if err != nil {
		f.t.Fatal(err)
	}
	keys, err := signinlink.New(testSecret)
	if err != nil {
		f.t.Fatal(err)
	}
	w := outbound.New(f.st, &outbound.Options{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, TLS: "none",
		PublicURL: f.srv.URL, Signer: sg, Templates: mails, Conversations: f.svc, LinkKeys: keys,
		Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		f.st.Listen(ctx, map[string]func(){store.ChannelOutbox: w.Wake}, func() { close(ready) }, slog.New(slog.DiscardHandler))
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		w.Run(ctx) //nolint:errcheck // ends with ctx
	}()
	f.t.Cleanup(func() { cancel(); <-done; <-done })
	select {
	case <-ready:
	case <-time.After(mailTimeout):
		f.t.Fatal("the outbox listener did not start")
	}
	return got
}

type sinkSession struct {
	got chan sinkMail
	to  []string
}

func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.got <- sinkMail{to: s.to, raw: b}
	return nil
}
func (s *sinkSession) Reset()        { s.to = nil }
func (s *sinkSession) Logout() error { return nil }

// awaitMail takes the next mail with a one-time link from the sink,
// passing over the notifications the fixture's conversations cause.
func awaitMail(t *testing.T, got <-chan sinkMail, what string) sinkMail {
	t.Helper()
	deadline := time.After(mailTimeout)
	for {
		select {
		case m := <-got:
			if linkRE.MatchString(mailText(t, m.raw)) {
				return m
			}
		case <-deadline:
			t.Fatalf("no mail: %s", what)
			return sinkMail{}
		}
	}
}

// awaitLink waits until a link request's background work is done.
func awaitLink(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(mailTimeout):
		t.Fatalf("link request not handled: %s", what)
	}
}

// mailText is the decoded text/plain body of a mail.
func mailText(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var text func(h map[string][]string, body io.Reader) string
	text = func(h map[string][]string, body io.Reader) string {
		ct := mail.Header(h).Get("Content-Type")
		mt, params, _ := mime.ParseMediaType(ct)
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextPart()
				if err != nil {
					return ""
				}
				if s := text(p.Header, p); s != "" {
					return s
				}
			}
		}
		if mt != "text/plain" && mt != "" {
			return ""
		}
		if strings.EqualFold(mail.Header(h).Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(body)
		}
		b, _ := io.ReadAll(body)
		return string(b)
	}
	return text(m.Header, m.Body)
}

var linkRE = regexp.MustCompile(`https?://[^\s]+/(?:link|reset)/pdl_[A-Za-z0-9_-]+`)

// linkIn is the one-time link in a mail.
func linkIn(t *testing.T, m sinkMail) string {
	t.Helper()
	txt := mailText(t, m.raw)
	l := linkRE.FindString(txt)
	if l == "" {
		t.Fatalf("no link in the mail:\n%s", txt)
	}
	return l
}
