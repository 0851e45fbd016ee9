package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"postdesk/config"
	"postdesk/mailauth"
	"postdesk/mailtls"
	"postdesk/store"
	"postdesk/web"
)

// mailLogin turns a mailbox's or smtp's login settings into a TLS config
// and, with auth: oauth2, the OAuth2 client whose SASL clients log in.
// check-config has already checked both, so an error here is a bug.
func mailLogin(l config.Login, log *slog.Logger) (*mailauth.OAuth2, *tls.Config, error) {
	cfg, err := mailtls.Config(mailtls.Options{CA: l.TLSCA, ServerName: l.TLSServerName, MinVersion: l.TLSMinVersion})
	if err != nil {
		return nil, nil, err
	}
	if l.Auth != config.AuthOAuth2 || l.OAuth2 == nil {
		return nil, cfg, nil
	}
	o := l.OAuth2
	mc := mailauth.Config{TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
		Scopes: o.Scopes, RefreshToken: o.RefreshToken, Mechanism: o.Mechanism}
	if o.RefreshTokenFile != "" {
		// A rotated refresh token replaces the file's, which would expire:
		// a restart months later still signs in.
		mc.OnRefreshToken = func(rt string) {
			if err := writeSecret(o.RefreshTokenFile, rt); err != nil {
				log.Warn("oauth2: the new refresh token could not be saved; the file's stays in use after a restart",
					"file", o.RefreshTokenFile, "err", err)
			}
		}
	}
	a, err := mailauth.New(mc)
	if err != nil {
		return nil, nil, fmt.Errorf("oauth2: %w", err)
	}
	return a, cfg, nil
}

// trustedProxies parses trusted_proxies; nil (the key absent) stays nil,
// which web reads as loopback only.
func trustedProxies(list []string) ([]netip.Prefix, error) {
	if list == nil {
		return nil, nil
	}
	out := []netip.Prefix{}
	for _, s := range list {
		p, err := config.ParseProxy(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// signIn is the web's sign-in configuration from the file.
func signIn(c *config.Config) web.SignIn {
	s := web.SignIn{OIDC: c.OIDC}
	for _, r := range c.Roles {
		if r.RequireMFA {
			s.RequireMFA = append(s.RequireMFA, r.Key)
		}
		if r.RequireSSO {
			s.RequireSSO = append(s.RequireSSO, r.Key)
		}
	}
	return s
}

// userResetMFA removes a user's second factor, for one who lost their
// phone and recovery codes: they sign in with the password alone, or, in
// a require_mfa role, are asked to enrol again at once. Their sessions end.
func userResetMFA(ctx context.Context, file, email string, stdout io.Writer) error {
	_, st, err := configuredStore(ctx, file)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user %s (users come from the config file, applied by serve)", email)
	} else if err != nil {
		return err
	}
	had, err := st.ResetMFA(ctx, u.ID)
	if err != nil {
		return err
	}
	if err := st.RecordSignin(ctx, &store.SigninEvent{At: time.Now(), UserID: &u.ID, Email: u.Email, Event: store.EventMFAReset,
		Method: "cli", Detail: map[string]any{"had_mfa": had}}); err != nil {
		return err
	}
	if !had {
		fmt.Fprintf(stdout, "%s had no second factor; their sessions have ended\n", u.Email)
		return nil
	}
	fmt.Fprintf(stdout, "second factor removed for %s; their sessions have ended\n", u.Email)
	return nil
}
