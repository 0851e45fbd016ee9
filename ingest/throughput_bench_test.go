package ingest

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"postdesk/internal/benchscale"
	"postdesk/internal/dovecottest"
	"postdesk/store/storetest"
)

// BenchmarkIngestThroughput is figure 1 of `make bench`: benchscale.N(10000,
// 200) benchmail mails (text with an HTML alternative, one in ten with a
// 100 KB PDF, replies, auto-replies, bounces) in one Dovecot mailbox, and
// the time until every one is committed by the worker and Desk `postdesk
// serve` runs and flagged \Seen (its After action done). The baseline, in
// the same run and on the same mailbox: mbsync (isync) pulling it into a
// local Maildir. mbsync runs twice before the worker, the first run
// untimed, so that both figures read a mailbox Dovecot has cached alike.
//
// Run: go test -run '^$' -bench IngestThroughput -benchtime 1x ./ingest
func BenchmarkIngestThroughput(b *testing.B) {
	n := benchscale.N(10000, 200)
	for b.Loop() {
		st, c := storetest.Org(b, deskConfig)
		dc := dovecottest.Start(b)
		user := dovecottest.DefaultUser
		fillBench(b, dc, user.Name, n, 1)
		mbsync(b, dc, user, b.TempDir()) // warms Dovecot's caches
		dir := b.TempDir()
		raw, rawCPU := mbsync(b, dc, user, dir)
		if got := maildirCount(b, dir); got != n {
			b.Fatalf("mbsync copied %d mails, want %d", got, n)
		}

		in := newBenchInstance(b, st.Pool().Config().ConnString(), c.Secret)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		applied := make(chan uint32, n)
		t0 := time.Now()
		cpu0, err := benchscale.ReadCPU()
		if err != nil {
			b.Fatal(err)
		}
		in.benchWorker(b, ctx, &wg, dc, user, benchMailboxName(0), applied)
		awaitApplied(b, applied, n, 30*time.Minute)
		took := time.Since(t0)
		cpu1, err := benchscale.ReadCPU()
		if err != nil {
			b.Fatal(err)
		}
		cancel()
		wg.Wait()

		if u := unseen(b, dc, user.Name); u != 0 {
			b.Fatalf("%d mails not flagged \\Seen", u)
		}
		if got := countRows(b, in, `SELECT count(*) FROM messages WHERE direction = 'in'`); got != n {
			b.Fatalf("%d inbound messages stored, want %d", got, n)
		}
		rate, base := float64(n)/took.Seconds(), float64(n)/raw.Seconds()
		b.ReportMetric(rate, "mails/s")
		b.ReportMetric(base, "mbsync-mails/s")
		b.ReportMetric(rate/base, "ratio")
		// How busy the machine's processors were while postdesk ingested
		// (Go, PostgreSQL and Dovecot together).
		b.ReportMetric(cpu1.BusySince(cpu0), "cpu-busy-%")
		// What a mail costs in processor time, whoever spends it, and so the
		// most mails a second this machine could take at that cost with
		// every core busy: the ratio's ceiling here, whatever the
		// concurrency.
		cost, rawCost := 1000*cpu1.CoreSecondsSince(cpu0)/float64(n), 1000*rawCPU/float64(n)
		b.ReportMetric(cost, "core-ms/mail")
		b.ReportMetric(rawCost, "mbsync-core-ms/mail")
		ceiling := 0.0
		if cost > 0 {
			ceiling = float64(runtime.NumCPU()) * 1000 / cost
		}
		b.ReportMetric(ceiling, "cpu-ceiling-mails/s")
		b.Logf("%d mails: postdesk %.1f mails/s (%v, processors %.0f %% busy, %.2f core-ms a mail: at most %.0f mails/s on %d cores), mbsync %.1f mails/s (%v, %.2f core-ms a mail), ratio %.2f",
			n, rate, took.Round(time.Millisecond), cpu1.BusySince(cpu0), cost, ceiling, runtime.NumCPU(), base, raw.Round(time.Millisecond), rawCost, rate/base)
	}
}

func countRows(b *testing.B, in *benchInstance, sql string) int {
	b.Helper()
	var n int
	if err := in.st.Pool().QueryRow(context.Background(), sql).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}
