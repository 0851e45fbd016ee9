package store

import (
	"context"
	"fmt"
)

// Stats is the state the metrics report.
type Stats struct {
	Outbox        map[string]int // by status
	Conversations map[string]int // by status
	Mailboxes     []MailboxState
}

// Stats counts outbox rows and conversations by status, and reads every
// mailbox's health.
func (s *Store) Stats(ctx context.Context) (*Stats, error) {
	st := &Stats{Outbox: map[string]int{"pending": 0, "sent": 0, "failed": 0},
		Conversations: map[string]int{StatusNew: 0, StatusOpen: 0, StatusWaiting: 0, StatusSolved: 0}}
	for _, q := range []struct {
		sql  string
		into map[string]int
	}{
		{`SELECT status, count(*) FROM outbox GROUP BY status`, st.Outbox},
		{`SELECT status, count(*) FROM conversations GROUP BY status`, st.Conversations},
	} {
		rows, err := s.q.Query(ctx, q.sql)
		if err != nil {
			return nil, fmt.Errorf("stats: %w", err)
		}
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("stats: %w", err)
			}
			q.into[k] = n
		}
		rows.Close()
	}
	ms, err := s.Mailboxes(ctx)
	if err != nil {
		return nil, err
	}
	st.Mailboxes = ms
	return st, nil
}
