package health

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"postdesk/conversation"
	"postdesk/store"
)

// AuthFailurePrefix begins a mailbox's last error when its server (or
// the OAuth2 token endpoint) refused the login: ingest.AuthError's message.
const AuthFailurePrefix = "authentication failed: "

// AlertRule says when a mailbox is in trouble.
type AlertRule struct {
	Mailbox, Category string
	// AlertAfter: no successful poll for this long (not connecting, login
	// refused, server down).
	AlertAfter time.Duration
	// SilenceAfter: no new mail for this long (a forwarding rule broke);
	// zero turns the check off.
	SilenceAfter time.Duration
}

// Alerter checks mailboxes and tells the staff of their category once per
// problem, through the outbox.
type Alerter struct {
	St      *store.Store
	Svc     *conversation.Service
	Rules   []AlertRule
	Now     func() time.Time
	Logger  *slog.Logger
	started time.Time
}

func (a *Alerter) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Check runs every rule once.
func (a *Alerter) Check(ctx context.Context) error {
	if a.started.IsZero() {
		a.started = a.now()
	}
	for _, r := range a.Rules {
		st, err := a.St.Mailbox(ctx, r.Mailbox)
		if err != nil {
			return err
		}
		problem := a.problem(r, st)
		if problem == "" {
			if st.AlertedAt != nil {
				if err := a.St.ClearAlert(ctx, r.Mailbox); err != nil {
					return err
				}
			}
			continue
		}
		sent, err := a.Svc.AlertMailbox(ctx, r.Mailbox, r.Category, problem)
		if err != nil {
			return fmt.Errorf("alert %s: %w", r.Mailbox, err)
		}
		if sent && a.Logger != nil {
			a.Logger.Warn("mailbox alert sent", "mailbox", r.Mailbox, "problem", problem)
		}
	}
	return nil
}

func (a *Alerter) problem(r AlertRule, st *store.MailboxState) string {
	now := a.now()
	// Counted from this process's start at the earliest, so that a restart
	// after downtime gives the worker its full AlertAfter to connect.
	since := a.started
	if st.LastSuccess != nil && st.LastSuccess.After(since) {
		since = *st.LastSuccess
	}
	// A refused login does not fix itself: the staff hear of it at once,
	// not after AlertAfter (ingest's errors begin so for an AuthError).
	if strings.HasPrefix(st.LastError, AuthFailurePrefix) && !st.Connected {
		return "the mail server refused postdesk's login: " + strings.TrimPrefix(st.LastError, AuthFailurePrefix)
	}
	if r.AlertAfter > 0 && now.Sub(since) > r.AlertAfter {
		p := fmt.Sprintf("no successful connection for %s", now.Sub(since).Round(time.Minute))
		if st.LastError != "" {
			p += " (last error: " + st.LastError + ")"
		}
		return p
	}
	if r.SilenceAfter > 0 {
		last := a.started
		if st.LastMailAt != nil && st.LastMailAt.After(last) {
			last = *st.LastMailAt
		}
		if now.Sub(last) > r.SilenceAfter {
			return fmt.Sprintf("no new mail for %s", now.Sub(last).Round(time.Minute))
		}
	}
	return ""
}

// Run checks every interval until ctx ends.
func (a *Alerter) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := a.Check(ctx); err != nil && ctx.Err() == nil && a.Logger != nil {
			a.Logger.Error("mailbox alerts", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
