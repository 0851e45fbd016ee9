package web

import (
	"context"
	"net/netip"
	"time"

	"postdesk/store"
)

// throttle is the sign-in policy. Three typos cost nothing; from the
// fourth failure on, the same address from the same client waits 1 s,
// then 2 s, 4 s ... up to 15 minutes, so a guesser gets about four tries
// an hour on one account from one client. A client gets 100 failures an
// hour over all addresses. Nothing here ever refuses the right password
// from a client that has not failed: there is no lockout of an account.
var throttle = store.Throttle{
	Free:         3,
	BaseDelay:    time.Second,
	MaxDelay:     15 * time.Minute,
	Forget:       time.Hour,
	Budget:       100,
	BudgetWindow: time.Hour,
}

// limiter keeps the counts in PostgreSQL, so that every instance shares
// them and a restart forgets nothing.
type limiter struct {
	st  *store.Store
	now func() time.Time
}

func newLimiter(st *store.Store, now func() time.Time) *limiter {
	return &limiter{st: st, now: now}
}

// clientKey is what a client is counted under: its address, and for IPv6
// its /64, which one host can fill with addresses of its own.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.Unmap().String()
}

// wait returns how long a sign-in for this address from this client must
// wait, or 0 when it may go ahead.
func (l *limiter) wait(ctx context.Context, email, ip string) (time.Duration, error) {
	return l.st.SigninWait(ctx, throttle, email, clientKey(ip), l.now())
}

// failed records a failed sign-in; now and then it sweeps old counters.
func (l *limiter) failed(ctx context.Context, email, ip string) error {
	now := l.now()
	n, err := l.st.SigninFailed(ctx, throttle, email, clientKey(ip), now)
	if err != nil {
		return err
	}
	if n%64 == 1 {
		return l.st.SweepThrottle(ctx, throttle, now)
	}
	return nil
}

// succeeded forgets this client's failures for this address.
func (l *limiter) succeeded(ctx context.Context, email, ip string) error {
	return l.st.SigninSucceeded(ctx, email, clientKey(ip))
}
