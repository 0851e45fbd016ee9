package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"postdesk/store"
	"postdesk/store/storetest"
)

// Inside a transaction, the Store's pool and a second transaction of the same
// Store are refused at once, so no code can hold one connection and wait for
// another; a transaction of another Store, and the pool after the
// transaction, still work.
func TestNestedPoolUseRefused(t *testing.T) {
	t.Parallel()
	st, other := storetest.New(t), storetest.New(t)
	ctx := context.Background()
	err := st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		if _, err := st.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, store.ErrNestedTx) {
			t.Errorf("pool query inside a transaction: %v, want ErrNestedTx", err)
		}
		if _, err := st.Categories(ctx); !errors.Is(err, store.ErrNestedTx) {
			t.Errorf("pool list inside a transaction: %v, want ErrNestedTx", err)
		}
		for name, run := range map[string]func(context.Context, func(context.Context, *store.Tx) error) error{
			"Write": st.Write, "Read": st.Read, "ReadSnapshot": st.ReadSnapshot,
			"InTx": func(ctx context.Context, fn func(context.Context, *store.Tx) error) error {
				return st.InTx(ctx, func(tx *store.Tx) error { return fn(ctx, tx) })
			},
		} {
			ran := false
			err := run(ctx, func(context.Context, *store.Tx) error { ran = true; return nil })
			if !errors.Is(err, store.ErrNestedTx) || ran {
				t.Errorf("%s inside a transaction: ran %v, %v; want ErrNestedTx", name, ran, err)
			}
		}
		if err := other.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
			_, err := tx.Categories(ctx)
			return err
		}); err != nil {
			t.Errorf("a transaction of another store: %v", err)
		}
		_, err := tx.EnsureUser(ctx, "cara.customer@acme.example", "Cara Customer")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.UserByEmail(ctx, "cara.customer@acme.example"); err != nil {
		t.Fatalf("after the transaction: %v", err)
	}
}

// Read is read-only: a write in it fails and leaves nothing.
func TestReadRefusesWrites(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := context.Background()
	err := st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.EnsureUser(ctx, "cara.customer@acme.example", "Cara Customer")
		return err
	})
	if err == nil {
		t.Fatal("a write inside Read succeeded")
	}
	if _, err := st.UserByEmail(ctx, "cara.customer@acme.example"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the refused write: %v, want ErrNotFound", err)
	}
}

// ReadSnapshot's statements all see the snapshot of its first: a row
// another client commits meanwhile is not there for the second, as it is
// for a second statement of Read.
func TestReadSnapshotIsOneSnapshot(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := context.Background()
	other, err := pgx.Connect(ctx, st.Pool().Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	n := 0
	for name, read := range map[string]func(context.Context, func(context.Context, *store.Tx) error) error{
		"ReadSnapshot": st.ReadSnapshot, "Read": st.Read,
	} {
		var before, after int
		err := read(ctx, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.QueryRowForTest(ctx, `SELECT count(*) FROM users`).Scan(&before); err != nil {
				return err
			}
			n++
			if _, err := other.Exec(ctx, `INSERT INTO users (email, name) VALUES ($1, 'Meanwhile')`, fmt.Sprintf("meanwhile%d@example.com", n)); err != nil {
				return err
			}
			return tx.QueryRowForTest(ctx, `SELECT count(*) FROM users`).Scan(&after)
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := map[bool]int{true: before, false: before + 1}[name == "ReadSnapshot"]; after != want {
			t.Errorf("%s: %d users, then %d after another client added one; want %d", name, before, after, want)
		}
	}
}
