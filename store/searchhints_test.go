package store_test

import (
	"context"
	"testing"
	"time"

	"postdesk/store"
	"postdesk/store/storetest"
)

// A search's hit counts are kept for a while, for the same statement and
// arguments, by the Store and its transactions alike; other arguments are
// counted apart, and a kept count ages out.
func TestSearchHintsKeptForAWhile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	st.SetHintsClockForTest(func() time.Time { return now })
	if _, err := st.Pool().Exec(ctx, `CREATE TABLE hint_probe (x int)`); err != nil {
		t.Fatal(err)
	}
	const count = `SELECT count(*) FROM hint_probe WHERE x > $1`
	want := func(what string, db *store.DB, above, n int) {
		t.Helper()
		got, err := db.CountHitsForTest(ctx, count, above)
		if err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Fatalf("%s: %d, want %d", what, got, n)
		}
	}
	want("empty", &st.DB, 0, 0)
	if _, err := st.Pool().Exec(ctx, `INSERT INTO hint_probe SELECT generate_series(1, 3)`); err != nil {
		t.Fatal(err)
	}
	want("kept", &st.DB, 0, 0)
	if err := st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		want("kept, in a transaction", &tx.DB, 0, 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want("other arguments", &st.DB, 1, 2)
	now = now.Add(6 * time.Minute)
	want("aged out", &st.DB, 0, 3)
}
