package outbound

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Authenticator gives the SASL client of a login that is not a password
// (mailauth.OAuth2 is one: XOAUTH2 or OAUTHBEARER with a cached token).
type Authenticator interface {
	SASLClient(ctx context.Context, username string) (sasl.Client, error)
	// Invalidate drops a cached credential the relay refused, so that the
	// next SASLClient fetches a new one.
	Invalidate()
}

// auth logs in to the relay: AUTH PLAIN with the password, or the SASL
// client of Options.Auth, whose token is replaced once when the relay
// refuses it (revoked, or expired early). The error says who refused what:
// the relay with its 535 reply, or the OAuth2 token endpoint with its
// error_description.
func (s *sender) auth(ctx context.Context, c *smtp.Client, addr string) error {
	if s.o.Auth == nil {
		if err := c.Auth(sasl.NewPlainClient("", s.o.Username, s.o.Password)); err != nil {
			return fmt.Errorf("AUTH PLAIN at %s as %s: %w%s", addr, s.o.Username, err, refusedHint(err))
		}
		return nil
	}
	for attempt := 0; ; attempt++ {
		sc, err := s.o.Auth.SASLClient(ctx, s.o.Username)
		if err != nil {
			return fmt.Errorf("AUTH at %s as %s: %w", addr, s.o.Username, err)
		}
		mech, _, _ := sc.Start()
		err = c.Auth(sc)
		if err == nil {
			return nil
		}
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 535 || attempt > 0 {
			return fmt.Errorf("AUTH %s at %s as %s: %w%s", mech, addr, s.o.Username, err, refusedHint(err))
		}
		s.o.Auth.Invalidate()
	}
}

// refusedHint names the cause of a 535 (RFC 4954 section 6: credentials
// invalid), which relays word in many ways.
func refusedHint(err error) string {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code == 535 {
		return " (the relay refused the credentials)"
	}
	return ""
}
