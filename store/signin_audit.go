package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"postdesk/config"
)

// Sign-in audit events.
const (
	EventSignIn          = "signin"           // a session began (Method says how)
	EventSignInFailed    = "signin_failed"    // a wrong password, code or link (Detail says why)
	EventSignInThrottled = "signin_throttled" // refused unchecked: the client waits
	EventLinkRequested   = "link_requested"   // a sign-in or reset link was asked for
	EventPasswordChanged = "password_changed" // changed on the settings page or by a reset link
	EventMFAEnrolled     = "mfa_enrolled"
	EventMFAReset        = "mfa_reset" // by an administrator (postdesk user reset-mfa)
	EventSignOut         = "signout"
)

// SigninEvent is one row of the sign-in audit.
type SigninEvent struct {
	ID     int64
	At     time.Time
	UserID *int64
	Email  string
	Event  string
	Method string // password, link, oidc, totp, recovery
	IP     string
	Client string // the User-Agent
	Detail map[string]any
}

// maxClientLen bounds the User-Agent kept: it is the client's to choose.
const maxClientLen = 200

// RecordSignin adds an event to the sign-in audit.
func (db *DB) RecordSignin(ctx context.Context, e *SigninEvent) error {
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	client := e.Client
	if len(client) > maxClientLen {
		client = client[:maxClientLen]
	}
	err := db.q.QueryRow(ctx, `INSERT INTO signin_audit (at, user_id, email, event, method, ip, client, detail)
		VALUES ($1, $2, lower($3), $4, $5, $6, $7, $8) RETURNING id`,
		e.At, e.UserID, e.Email, e.Event, e.Method, e.IP, client, e.Detail).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("record %s: %w", e.Event, err)
	}
	return nil
}

// SigninFilter selects sign-in audit rows, newest first.
type SigninFilter struct {
	Email  string // exact address, "" for all
	Before int64  // only rows with a smaller id (paging), 0 for the newest
	Limit  int    // default and at most 500
}

// SigninEvents lists the sign-in audit, newest first.
func (db *DB) SigninEvents(ctx context.Context, f SigninFilter) ([]SigninEvent, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 500
	}
	rows, err := db.q.Query(ctx, `SELECT id, at, user_id, email, event, method, ip, client, detail FROM signin_audit
		WHERE ($1 = '' OR email = lower($1)) AND ($2 = 0 OR id < $2)
		ORDER BY id DESC LIMIT $3`, f.Email, f.Before, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("signin audit: %w", err)
	}
	es, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SigninEvent, error) {
		var e SigninEvent
		err := row.Scan(&e.ID, &e.At, &e.UserID, &e.Email, &e.Event, &e.Method, &e.IP, &e.Client, &e.Detail)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("signin audit: %w", err)
	}
	return es, nil
}

// PurgeSigninAudit deletes the sign-in audit older than the retention at
// now and says how many rows went.
func (db *DB) PurgeSigninAudit(ctx context.Context, keep config.Retention, now time.Time) (int64, error) {
	tag, err := db.q.Exec(ctx, `DELETE FROM signin_audit WHERE at < $1::timestamptz - $2::interval`, now, Interval(keep))
	if err != nil {
		return 0, fmt.Errorf("purge signin audit: %w", err)
	}
	return tag.RowsAffected(), nil
}

// CountSigninEvents counts the events of a kind from a client address
// since a time (to bound the link requests of one client).
func (db *DB) CountSigninEvents(ctx context.Context, event, ip string, since time.Time) (int, error) {
	var n int
	if err := db.q.QueryRow(ctx, `SELECT count(*) FROM signin_audit WHERE event = $1 AND ip = $2 AND at > $3`,
		event, ip, since).Scan(&n); err != nil {
		return 0, fmt.Errorf("count signin events: %w", err)
	}
	return n, nil
}
