package web

import (
	"sync"
	"time"
)

// Sign-in failures allowed within loginWindow, per address and per client IP.
const (
	loginWindow      = 15 * time.Minute
	loginPerEmail    = 5
	loginPerIP       = 20
	limiterSweepSize = 10000
)

// limiter counts failed sign-ins in memory. A restart forgets the counts,
// which costs an attacker a restart per five tries: good enough for one
// process.
type limiter struct {
	mu    sync.Mutex
	now   func() time.Time
	fails map[string][]time.Time // "e:address" or "i:ip" → failure times in the window
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, fails: map[string][]time.Time{}}
}

// recent drops the failures that have left the window and returns the rest.
func (l *limiter) recent(key string, now time.Time) []time.Time {
	ts := l.fails[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= loginWindow {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, key)
		return nil
	}
	l.fails[key] = ts
	return ts
}

// wait returns how long a sign-in for this address from this IP must wait,
// or 0 when it may go ahead.
func (l *limiter) wait(email, ip string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var d time.Duration
	for _, k := range []struct {
		key   string
		limit int
	}{{"e:" + email, loginPerEmail}, {"i:" + ip, loginPerIP}} {
		ts := l.recent(k.key, now)
		if len(ts) >= k.limit {
			// Free again when the oldest counted failure leaves the window.
			d = max(d, ts[len(ts)-k.limit].Add(loginWindow).Sub(now))
		}
	}
	return d
}

// failed records a failed sign-in.
func (l *limiter) failed(email, ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.fails) > limiterSweepSize {
		for k := range l.fails {
			l.recent(k, now)
		}
	}
	for _, k := range []string{"e:" + email, "i:" + ip} {
		l.fails[k] = append(l.recent(k, now), now)
	}
}

// succeeded forgets an address's failures once its owner signs in.
func (l *limiter) succeeded(email string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, "e:"+email)
}
