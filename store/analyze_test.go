package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"postdesk/store"
	"postdesk/store/storetest"
)

// A table that fills from empty gets statistics as soon as it has at least
// doubled, and every session's cached plans made for the empty table are
// remade: the plan a long-lived connection prepared before the rows came
// is afterwards the plan a new connection makes. A table of steady size is
// left alone, and one process analyzes at a time.
func TestAnalyzeGrown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	url := st.Pool().Config().ConnString()
	conn := func() *pgx.Conn {
		t.Helper()
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	const lookup = `SELECT id FROM audit WHERE conversation_id = $1`
	plan := func(c *pgx.Conn) string {
		t.Helper()
		rows, err := c.Query(ctx, `EXPLAIN EXECUTE lookup(5)`)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	prepare := func(c *pgx.Conn) {
		t.Helper()
		// As the ingest transaction runs its statements (store.GenericPlans).
		if _, err := c.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, `PREPARE lookup(bigint) AS `+lookup); err != nil {
			t.Fatal(err)
		}
	}
	old := conn()
	prepare(old)
	plan(old) // the plan is made now, on the empty table

	// Rows written, and their counts made visible to other sessions now
	// rather than at the writer's next report (at most once a second).
	grow := func(n int) {
		t.Helper()
		w := conn()
		if _, err := w.Exec(ctx, `INSERT INTO audit (actor, action, conversation_id) SELECT 'test', 'x', g % 500 FROM generate_series(1, $1) g`, n); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
			t.Fatal(err)
		}
	}
	analyze := func() []string {
		t.Helper()
		names, err := st.AnalyzeGrown(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return names
	}

	if got := analyze(); len(got) != 0 {
		t.Fatalf("empty database: analyzed %v", got)
	}
	grow(3000)
	fresh := func() string {
		c := conn()
		prepare(c)
		return plan(c)
	}
	if plan(old) == fresh() {
		t.Fatalf("the plan made on the empty table is already that of a fresh session:\n%s", plan(old))
	}

	// Another process analyzing: this one leaves it to that one.
	other := conn()
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, store.LockKey("analyze grown")); err != nil {
		t.Fatal(err)
	}
	if got := analyze(); len(got) != 0 {
		t.Fatalf("analyzed %v while another process held the lock", got)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	if got := analyze(); !slices.Equal(got, []string{"audit"}) {
		t.Fatalf("after 3000 rows: analyzed %v, want [audit]", got)
	}
	if got, want := plan(old), fresh(); got != want {
		t.Fatalf("the long-lived session's plan was not remade:\n%s\nwant, as a fresh session's:\n%s", got, want)
	}
	if got := analyze(); len(got) != 0 {
		t.Fatalf("nothing changed since: analyzed %v", got)
	}
	grow(1500) // half again: autovacuum's business
	if got := analyze(); len(got) != 0 {
		t.Fatalf("after growing by half: analyzed %v", got)
	}
	grow(3000) // 4500 rows changed since the analysis of 3000: doubled
	if got := analyze(); !slices.Equal(got, []string{"audit"}) {
		t.Fatalf("after doubling again: analyzed %v, want [audit]", got)
	}
}
