package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notification channels: a transaction that queues work notifies its
// channel, and every instance's listener wakes that queue's worker.
const (
	ChannelOutbox    = "postdesk_outbox"
	ChannelDeletions = "postdesk_imap_deletions"
	// ChannelMailbox carries a mailbox's name: its mail server announced
	// new mail (package push), and whichever instance holds that
	// mailbox's lease polls it at once.
	ChannelMailbox = "postdesk_mailbox"
)

// maxPayload is PostgreSQL's limit on a notification's payload (8000 bytes
// in the default build), less a margin.
const maxPayload = 7900

// NotifyMailbox wakes the worker of mailbox, on whichever instance holds its
// lease. It is sent outside any transaction: the news comes from the mail
// server, not from anything this database commits.
func (s *Store) NotifyMailbox(ctx context.Context, mailbox string) error {
	if mailbox == "" || len(mailbox) > maxPayload {
		return fmt.Errorf("notify %s: mailbox name of %d bytes", ChannelMailbox, len(mailbox))
	}
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, ChannelMailbox, mailbox); err != nil {
		return fmt.Errorf("notify %s: %w", ChannelMailbox, err)
	}
	return nil
}

// Notify queues a notification on channel; PostgreSQL delivers it when the
// transaction commits, and never if it rolls back, so a worker is woken only
// for work that exists.
func (tx *Tx) Notify(ctx context.Context, channel string) error {
	if _, err := tx.q.Exec(ctx, `SELECT pg_notify($1, '')`, channel); err != nil {
		return fmt.Errorf("notify %s: %w", channel, err)
	}
	return nil
}

// Listen calls wake[channel] for every notification on each channel until
// ctx ends, on a connection of its own (LISTEN holds its session, so it
// cannot use the pool). A lost connection is reconnected with backoff, and
// every channel's wake is called after each (re)connect, since
// notifications sent meanwhile are lost. ready, when not nil, is called
// after each successful LISTEN.
func (s *Store) Listen(ctx context.Context, wake map[string]func(), ready func(), log *slog.Logger) {
	each := make(map[string]func(string), len(wake))
	for ch, f := range wake {
		each[ch] = func(string) { f() }
	}
	s.ListenPayload(ctx, each, ready, log)
}

// ListenPayload is Listen for channels whose payload matters: handle[channel]
// gets each notification's payload. After each (re)connect every handler is
// called with the empty payload, meaning "anything may have happened".
func (s *Store) ListenPayload(ctx context.Context, handle map[string]func(payload string), ready func(), log *slog.Logger) {
	wake := handle
	if log == nil {
		log = slog.Default()
	}
	const first = 100 * time.Millisecond
	wait := first
	for ctx.Err() == nil {
		connected, err := s.listen(ctx, wake, ready)
		if ctx.Err() != nil {
			return
		}
		if connected {
			wait = first // it worked for a while: this is a new outage
		}
		log.Warn("store: listener lost; reconnecting", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// listen runs one session; connected reports that its LISTEN succeeded.
func (s *Store) listen(ctx context.Context, wake map[string]func(string), ready func()) (connected bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for ch := range wake {
		// LISTEN takes no parameters; the channel names are this package's
		// constants, quoted as identifiers.
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return false, fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	if ready != nil {
		ready()
	}
	for _, f := range wake {
		f("")
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, fmt.Errorf("listen: %w", err)
		}
		if f := wake[n.Channel]; f != nil {
			f(n.Payload)
		}
	}
}
