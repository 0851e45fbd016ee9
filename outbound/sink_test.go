package outbound_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// sink is a real SMTP server on 127.0.0.1 (go-smtp's), recording what it
// is given and answering as a test tells it to.
type sink struct {
	t    *testing.T
	port int

	// Behaviour, set before or between runs (under mu).
	mu          sync.Mutex
	user, pass  string                     // when set, MAIL needs AUTH PLAIN with these
	rcptErr     map[string]*smtp.SMTPError // refuse RCPT TO for an address
	mailErr     *smtp.SMTPError            // answer every MAIL FROM with this
	mailTries   int                        // MAIL FROM commands seen
	dataErrs    []*smtp.SMTPError          // answers for the next DATAs, in turn; then 250
	dataAlways  *smtp.SMTPError            // answer every DATA with this
	onData      func() error               // called at DATA before the content is read; may block
	mails       []delivery
	sessions    int // connections accepted
	logouts     int // sessions ended
	tries       int // DATA commands seen
	authed      []string
	tlsSessions int

	cert *x509.Certificate
}

// delivery is one accepted mail.
type delivery struct {
	From string
	To   []string
	Data []byte
}

// newSink starts a sink; tlsMode is "none", "starttls" or "implicit".
func newSink(t *testing.T, tlsMode string) *sink {
	t.Helper()
	s := &sink{t: t, rcptErr: map[string]*smtp.SMTPError{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		return &session{s: s, c: c}, nil
	}))
	srv.Domain = "sink.example"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.ErrorLog = discardLogger{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsMode != "none" {
		cfg := s.makeCert(t)
		if tlsMode == "implicit" {
			l = tls.NewListener(l, cfg)
		} else {
			srv.TLSConfig = cfg
		}
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return s
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// makeCert makes a self-signed certificate for 127.0.0.1.
func (s *sink) makeCert(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sink.example"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	s.cert, _ = x509.ParseCertificate(der)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// clientTLS trusts the sink's certificate.
func (s *sink) clientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.cert)
	return &tls.Config{RootCAs: pool}
}

func (s *sink) set(f func(s *sink)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// delivered returns a copy of the accepted mail.
func (s *sink) delivered() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]delivery(nil), s.mails...)
}

func (s *sink) count(f func(s *sink) int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return f(s)
}

type session struct {
	s      *sink
	c      *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		ss.s.mu.Lock()
		defer ss.s.mu.Unlock()
		if username != ss.s.user || password != ss.s.pass {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		ss.s.authed = append(ss.s.authed, username)
		if _, ok := ss.c.TLSConnectionState(); ok {
			ss.s.tlsSessions++
		}
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.s.mailTries++
	if ss.s.user != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	if ss.s.mailErr != nil {
		return ss.s.mailErr
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if e := ss.s.rcptErr[strings.ToLower(to)]; e != nil {
		return e
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	ss.s.mu.Lock()
	ss.s.tries++
	hook := ss.s.onData
	ss.s.mu.Unlock()
	if hook != nil {
		if err := hook(); err != nil {
			return err
		}
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.dataAlways != nil {
		return ss.s.dataAlways
	}
	if len(ss.s.dataErrs) > 0 {
		e := ss.s.dataErrs[0]
		ss.s.dataErrs = ss.s.dataErrs[1:]
		return e
	}
	ss.s.mails = append(ss.s.mails, delivery{From: ss.from, To: append([]string(nil), ss.to...), Data: b})
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error {
	ss.s.mu.Lock()
	ss.s.logouts++
	ss.s.mu.Unlock()
	return nil
}

var (
	errTempFail = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	errNoUser   = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	errAuthReq  = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errAborted  = errors.New("aborted by the test")
)
