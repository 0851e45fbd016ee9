package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Mechanisms of Config.Mechanism.
const (
	MechanismXOAuth2     = "xoauth2"     // XOAUTH2 (default): Microsoft 365, Google
	MechanismOAuthBearer = "oauthbearer" // OAUTHBEARER, RFC 7628
)

// Defaults.
const (
	// expiryMargin: a token with less validity left is replaced before use,
	// so that it does not expire between the fetch and the server's check.
	expiryMargin = time.Minute
	// DefaultTimeout bounds one token request.
	DefaultTimeout = 30 * time.Second
)

// Config is one OAuth2 client.
type Config struct {
	TokenURL     string
	ClientID     string
	ClientSecret string // may be empty for a public client (refresh token flow)
	Scopes       []string
	// RefreshToken, when set, selects the refresh-token grant (delegated
	// access); without it the client-credentials grant (app-only access).
	RefreshToken string
	Mechanism    string // "xoauth2" (default) or "oauthbearer"
	// OnRefreshToken, when set, is given each new refresh token the provider
	// hands out (Microsoft rotates them on every use), so that it can be
	// saved where RefreshToken came from: the one first configured expires
	// in time (90 days at Microsoft), the newest lasts. It is called with
	// the client's lock held, and must not call back into it.
	OnRefreshToken func(string)
	// HTTPClient makes the token requests; nil means one with
	// DefaultTimeout.
	HTTPClient *http.Client
	// Now is the clock the expiry is judged by (tests); nil means time.Now.
	Now func() time.Time
}

// OAuth2 hands out SASL clients carrying a cached access token. It is safe
// for concurrent use.
type OAuth2 struct {
	cfg    Config
	client *http.Client

	mu      sync.Mutex
	tok     *oauth2.Token
	refresh string // the latest refresh token: a provider may rotate it
}

// New checks cfg and returns its client.
func New(cfg Config) (*OAuth2, error) {
	if cfg.Mechanism == "" {
		cfg.Mechanism = MechanismXOAuth2
	}
	var errs []error
	if cfg.TokenURL == "" {
		errs = append(errs, errors.New("no token_url"))
	}
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("no client_id"))
	}
	if cfg.RefreshToken == "" && cfg.ClientSecret == "" {
		errs = append(errs, errors.New("no client_secret: the client-credentials grant needs one (or give a refresh_token)"))
	}
	if cfg.Mechanism != MechanismXOAuth2 && cfg.Mechanism != MechanismOAuthBearer {
		errs = append(errs, fmt.Errorf("mechanism %q: want xoauth2 or oauthbearer", cfg.Mechanism))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("oauth2: %w", err)
	}
	a := &OAuth2{cfg: cfg, client: cfg.HTTPClient, refresh: cfg.RefreshToken}
	if a.client == nil {
		a.client = &http.Client{Timeout: DefaultTimeout}
	}
	return a, nil
}

// MechanismName is the SASL name of the configured mechanism.
func (a *OAuth2) MechanismName() string {
	if a.cfg.Mechanism == MechanismOAuthBearer {
		return sasl.OAuthBearer
	}
	return XOAuth2
}

// SASLClient returns a client of the configured mechanism for username
// with a valid access token.
func (a *OAuth2) SASLClient(ctx context.Context, username string) (sasl.Client, error) {
	tok, err := a.Token(ctx)
	if err != nil {
		return nil, err
	}
	if a.cfg.Mechanism == MechanismOAuthBearer {
		return newOAuthBearerClient(username, tok), nil
	}
	return NewXOAuth2Client(username, tok), nil
}

// Invalidate forgets the cached access token: the server refused it
// (revoked, or expired early), so the next SASLClient fetches a new one.
func (a *OAuth2) Invalidate() {
	a.mu.Lock()
	a.tok = nil
	a.mu.Unlock()
}

// Token returns the cached access token, or a new one when there is none or
// it expires within a minute. The lock is held during the request so that
// concurrent callers share one fetch.
func (a *OAuth2) Token(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now
	if a.cfg.Now != nil {
		now = a.cfg.Now
	}
	if a.tok != nil && (a.tok.Expiry.IsZero() || a.tok.Expiry.Sub(now()) > expiryMargin) {
		return a.tok.AccessToken, nil
	}
	tok, err := a.fetch(ctx)
	if err != nil {
		return "", err
	}
	if tok.AccessToken == "" {
		return "", &TokenError{URL: a.cfg.TokenURL, Code: "no access_token", Description: "the token endpoint answered without one"}
	}
	if tok.RefreshToken != "" && tok.RefreshToken != a.refresh && a.refresh != "" {
		a.refresh = tok.RefreshToken
		if a.cfg.OnRefreshToken != nil {
			a.cfg.OnRefreshToken(tok.RefreshToken)
		}
	}
	// oauth2 computes Expiry from expires_in with time.Now; a test clock
	// needs it from its own now.
	if ei, ok := tok.Extra("expires_in").(float64); ok && a.cfg.Now != nil {
		tok.Expiry = now().Add(time.Duration(ei) * time.Second)
	}
	a.tok = tok
	return tok.AccessToken, nil
}

func (a *OAuth2) fetch(ctx context.Context) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, a.client)
	var tok *oauth2.Token
	var err error
	if a.refresh == "" {
		cc := &clientcredentials.Config{ClientID: a.cfg.ClientID, ClientSecret: a.cfg.ClientSecret,
			TokenURL: a.cfg.TokenURL, Scopes: a.cfg.Scopes}
		tok, err = cc.Token(ctx)
	} else {
		oc := &oauth2.Config{ClientID: a.cfg.ClientID, ClientSecret: a.cfg.ClientSecret,
			Endpoint: oauth2.Endpoint{TokenURL: a.cfg.TokenURL}, Scopes: a.cfg.Scopes}
		tok, err = oc.TokenSource(ctx, &oauth2.Token{RefreshToken: a.refresh}).Token()
	}
	if err != nil {
		return nil, tokenError(a.cfg.TokenURL, err)
	}
	return tok, nil
}

// TokenError is an OAuth2 error answer of the token endpoint (RFC 6749
// section 5.2): the credentials, the grant or the scope are wrong. Retrying
// does not help until the configuration or the provider changes.
type TokenError struct {
	URL         string
	Status      int
	Code        string // "invalid_client", "invalid_grant", ...
	Description string // error_description, the provider's explanation
}

func (e *TokenError) Error() string {
	s := fmt.Sprintf("oauth2 token endpoint %s refused: %s", e.URL, e.Code)
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// tokenError sorts an error of a token request: an OAuth2 error answer is a
// *TokenError; anything else (unreachable, timeout, 5xx without an OAuth2
// error) stays as it is, wrapped, and is temporary.
func tokenError(url string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" && (re.Response == nil || re.Response.StatusCode < 500) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return &TokenError{URL: url, Status: status, Code: re.ErrorCode, Description: oneLine(re.ErrorDescription)}
	}
	if errors.As(err, &re) && re.Response != nil {
		return fmt.Errorf("oauth2 token endpoint %s: HTTP %d (temporary)", url, re.Response.StatusCode)
	}
	return fmt.Errorf("oauth2 token endpoint %s did not answer (temporary): %w", url, err)
}

// oneLine keeps a provider's description readable in a log line and health
// (Microsoft's carry trace and correlation IDs after line breaks).
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// IsAuthFailure reports whether err says the credentials are wrong: a
// token endpoint's OAuth2 error. (The servers' own refusals, IMAP NO
// [AUTHENTICATIONFAILED] and SMTP 535, are recognised by their callers.)
func IsAuthFailure(err error) bool {
	var te *TokenError
	return errors.As(err, &te)
}

// AuthFailure marks the error as a refusal of the credentials for callers
// that do not import this package (ingest, outbound).
func (e *TokenError) AuthFailure() bool { return true }
