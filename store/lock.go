package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Lease is an exclusive claim held by one process among all that share the
// database, for as long as its connection lives.
type Lease struct {
	conn     *pgx.Conn
	key      int64
	lost     chan struct{}
	stop     chan struct{}
	once     sync.Once
	stopOnce sync.Once
	done     chan struct{}
	shared   bool // a shared lock (Join), unlocked as one
}

// LockKey is the advisory lock key of a named resource ("mailbox payroll").
func LockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("postdesk\x00" + name))
	return int64(h.Sum64())
}

// leaseCheck is how often a held lease checks that its connection lives; a
// lease whose connection died is Lost, and another process may take it.
const leaseCheck = 5 * time.Second

// TryAcquire takes the named lease when free, on a connection of its own
// (outside the pool): the lock lives exactly as long as that session, so a
// crashed holder frees it. It returns nil, nil when another process holds it.
func (s *Store) TryAcquire(ctx context.Context, name string) (*Lease, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("lease %s: %w", name, err)
	}
	key := LockKey(name)
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("lease %s: %w", name, err)
	}
	if !got {
		conn.Close(context.WithoutCancel(ctx))
		return nil, nil
	}
	l := &Lease{conn: conn, key: key, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go l.watch()
	return l, nil
}

// Acquire waits until it holds the named lease or ctx ends, trying every
// retry interval.
func (s *Store) Acquire(ctx context.Context, name string, retry time.Duration) (*Lease, error) {
	for {
		l, err := s.TryAcquire(ctx, name)
		if err != nil || l != nil {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(retry):
		}
	}
}

func (l *Lease) watch() {
	defer close(l.done)
	t := time.NewTicker(leaseCheck)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), leaseCheck)
			err := l.conn.Ping(ctx)
			cancel()
			if err != nil {
				l.markLost()
				return
			}
		}
	}
}

func (l *Lease) markLost() { l.once.Do(func() { close(l.lost) }) }

// Lost is closed when the lease can no longer be trusted (its connection
// died); the holder must stop the work it guards.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Release gives the lease up; it is safe to call more than once.
func (l *Lease) Release() {
	l.stopOnce.Do(func() {
		close(l.stop)
		<-l.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		unlock := `SELECT pg_advisory_unlock($1)`
		if l.shared {
			unlock = `SELECT pg_advisory_unlock_shared($1)`
		}
		l.conn.Exec(ctx, unlock, l.key) //nolint:errcheck // closing the session frees it anyway
		l.conn.Close(ctx)
		l.markLost()
	})
}

// Join makes this process a member of the named group (a shared advisory
// lock on a connection of its own) until the returned lease is released or
// its connection dies: Members counts the processes that joined. The
// mailbox leases use it to learn how many instances share the mailboxes.
func (s *Store) Join(ctx context.Context, group string) (*Lease, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", group, err)
	}
	key := LockKey(group)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock_shared($1)`, key); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("join %s: %w", group, err)
	}
	l := &Lease{conn: conn, key: key, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}), shared: true}
	go l.watch()
	return l, nil
}

// Members counts the live processes that joined the named group (see
// Join), on this database.
func (db *DB) Members(ctx context.Context, group string) (int, error) {
	key := uint64(LockKey(group))
	// A bigint advisory key shows in pg_locks as classid (high half),
	// objid (low half) and objsubid 1.
	var n int
	err := db.q.QueryRow(ctx, `SELECT count(DISTINCT pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND mode = 'ShareLock'
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1`,
		int64(key>>32), int64(key&0xffffffff)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("members %s: %w", group, err)
	}
	return n, nil
}
