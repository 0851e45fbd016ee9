package conversation

import (
	"context"
	"time"

	"postdesk/store"
)

// The control panel's views (Filter.View). Open is all work not done;
// Waiting for customer is the status waiting, which a reply to the
// customer sets; Solved is the archive, and in no other view.
const (
	ViewOpen       = "open"
	ViewMine       = "mine"       // open, and the actor is the Handler
	ViewUnassigned = "unassigned" // open, without a Handler
	ViewWaiting    = "waiting"
	ViewSolved     = "solved"
	ViewRole       = "role" // role:KEY, open conversations that role receives
)

// Counts are the panel's numbers for the actor: every view, and the open
// conversations of each receiver role, each with its unread, counted over
// what the rule lets the actor see, in one statement; kept between
// changes (countCache).
func (s *Service) Counts(ctx context.Context, a *Actor) (*store.Counts, error) {
	k := actorKey(a)
	c, t := s.counts.get(k)
	if c != nil {
		return c, nil
	}
	if !t.keep {
		return s.countViews(ctx, a)
	}
	ch := s.counts.flights.DoChan(t.flight(k), func() (any, error) {
		// The count is every waiter's: it does not end with the request
		// that happened to start it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), countsTimeout)
		defer cancel()
		c, err := s.countViews(fctx, a)
		if err != nil {
			return nil, err
		}
		if s.counts.counted != nil {
			s.counts.counted()
		}
		s.counts.put(k, t, c)
		return c, nil
	})
	if s.counts.waiting != nil {
		s.counts.waiting()
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return cloneCounts(r.Val.(*store.Counts)), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// countsTimeout bounds a shared count, which no single request's end
// stops.
const countsTimeout = 30 * time.Second

func (s *Service) countViews(ctx context.Context, a *Actor) (c *store.Counts, err error) {
	err = s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, err = tx.CountViews(ctx, rule, a.User.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// MarkRead records that the actor was shown a conversation up to the
// message messageID (the newest on the page they got). It is one statement
// outside the read that showed it, so no transaction waits on it.
func (s *Service) MarkRead(ctx context.Context, a *Actor, convID, messageID int64) error {
	var moved bool
	err := s.st.Write(ctx, func(ctx context.Context, tx *store.Tx) (err error) {
		moved, err = tx.MarkRead(ctx, rule, a.User.ID, convID, messageID)
		return err
	})
	if err != nil || moved {
		// Their unread changed (or may have: the commit failed): their
		// numbers only.
		s.counts.forget(a.User.ID)
	}
	return err
}

// Seers are those of users who may see the conversation now, by the rule.
func (s *Service) Seers(ctx context.Context, convID int64, users []int64) (ids []int64, err error) {
	err = s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		ids, err = tx.Seers(ctx, rule, convID, users)
		return err
	})
	return ids, err
}

// ExplainCounts is the query plan of Counts, run (EXPLAIN ANALYZE), as
// ExplainList is of List.
func (s *Service) ExplainCounts(ctx context.Context, a *Actor) (plan string, err error) {
	err = s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		plan, err = tx.ExplainCounts(ctx, rule, a.User.ID)
		return err
	})
	return plan, err
}
