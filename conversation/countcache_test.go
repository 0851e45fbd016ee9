package conversation_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"postdesk/conversation"
)

// The panel's numbers are kept between changes (countCache): a change made
// behind the Service's back, as another instance makes it, shows once its
// notification is heard; the Service's own writes, a viewer's read
// position and a new membership show at once; and nothing is kept longer
// than countsFresh or while no listener has announced itself.
func TestPanelCountsKeptBetweenChanges(t *testing.T) {
	f := setup(t)
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	conversation.SetCountsClock(f.svc, func() time.Time { return now })
	c := f.open("cara.customer@acme.example", "payroll", "Salary")
	aino := f.actor("aino.handler@example.com")
	open := func(a *conversation.Actor) (total, unread int) {
		t.Helper()
		n, err := f.svc.Counts(f.ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return n.Open.Total, n.Open.Unread
	}
	behindItsBack := func(status string) {
		t.Helper()
		if _, err := f.st.Pool().Exec(f.ctx, `UPDATE conversations SET status = $2 WHERE id = $1`, c.ID, status); err != nil {
			t.Fatal(err)
		}
	}
	want := func(what string, a *conversation.Actor, total int) {
		t.Helper()
		if got, _ := open(a); got != total {
			t.Fatalf("%s: %d open, want %d", what, got, total)
		}
	}

	// No listener: every page counts afresh.
	want("no listener", aino, 1)
	behindItsBack("solved")
	want("no listener, solved elsewhere", aino, 0)
	behindItsBack("new")

	f.svc.Changed("") // a listener listens
	// Staff, the customer and their company's manager (whose facts hold
	// a company), each kept, each fetched again as a page does.
	viewers := []string{"aino.handler@example.com", "cara.customer@acme.example", "mika.manager@acme.example"}
	for _, v := range viewers {
		want("listening: "+v, f.actor(v), 1)
	}
	behindItsBack("solved")
	for _, v := range viewers {
		want("solved elsewhere, not yet heard: "+v, f.actor(v), 1)
	}
	f.svc.Changed(strconv.FormatInt(c.ID, 10))
	for _, v := range viewers {
		want("solved elsewhere and heard: "+v, f.actor(v), 0)
	}

	// The Service's own write shows on the next page, before its
	// notification comes back.
	if err := f.svc.Reopen(f.ctx, aino, c.ID); err != nil {
		t.Fatal(err)
	}
	want("reopened here", aino, 1)

	// Reading it: their unread only, at once.
	_, unread := open(aino)
	ben := f.actor("ben.payroll@example.com")
	_, benUnread := open(ben)
	if unread != 1 || benUnread != 1 {
		t.Fatalf("unread before reading: aino %d, ben %d; want 1 each", unread, benUnread)
	}
	if err := f.svc.MarkRead(f.ctx, aino, c.ID, 1<<40); err != nil {
		t.Fatal(err)
	}
	if _, unread = open(aino); unread != 0 {
		t.Fatalf("aino read it and still has %d unread", unread)
	}
	// Reading it again moves nothing: what is kept stays kept, so a
	// change not yet heard does not show.
	behindItsBack("solved")
	if err := f.svc.MarkRead(f.ctx, aino, c.ID, 1<<40); err != nil {
		t.Fatal(err)
	}
	want("read again, solved elsewhere, not yet heard", aino, 1)

	// A new membership is a new viewer: Aino, kept at 1, moves to hr-team.
	behindItsBack("new")
	moved := strings.Replace(testConfig, "{email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team]}",
		"{email: aino.handler@example.com, name: Aino Handler, roles: [hr-team]}", 1)
	if err := f.st.ApplyConfig(f.ctx, parse(t, moved)); err != nil {
		t.Fatal(err)
	}
	want("aino in hr-team", f.actor("aino.handler@example.com"), 0)

	// Nothing is kept longer than countsFresh: Ben's 1 ages out.
	behindItsBack("solved")
	want("ben, solved elsewhere, not yet heard", ben, 1)
	now = now.Add(time.Minute)
	want("ben, a minute later", ben, 0)
}

// Viewers who miss at once share one count: fifty pages of one staff member
// asking together read their numbers once, and every one of them gets them.
func TestPanelCountsSharedByViewersMissingAtOnce(t *testing.T) {
	f := setup(t)
	f.open("cara.customer@acme.example", "payroll", "Salary")
	f.svc.Changed("")
	aino := f.actor("aino.handler@example.com")
	const pages = 50
	var counts atomic.Int32
	var waiting sync.WaitGroup
	waiting.Add(pages)
	conversation.SetCountsHooks(f.svc, func() {
		counts.Add(1)
		waiting.Wait() // every page has joined before the count is handed out
	}, waiting.Done)
	var g errgroup.Group
	for range pages {
		g.Go(func() error {
			c, err := f.svc.Counts(f.ctx, aino)
			if err == nil && c.Open.Total != 1 {
				err = fmt.Errorf("%d open, want 1", c.Open.Total)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := counts.Load(); n != 1 {
		t.Fatalf("%d pages asking at once counted %d times, want once", pages, n)
	}
}

// A count read before the viewer's read position moved is not kept: the
// next page shows the conversation read, not the number counted before.
func TestPanelCountsReadBeforeReadingNotKept(t *testing.T) {
	f := setup(t)
	c := f.open("cara.customer@acme.example", "payroll", "Salary")
	f.svc.Changed("")
	aino := f.actor("aino.handler@example.com")
	read := make(chan error, 1)
	conversation.SetCountsHooks(f.svc, func() {
		// Between the count and keeping it, Aino reads the conversation
		// (another tab of hers).
		read <- f.svc.MarkRead(f.ctx, aino, c.ID, 1<<40)
	}, nil)
	before, err := f.svc.Counts(f.ctx, aino)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	conversation.SetCountsHooks(f.svc, nil, nil)
	if before.Open.Unread != 1 {
		t.Fatalf("counted before reading: %d unread, want 1", before.Open.Unread)
	}
	after, err := f.svc.Counts(f.ctx, aino)
	if err != nil {
		t.Fatal(err)
	}
	if after.Open.Unread != 0 {
		t.Fatalf("after reading: %d unread, want 0 (the count read before was kept)", after.Open.Unread)
	}
}
