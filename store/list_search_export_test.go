package store

import (
	"context"
	"time"
)

// SetRareHitsForTest sets how many hits make a search path frequent (walked)
// rather than rare (read from its index), until the returned func restores
// it; for tests that run serially.
func SetRareHitsForTest(n int) (restore func()) {
	old := rareHits
	rareHits = n
	return func() { rareHits = old }
}

// SetHintsClockForTest sets the clock the search hints age by.
func (s *Store) SetHintsClockForTest(now func() time.Time) { s.hints.now = now }

// CountHitsForTest is countHits of one count.
func (db *DB) CountHitsForTest(ctx context.Context, sql string, args ...any) (n int, err error) {
	err = db.countHits(ctx, sql, args, []*int{&n})
	return n, err
}
