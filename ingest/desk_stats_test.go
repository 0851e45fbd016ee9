package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"postdesk/conversation"
	"postdesk/store/storetest"
	"postdesk/threading"
)

// A Desk storing mail analyzes the tables that outgrew their statistics
// (store.AnalyzeGrown) after its commit, so that a database filling from
// empty is not read on plans made for empty tables until autovacuum looks:
// at its first commit, then every statsEvery or, sooner, every statsAfter
// mails stored.
func TestDeskAnalyzesGrownTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, c := storetest.Org(t, deskConfig)
	sg, err := threading.NewSigner([]byte(c.Secret))
	if err != nil {
		t.Fatal(err)
	}
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg})
	desk := NewDesk(st, svc, map[string]string{"payroll": "payroll"})
	desk.Logger = slog.New(slog.DiscardHandler)
	// The clock stands still: only the first commit and the count of
	// mails may ask.
	stopped := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	desk.now = func() time.Time { return stopped }

	// What the statistics say the audit table holds (pg_class, written by
	// ANALYZE in its transaction; pg_stat's counters come later).
	analyzed := func() float64 {
		t.Helper()
		var n float64
		if err := st.Pool().QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'audit'::regclass`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The audit trail grows by thousands of rows, as in a first import,
	// counted at once for the other sessions.
	w, err := pgx.Connect(ctx, st.Pool().Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	grow := func(rows int) {
		t.Helper()
		if _, err := w.Exec(ctx, `INSERT INTO audit (actor, action) SELECT 'import', 'x' FROM generate_series(1, $1)`, rows); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
			t.Fatal(err)
		}
	}
	grow(3000)
	if n := analyzed(); n > 0 {
		t.Fatalf("audit analyzed before any mail: %v rows", n)
	}
	uid := uint32(0)
	deliver := func(n int) {
		t.Helper()
		for range n {
			uid++
			raw := customerMail(fmt.Sprintf("stats-%d", uid))
			if err := desk.Deliver(ctx, "payroll", Fetched{UIDValidity: 1, UID: uid, Raw: raw, Size: int64(len(raw))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	deliver(1)
	if n := analyzed(); n < 3000 {
		t.Fatalf("after a delivery the grown audit table is said to hold %v rows, want 3000 or more", n)
	}
	// It more than doubles again: the next mails do not ask before statsAfter of
	// them are stored (the clock stands still), and then do.
	grow(6000)
	deliver(statsAfter - 1)
	if n := analyzed(); n >= 9000 {
		t.Fatalf("after %d more mails audit was analyzed again (%v rows)", statsAfter-1, n)
	}
	deliver(1)
	if n := analyzed(); n < 9000 {
		t.Fatalf("after %d more mails audit is said to hold %v rows, want 9000 or more", statsAfter, n)
	}
}
