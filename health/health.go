// Package health answers the probes of a process supervisor or load
// balancer: /healthz says the process is up; /readyz says it can do its work
// (the database answers, its schema is current, every mailbox has been
// polled successfully within its interval, and the SMTP relay takes this
// instance's sessions).
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"postdesk/store"
)

// Mailbox is a configured mailbox and how stale its last success may be.
type Mailbox struct {
	Name   string
	MaxAge time.Duration
}

// Relay is the SMTP relay as the outbox worker last met it
// (outbound.Worker.RelayDown).
type Relay interface {
	RelayDown() (down bool, reason string, since time.Time)
}

// Checker runs the readiness checks.
type Checker struct {
	St        *store.Store
	Mailboxes []Mailbox
	Relay     Relay // nil: not checked
	Now       func() time.Time
}

// Report is /readyz's body.
type Report struct {
	Ready    bool              `json:"ready"`
	Problems []string          `json:"problems,omitempty"`
	Checks   map[string]string `json:"checks"`
	// IMAPDeletions is the purge's deletion queue: shown, never a reason
	// to be unready (the service works; the staff are mailed when a copy
	// waits a week).
	IMAPDeletions *Deletions `json:"imap_deletions,omitempty"`
}

// Deletions is the backlog of server copies of purged mail to delete.
type Deletions struct {
	Pending       int64   `json:"pending"`
	OldestSeconds float64 `json:"oldest_seconds"`
}

// Check runs every check.
func (c *Checker) Check(ctx context.Context) Report {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	r := Report{Checks: map[string]string{}}
	fail := func(name, problem string) {
		r.Checks[name] = "fail"
		r.Problems = append(r.Problems, name+": "+problem)
	}
	if err := c.St.Ping(ctx); err != nil {
		fail("database", err.Error())
		return r
	}
	r.Checks["database"] = "ok"
	if v, err := c.St.SchemaVersion(ctx); err != nil {
		fail("migrations", err.Error())
	} else if v != store.LatestVersion() {
		fail("migrations", fmt.Sprintf("schema version %d, this binary needs %d", v, store.LatestVersion()))
	} else {
		r.Checks["migrations"] = "ok"
	}
	for _, m := range c.Mailboxes {
		name := "mailbox " + m.Name
		st, err := c.St.Mailbox(ctx, m.Name)
		switch {
		case err != nil:
			fail(name, err.Error())
		case !st.Connected && strings.HasPrefix(st.LastError, AuthFailurePrefix):
			// Refused credentials do not fix themselves: not ready at once.
			fail(name, st.LastError)
		case st.LastSuccess == nil:
			fail(name, "never polled successfully"+lastError(st))
		case now().Sub(*st.LastSuccess) > m.MaxAge:
			fail(name, fmt.Sprintf("last polled %s ago, more than %s", now().Sub(*st.LastSuccess).Round(time.Second), m.MaxAge)+lastError(st))
		default:
			r.Checks[name] = "ok"
		}
	}
	if c.Relay != nil {
		if down, reason, since := c.Relay.RelayDown(); down {
			fail("smtp", fmt.Sprintf("the relay has refused every session since %s: %s", since.UTC().Format(time.RFC3339), reason))
		} else {
			r.Checks["smtp"] = "ok"
		}
	}
	r.Ready = len(r.Problems) == 0
	c.deletions(ctx, &r)
	return r
}

// deletions adds the IMAP deletion backlog to r; "overdue" when a copy has
// waited longer than the week after which staff are told.
func (c *Checker) deletions(ctx context.Context, r *Report) {
	b, err := c.St.DeletionBacklog(ctx)
	if err != nil {
		r.Checks["imap_deletions"] = "unknown: " + err.Error()
		return
	}
	r.IMAPDeletions = &Deletions{Pending: b.Pending, OldestSeconds: b.Oldest.Seconds()}
	r.Checks["imap_deletions"] = "ok"
	if b.Oldest > 7*24*time.Hour {
		r.Checks["imap_deletions"] = "overdue"
	}
}

func lastError(st *store.MailboxState) string {
	if st.LastError == "" {
		return ""
	}
	return " (last error: " + st.LastError + ")"
}

// Register adds /healthz and /readyz to a mux.
func (c *Checker) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		rep := c.Check(ctx)
		w.Header().Set("Content-Type", "application/json")
		if !rep.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(rep) //nolint:errcheck // the client went away
	})
}
