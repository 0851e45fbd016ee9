package ingest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"postdesk/internal/benchscale"
	"postdesk/internal/dovecottest"
	"postdesk/store/storetest"
)

// BenchmarkScaleOut is figure 7 of `make bench`: four mailboxes of
// benchscale.N(1000, 50) benchmail mails each (4,000 in all: the two runs
// fit the figure's budget), handled by one instance (four workers and the
// outbox) and then, from the same mail in a fresh database and Dovecot, by
// two instances on one PostgreSQL, each with its own pool, Desk, leases and
// outbox sender as two `postdesk serve` have. A mailbox is served by one
// instance at a time (its lease), so two instances are faster only by
// spreading the mailboxes; Desk.Acquire makes them share.
//
// The time is until the work of the mail is done: every mail committed and
// flagged, and every notification and acknowledgement it queued sent. Timed
// only to the commit, the figure favoured one instance: its one sender left
// most of the outbox for after the clock stopped, while two senders sent
// their share meanwhile, on the same two processors (one instance 327
// mails/s, two 217; with the outbox stopped in both, 268 and 298). The time
// to the commit is reported beside it. Then duplicates counts messages
// stored twice and mails the SMTP sink received twice (the same Message-ID
// to the same recipient): it must be 0.
//
// Run: go test -run '^$' -bench ScaleOut -benchtime 1x ./ingest
func BenchmarkScaleOut(b *testing.B) {
	n := benchscale.N(1000, 50)
	for b.Loop() {
		one, stored1, dup1, busy1 := scaleOutRun(b, n, 1)
		two, stored2, dup2, busy2 := scaleOutRun(b, n, 2)
		b.ReportMetric(one, "one-mails/s")
		b.ReportMetric(two, "two-mails/s")
		b.ReportMetric(stored1, "one-stored-mails/s")
		b.ReportMetric(stored2, "two-stored-mails/s")
		// How busy the machine's processors were: a second instance can
		// only add what the first left idle.
		b.ReportMetric(busy1, "one-cpu-busy-%")
		b.ReportMetric(busy2, "two-cpu-busy-%")
		b.ReportMetric(two/one, "ratio")
		// The most a second instance could add on this machine: the share
		// of the processors one instance left idle.
		if busy1 > 0 {
			b.ReportMetric(100/busy1, "cpu-ceiling-ratio")
		}
		b.ReportMetric(float64(dup1+dup2), "duplicates")
		b.Logf("4 x %d mails, stored and their mail sent: one instance %.1f mails/s (processors %.0f %% busy), two instances %.1f mails/s (%.0f %%), ratio %.2f; stored only: %.1f and %.1f mails/s; duplicates %d",
			n, one, busy1, two, busy2, two/one, stored1, stored2, dup1+dup2)
	}
}

// scaleOutRun ingests four mailboxes of n mails with the given number of
// instances and returns the rate of mails stored and sent for, the rate of
// mails stored, the duplicates and how busy the machine's processors were
// meanwhile (percent).
func scaleOutRun(b *testing.B, n, instances int) (float64, float64, int, float64) {
	b.Helper()
	st, c := storetest.Org(b, deskConfig)
	var users []dovecottest.User
	for i := range 4 {
		users = append(users, dovecottest.User{Name: benchMailboxName(i), Password: "secret"})
	}
	dc := dovecottest.Start(b, users...)
	for i, u := range users {
		fillBench(b, dc, u.Name, n, uint64(100+i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	sink := newCountingSink(b)
	applied := make(chan uint32, 4*n)
	var ins []*benchInstance
	for range instances {
		in := newBenchInstance(b, st.Pool().Config().ConnString(), c.Secret)
		in.runOutbox(b, ctx, &wg, sink)
		if err := in.desk.join(ctx); err != nil {
			b.Fatal(err)
		}
		ins = append(ins, in)
	}
	// Each instance's share of the mail shows whether the leases spread.
	counts := make([]atomic.Int64, len(ins))
	t0 := time.Now()
	cpu0, err := benchscale.ReadCPU()
	if err != nil {
		b.Fatal(err)
	}
	for i, in := range ins {
		mine := make(chan uint32, 4*n)
		wg.Go(func() {
			for {
				select {
				case u := <-mine:
					counts[i].Add(1)
					applied <- u
				case <-ctx.Done():
					return
				}
			}
		})
		for _, u := range users {
			in.benchWorker(b, ctx, &wg, dc, u, u.Name, mine)
		}
	}
	awaitApplied(b, applied, 4*n, 30*time.Minute)
	storedIn := time.Since(t0)
	in := ins[0]
	// The outbox drains: then every row has been sent once.
	deadline := time.Now().Add(10 * time.Minute)
	for countRows(b, in, `SELECT count(*) FROM outbox WHERE status = 'pending' AND next_attempt_at <= now()`) > 0 {
		if time.Now().After(deadline) {
			b.Fatal("the outbox did not drain within 10 minutes")
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	took := time.Since(t0)
	cpu1, err := benchscale.ReadCPU()
	if err != nil {
		b.Fatal(err)
	}

	for _, u := range users {
		if x := unseen(b, dc, u.Name); x != 0 {
			b.Fatalf("%s: %d mails not flagged \\Seen", u.Name, x)
		}
	}
	if got := countRows(b, in, `SELECT count(*) FROM messages WHERE direction = 'in'`); got != 4*n {
		b.Fatalf("%d inbound messages stored, want %d", got, 4*n)
	}
	stored2 := countRows(b, in, `SELECT count(*) - count(DISTINCT (mailbox, uid_validity, uid)) FROM messages WHERE direction = 'in'`)
	sent2, total := sink.twice()
	var share []int64
	for i := range counts {
		share = append(share, counts[i].Load())
	}
	b.Logf("%d instance(s): mails per instance %v, stored in %v, sent for in %v; %d outbox mails sent, %d twice; %d messages stored twice",
		instances, share, storedIn.Round(time.Millisecond), took.Round(time.Millisecond), total, sent2, stored2)
	return float64(4*n) / took.Seconds(), float64(4*n) / storedIn.Seconds(), stored2 + sent2, cpu1.BusySince(cpu0)
}
