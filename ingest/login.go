package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// Authenticator gives the SASL client of a login that is not a password
// (mailauth.OAuth2 is one: XOAUTH2 or OAUTHBEARER with a cached token).
type Authenticator interface {
	SASLClient(ctx context.Context, username string) (sasl.Client, error)
	// Invalidate drops a cached credential the server refused, so that the
	// next SASLClient fetches a new one.
	Invalidate()
}

// authBackoffMax caps the backoff after a refused login: the credentials
// will not fix themselves within seconds, and a provider may lock an
// account that keeps failing, but an operator who fixed them waits no more
// than this.
const authBackoffMax = 15 * time.Minute

// AuthError is a login the server refused (IMAP NO, most often with
// [AUTHENTICATIONFAILED]), or an OAuth2 token endpoint refusing the
// client's credentials. It is temporary like every mailbox error, but
// retried with a longer backoff, and its message says what to fix.
type AuthError struct{ Err error }

func (e *AuthError) Error() string { return "authentication failed: " + e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

// tokenRefused reports whether a token source's error is a refusal of the
// credentials rather than a fault of the endpoint (mailauth.TokenError has
// this method; a plain network error does not).
func tokenRefused(err error) bool {
	var te interface{ AuthFailure() bool }
	return errors.As(err, &te) && te.AuthFailure()
}

// login logs in with LOGIN and the password, or with AUTHENTICATE and
// Options.Auth. A token the server refuses is replaced once (it may have
// been revoked or expired early): a second refusal is the answer.
func (w *Worker) login(ctx context.Context, c *imapclient.Client) error {
	o := &w.opts
	if o.Auth == nil {
		if err := c.Login(o.Username, o.Password).Wait(); err != nil {
			return loginError(fmt.Errorf("login as %s: %w", o.Username, err))
		}
		return nil
	}
	for attempt := 0; ; attempt++ {
		sc, err := o.Auth.SASLClient(ctx, o.Username)
		if err != nil {
			if tokenRefused(err) {
				return &AuthError{Err: fmt.Errorf("login as %s: %w", o.Username, err)}
			}
			return fmt.Errorf("login as %s: %w", o.Username, err)
		}
		mech, _, _ := sc.Start()
		err = c.Authenticate(sc)
		if err == nil {
			return nil
		}
		err = loginError(fmt.Errorf("login as %s (AUTHENTICATE %s): %w", o.Username, mech, err))
		var ae *AuthError
		if !errors.As(err, &ae) {
			return err
		}
		o.Auth.Invalidate()
		if attempt > 0 {
			return err
		}
		w.log.Info("ingest: the server refused the access token; fetching a new one", "err", err)
	}
}

// backoffCap is the longest wait after err: a refused login backs off
// further, to authBackoffMax, than a fault of the network or the server.
func (w *Worker) backoffCap(err error) time.Duration {
	if errors.As(err, new(*AuthError)) {
		return max(w.backoffMax, w.authBackoffMax)
	}
	return w.backoffMax
}

// loginError marks a server's refusal as an *AuthError. NO [UNAVAILABLE]
// (RFC 5530: the authentication backend is down) is the server's fault and
// stays a plain error.
func loginError(err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo && ie.Code != imap.ResponseCodeUnavailable {
		return &AuthError{Err: err}
	}
	return err
}
