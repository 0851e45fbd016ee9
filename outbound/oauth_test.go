package outbound

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postdesk/internal/oauthtest"
	"postdesk/mailauth"
	"postdesk/trace"
)

// oauthRelay is a go-smtp server that offers XOAUTH2 and OAUTHBEARER and
// checks each exchange byte for byte: the SASL user must be the mailbox
// and the bearer token one the provider issued and did not revoke.
type oauthRelay struct {
	prov *oauthtest.Provider
	user string
	port int

	mu       sync.Mutex
	attempts []string // mechanism of each AUTH, in turn
	accepted int
	mails    int
}

func startRelay(t *testing.T, prov *oauthtest.Provider, user string) *oauthRelay {
	r := &oauthRelay{prov: prov, user: user}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }))
	srv.Domain = "relay.example"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return r
}

type relaySession struct {
	r      *oauthRelay
	authed bool
}

func (s *relaySession) AuthMechanisms() []string { return []string{mailauth.XOAuth2, sasl.OAuthBearer} }

func (s *relaySession) Auth(mech string) (sasl.Server, error) {
	s.r.mu.Lock()
	s.r.attempts = append(s.r.attempts, mech)
	s.r.mu.Unlock()
	if mech == sasl.OAuthBearer {
		return refusal535{sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if o.Username != s.r.user || !s.r.prov.Active(o.Token) {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
			}
			s.ok()
			return nil
		})}, nil
	}
	return &xoauth2Server{check: func(user, token string) bool {
		if user != s.r.user || !s.r.prov.Active(token) {
			return false
		}
		s.ok()
		return true
	}}, nil
}

// refusal535 answers a refused token with 535 as relays do (RFC 4954
// section 6), where go-sasl's server makes go-smtp answer 454.
type refusal535 struct{ sasl.Server }

func (r refusal535) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := r.Server.Next(resp)
	var be *sasl.OAuthBearerError
	if errors.As(err, &be) {
		err = smtp.ErrAuthFailed
	}
	return ch, done, err
}

func (s *relaySession) ok() {
	s.authed = true
	s.r.mu.Lock()
	s.r.accepted++
	s.r.mu.Unlock()
}

func (s *relaySession) Mail(string, *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}
func (s *relaySession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *relaySession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	s.r.mu.Lock()
	s.r.mails++
	s.r.mu.Unlock()
	return err
}
func (s *relaySession) Reset()        {}
func (s *relaySession) Logout() error { return nil }

// xoauth2Server is the server side of XOAUTH2 as Google documents it: the
// initial response, and on a refusal a JSON challenge whose answer ends the
// exchange with 535.
type xoauth2Server struct {
	check  func(user, token string) bool
	failed bool
}

func (x *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if x.failed {
		return nil, true, smtp.ErrAuthFailed
	}
	if resp == nil {
		return []byte{}, false, nil
	}
	s, ok := strings.CutPrefix(string(resp), "user=")
	user, rest, ok2 := strings.Cut(s, "\x01auth=Bearer ")
	token, ok3 := strings.CutSuffix(rest, "\x01\x01")
	if !ok || !ok2 || !ok3 || strings.Contains(token, "\x01") {
		return nil, true, errors.New("malformed XOAUTH2 response")
	}
	if x.check(user, token) {
		return nil, true, nil
	}
	x.failed = true
	return []byte(`{"status":"401","schemes":"bearer"}`), false, nil
}

func oauthSender(t *testing.T, r *oauthRelay, auth *mailauth.OAuth2, traced io.Writer) *sender {
	o := &Options{Host: "127.0.0.1", Port: r.port, TLS: "none", HeloName: "postdesk.test", Username: r.user, Auth: auth,
		CommandTimeout: 20 * time.Second, SendTimeout: 30 * time.Second}
	s := &sender{o: o}
	if traced != nil {
		s.trace = trace.Writer(slog.New(slog.NewTextHandler(traced, nil)), "smtp", "127.0.0.1:"+strconv.Itoa(r.port))
	}
	t.Cleanup(s.quit)
	return s
}

func newOAuth(t *testing.T, p *oauthtest.Provider, mech string) *mailauth.OAuth2 {
	a, err := mailauth.New(mailauth.Config{TokenURL: p.TokenURL, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
		Scopes: []string{"https://outlook.office365.com/.default"}, Mechanism: mech})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var testMsg = []byte("From: payroll@example.com\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\nhello\r\n")

func TestSMTPOAuth2(t *testing.T) {
	for _, mech := range []string{mailauth.MechanismXOAuth2, mailauth.MechanismOAuthBearer} {
		t.Run(mech, func(t *testing.T) {
			prov := oauthtest.Start(t, "payroll@example.com")
			r := startRelay(t, prov, "payroll@example.com")
			var traced bytes.Buffer
			s := oauthSender(t, r, newOAuth(t, prov, mech), &traced)
			if err := s.send(context.Background(), "payroll@example.com", "alice@example.com", testMsg); err != nil {
				t.Fatal(err)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.attempts) != 1 || r.attempts[0] != strings.ToUpper(mech) || r.accepted != 1 || r.mails != 1 {
				t.Errorf("attempts %v accepted %d mails %d", r.attempts, r.accepted, r.mails)
			}
			tok := prov.Issued()[0]
			if !strings.Contains(traced.String(), "AUTH "+strings.ToUpper(mech)+" ***") || strings.Contains(traced.String(), tok) {
				t.Errorf("trace shows no AUTH, or the token:\n%s", traced.String())
			}
		})
	}
}

// The relay refuses the cached token (revoked): one new token, and the mail goes.
func TestSMTPOAuth2RefusedTokenReplaced(t *testing.T) {
	prov := oauthtest.Start(t, "payroll@example.com")
	r := startRelay(t, prov, "payroll@example.com")
	auth := newOAuth(t, prov, mailauth.MechanismXOAuth2)
	first, err := auth.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	prov.Revoke(first)
	s := oauthSender(t, r, auth, nil)
	if err := s.send(context.Background(), "payroll@example.com", "alice@example.com", testMsg); err != nil {
		t.Fatal(err)
	}
	if n := len(prov.Issued()); n != 2 || r.mails != 1 || len(r.attempts) != 2 {
		t.Errorf("issued %d, attempts %v, mails %d", n, r.attempts, r.mails)
	}
}

// Every token refused: a temporary failure (the relay's, not the mail's)
// whose message names the 535 refusal.
func TestSMTPOAuth2Revoked(t *testing.T) {
	prov := oauthtest.Start(t, "payroll@example.com")
	prov.RevokeAll()
	r := startRelay(t, prov, "payroll@example.com")
	s := oauthSender(t, r, newOAuth(t, prov, mailauth.MechanismOAuthBearer), nil)
	err := s.send(context.Background(), "payroll@example.com", "alice@example.com", testMsg)
	if err == nil || !isTemporary(err) {
		t.Fatalf("send = %v, want a temporary error", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "535") || !strings.Contains(msg, "the relay refused the credentials") || !strings.Contains(msg, "AUTH OAUTHBEARER") {
		t.Errorf("message %q", msg)
	}
	if len(r.attempts) != 2 {
		t.Errorf("attempts %v, want the cached token and one new one", r.attempts)
	}
}

// A wrong client secret: the token endpoint's description, before any AUTH.
func TestSMTPOAuth2TokenEndpointRefusal(t *testing.T) {
	prov := oauthtest.Start(t, "payroll@example.com")
	r := startRelay(t, prov, "payroll@example.com")
	auth, err := mailauth.New(mailauth.Config{TokenURL: prov.TokenURL, ClientID: prov.ClientID, ClientSecret: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	err = oauthSender(t, r, auth, nil).send(context.Background(), "payroll@example.com", "alice@example.com", testMsg)
	if err == nil || !strings.Contains(err.Error(), "invalid_client: AADSTS7000215") || len(r.attempts) != 0 {
		t.Errorf("send = %v, attempts %v", err, r.attempts)
	}
}

// A token that expires while postdesk holds it: the next session (the
// relay dropped the idle one, or the run ended) logs in with a new token,
// fetched before the old one's expiry, never with the expired one.
func TestSMTPOAuth2TokenExpiresBetweenSessions(t *testing.T) {
	prov := oauthtest.Start(t, "payroll@example.com")
	r := startRelay(t, prov, "payroll@example.com")
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	auth, err := mailauth.New(mailauth.Config{TokenURL: prov.TokenURL, ClientID: prov.ClientID, ClientSecret: prov.ClientSecret, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	s := oauthSender(t, r, auth, nil)
	if err := s.send(context.Background(), "payroll@example.com", "alice@example.com", testMsg); err != nil {
		t.Fatal(err)
	}
	s.quit()
	// An hour on, the first token has expired at the provider.
	skew.Add(int64(time.Hour))
	prov.Revoke(prov.Issued()[0])
	if err := s.send(context.Background(), "payroll@example.com", "alice@example.com", testMsg); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(prov.Issued()) != 2 || len(r.attempts) != 2 || r.accepted != 2 || r.mails != 2 {
		t.Errorf("issued %d, attempts %v, accepted %d, mails %d; want a new token and no refused AUTH",
			len(prov.Issued()), r.attempts, r.accepted, r.mails)
	}
}
