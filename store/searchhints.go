package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Search hints: how many hits a search's words have (up to rareHits), which
// decides only how a list reads them (searchPath), never what it finds.
// Counting them is most of a search's cost (28 ms of a 40 ms customer's
// search at a million conversations: a frequent word's index entry is read
// in full before the count stops), and the answer for the same words
// changes slowly, so it is kept for hintsFresh. An answer grown stale only
// picks the slower way for a while.
const (
	hintsFresh = 5 * time.Minute
	hintsKept  = 4096 // searches; past it the cache starts over
)

type hintCache struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]hint
}

type hint struct {
	at time.Time
	n  []int
}

func newHintCache() *hintCache { return &hintCache{now: time.Now} }

// countHits scans the counts of sql (one row of len(dst) integers) into
// dst, from the cache when it answered the same statement with the same
// arguments within hintsFresh.
func (db *DB) countHits(ctx context.Context, sql string, args []any, dst []*int) error {
	h := db.hints
	key := sql + "\x00" + fmt.Sprintf("%#v", args)
	if h != nil {
		h.mu.Lock()
		e, ok := h.entries[key]
		h.mu.Unlock()
		if ok && h.now().Sub(e.at) < hintsFresh {
			for i := range dst {
				*dst[i] = e.n[i]
			}
			return nil
		}
	}
	scan := make([]any, len(dst))
	for i := range dst {
		scan[i] = dst[i]
	}
	if err := db.q.QueryRow(ctx, sql, args...).Scan(scan...); err != nil {
		return err
	}
	if h != nil {
		n := make([]int, len(dst))
		for i := range dst {
			n[i] = *dst[i]
		}
		h.mu.Lock()
		if h.entries == nil || len(h.entries) >= hintsKept {
			h.entries = map[string]hint{}
		}
		h.entries[key] = hint{at: h.now(), n: n}
		h.mu.Unlock()
	}
	return nil
}
