package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"postdesk/config"
	"postdesk/store"
)

// Single sign-on: the OpenID Connect authorization code flow with PKCE
// (S256), state and nonce. /login/oidc keeps state, nonce, PKCE verifier
// and the page to return to in a short-lived cookie signed with the server
// secret, and sends the browser to the provider; /login/oidc/callback
// checks the state against the cookie, exchanges the code (with the
// verifier), verifies the ID token's signature against the provider's
// keys, its issuer, audience, expiry and nonce, and signs in the user
// whose address is the identity's verified email. The provider is
// discovered at the first sign-in, not at start: postdesk starts while
// the provider is down.

// oidcFlowTTL is how long a started sign-in may take at the provider.
const oidcFlowTTL = 10 * time.Minute

type oidcState struct {
	cfg  *config.OIDC
	mu   sync.Mutex
	prov *oidc.Provider // nil until discovered
}

// provider discovers the provider once; a failure is retried next time.
func (o *oidcState) provider(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.prov != nil {
		return o.prov, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc discovery %s: %w", o.cfg.Issuer, err)
	}
	o.prov = p
	return p, nil
}

func (s *server) oauthConfig(p *oidc.Provider, r *http.Request) *oauth2.Config {
	return &oauth2.Config{ClientID: s.oidc.cfg.ClientID, ClientSecret: s.oidc.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: s.publicBase(r) + "/login/oidc/callback", Scopes: append([]string{oidc.ScopeOpenID}, s.oidc.cfg.Scopes...)}
}

// publicBase is where the browser reaches postdesk: PublicURL, or this
// request's own origin when none is configured (tests, make run).
func (s *server) publicBase(r *http.Request) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	scheme := "http"
	if s.https(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// flow is what the cookie carries between the two legs.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
	Expires  int64  `json:"e"`
}

func (s *server) oidcCookieName() string {
	if s.secure {
		return "__Host-postdesk_oidc"
	}
	return "postdesk_oidc"
}

func (s *server) signFlow(v string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("oidc flow\x00" + v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func randomString() string {
	b := make([]byte, 32)
	rand.Read(b) //nolint:errcheck // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// oidcStart sends the browser to the provider.
func (s *server) oidcStart(w http.ResponseWriter, r *http.Request) {
	p, err := s.oidc.provider(r.Context())
	if err != nil {
		s.log.Error("oidc", "err", err)
		s.oidcRefused(w, r, http.StatusBadGateway, msgKey("The sign-in service cannot be reached just now. Please try again in a moment."))
		return
	}
	f := flow{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(),
		Next: localPath(r.URL.Query().Get("next")), Expires: s.now().Add(oidcFlowTTL).Unix()}
	b, _ := json.Marshal(f)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: s.oidcCookieName(), Value: v + "." + s.signFlow(v), Path: "/",
		MaxAge: int(oidcFlowTTL.Seconds()), HttpOnly: true, Secure: s.secureFor(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, s.oauthConfig(p, r).AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)),
		http.StatusSeeOther)
}

// takeFlow reads and clears the flow cookie; nil when missing, forged or
// expired.
func (s *server) takeFlow(w http.ResponseWriter, r *http.Request) *flow {
	c, err := r.Cookie(s.oidcCookieName())
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: s.oidcCookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secureFor(r), SameSite: http.SameSiteLaxMode})
	v, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.signFlow(v))) {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	var f flow
	if json.Unmarshal(b, &f) != nil || s.now().Unix() > f.Expires {
		return nil
	}
	return &f
}

// identity is what postdesk reads of the provider's answer.
type identity struct {
	Subject       string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified *bool  `json:"email_verified"`
}

// oidcCallback finishes the flow and signs the user in.
func (s *server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	f := s.takeFlow(w, r)
	if f == nil || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		s.record(r, store.SigninEvent{Event: store.EventSignInFailed, Method: "oidc", Detail: map[string]any{"reason": "state does not match"}})
		s.oidcRefused(w, r, http.StatusForbidden, msgKey("This sign-in could not be verified (it was not started from this browser, or took too long). Please start again."))
		return
	}
	if e := q.Get("error"); e != "" {
		s.record(r, store.SigninEvent{Event: store.EventSignInFailed, Method: "oidc", Detail: map[string]any{"reason": "provider: " + e}})
		s.oidcRefused(w, r, http.StatusForbidden, msgKey("The sign-in service did not sign you in."))
		return
	}
	p, err := s.oidc.provider(ctx)
	if err != nil {
		s.log.Error("oidc", "err", err)
		s.oidcRefused(w, r, http.StatusBadGateway, msgKey("The sign-in service cannot be reached just now. Please try again in a moment."))
		return
	}
	id, err := s.oidcIdentity(ctx, p, r, f, q.Get("code"))
	if err != nil {
		s.log.Warn("oidc: sign-in refused", "err", err)
		s.record(r, store.SigninEvent{Event: store.EventSignInFailed, Method: "oidc", Detail: map[string]any{"reason": err.Error()}})
		s.oidcRefused(w, r, http.StatusForbidden, msgKey("The sign-in service's answer could not be verified. Please start again."))
		return
	}
	email := strings.ToLower(strings.TrimSpace(id.Email))
	refuse := func(why, msg string) {
		s.record(r, store.SigninEvent{Email: email, Event: store.EventSignInFailed, Method: "oidc", Detail: map[string]any{"reason": why}})
		s.oidcRefused(w, r, http.StatusForbidden, msg)
	}
	switch {
	case email == "":
		refuse("no email", msgKey("Your sign-in service gave no email address, so postdesk cannot tell who you are."))
		return
	case id.EmailVerified == nil || !*id.EmailVerified:
		refuse("email not verified", s.loc(r, nil).T("Your sign-in service has not verified your email address %s, so postdesk cannot accept it. Ask your administrator.", email))
		return
	}
	if ds := s.oidc.cfg.AllowDomains; len(ds) > 0 {
		_, domain, _ := strings.Cut(email, "@")
		if !slices.Contains(ds, domain) {
			refuse("domain not allowed", s.loc(r, nil).T("Addresses at %s cannot sign in here.", domain))
			return
		}
	}
	u, err := s.st.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		refuse("unknown address", s.loc(r, nil).T("There is no postdesk account for %s. Ask your administrator to add you.", email))
		return
	} else if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if old, _ := s.session(r); old != nil {
		s.st.DeleteSession(ctx, old.hash) //nolint:errcheck
	}
	// A TOTP the user enrolled, or their role requires, is asked for after
	// single sign-on as after a password, except for require_sso roles,
	// whose second factor is the provider's.
	stage := store.StageFull
	if a, err := s.svc.Actor(ctx, u.ID); err != nil {
		s.fail(w, r, nil, err)
		return
	} else if !s.requiresSSO(a.Roles) {
		if stage, err = s.signInStage(r, u.ID); err != nil {
			s.fail(w, r, nil, err)
			return
		}
	}
	if err := s.newStagedSession(w, r, u.ID, stage); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.record(r, store.SigninEvent{UserID: &u.ID, Email: u.Email, Event: store.EventSignIn, Method: "oidc",
		Detail: map[string]any{"issuer": s.oidc.cfg.Issuer, "stage": stage}})
	switch stage {
	case store.StageMFA:
		redirect(w, r, "/login/mfa")
	case store.StageEnrol:
		redirect(w, r, "/settings/mfa")
	default:
		redirect(w, r, f.Next)
	}
}

// oidcIdentity exchanges the code and verifies the ID token; the email
// comes from the token, or from the userinfo endpoint for the same subject
// where the token carries none (as some providers do by default).
func (s *server) oidcIdentity(ctx context.Context, p *oidc.Provider, r *http.Request, f *flow, code string) (*identity, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	tok, err := s.oauthConfig(p, r).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return nil, fmt.Errorf("code exchange: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, errors.New("no id_token in the token response")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: s.oidc.cfg.ClientID, Now: s.now}).Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("id token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return nil, errors.New("id token: nonce does not match")
	}
	var id identity
	if err := idt.Claims(&id); err != nil {
		return nil, fmt.Errorf("id token claims: %w", err)
	}
	if id.Email == "" && p.UserInfoEndpoint() != "" {
		ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return nil, fmt.Errorf("userinfo: %w", err)
		}
		if ui.Subject != idt.Subject {
			return nil, errors.New("userinfo: another subject than the id token's")
		}
		var more identity
		if err := ui.Claims(&more); err != nil {
			return nil, fmt.Errorf("userinfo claims: %w", err)
		}
		id.Email, id.EmailVerified = more.Email, more.EmailVerified
	}
	return &id, nil
}

// oidcRefused is the clear page of a refused single sign-on.
func (s *server) oidcRefused(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, status, "signin_message", messageData{page: s.base(w, r, nil, msgKey("Sign-in refused"), ""),
		Heading: msgKey("You are not signed in"), Message: msg})
}
