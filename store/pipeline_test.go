package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"postdesk/store"
	"postdesk/store/storetest"
)

// Write-behind (Tx.WriteBehind): queued writes run in order before every
// later statement of the transaction, whichever way it is sent, and a
// write that fails fails the transaction, at the next read or at the
// commit, under its own name, with nothing of the transaction kept.
func TestWriteBehind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	count := func(st *store.Store, actor string) int {
		t.Helper()
		var n int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM audit WHERE actor = $1`, actor).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	audit := func(tx *store.Tx, actor string, n int) {
		t.Helper()
		for range n {
			if err := tx.Audit(ctx, nil, actor, "pipeline", nil, map[string]any{"n": n}); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("reads see the queued writes", func(t *testing.T) {
		err := st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
			tx.WriteBehind()
			audit(tx, "reader", 3)
			var n int
			if err := tx.QueryRowForTest(ctx, `SELECT count(*) FROM audit WHERE actor = 'reader'`).Scan(&n); err != nil || n != 3 {
				t.Fatalf("a QueryRow after 3 queued writes counts %d (%v)", n, err)
			}
			audit(tx, "reader", 2)
			// Rows read halfway and closed end the pipeline too.
			rows, err := tx.QueryForTest(ctx, `SELECT id FROM audit WHERE actor = 'reader' ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for rows.Next() {
				if seen++; seen == 2 {
					break
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			audit(tx, "reader", 1)
			if tag, err := tx.ExecForTest(ctx, `UPDATE audit SET detail = '{}' WHERE actor = 'reader'`); err != nil || tag.RowsAffected() != 6 {
				t.Fatalf("an Exec after the writes updated %d rows (%v)", tag.RowsAffected(), err)
			}
			audit(tx, "reader", 1)
			// A statement naming its own execution mode is sent alone, after the queue.
			if err := tx.QueryRowForTest(ctx, `SELECT count(*) FROM audit WHERE actor = 'reader'`, pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil || n != 7 {
				t.Fatalf("a simple-protocol read counts %d (%v)", n, err)
			}
			audit(tx, "reader", 2) // left for the commit
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(st, "reader"); n != 9 {
			t.Fatalf("%d rows committed, want 9", n)
		}
	})

	fkViolation := func(t *testing.T, err error) {
		t.Helper()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23503" || !strings.Contains(err.Error(), "add participant") {
			t.Fatalf("err = %v, want the participant's foreign key violation, named", err)
		}
	}
	t.Run("a failed write fails the next read", func(t *testing.T) {
		err := st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
			tx.WriteBehind()
			audit(tx, "failed-read", 2)
			if err := tx.AddParticipant(ctx, 1<<40, "nobody@example.com", nil); err != nil {
				t.Fatalf("a queued write failed at once: %v", err)
			}
			audit(tx, "failed-read", 1)
			var n int
			err := tx.QueryRowForTest(ctx, `SELECT count(*) FROM audit`).Scan(&n)
			fkViolation(t, err)
			return err
		})
		fkViolation(t, err)
		if n := count(st, "failed-read"); n != 0 {
			t.Fatalf("%d rows of a failed transaction committed", n)
		}
	})
	t.Run("a failed write fails the commit", func(t *testing.T) {
		err := st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
			tx.WriteBehind()
			audit(tx, "failed-commit", 2)
			return tx.AddParticipant(ctx, 1<<40, "nobody@example.com", nil)
		})
		fkViolation(t, err)
		if n := count(st, "failed-commit"); n != 0 {
			t.Fatalf("%d rows of a failed transaction committed", n)
		}
	})
	t.Run("without write-behind a write fails at once", func(t *testing.T) {
		err := st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
			err := tx.AddParticipant(ctx, 1<<40, "nobody@example.com", nil)
			fkViolation(t, err)
			return err
		})
		fkViolation(t, err)
	})
}
