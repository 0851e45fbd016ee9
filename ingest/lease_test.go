package ingest

import (
	"context"
	"testing"
	"time"

	"postdesk/conversation"
	"postdesk/store"
	"postdesk/store/storetest"
)

// Two instances (each its own pool and Desk, as two `postdesk serve`) on
// one database with four mailboxes: the leases spread two and two, and an
// instance that ran alone gives back what is over its share once the other
// joins.
func TestDeskLeasesSpreadAcrossInstances(t *testing.T) {
	t.Parallel()
	st, _ := storetest.Org(t, deskConfig)
	mailboxes := []string{"mb-0", "mb-1", "mb-2", "mb-3"}
	newDesk := func() *Desk {
		s, err := store.Open(context.Background(), st.Pool().Config().ConnString())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		cats := map[string]string{}
		for _, m := range mailboxes {
			cats[m] = "payroll"
		}
		d := NewDesk(s, conversation.New(s, nil), cats)
		d.retry = 20 * time.Millisecond
		return d
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The first instance, alone, takes all four.
	a := newDesk()
	var held []Lease
	for _, m := range mailboxes {
		l, err := a.Acquire(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
	}
	// The second joins: its workers wait for leases, and the first gives
	// back the two newest (its workers release them on Lost).
	b := newDesk()
	got := make(chan string, len(mailboxes))
	for _, m := range mailboxes {
		go func() {
			l, err := b.Acquire(ctx, m)
			if err != nil {
				return // the test ended
			}
			t.Cleanup(l.Release)
			got <- m
		}()
	}
	for _, l := range []Lease{held[3], held[2]} {
		select {
		case <-l.Lost():
			l.Release()
		case <-time.After(10 * time.Second):
			t.Fatal("the first instance never gave back a lease over its share")
		}
	}
	for range 2 {
		select {
		case m := <-got:
			if m != mailboxes[2] && m != mailboxes[3] {
				t.Fatalf("the second instance took %s, held by the first", m)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the second instance did not get its share")
		}
	}
	for i, l := range held[:2] {
		select {
		case <-l.Lost():
			t.Fatalf("lease %d of the first instance given back, want only the two over its share", i)
		default:
		}
	}
	for name, d := range map[string]*Desk{"first": a, "second": b} {
		d.mu.Lock()
		n := len(d.held)
		d.mu.Unlock()
		if n != 2 {
			t.Errorf("the %s instance holds %d leases, want 2", name, n)
		}
	}
}
