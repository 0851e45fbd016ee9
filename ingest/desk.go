package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"postdesk/conversation"
	"postdesk/metrics"
	"postdesk/store"
)

// Desk is the Store and Locker of the real service: mail goes through the
// conversation rules, and cursors, health and leases live in PostgreSQL.
type Desk struct {
	st         *store.Store
	svc        *conversation.Service
	categories map[string]string // mailbox name -> default category key
	retry      time.Duration
	// Logger gets one info line per stored mail; default slog.Default().
	Logger *slog.Logger
}

// NewDesk connects workers to the store. categories maps each mailbox name to
// the category used when no recipient address names one.
func NewDesk(st *store.Store, svc *conversation.Service, categories map[string]string) *Desk {
	return &Desk{st: st, svc: svc, categories: categories, retry: 2 * time.Second}
}

// Cursor implements Store.
func (d *Desk) Cursor(ctx context.Context, mailbox string) (Cursor, error) {
	m, err := d.st.Mailbox(ctx, mailbox)
	if err != nil {
		return Cursor{}, err
	}
	return Cursor{UIDValidity: m.UIDValidity, LastUID: m.LastUID, ImportUntil: m.ImportUntil}, nil
}

// Deliver implements Store: one transaction stores the mail, its
// conversation change, its outbox rows and the cursor.
func (d *Desk) Deliver(ctx context.Context, mailbox string, m Fetched) error {
	in, err := d.inbound(mailbox, m)
	if err != nil {
		return err
	}
	start := time.Now()
	r, err := d.svc.Receive(ctx, in)
	if err != nil {
		return err
	}
	if r.Duplicate {
		metrics.Duplicates.WithLabelValues(mailbox, r.DuplicateBy).Inc()
	} else {
		metrics.Ingested.WithLabelValues(mailbox, r.Kind).Inc()
	}
	d.logStored(ctx, mailbox, m, r, time.Since(start))
	return nil
}

// logStored writes the one info line per stored mail an operator follows
// mail by. It names no person: the sender's address, customer data, is
// added only at debug level.
func (d *Desk) logStored(ctx context.Context, mailbox string, m Fetched, r *conversation.Received, took time.Duration) {
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	attrs := []slog.Attr{slog.String("mailbox", mailbox), slog.Uint64("uidvalidity", uint64(m.UIDValidity)),
		slog.Uint64("uid", uint64(m.UID)), slog.Int64("conversation", r.ConversationID), slog.String("kind", r.Kind),
		slog.Bool("duplicate", r.Duplicate), slog.Bool("quarantined", r.Quarantined), slog.Int64("ms", took.Milliseconds())}
	if r.Duplicate {
		attrs = append(attrs, slog.String("duplicate_by", r.DuplicateBy))
	}
	if m.Archive {
		attrs = append(attrs, slog.Bool("import", true))
	}
	log.LogAttrs(ctx, slog.LevelInfo, "ingest: mail stored", attrs...)
	if r.From != "" && log.Enabled(ctx, slog.LevelDebug) {
		log.LogAttrs(ctx, slog.LevelDebug, "ingest: mail stored: sender", slog.String("mailbox", mailbox),
			slog.Uint64("uid", uint64(m.UID)), slog.String("from", r.From))
	}
}

// Quarantine implements Store: the mail is kept raw in a staff-only
// conversation of the mailbox's category, and the cursor moves past it.
func (d *Desk) Quarantine(ctx context.Context, mailbox string, m Fetched, cause error) error {
	in, err := d.inbound(mailbox, m)
	if err != nil {
		return err
	}
	start := time.Now()
	r, err := d.svc.Quarantine(ctx, in, cause)
	if err != nil {
		return err
	}
	if !r.Duplicate {
		metrics.Quarantined.WithLabelValues(mailbox).Inc()
	}
	d.logStored(ctx, mailbox, m, r, time.Since(start))
	return nil
}

func (d *Desk) inbound(mailbox string, m Fetched) (conversation.Inbound, error) {
	cat, ok := d.categories[mailbox]
	if !ok {
		return conversation.Inbound{}, fmt.Errorf("deliver: mailbox %q has no category", mailbox)
	}
	return conversation.Inbound{Mailbox: mailbox, UIDValidity: m.UIDValidity, UID: m.UID, Raw: m.Raw,
		TooLarge: m.TooLarge, Size: m.Size, InternalDate: m.InternalDate, DefaultCategory: cat, Archive: m.Archive}, nil
}

// ResetCursor implements Store.
func (d *Desk) ResetCursor(ctx context.Context, mailbox string, uidValidity, importUntil uint32) error {
	return d.st.ResetCursor(ctx, mailbox, uidValidity, importUntil)
}

// Health implements Store.
func (d *Desk) Health(ctx context.Context, mailbox string, h Health) error {
	metrics.IngestLag.WithLabelValues(mailbox).Set(h.Lag.Seconds())
	return d.st.SetMailboxHealth(ctx, mailbox, store.MailboxHealth{Connected: h.Connected, IdleSupported: h.IdleSupported,
		LastSuccess: h.LastSuccess, LastError: h.LastError, Lag: h.Lag})
}

// Acquire implements Locker with a PostgreSQL advisory lock per mailbox.
func (d *Desk) Acquire(ctx context.Context, mailbox string) (Lease, error) {
	l, err := d.st.Acquire(ctx, "mailbox "+mailbox, d.retry)
	if err != nil {
		return nil, err
	}
	return l, nil
}
