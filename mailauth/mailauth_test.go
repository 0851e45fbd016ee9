package mailauth_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"postdesk/internal/oauthtest"
	"postdesk/mailauth"
)

// XOAUTH2's initial response, as Google's and Microsoft's documentation
// spell it: user=...^Aauth=Bearer ...^A^A.
func TestXOAuth2WireFormat(t *testing.T) {
	c := mailauth.NewXOAuth2Client("payroll@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
	mech, ir, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	if mech != "XOAUTH2" {
		t.Errorf("mechanism %q", mech)
	}
	want := "user=payroll@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
	if string(ir) != want {
		t.Errorf("initial response %q, want %q", ir, want)
	}
	// The server's error challenge is answered (so the exchange ends with
	// the server's NO or 535), and a second challenge is not.
	resp, err := c.Next([]byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`))
	if err != nil || string(resp) != "\x01" {
		t.Errorf("Next(error challenge) = %q, %v; want \\x01, nil", resp, err)
	}
	if _, err := c.Next([]byte(`{}`)); !errors.Is(err, sasl.ErrUnexpectedServerChallenge) {
		t.Errorf("second Next: %v", err)
	}
}

func newClient(t *testing.T, p *oauthtest.Provider, mod func(*mailauth.Config)) *mailauth.OAuth2 {
	t.Helper()
	cfg := mailauth.Config{TokenURL: p.TokenURL, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
		Scopes: []string{"https://outlook.office365.com/.default"}}
	if mod != nil {
		mod(&cfg)
	}
	a, err := mailauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// clock is a settable test clock.
type clock struct{ d atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(1_900_000_000, 0).Add(time.Duration(c.d.Load())) }
func (c *clock) advance(d time.Duration) { c.d.Add(int64(d)) }

func TestClientCredentialsCachedAndRefreshedBeforeExpiry(t *testing.T) {
	p := oauthtest.Start(t, "payroll@example.com")
	var clk clock
	a := newClient(t, p, func(c *mailauth.Config) { c.Now = clk.now })
	ctx := t.Context()
	t1, err := a.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := p.Forms()[0]
	if f.Get("grant_type") != "client_credentials" || f.Get("scope") != "https://outlook.office365.com/.default" {
		t.Errorf("token request %v", f)
	}
	if again, _ := a.Token(ctx); again != t1 || p.Requests() != 1 {
		t.Errorf("second Token fetched again (%d requests)", p.Requests())
	}
	// 3600s tokens: at 58 minutes the cached one is still used, at 59+
	// (under a minute left) a new one is fetched.
	clk.advance(58 * time.Minute)
	if again, _ := a.Token(ctx); again != t1 {
		t.Error("replaced a token with two minutes left")
	}
	clk.advance(90 * time.Second)
	t2, err := a.Token(ctx)
	if err != nil || t2 == t1 || p.Requests() != 2 {
		t.Errorf("near expiry: same=%v requests=%d err=%v", t2 == t1, p.Requests(), err)
	}
	a.Invalidate()
	if t3, _ := a.Token(ctx); t3 == t2 || p.Requests() != 3 {
		t.Error("Invalidate kept the token")
	}
}

func TestRefreshTokenRotates(t *testing.T) {
	p := oauthtest.Start(t, "payroll@example.com")
	rt := p.AddRefreshToken()
	var saved []string
	a := newClient(t, p, func(c *mailauth.Config) {
		c.RefreshToken, c.ClientSecret = rt, ""
		c.OnRefreshToken = func(s string) { saved = append(saved, s) }
	})
	for range 2 {
		if _, err := a.Token(t.Context()); err != nil {
			t.Fatal(err)
		}
		a.Invalidate()
	}
	fs := p.Forms()
	if fs[0].Get("grant_type") != "refresh_token" || fs[0].Get("refresh_token") != rt {
		t.Errorf("first request %v", fs[0])
	}
	if got := fs[1].Get("refresh_token"); got == rt || got == "" {
		t.Errorf("second request used %q, want the rotated refresh token", got)
	}
	// Each rotated token is handed on to be saved, the one in use last.
	if len(saved) != 2 || saved[0] != fs[1].Get("refresh_token") {
		t.Errorf("saved %v; want both rotated tokens, the first used by the second request", saved)
	}
}

func TestTokenEndpointRefusals(t *testing.T) {
	p := oauthtest.Start(t, "payroll@example.com")
	for name, mod := range map[string]func(*mailauth.Config){
		"invalid_client": func(c *mailauth.Config) { c.ClientSecret = "wrong" },
		"invalid_grant":  func(c *mailauth.Config) { c.RefreshToken = "rt-revoked" },
	} {
		t.Run(name, func(t *testing.T) {
			a := newClient(t, p, mod)
			sc, err := a.SASLClient(t.Context(), "payroll@example.com")
			if err == nil || sc != nil {
				t.Fatalf("SASLClient = %v, %v; want an error", sc, err)
			}
			if !mailauth.IsAuthFailure(err) {
				t.Errorf("%v: not an authentication failure", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, name+": AADSTS") || !strings.Contains(msg, p.TokenURL) || strings.ContainsAny(msg, "\r\n") {
				t.Errorf("message %q: want the endpoint, %s and its description on one line", msg, name)
			}
		})
	}
}

// A token endpoint that does not answer is a temporary fault, not a wrong
// credential, and gives up with the caller's context.
func TestSlowTokenEndpointIsTemporary(t *testing.T) {
	p := oauthtest.Start(t, "payroll@example.com")
	p.Hang(true)
	a := newClient(t, p, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := a.Token(ctx)
	if err == nil || mailauth.IsAuthFailure(err) || !strings.Contains(err.Error(), "temporary") {
		t.Fatalf("Token = %v; want a temporary error", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v: want the deadline in the chain", err)
	}
	p.Hang(false)
	if _, err := a.Token(t.Context()); err != nil {
		t.Errorf("after the endpoint came back: %v", err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	for _, c := range []mailauth.Config{
		{},
		{TokenURL: "https://login.example.com/token", ClientID: "x"}, // no secret, no refresh token
		{TokenURL: "https://login.example.com/token", ClientID: "x", ClientSecret: "s", Mechanism: "plain"},
	} {
		if _, err := mailauth.New(c); err == nil {
			t.Errorf("New(%+v) = nil error", c)
		}
	}
}
