package outbound

import (
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"
)

// deliveryError is a failed try whose kind is known: temporary or permanent.
// See the package documentation for which is which.
type deliveryError struct {
	temporary bool
	err       error
}

func (e *deliveryError) Error() string { return e.err.Error() }
func (e *deliveryError) Unwrap() error { return e.err }

// permanent marks err as one that no retry can cure.
func permanent(err error) error { return &deliveryError{temporary: false, err: err} }

// permanentf is permanent(fmt.Errorf(...)).
func permanentf(format string, args ...any) error { return permanent(fmt.Errorf(format, args...)) }

// temporary marks err as one a later try may not meet.
func temporary(err error) error { return &deliveryError{temporary: true, err: err} }

// sessionError is a failure of the session with the relay rather than of
// one mail: connecting, TLS, the greeting, EHLO, AUTH, RSET and MAIL FROM,
// whatever the reply code. It is temporary for every row, and the row it
// met does not count it as a try (see the package documentation).
type sessionError struct{ err error }

func (e *sessionError) Error() string { return e.err.Error() }
func (e *sessionError) Unwrap() error { return e.err }

// sessionFault marks err as the relay's.
func sessionFault(err error) error { return &sessionError{err: err} }

// isSessionFault reports whether err is the relay's, not the mail's.
func isSessionFault(err error) bool {
	var se *sessionError
	return errors.As(err, &se)
}

// isTemporary reports whether a failed try should be retried: an explicit
// mark wins; otherwise an SMTP reply decides by its code (4xx temporary,
// 5xx permanent), and everything else (network, TLS, timeouts, unknown) is
// temporary.
func isTemporary(err error) bool {
	if isSessionFault(err) {
		return true
	}
	var de *deliveryError
	if errors.As(err, &de) {
		return de.temporary
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code/100 != 5
	}
	return true
}

// isDeliveryError reports whether err is about the mail or its delivery,
// rather than the database: the former is recorded on the row, the latter
// rolls the row back and stops the run.
func isDeliveryError(err error) bool {
	var de *deliveryError
	var se *smtp.SMTPError
	return errors.As(err, &de) || errors.As(err, &se) || isSessionFault(err)
}

// brokenSession reports whether an error leaves the SMTP connection unusable:
// anything but an SMTP reply, or a 421 (the server is closing the channel,
// RFC 5321 3.8).
func brokenSession(err error) bool {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return true
	}
	return se.Code == 421
}
