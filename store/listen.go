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
)

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
func (s *Store) listen(ctx context.Context, wake map[string]func(), ready func()) (connected bool, err error) {
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
		f()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, fmt.Errorf("listen: %w", err)
		}
		if f := wake[n.Channel]; f != nil {
			f()
		}
	}
}
