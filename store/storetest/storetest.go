// Package storetest gives each test a PostgreSQL database of its own, so tests
// run in parallel against the real server and never see each other's rows.
//
// The server is POSTDESK_TEST_DATABASE_URL (default: postgres as postgres on
// 127.0.0.1:5432, which `make test` starts when nothing answers there). A
// migrated template database, named for the migrations it holds, is made once
// and copied for each test, which is far quicker than migrating every time.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"postdesk/store"
)

// DefaultURL is the server tests use when POSTDESK_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL is the admin connection to the test server.
func ServerURL() string {
	if u := os.Getenv("POSTDESK_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// New returns a store on a fresh, migrated database, dropped when the test ends.
func New(t testing.TB) *store.Store {
	t.Helper()
	url := create(t, template(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

// EmptyURL returns the URL of a fresh database with no tables at all.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return create(t, "template0")
}

func admin(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Fatalf("storetest: no PostgreSQL at %s (run `make test`, which starts one, or set POSTDESK_TEST_DATABASE_URL): %v", ServerURL(), err)
	}
	return conn
}

// create copies a template into a new database and drops it at cleanup.
func create(t testing.TB, tmpl string) string {
	t.Helper()
	conn := admin(t)
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	rand.Read(b) //nolint:errcheck
	name := "postdesk_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	// CREATE DATABASE cannot take parameters; the names here are ours alone.
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`,
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{tmpl}.Sanitize())); err != nil {
		t.Fatalf("storetest: create database: %v", err)
	}
	t.Cleanup(func() {
		c := admin(t)
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, pgx.Identifier{name}.Sanitize())); err != nil {
			t.Errorf("storetest: drop database: %v", err)
		}
	})
	return withDatabase(ServerURL(), name)
}

// template makes (once per migration set, across processes) a migrated database
// to copy from.
func template(t testing.TB) string {
	t.Helper()
	h := sha256.New()
	fs.WalkDir(store.Migrations(), ".", func(p string, d fs.DirEntry, err error) error { //nolint:errcheck
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(store.Migrations(), p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	name := "postdesk_template_" + hex.EncodeToString(h.Sum(nil))[:12]

	conn := admin(t)
	defer conn.Close(context.Background())
	ctx := context.Background()
	// Test binaries of several packages run at once: one makes the template.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7411)`); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	defer conn.Exec(ctx, `SELECT pg_advisory_unlock(7411)`) //nolint:errcheck
	var ready bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, name).Scan(&ready); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	if ready {
		return name
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s`, pgx.Identifier{name}.Sanitize())); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE template0`, pgx.Identifier{name}.Sanitize())); err != nil {
		t.Fatalf("storetest: create template: %v", err)
	}
	st, err := store.Open(ctx, withDatabase(ServerURL(), name))
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	_, err = st.Migrate(ctx)
	st.Close()
	if err != nil {
		t.Fatalf("storetest: migrate template: %v", err)
	}
	if _, err := conn.Exec(ctx, `UPDATE pg_database SET datistemplate = true WHERE datname = $1`, name); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return name
}
