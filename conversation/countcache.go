package conversation

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"postdesk/config"
	"postdesk/store"
)

// countsFresh bounds how long the panel's numbers are reused without a
// change heard: the changes no notification announces (the purge's
// deletes, a customer moved to another company) show within it.
const countsFresh = 15 * time.Second

// countsKept caps the viewers whose numbers are kept; past it the cache
// starts over (a few hundred bytes each).
const countsKept = 10000

// countCache keeps each viewer's panel numbers until something they count
// may have changed. Every page carries the panel, and at a million
// conversations a staff member's numbers read thousands of open rows (17 ms
// of a 24 ms inbox page, `make bench`), while most pages follow no change
// at all.
//
// What counts as a change: any conversation written or any message added,
// by any instance (Changed, called by the listener of PostgreSQL's
// postdesk_conv notifications, which every such write sends at commit), and
// this Service's own writes, marked as their transaction returns, so that
// the page after an action shows its effect before the notification comes
// back. A change
// drops every viewer's numbers: which viewers a change concerns is the
// visibility rule's question, and asking it per change would cost what the
// cache saves. A viewer's own read position drops only theirs. A viewer is
// kept by the facts the rule reads of them (their roles and company), so a
// changed membership is a new key, not stale numbers. Without a listener
// (none has announced itself with Changed("")) nothing is kept.
type countCache struct {
	mu        sync.Mutex
	listening bool
	gen       uint64               // moves with every change, which also empties entries
	entries   map[int64]countEntry // by user
	now       func() time.Time
}

type countKey struct {
	user  int64
	facts string // the actor's roles and company: what the rule's facts are read from
}

type countEntry struct {
	facts string // countKey.facts when counted: other facts are another viewer
	at    time.Time
	c     store.Counts
}

func actorKey(a *Actor) countKey {
	var b strings.Builder
	if a.User.CompanyID != nil {
		fmt.Fprintf(&b, "c%d", *a.User.CompanyID)
	}
	roles := slices.Clone(a.Roles)
	slices.SortFunc(roles, func(x, y store.Role) int { return cmp.Compare(x.ID, y.ID) })
	for _, r := range roles {
		fmt.Fprintf(&b, " r%d:%t:%t", r.ID, r.Staff, slices.Contains(r.Permissions, config.MayManage))
	}
	return countKey{user: a.User.ID, facts: b.String()}
}

// get returns the kept numbers of k, or the generation to keep fresh ones under.
func (cc *countCache) get(k countKey) (*store.Counts, uint64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.entries[k.user]
	if !cc.listening || !ok || e.facts != k.facts || cc.now().Sub(e.at) >= countsFresh {
		return nil, cc.gen
	}
	c := e.c
	c.Roles = maps.Clone(e.c.Roles)
	return &c, cc.gen
}

// put keeps c for k if nothing changed since gen was read, before c was.
func (cc *countCache) put(k countKey, gen uint64, c *store.Counts) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if !cc.listening || gen != cc.gen {
		return
	}
	if cc.entries == nil || len(cc.entries) >= countsKept {
		cc.entries = map[int64]countEntry{}
	}
	e := countEntry{facts: k.facts, at: cc.now(), c: *c}
	e.c.Roles = maps.Clone(c.Roles)
	cc.entries[k.user] = e
}

func (cc *countCache) changed(listener bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen++
	cc.entries = nil
	if listener {
		cc.listening = true
	}
}

func (cc *countCache) forget(user int64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	delete(cc.entries, user)
}

// Changed tells the Service that a conversation changed somewhere (payload:
// its id, as postdesk_conv announces it; "" for anything, as a listener
// says when it (re)connects and may have missed some). The listener of the
// notifications calls it for each (web.Live does), before anyone is told of
// the change; only once it has called it are the panel's numbers kept
// between changes.
func (s *Service) Changed(payload string) {
	s.counts.changed(payload == "")
}

// write is the Service's read-write transaction for what changes
// conversations: the change is marked once it returns, committed or not
// (a failed commit may still have committed), see countCache.
func (s *Service) write(ctx context.Context, fn func(ctx context.Context, tx *store.Tx) error) error {
	err := s.st.Write(ctx, fn)
	s.counts.changed(false)
	return err
}
