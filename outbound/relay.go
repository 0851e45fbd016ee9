package outbound

import (
	"context"
	"sync"
	"time"

	"postdesk/metrics"
	"postdesk/store"
)

// relayState is what this worker knows of the relay: how many sessions in
// a row it refused, and since when it counts as down. It is the instance's
// own view (another instance may reach the relay), which is what /readyz of
// this instance should say; the process has one worker, so the gauge
// metrics.SMTPRelayUp is its view too.
type relayState struct {
	mu       sync.Mutex
	failures int
	since    time.Time // the first fault of the streak
	down     bool
	reason   string
}

// RelayDown reports whether the relay counts as down (RelayDownAfter
// session faults in a row), why, and since when; package health asks it.
func (w *Worker) RelayDown() (down bool, reason string, since time.Time) {
	w.relay.mu.Lock()
	defer w.relay.mu.Unlock()
	return w.relay.down, w.relay.reason, w.relay.since
}

// relayFault counts a session fault and returns when the row it met is due
// again: at the lower bound of the Runner's error backoff for as many
// faults, so the row is due when the Runner tries next, and not before.
// The fault that makes the relay down is told once: an error in the log,
// the /readyz check and /metrics gauge, and an audit entry (a mail cannot
// go through a relay that is down).
func (w *Worker) relayFault(ctx context.Context, err error) time.Duration {
	metrics.SMTPSessionFaults.Inc()
	w.relay.mu.Lock()
	r := &w.relay
	r.failures++
	if r.failures == 1 {
		r.since = time.Now()
	}
	r.reason = err.Error()
	n, since, alert := r.failures, r.since, !r.down && r.failures >= w.o.RelayDownAfter
	if alert {
		// Under the lock, so that whoever sees the relay down sees the
		// gauge say so.
		r.down = true
		metrics.SMTPRelayUp.Set(0)
	}
	w.relay.mu.Unlock()

	if alert {
		w.log.Error("SMTP relay is refusing sessions; mail waits until it recovers",
			"faults", n, "since", since, "err", err)
		w.auditRelay(ctx, "smtp_relay_down", map[string]any{"faults": n, "since": since, "error": err.Error()})
	}
	d := w.o.ErrorBackoff
	for i := 1; i < n && d < w.o.ErrorBackoffMax; i++ {
		d *= 2
	}
	return min(d, w.o.ErrorBackoffMax) * 4 / 5
}

// relayUp records a session that worked; after an outage it tells of the
// recovery the way it told of the outage.
func (w *Worker) relayUp(ctx context.Context) {
	w.relay.mu.Lock()
	r := &w.relay
	wasDown, since := r.down, r.since
	r.failures, r.down, r.reason = 0, false, ""
	if wasDown {
		metrics.SMTPRelayUp.Set(1)
	}
	w.relay.mu.Unlock()
	if !wasDown {
		return
	}
	w.log.Info("SMTP relay recovered; sending the queued mail", "down_for", time.Since(since).Round(time.Second))
	w.auditRelay(ctx, "smtp_relay_recovered", map[string]any{"since": since})
}

// auditRelay writes the relay's state change to the audit trail, on its
// own; a failure to do so is logged and changes nothing else.
func (w *Worker) auditRelay(ctx context.Context, action string, detail map[string]any) {
	err := w.st.InTx(ctx, func(tx *store.Tx) error { return tx.Audit(ctx, nil, "outbound", action, nil, detail) })
	if err != nil {
		w.log.Error("audit "+action, "err", err)
	}
}
