package store

import (
	"context"
	"fmt"
	"time"
)

// MailboxState is an IMAP mailbox's cursor and health.
type MailboxState struct {
	Name        string
	UIDValidity uint32
	LastUID     uint32
	// ImportUntil: the UIDs up to it under UIDValidity were in the folder
	// when postdesk first connected (the go-live import); 0 for none.
	ImportUntil   uint32
	Connected     bool
	IdleSupported bool
	LastSuccess   *time.Time
	LastError     string
	LastErrorAt   *time.Time
	Lag           time.Duration
	LastMailAt    *time.Time
	AlertedAt     *time.Time
	UpdatedAt     time.Time
}

// Mailbox reads a mailbox's state; a mailbox never polled has a zero state.
func (db *DB) Mailbox(ctx context.Context, name string) (*MailboxState, error) {
	m := MailboxState{Name: name}
	var uv, uid, until int64
	err := db.q.QueryRow(ctx, `SELECT uid_validity, last_uid, import_until, connected, idle_supported, last_success, last_error, last_error_at,
			extract(epoch FROM lag)::float8 * 1e9, last_mail_at, alerted_at, updated_at
		FROM mailboxes WHERE name = $1`, name).
		Scan(&uv, &uid, &until, &m.Connected, &m.IdleSupported, &m.LastSuccess, &m.LastError, &m.LastErrorAt, (*nanos)(&m.Lag),
			&m.LastMailAt, &m.AlertedAt, &m.UpdatedAt)
	if err != nil {
		if err := notFound(err, "mailbox"); isNotFound(err) {
			return &m, nil
		}
		return nil, fmt.Errorf("mailbox %s: %w", name, err)
	}
	m.UIDValidity, m.LastUID, m.ImportUntil = uint32(uv), uint32(uid), uint32(until)
	return &m, nil
}

// Mailboxes lists every mailbox's state.
func (db *DB) Mailboxes(ctx context.Context) ([]MailboxState, error) {
	rows, err := db.q.Query(ctx, `SELECT name FROM mailboxes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("mailboxes: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("mailboxes: %w", err)
		}
		names = append(names, n)
	}
	rows.Close()
	out := make([]MailboxState, 0, len(names))
	for _, n := range names {
		m, err := db.Mailbox(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	return out, nil
}

// AdvanceCursor records that every UID up to uid in this UIDVALIDITY is stored.
// It never moves the cursor back, and belongs in the transaction that stored
// the mail.
func (db *DB) AdvanceCursor(ctx context.Context, name string, uidValidity, uid uint32) error {
	return db.later(ctx, "advance cursor "+name, `INSERT INTO mailboxes (name, uid_validity, last_uid, last_mail_at) VALUES ($1, $2, $3, now())
		ON CONFLICT (name) DO UPDATE SET
			last_uid = CASE WHEN mailboxes.uid_validity = EXCLUDED.uid_validity
				THEN greatest(mailboxes.last_uid, EXCLUDED.last_uid) ELSE EXCLUDED.last_uid END,
			uid_validity = EXCLUDED.uid_validity, last_mail_at = now(), updated_at = now()`, name, int64(uidValidity), int64(uid))
}

// ResetCursor starts a mailbox over under a new UIDVALIDITY (RFC 3501
// 2.3.1.1: the old UIDs mean nothing now); the rescan that follows is
// recognised mail by mail, so nothing is stored twice. importUntil is the
// highest UID of the go-live import (mail already in the folder when
// postdesk first connected), 0 for none.
func (db *DB) ResetCursor(ctx context.Context, name string, uidValidity, importUntil uint32) error {
	_, err := db.q.Exec(ctx, `INSERT INTO mailboxes (name, uid_validity, last_uid, import_until) VALUES ($1, $2, 0, $3)
		ON CONFLICT (name) DO UPDATE SET uid_validity = EXCLUDED.uid_validity, last_uid = 0,
			import_until = EXCLUDED.import_until, updated_at = now()`,
		name, int64(uidValidity), int64(importUntil))
	if err != nil {
		return fmt.Errorf("reset cursor %s: %w", name, err)
	}
	return nil
}

// MailboxHealth is what a worker reports after each attempt.
type MailboxHealth struct {
	Connected     bool
	IdleSupported bool
	LastSuccess   time.Time // zero: no success in this report
	LastError     string    // "": no error in this report
	Lag           time.Duration
}

// SetMailboxHealth records a worker's report, keeping the last success and
// the last error of earlier reports.
func (db *DB) SetMailboxHealth(ctx context.Context, name string, h MailboxHealth) error {
	var success *time.Time
	if !h.LastSuccess.IsZero() {
		success = &h.LastSuccess
	}
	_, err := db.q.Exec(ctx, `INSERT INTO mailboxes (name, connected, idle_supported, last_success, last_error, last_error_at, lag)
		VALUES ($1, $2, $3, $4, $5, CASE WHEN $5 = '' THEN NULL ELSE now() END, make_interval(secs => $6))
		ON CONFLICT (name) DO UPDATE SET connected = EXCLUDED.connected, idle_supported = EXCLUDED.idle_supported,
			last_success = coalesce(EXCLUDED.last_success, mailboxes.last_success),
			last_error = CASE WHEN EXCLUDED.last_error = '' THEN mailboxes.last_error ELSE EXCLUDED.last_error END,
			last_error_at = coalesce(EXCLUDED.last_error_at, mailboxes.last_error_at),
			lag = EXCLUDED.lag, updated_at = now()`,
		name, h.Connected, h.IdleSupported, success, h.LastError, h.Lag.Seconds())
	if err != nil {
		return fmt.Errorf("mailbox health %s: %w", name, err)
	}
	return nil
}

// nanos scans a float of nanoseconds into a Duration.
type nanos time.Duration

func (n *nanos) Scan(src any) error {
	switch v := src.(type) {
	case float64:
		*n = nanos(time.Duration(v))
	case nil:
		*n = 0
	default:
		return fmt.Errorf("nanos: %T", src)
	}
	return nil
}

// LatchAlert marks a mailbox as alerted and reports whether this call did it:
// of any number of checks and instances, exactly one sends the alert, until
// ClearAlert.
func (db *DB) LatchAlert(ctx context.Context, name string) (bool, error) {
	tag, err := db.q.Exec(ctx, `INSERT INTO mailboxes (name, alerted_at) VALUES ($1, now())
		ON CONFLICT (name) DO UPDATE SET alerted_at = now() WHERE mailboxes.alerted_at IS NULL`, name)
	if err != nil {
		return false, fmt.Errorf("latch alert %s: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ClearAlert re-arms a mailbox's alert once its problem is gone.
func (db *DB) ClearAlert(ctx context.Context, name string) error {
	if _, err := db.q.Exec(ctx, `UPDATE mailboxes SET alerted_at = NULL WHERE name = $1 AND alerted_at IS NOT NULL`, name); err != nil {
		return fmt.Errorf("clear alert %s: %w", name, err)
	}
	return nil
}

// BeginAttempt records that the worker of mailbox is about to store the
// UIDs first..last (one mail: first == last; batch: a transaction of
// several) and returns how many attempts of the same kind that covered
// first began before it under this UIDVALIDITY and never ended: each a
// process that stopped inside (migration 022). A batch found so keeps its
// range, so the mails after the one that stopped it are not batched again
// either. The record is written without waiting for the disk: a database
// crash may forget it, which costs one more attempt, while every batch
// would otherwise wait for a flush before it starts.
func (db *DB) BeginAttempt(ctx context.Context, mailbox string, uidValidity, first, last uint32) (crashes int, err error) {
	// One worker holds a mailbox (its lease), so the attempt read first is
	// still the one the upsert replaces.
	err = db.q.QueryRow(ctx, `WITH lazy AS (SELECT set_config('synchronous_commit', 'off', true)),
		next AS (SELECT $1::text AS mailbox, $3::bigint < $4::bigint AS batch, $2::bigint AS uid_validity, $3::bigint AS first, $4::bigint AS last),
		prev AS (SELECT a.first_uid, a.last_uid, a.crashes FROM ingest_attempts a, next n
			WHERE a.mailbox = n.mailbox AND a.batch = n.batch AND a.uid_validity = n.uid_validity AND n.first BETWEEN a.first_uid AND a.last_uid)
		INSERT INTO ingest_attempts (mailbox, batch, uid_validity, first_uid, last_uid, crashes)
		SELECT n.mailbox, n.batch, n.uid_validity, coalesce(p.first_uid, n.first), greatest(p.last_uid, n.last), coalesce(p.crashes + 1, 0)
		FROM next n CROSS JOIN lazy LEFT JOIN prev p ON true
		ON CONFLICT (mailbox, batch) DO UPDATE SET uid_validity = EXCLUDED.uid_validity, first_uid = EXCLUDED.first_uid,
			last_uid = EXCLUDED.last_uid, crashes = EXCLUDED.crashes, begun_at = now()
		RETURNING crashes`, mailbox, int64(uidValidity), int64(first), int64(last)).Scan(&crashes)
	if err != nil {
		return 0, fmt.Errorf("begin attempt %s UIDs %d-%d: %w", mailbox, first, last, err)
	}
	return crashes, nil
}

// EndAttempt forgets mailbox's attempt of the kind (batch or one mail):
// it ended with an error the worker saw, which the worker counts itself.
func (db *DB) EndAttempt(ctx context.Context, mailbox string, batch bool) error {
	if _, err := db.q.Exec(ctx, `DELETE FROM ingest_attempts WHERE mailbox = $1 AND batch = $2`, mailbox, batch); err != nil {
		return fmt.Errorf("end attempt %s: %w", mailbox, err)
	}
	return nil
}
