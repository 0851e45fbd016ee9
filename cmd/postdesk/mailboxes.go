package main

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"postdesk/config"
	"postdesk/conversation"
	"postdesk/health"
	"postdesk/ingest"
	"postdesk/metrics"
	"postdesk/push"
	"postdesk/retention"
	"postdesk/store"
	"postdesk/trace"
)

// messageIDDomain is the domain of the Message-IDs postdesk makes. It must
// differ from every domain people send from (their own Message-IDs would look
// like ours coming back), so it is a subdomain of the first category address.
func messageIDDomain(c *config.Config) string {
	for _, cat := range c.Categories {
		for _, a := range cat.Addresses {
			if _, domain, ok := strings.Cut(a, "@"); ok {
				return "postdesk." + domain
			}
		}
	}
	return "postdesk.invalid"
}

// mailboxWorkers are the background work of the service: the IMAP workers,
// the mailbox alerts, the retention purge and the outbox sender.
type mailboxWorkers struct {
	sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

func (w *mailboxWorkers) stop() { w.cancel() }

// Go runs f in the background until stop.
func (w *mailboxWorkers) Go(f func(ctx context.Context)) {
	w.Add(1)
	go func() {
		defer w.Done()
		f(w.ctx)
	}()
}

// imapOptions are the ingest options of every configured mailbox, by name:
// the workers and the purge (which deletes copies) use the same.
func imapOptions(c *config.Config, log *slog.Logger) map[string]*ingest.Options {
	out := map[string]*ingest.Options{}
	for _, m := range c.Mailboxes {
		opts := &ingest.Options{
			Name: m.Name, Host: m.Host, Port: m.Port, TLS: m.TLS, Username: m.Username, Password: m.Password,
			Folder: m.Folder, After: m.After, PollInterval: m.PollInterval.D, Existing: m.Existing, Logger: log,
			DisableIdle: m.Idle != nil && !*m.Idle,
		}
		auth, tlsCfg, err := mailLogin(m.Login, log)
		if err != nil {
			log.Error("mailbox login settings", "mailbox", m.Name, "err", err)
		}
		opts.TLSConfig = tlsCfg
		if auth != nil {
			opts.Auth = auth
		}
		if c.Tracing("imap") {
			opts.Trace = trace.Writer(log, "imap", net.JoinHostPort(m.Host, strconv.Itoa(m.Port)))
		}
		out[m.Name] = opts
	}
	return out
}

// newRetention is the daily purge over the configured mailboxes.
func newRetention(c *config.Config, st *store.Store, log *slog.Logger) (*retention.Retention, error) {
	return newRetentionReporting(c, st, log, nil)
}

// newRetentionReporting is newRetention whose deleter reports copies left
// on a server for a week through alerts.
func newRetentionReporting(c *config.Config, st *store.Store, log *slog.Logger, alerts retention.StaffAlerter) (*retention.Retention, error) {
	return retention.New(st, &retention.Options{Mailboxes: imapOptions(c, log), At: c.PurgeAt, Location: time.Local,
		Alerts: alerts, Logger: log.With("job", "retention"), AuditRetention: c.AuditRetention})
}

// startMailboxes runs one ingest worker per configured mailbox, the mailbox
// alerts and the daily retention purge until stop.
func startMailboxes(ctx context.Context, c *config.Config, st *store.Store, svc *conversation.Service, log *slog.Logger) (*mailboxWorkers, error) {
	ctx, cancel := context.WithCancel(ctx)
	ws := &mailboxWorkers{ctx: ctx, cancel: cancel}
	cats := map[string]string{}
	names := make([]string, 0, len(c.Mailboxes))
	for _, m := range c.Mailboxes {
		cats[m.Name] = m.Category
		names = append(names, m.Name)
	}
	metrics.Init(names)
	desk := ingest.NewDesk(st, svc, cats)
	desk.Logger = log.With("component", "ingest")
	mailboxes := imapOptions(c, log)
	workers := make(map[string]*ingest.Worker, len(c.Mailboxes))
	for _, m := range c.Mailboxes {
		w := ingest.NewWorker(mailboxes[m.Name], desk, desk)
		workers[m.Name] = w
		ws.Go(func(ctx context.Context) {
			if err := w.Run(ctx); err != nil {
				log.Error("mailbox worker stopped", "mailbox", m.Name, "err", err)
			}
		})
	}
	purge, err := newRetentionReporting(c, st, log, svc)
	if err != nil {
		cancel()
		return nil, err
	}
	ws.Go(func(ctx context.Context) {
		if err := purge.Run(ctx); err != nil {
			log.Error("retention job stopped", "err", err)
		}
	})
	// The purge's IMAP deletions: a queue drained at once when a purge
	// batch (of any instance) notifies, and on a poll.
	deleter := purge.Deleter()
	ws.Go(deleter.Run)
	// A mail server's push (package push, any instance's endpoint) names a
	// mailbox; the instance whose worker holds its lease polls at once.
	// The empty payload, after a reconnect, may have hidden any of them.
	wakeMailbox := func(name string) {
		if name == "" {
			for _, w := range workers {
				w.Wake()
			}
		} else if w := workers[name]; w != nil {
			w.Wake()
		}
	}
	ws.Go(func(ctx context.Context) {
		st.ListenPayload(ctx, map[string]func(string){
			store.ChannelDeletions: func(string) { deleter.Wake() },
			store.ChannelMailbox:   wakeMailbox,
		}, nil, log.With("listener", "imap_deletions+mailbox"))
	})
	alerter := &health.Alerter{St: st, Svc: svc, Logger: log}
	for _, m := range c.Mailboxes {
		alerter.Rules = append(alerter.Rules, health.AlertRule{Mailbox: m.Name, Category: m.Category,
			AlertAfter: m.AlertAfter.D, SilenceAfter: m.SilenceAlert.D})
	}
	ws.Go(func(ctx context.Context) { alerter.Run(ctx, time.Minute) })
	// Signing in sweeps expired sessions now and then; this keeps the table
	// small on a quiet system too.
	ws.Go(func(ctx context.Context) {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if _, err := st.DeleteExpiredSessions(ctx, time.Now()); err != nil && ctx.Err() == nil {
				log.Error("expired sessions", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return ws, nil
}

// pushMailboxes names the configured mailboxes as a mail server's push does.
func pushMailboxes(c *config.Config) []push.Mailbox {
	ms := make([]push.Mailbox, 0, len(c.Mailboxes))
	for _, m := range c.Mailboxes {
		ms = append(ms, push.Mailbox{Name: m.Name, Username: m.Username, Folder: m.Folder})
	}
	return ms
}
