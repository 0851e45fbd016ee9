package ingest

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"postdesk/internal/dovecottest"
	"postdesk/internal/oauthtest"
	"postdesk/mailauth"
	"postdesk/mailtls"
	"postdesk/trace"
)

// syncBuffer is a bytes.Buffer the worker's goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// oauthDovecot starts a provider and a Dovecot whose oauth2 passdb checks
// the provider's tokens, with one mail in INBOX.
func oauthDovecot(t *testing.T) (*dovecottest.Server, *oauthtest.Provider) {
	t.Helper()
	user := dovecottest.DefaultUser
	prov := oauthtest.Start(t, user.Name)
	srv := dovecottest.StartWith(t, &dovecottest.Options{Users: []dovecottest.User{user}, OAuth2Introspection: prov.IntrospectURL})
	srv.Append(t, user.Name, "INBOX", rawMail("oauth1", "hello"))
	return srv, prov
}

func oauthClient(t *testing.T, prov *oauthtest.Provider, mech string) *mailauth.OAuth2 {
	t.Helper()
	a, err := mailauth.New(mailauth.Config{TokenURL: prov.TokenURL, ClientID: prov.ClientID, ClientSecret: prov.ClientSecret,
		Scopes: []string{"https://outlook.office365.com/.default"}, Mechanism: mech})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestOAuth2Dovecot logs in to Dovecot with XOAUTH2 and OAUTHBEARER, the
// tokens checked at the provider's introspection endpoint, and fetches.
func TestOAuth2Dovecot(t *testing.T) {
	for _, mech := range []string{mailauth.MechanismXOAuth2, mailauth.MechanismOAuthBearer} {
		t.Run(mech, func(t *testing.T) {
			srv, prov := oauthDovecot(t)
			var traced syncBuffer
			st := newMemStore()
			opts := &Options{Name: "payroll", Host: srv.Host, Port: srv.Port, TLS: TLSStartTLS, TLSConfig: srv.TLSConfig(),
				Username: dovecottest.DefaultUser.Name, Auth: oauthClient(t, prov, mech),
				Trace: trace.Writer(slog.New(slog.NewTextHandler(&traced, nil)), "imap", srv.Addr)}
			start(t, opts, st, newMemLocker(), nil)
			waitFor(t, within, "the mail stored", func() bool { return len(st.stored()) == 1 })
			issued := prov.Issued()
			if len(issued) != 1 {
				t.Fatalf("%d tokens issued, want 1", len(issued))
			}
			// The trace shows the command, masked; neither the token nor
			// the SASL response that carries it.
			log := traced.String()
			sc, _ := opts.Auth.SASLClient(t.Context(), opts.Username)
			_, ir, _ := sc.Start()
			if !strings.Contains(log, "AUTHENTICATE "+strings.ToUpper(mech)+" ***") ||
				strings.Contains(log, issued[0]) || strings.Contains(log, base64.StdEncoding.EncodeToString(ir)) {
				t.Errorf("trace does not mask the AUTHENTICATE line:\n%s", log)
			}
		})
	}
}

// TestOAuth2DovecotRefusedTokenReplaced: the cached token was revoked (or
// expired early) at the provider; Dovecot refuses it, the worker fetches a
// new one at once and logs in with it.
func TestOAuth2DovecotRefusedTokenReplaced(t *testing.T) {
	srv, prov := oauthDovecot(t)
	auth := oauthClient(t, prov, mailauth.MechanismXOAuth2)
	first, err := auth.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	prov.Revoke(first)
	st := newMemStore()
	opts := &Options{Name: "payroll", Host: srv.Host, Port: srv.Port, TLS: TLSStartTLS, TLSConfig: srv.TLSConfig(),
		Username: dovecottest.DefaultUser.Name, Auth: auth}
	start(t, opts, st, newMemLocker(), nil)
	waitFor(t, within, "the mail stored", func() bool { return len(st.stored()) == 1 })
	if issued := prov.Issued(); len(issued) != 2 || issued[0] != first {
		t.Errorf("issued %d tokens, want the revoked one and one new", len(issued))
	}
	if slices.ContainsFunc(st.healthReports(), func(h Health) bool { return h.LastError != "" }) {
		t.Errorf("health reported an error: %+v", st.healthReports())
	}
}

// TestOAuth2DovecotRevokedIsAuthFailure: every token the provider issues is
// refused (the app's access was revoked): health says so, as an
// authentication failure, and no token appears in it.
func TestOAuth2DovecotRevokedIsAuthFailure(t *testing.T) {
	srv, prov := oauthDovecot(t)
	prov.RevokeAll()
	st := newMemStore()
	opts := &Options{Name: "payroll", Host: srv.Host, Port: srv.Port, TLS: TLSStartTLS, TLSConfig: srv.TLSConfig(),
		Username: dovecottest.DefaultUser.Name, Auth: oauthClient(t, prov, mailauth.MechanismOAuthBearer)}
	r := start(t, opts, st, newMemLocker(), nil)
	waitFor(t, within, "an authentication failure in health", func() bool {
		return slices.ContainsFunc(st.healthReports(), func(h Health) bool {
			return !h.Connected && strings.HasPrefix(h.LastError, "authentication failed: ") && strings.Contains(h.LastError, "AUTHENTICATIONFAILED")
		})
	})
	r.stop()
	for _, h := range st.healthReports() {
		for _, tok := range prov.Issued() {
			if strings.Contains(h.LastError, tok) {
				t.Fatalf("health holds a token: %q", h.LastError)
			}
		}
	}
	if len(st.stored()) != 0 {
		t.Error("stored mail without a login")
	}
}

// TestOAuth2TokenEndpointRefusal: a wrong client secret is an
// authentication failure naming the provider's error_description.
func TestOAuth2TokenEndpointRefusal(t *testing.T) {
	srv, prov := oauthDovecot(t)
	auth, err := mailauth.New(mailauth.Config{TokenURL: prov.TokenURL, ClientID: prov.ClientID, ClientSecret: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	st := newMemStore()
	opts := &Options{Name: "payroll", Host: srv.Host, Port: srv.Port, TLS: TLSNone,
		Username: dovecottest.DefaultUser.Name, Auth: auth}
	start(t, opts, st, newMemLocker(), nil)
	waitFor(t, within, "invalid_client in health", func() bool {
		return slices.ContainsFunc(st.healthReports(), func(h Health) bool {
			return strings.HasPrefix(h.LastError, "authentication failed: ") && strings.Contains(h.LastError, "invalid_client: AADSTS7000215: Invalid client secret provided.")
		})
	})
}

// TestTLSCADovecot: Dovecot's certificate is its own CA's; with it as
// tls_ca the mailbox is read, without it the health says whose
// certificate was refused and who issued it.
func TestTLSCADovecot(t *testing.T) {
	srv := dovecottest.Start(t)
	srv.Append(t, dovecottest.DefaultUser.Name, "INBOX", rawMail("tls1", "hello"))
	ca, err := os.ReadFile(filepath.Join(srv.Dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	opts := func(o mailtls.Options) *Options {
		cfg, err := mailtls.Config(o)
		if err != nil {
			t.Fatal(err)
		}
		return &Options{Name: "payroll", Host: srv.Host, Port: srv.TLSPort, TLS: TLSImplicit, TLSConfig: cfg,
			Username: dovecottest.DefaultUser.Name, Password: dovecottest.DefaultUser.Password}
	}
	refused := newMemStore()
	r := start(t, opts(mailtls.Options{}), refused, newMemLocker(), nil)
	waitFor(t, within, "a certificate error in health", func() bool {
		return slices.ContainsFunc(refused.healthReports(), func(h Health) bool {
			return strings.Contains(h.LastError, "certificate for localhost, 127.0.0.1") && strings.Contains(h.LastError, `issued by "CN=dovecottest"`)
		})
	})
	r.stop()
	trusted := newMemStore()
	start(t, opts(mailtls.Options{CA: string(ca)}), trusted, newMemLocker(), nil)
	waitFor(t, within, "the mail stored over TLS", func() bool { return len(trusted.stored()) == 1 })
}
