package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"postdesk/config"
)

// oauthLogin runs the OAuth2 device authorization grant (RFC 8628) for the
// oauth2 block of a mailbox, or of smtp when mailbox is "": it asks the
// provider for a code, prints where to enter it, waits until someone signs
// in there as the mailbox (or the relay's user), and writes the refresh
// token it gets to the file refresh_token: file:PATH names. The token is
// never printed.
func oauthLogin(ctx context.Context, file, mailbox string, stdout io.Writer) error {
	c, _, err := config.LoadForOAuthLogin(file)
	if err != nil {
		return err
	}
	what, login, username := "smtp", &c.SMTP.Login, c.SMTP.Username
	if mailbox != "" {
		what, login = "mailbox "+mailbox, nil
		for i := range c.Mailboxes {
			if c.Mailboxes[i].Name == mailbox {
				login, username = &c.Mailboxes[i].Login, c.Mailboxes[i].Username
			}
		}
		if login == nil {
			return fmt.Errorf("no mailbox %q in %s", mailbox, file)
		}
	}
	switch {
	case login.Auth != config.AuthOAuth2 || login.OAuth2 == nil:
		return fmt.Errorf("%s: auth is not oauth2", what)
	case login.OAuth2.RefreshTokenFile == "":
		return fmt.Errorf("%s: oauth2.refresh_token must be file:PATH, where the login writes the token", what)
	}
	o := login.OAuth2
	conf := &oauth2.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes,
		Endpoint: oauth2.Endpoint{TokenURL: o.TokenURL, DeviceAuthURL: deviceURL(o)}}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Timeout: 30 * time.Second})
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		return fmt.Errorf("device authorization at %s: %w", conf.Endpoint.DeviceAuthURL, err)
	}
	where := da.VerificationURI
	if da.VerificationURIComplete != "" {
		where = da.VerificationURIComplete
	}
	fmt.Fprintf(stdout, "To sign in %s, open %s and enter the code %s\nSign in as %s. Waiting...\n",
		what, where, da.UserCode, username)
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" {
			return fmt.Errorf("sign-in not completed: %s %s", re.ErrorCode, re.ErrorDescription)
		}
		return fmt.Errorf("sign-in not completed: %w", err)
	}
	if tok.RefreshToken == "" {
		return errors.New("the provider gave no refresh token (Microsoft: add offline_access to oauth2.scopes)")
	}
	if err := writeSecret(o.RefreshTokenFile, tok.RefreshToken); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Signed in. The refresh token is in %s; postdesk serve uses it from now on.\n", o.RefreshTokenFile)
	return nil
}

// deviceURL is device_url, or Microsoft's layout derived from token_url
// (.../oauth2/v2.0/token -> .../oauth2/v2.0/devicecode).
func deviceURL(o *config.OAuth2) string {
	if o.DeviceURL != "" {
		return o.DeviceURL
	}
	if base, ok := strings.CutSuffix(o.TokenURL, "/token"); ok {
		return base + "/devicecode"
	}
	return o.TokenURL
}

// writeSecret replaces a file with mode 0600 content, atomically, so a
// crash leaves the old token or the new one, never half of one.
func writeSecret(path, secret string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".refresh-*")
	if err != nil {
		return fmt.Errorf("write refresh token: %w", err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write refresh token: %w", err)
	}
	if _, err := tmp.WriteString(secret + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("write refresh token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write refresh token: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write refresh token: %w", err)
	}
	return nil
}
