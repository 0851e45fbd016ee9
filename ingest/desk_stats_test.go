package ingest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5"

	"postdesk/conversation"
	"postdesk/store/storetest"
	"postdesk/threading"
)

// A Desk storing mail analyzes the tables that outgrew their statistics
// (store.AnalyzeGrown) after its commit, so that a database filling from
// empty is not read on plans made for empty tables until autovacuum looks.
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

	analyzed := func() int {
		t.Helper()
		var n int
		if err := st.Pool().QueryRow(ctx, `SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'audit'`).Scan(&n); err != nil {
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
	if _, err := w.Exec(ctx, `INSERT INTO audit (actor, action) SELECT 'import', 'x' FROM generate_series(1, 3000)`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
		t.Fatal(err)
	}
	if n := analyzed(); n != 0 {
		t.Fatalf("audit analyzed %d times before any mail", n)
	}
	raw := customerMail("stats-1")
	if err := desk.Deliver(ctx, "payroll", Fetched{UIDValidity: 1, UID: 1, Raw: raw, Size: int64(len(raw))}); err != nil {
		t.Fatal(err)
	}
	if n := analyzed(); n != 1 {
		t.Fatalf("after a delivery the grown audit table was analyzed %d times, want 1", n)
	}
}
