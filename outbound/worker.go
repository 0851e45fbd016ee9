package outbound

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"postdesk/conversation"
	"postdesk/metrics"
	"postdesk/store"
	"postdesk/templates"
	"postdesk/threading"
)

// Retry policy; see the package documentation.
const (
	firstRetry = time.Minute
	maxRetry   = time.Hour
	giveUp     = 48 * time.Hour
)

// Options configures a Worker; nil means defaults (and an unusable worker:
// Signer and Templates are required).
type Options struct {
	// The SMTP relay, as in the config's smtp section.
	Host string
	Port int    // default 587 with starttls, 465 with implicit TLS, 25 with none
	TLS  string // "starttls" (default) | "implicit" | "none"
	// Username and Password, when a username is set, log in with AUTH PLAIN.
	Username, Password string
	// Auth, when set, logs in as Username with its SASL client instead
	// (OAuth2: mailauth.OAuth2).
	Auth Authenticator
	// TLSConfig is cloned; nil means the system roots, ServerName = Host.
	TLSConfig *tls.Config
	// HeloName is the name given in EHLO; default the host name.
	HeloName string

	// PublicURL is the web view's address, for links in mail.
	PublicURL string
	// Signer makes the reply tokens of Reply-To addresses. Required.
	Signer *threading.Signer
	// Templates renders the mail. Required.
	Templates *templates.Set
	// LoopID is the value of the loop header; default the domain of the
	// row's Message-ID (the instance's MessageIDDomain).
	LoopID string

	// Batch is the most rows one RunOnce handles (default 100); Run goes on
	// at once when a run was full.
	Batch int
	// Poll is how long Run waits between runs unless woken (default 2s).
	Poll time.Duration
	// CommandTimeout bounds each SMTP command (default 1m); SendTimeout one
	// whole mail, connecting included (default 5m). Both are also bounded by
	// the context.
	CommandTimeout, SendTimeout time.Duration

	// Now is the clock, for tests; nil means the database's clock, which
	// also stamped the rows.
	Now func() time.Time
	// Trace, when set, receives the SMTP conversation; give it a
	// trace.Writer, which masks credentials and message content.
	Trace  io.Writer
	Logger *slog.Logger // default slog.Default()
}

// Worker sends the outbox.
type Worker struct {
	st   *store.Store
	o    Options
	log  *slog.Logger
	wake chan struct{}
}

// New returns a Worker for the store.
func New(st *store.Store, opts *Options) *Worker {
	w := &Worker{st: st, wake: make(chan struct{}, 1)}
	if opts != nil {
		w.o = *opts
	}
	o := &w.o
	if o.TLS == "" {
		o.TLS = "starttls"
	}
	if o.Port == 0 {
		switch o.TLS {
		case "implicit":
			o.Port = 465
		case "none":
			o.Port = 25
		default:
			o.Port = 587
		}
	}
	if o.HeloName == "" {
		o.HeloName, _ = os.Hostname()
		if o.HeloName == "" {
			o.HeloName = "localhost"
		}
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = time.Minute
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 5 * time.Minute
	}
	w.log = o.Logger
	if w.log == nil {
		w.log = slog.Default()
	}
	w.log = w.log.With("worker", "outbound")
	return w
}

// Wake makes a waiting Run start its next run now: call it after queueing
// mail. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run sends the outbox until ctx ends: a run, then a wait of Poll or until
// Wake. Errors of a run are logged and the next run tries again. It returns
// nil when ctx ends, and an error only when the worker cannot work at all.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.usable(); err != nil {
		return err
	}
	for {
		sent, failed, full, err := w.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.log.Error("outbox run", "err", err, "sent", sent, "failed", failed)
		}
		if full && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		case <-time.After(w.o.Poll):
		}
	}
}

func (w *Worker) usable() error {
	if w.o.Signer == nil || w.o.Templates == nil {
		return errors.New("outbound: Options.Signer and Options.Templates are required")
	}
	if w.o.Host == "" {
		return errors.New("outbound: no SMTP host")
	}
	switch w.o.TLS {
	case "implicit", "starttls", "none":
	default:
		return fmt.Errorf("outbound: TLS %q: want implicit, starttls or none", w.o.TLS)
	}
	return nil
}

// outcome is what became of one row.
type outcome int

const (
	none   outcome = iota // no due row
	sent                  // delivered
	retry                 // temporary failure, tried again later
	failed                // given up
)

// RunOnce sends every row due now, each once (at most Batch rows; rows queued
// meanwhile, by it or others, included), over one SMTP connection, and
// returns how many were sent and how many failed for good. Rows that failed
// for now count in neither. An error means the database failed or ctx ended;
// the row in hand is then rolled back, still pending.
func (w *Worker) RunOnce(ctx context.Context) (nsent, nfailed int, err error) {
	if err := w.usable(); err != nil {
		return 0, 0, err
	}
	nsent, nfailed, _, err = w.runOnce(ctx)
	return nsent, nfailed, err
}

// runOnce is RunOnce, also reporting whether it stopped at Batch rows. A row
// that meets a database error is rolled back and left for the next run, and
// the run goes on with the others, so one bad row cannot hold up the queue;
// an error before any row is claimed ends the run.
func (w *Worker) runOnce(ctx context.Context) (nsent, nfailed int, full bool, err error) {
	s := &sender{o: &w.o}
	defer s.quit()
	var seen []int64
	var errs []error
	for range w.o.Batch {
		if err := ctx.Err(); err != nil {
			return nsent, nfailed, false, errors.Join(append(errs, err)...)
		}
		id, out, err := w.one(ctx, s, seen)
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			errs = append(errs, fmt.Errorf("outbox row %d: %w", id, err))
			if id == 0 || ctx.Err() != nil {
				return nsent, nfailed, false, errors.Join(errs...)
			}
			w.log.Error("outbox row rolled back", "outbox", id, "err", err)
			seen = append(seen, id)
			continue
		}
		switch out {
		case none:
			return nsent, nfailed, false, errors.Join(errs...)
		case sent:
			nsent++
		case failed:
			nfailed++
		}
		seen = append(seen, id)
	}
	return nsent, nfailed, true, errors.Join(errs...)
}

// one claims the next due row and handles it in its own transaction. The
// database work runs on a context that does not end with ctx, so that a mail
// the relay accepted is recorded as sent even when ctx ends right after; the
// SMTP session runs on ctx, so an interrupted send rolls the row back.
func (w *Worker) one(ctx context.Context, s *sender, skip []int64) (int64, outcome, error) {
	dbctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.o.SendTimeout+time.Minute)
	defer cancel()
	var id int64
	out := none
	err := w.st.InTx(dbctx, func(tx *store.Tx) error {
		now, err := w.now(dbctx, tx)
		if err != nil {
			return err
		}
		its, err := tx.ClaimOutbox(dbctx, now, 1, skip)
		if err != nil || len(its) == 0 {
			return err
		}
		it := &its[0]
		id = it.ID
		m, err := w.build(dbctx, tx, it, now)
		if err != nil && !isDeliveryError(err) {
			return err // the database, not the mail
		}
		if err == nil {
			start := time.Now()
			err = s.send(ctx, m.from, m.to, m.raw)
			if err != nil && ctx.Err() != nil {
				return err // interrupted: roll back, the row stays as it was
			}
			metrics.SendSeconds.Observe(time.Since(start).Seconds())
		}
		switch {
		case err == nil:
			metrics.Sent.WithLabelValues("sent").Inc()
		case isTemporary(err):
			metrics.Sent.WithLabelValues("temporary").Inc()
		default:
			metrics.Sent.WithLabelValues("permanent").Inc()
		}
		out, err = w.record(dbctx, tx, it, err)
		return err
	})
	return id, out, err
}

func (w *Worker) now(ctx context.Context, tx *store.Tx) (time.Time, error) {
	if w.o.Now != nil {
		return w.o.Now(), nil
	}
	return tx.Now(ctx)
}

// backoff is the wait after the n-th failed try: 1m, 2m, 4m ... at most 1h.
func backoff(n int) time.Duration {
	d := firstRetry
	for i := 1; i < n && d < maxRetry; i++ {
		d *= 2
	}
	return min(d, maxRetry)
}

// record writes what became of a try: sent, retry later, or failed.
func (w *Worker) record(ctx context.Context, tx *store.Tx, it *store.OutboxItem, sendErr error) (outcome, error) {
	now, err := w.now(ctx, tx)
	if err != nil {
		return none, err
	}
	log := w.log.With("outbox", it.ID, "template", it.Template, "to", it.Recipient, "attempt", it.Attempts+1)
	if sendErr == nil {
		log.Info("mail sent")
		return sent, tx.OutboxSent(ctx, it.ID, now)
	}
	reason := sendErr.Error()
	if isTemporary(sendErr) {
		deadline := it.CreatedAt.Add(giveUp)
		if now.Before(deadline) {
			next := now.Add(backoff(it.Attempts + 1))
			if next.After(deadline) {
				next = deadline // the last try, at the mark
			}
			log.Warn("mail not sent, will retry", "err", sendErr, "next", next)
			return retry, tx.OutboxRetry(ctx, it.ID, next, reason)
		}
		reason = fmt.Sprintf("gave up after %.0f hours of tries: %s", giveUp.Hours(), reason)
	}
	log.Error("mail failed", "err", reason)
	return failed, w.fail(ctx, tx, it, reason)
}

// fail marks a row failed, puts the failure in the conversation's timeline
// and tells the Handler (or the roles), never the address that failed and
// never about a notice of a failure.
func (w *Worker) fail(ctx context.Context, tx *store.Tx, it *store.OutboxItem, reason string) error {
	if err := tx.OutboxFailed(ctx, it.ID, reason); err != nil {
		return err
	}
	if it.ConversationID == nil {
		return nil
	}
	conv, err := tx.ConversationByID(ctx, *it.ConversationID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	ev := &store.Message{ConversationID: conv.ID, Direction: store.DirInternal, Kind: store.KindEvent,
		Event: "delivery_failed", To: []string{it.Recipient},
		Text: fmt.Sprintf("Mail to %s could not be delivered (%s): %s", it.Recipient, it.Template, reason)}
	if err := tx.InsertMessage(ctx, ev, nil); err != nil {
		return err
	}
	if it.Template == store.TemplateDeliveryFailed || it.Template == store.TemplateTooLarge {
		return nil
	}
	var to []store.User
	if conv.HandlerID != nil {
		h, err := tx.UserByID(ctx, *conv.HandlerID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if h != nil {
			to = []store.User{*h}
		}
	} else if to, err = conversation.Audience(ctx, tx, conv, conv.RoleIDs); err != nil {
		return err
	}
	_, domain, _ := strings.Cut(it.MailMessageID, "@")
	for _, u := range to {
		if strings.EqualFold(u.Email, it.Recipient) {
			continue
		}
		uid := u.ID
		if err := tx.Enqueue(ctx, &store.OutboxItem{ConversationID: &conv.ID, MessageID: &ev.ID, Template: store.TemplateDeliveryFailed,
			Recipient: u.Email, RecipientID: &uid, MailMessageID: newMessageID(domain)}); err != nil {
			return err
		}
	}
	return nil
}

// newMessageID makes a Message-ID in the domain of the failed mail's, which
// is the instance's own (conversation.Service.NewMessageID's form).
func newMessageID(domain string) string {
	if domain == "" {
		domain = "postdesk.invalid"
	}
	b := make([]byte, 12)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b) + "@" + domain
}
