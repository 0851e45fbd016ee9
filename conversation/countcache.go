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

	"golang.org/x/sync/singleflight"

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
//
// Viewers who miss at once share one count (flights): the pages a change
// sends every open tab to fetch, or a staff member's fifty requests after
// one, each counting thousands of open rows, are one statement's work. A
// count joins only a flight begun under the same generation and the same
// epoch of the viewer (moved by their read position), so what it is
// answered with was read after everything it must show.
type countCache struct {
	mu        sync.Mutex
	listening bool
	gen       uint64               // moves with every change, which also empties entries
	entries   map[int64]countEntry // by user
	flights   singleflight.Group
	now       func() time.Time
	// Tests' hooks: counted is called in a flight between its count and
	// keeping it, waiting after a miss has its flight.
	counted, waiting func()
}

type countKey struct {
	user  int64
	facts string // the actor's roles and company: what the rule's facts are read from
}

type countEntry struct {
	facts string // countKey.facts when counted: other facts are another viewer
	at    time.Time
	c     store.Counts
	// epoch moves when the viewer's numbers are dropped (forget), so that a
	// count read before cannot be kept after; stale marks an entry that
	// holds only its epoch.
	epoch uint64
	stale bool
}

// countTicket is what a miss was read under: numbers counted under it may
// be kept, and shared, only while both are unchanged.
type countTicket struct {
	gen, epoch uint64
	keep       bool // a listener listens: the numbers are kept and shared
}

// flight names the shared count of k under t.
func (t countTicket) flight(k countKey) string {
	return fmt.Sprintf("%d/%d/%d/%s", k.user, t.gen, t.epoch, k.facts)
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

// get returns the kept numbers of k, or the ticket to count fresh ones under.
func (cc *countCache) get(k countKey) (*store.Counts, countTicket) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.entries[k.user]
	t := countTicket{gen: cc.gen, epoch: e.epoch, keep: cc.listening}
	if !cc.listening || !ok || e.stale || e.facts != k.facts || cc.now().Sub(e.at) >= countsFresh {
		return nil, t
	}
	return cloneCounts(&e.c), t
}

// put keeps c for k if nothing changed since t was read, before c was.
func (cc *countCache) put(k countKey, t countTicket, c *store.Counts) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if !cc.listening || t.gen != cc.gen || cc.entries[k.user].epoch != t.epoch {
		return
	}
	cc.room()
	cc.entries[k.user] = countEntry{facts: k.facts, at: cc.now(), c: *cloneCounts(c), epoch: t.epoch}
}

// room starts over when countsKept viewers are kept. Starting over is a
// new generation: the epochs it forgets can no longer vouch for a count
// in flight.
func (cc *countCache) room() {
	switch {
	case cc.entries == nil: // emptied by a change, which moved the generation
		cc.entries = map[int64]countEntry{}
	case len(cc.entries) >= countsKept:
		cc.entries = map[int64]countEntry{}
		cc.gen++
	}
}

func cloneCounts(c *store.Counts) *store.Counts {
	out := *c
	out.Roles = maps.Clone(c.Roles)
	return &out
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
	e, ok := cc.entries[user]
	if !ok {
		cc.room()
	}
	cc.entries[user] = countEntry{epoch: e.epoch + 1, stale: true}
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
