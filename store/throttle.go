package store

import (
	"context"
	"fmt"
	"time"
)

// Throttle is the sign-in throttling policy (see web's package doc).
type Throttle struct {
	Free         int           // failures per (account, client) before any delay
	BaseDelay    time.Duration // the delay after the first failure past Free; it doubles with each further one
	MaxDelay     time.Duration // the longest delay
	Forget       time.Duration // a pair with no failure for this long starts again from zero
	Budget       int           // failures per client, over all accounts, within BudgetWindow
	BudgetWindow time.Duration
}

// SigninWait returns how long a sign-in for account from client must wait
// at now, or 0: the later of the pair's delay and the client's spent
// budget.
func (db *DB) SigninWait(ctx context.Context, p Throttle, account, client string, now time.Time) (time.Duration, error) {
	var until *time.Time
	err := db.q.QueryRow(ctx, `SELECT greatest(
			(SELECT blocked_until FROM signin_throttle WHERE account = $1 AND client = $2),
			(SELECT window_start + $4::interval FROM signin_budget WHERE client = $2 AND failures >= $3))`,
		account, client, p.Budget, p.BudgetWindow).Scan(&until)
	if err != nil {
		return 0, fmt.Errorf("signin wait: %w", err)
	}
	if until == nil || !until.After(now) {
		return 0, nil
	}
	return until.Sub(now), nil
}

// SigninFailed counts a failed sign-in for the pair and against the
// client's budget, and returns the pair's failures. Each statement is one
// atomic upsert, so instances failing the same pair at once count both.
func (db *DB) SigninFailed(ctx context.Context, p Throttle, account, client string, now time.Time) (int, error) {
	var n int
	err := db.q.QueryRow(ctx, `INSERT INTO signin_throttle AS t (account, client, failures, last_at, blocked_until)
		VALUES ($1, $2, 1, $3, $3)
		ON CONFLICT (account, client) DO UPDATE SET
			failures = CASE WHEN t.last_at < $3 - $4::interval THEN 1 ELSE t.failures + 1 END,
			last_at = $3
		RETURNING failures`, account, client, now, p.Forget).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("signin failed: %w", err)
	}
	if d := p.delay(n); d > 0 {
		if _, err := db.q.Exec(ctx, `UPDATE signin_throttle SET blocked_until = greatest(blocked_until, $3)
			WHERE account = $1 AND client = $2`, account, client, now.Add(d)); err != nil {
			return 0, fmt.Errorf("signin failed: %w", err)
		}
	}
	if _, err := db.q.Exec(ctx, `INSERT INTO signin_budget AS b (client, window_start, failures) VALUES ($1, $2, 1)
		ON CONFLICT (client) DO UPDATE SET
			window_start = CASE WHEN b.window_start <= $2 - $3::interval THEN $2 ELSE b.window_start END,
			failures = CASE WHEN b.window_start <= $2 - $3::interval THEN 1 ELSE b.failures + 1 END`,
		client, now, p.BudgetWindow); err != nil {
		return 0, fmt.Errorf("signin budget: %w", err)
	}
	return n, nil
}

// delay is the wait after a pair's nth failure.
func (p Throttle) delay(n int) time.Duration {
	if n <= p.Free {
		return 0
	}
	d := p.BaseDelay
	for i := p.Free + 1; i < n; i++ {
		d *= 2
		if d >= p.MaxDelay {
			return p.MaxDelay
		}
	}
	return min(d, p.MaxDelay)
}

// SigninSucceeded forgets the pair's failures (the client's budget stays
// spent: a success does not buy more guesses at other accounts).
func (db *DB) SigninSucceeded(ctx context.Context, account, client string) error {
	if _, err := db.q.Exec(ctx, `DELETE FROM signin_throttle WHERE account = $1 AND client = $2`, account, client); err != nil {
		return fmt.Errorf("signin succeeded: %w", err)
	}
	return nil
}

// SweepThrottle deletes the counters that no longer slow anyone at now.
func (db *DB) SweepThrottle(ctx context.Context, p Throttle, now time.Time) error {
	if _, err := db.q.Exec(ctx, `DELETE FROM signin_throttle WHERE last_at < $1 AND blocked_until < $2`,
		now.Add(-p.Forget), now); err != nil {
		return fmt.Errorf("sweep throttle: %w", err)
	}
	if _, err := db.q.Exec(ctx, `DELETE FROM signin_budget WHERE window_start < $1`, now.Add(-p.BudgetWindow)); err != nil {
		return fmt.Errorf("sweep throttle: %w", err)
	}
	return nil
}
