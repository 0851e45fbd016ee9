package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"postdesk/store"
	"postdesk/store/storetest"
)

func TestMigrateEmptyThenNoop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	if v, err := st.SchemaVersion(ctx); err != nil || v != 0 {
		t.Fatalf("empty database: version %d, %v; want 0", v, err)
	}
	applied, err := st.Migrate(ctx)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if len(applied) == 0 {
		t.Fatal("first migrate applied nothing")
	}
	if v, _ := st.SchemaVersion(ctx); v != store.LatestVersion() {
		t.Fatalf("version %d after migrate, want %d", v, store.LatestVersion())
	}
	var tables int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	again, err := st.Migrate(ctx)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(again) != 0 {
		t.Fatalf("second migrate applied %v, want nothing", again)
	}
	var tables2 int
	st.Pool().QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables2)
	if tables2 != tables {
		t.Fatalf("second migrate changed the table count from %d to %d", tables, tables2)
	}
	for _, table := range []string{"users", "roles", "role_members", "categories", "category_addresses", "category_roles",
		"companies", "persons", "conversations", "conversation_roles", "participants", "messages", "attachments", "blobs",
		"mailboxes", "outbox", "audit", "api_tokens", "sessions"} {
		var ok bool
		st.Pool().QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "public."+table).Scan(&ok)
		if !ok {
			t.Errorf("table %s missing after migrate", table)
		}
	}
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.EmptyURL(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			st, err := store.Open(ctx, url)
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			_, err = st.Migrate(ctx)
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
}

func TestCreateDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A name of our own on the test server, dropped at the end.
	url := storetest.EmptyURL(t)
	missing := strings.Replace(url, "postdesk_test_", "postdesk_new_", 1)
	t.Cleanup(func() {
		st, err := store.Open(ctx, url)
		if err == nil {
			st.Pool().Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{databaseOf(missing)}.Sanitize()+` WITH (FORCE)`)
			st.Close()
		}
	})
	created, err := store.CreateDatabase(ctx, missing)
	if err != nil || !created {
		t.Fatalf("first call: created %v, %v", created, err)
	}
	created, err = store.CreateDatabase(ctx, missing)
	if err != nil || created {
		t.Fatalf("second call: created %v, %v (want an existing database left alone)", created, err)
	}
	st, err := store.Open(ctx, missing)
	if err != nil {
		t.Fatalf("the created database does not open: %v", err)
	}
	st.Close()
}

func databaseOf(url string) string {
	i := strings.LastIndex(url, "/")
	name, _, _ := strings.Cut(url[i+1:], "?")
	return name
}
