package retention_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"postdesk/config"
	"postdesk/retention"
	"postdesk/store"
)

// The purge deletes sign-in audit rows older than audit_retention and
// keeps the rest.
func TestPurgeDeletesOldSigninAudit(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{now.AddDate(-1, 0, -1), now.AddDate(-1, 0, 1), now.Add(-time.Hour)} {
		if err := e.st.RecordSignin(e.ctx, &store.SigninEvent{At: at, Email: "aino.handler@example.com", Event: store.EventSignIn}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := retention.New(e.st, &retention.Options{Logger: slog.New(slog.DiscardHandler),
		Clock: clockwork.NewFakeClockAt(now), AuditRetention: config.DefaultAuditRetention})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.PurgeNow(e.ctx, false, "cli")
	if err != nil {
		t.Fatal(err)
	}
	if rep.SigninAudit != 1 {
		t.Fatalf("deleted %d sign-in audit rows, want 1", rep.SigninAudit)
	}
	if n := e.count(t, `SELECT count(*) FROM signin_audit`); n != 2 {
		t.Fatalf("%d rows left, want 2", n)
	}
	// A dry run deletes nothing.
	rep, err = r.PurgeNow(e.ctx, true, "cli")
	if err != nil || rep.SigninAudit != 0 || e.count(t, `SELECT count(*) FROM signin_audit`) != 2 {
		t.Fatalf("dry run: %v, %d deleted", err, rep.SigninAudit)
	}
}

// The access log (who read what) is kept as long as the sign-in audit.
func TestPurgeDeletesOldAccessLog(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	conv := e.receive(t, "", 0, 0, customerMail("payroll@example.com", "acc"))
	for _, at := range []time.Time{now.AddDate(-1, 0, -1), now.Add(-time.Hour)} {
		e.exec(t, `INSERT INTO access_log (at, email, conversation_id, number, via, as_what) VALUES ($1, 'aino.handler@example.com', $2, 1, 'web', 'staff')`, at, conv)
	}
	r, err := retention.New(e.st, &retention.Options{Logger: slog.New(slog.DiscardHandler),
		Clock: clockwork.NewFakeClockAt(now), AuditRetention: config.DefaultAuditRetention})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.PurgeNow(e.ctx, false, "cli")
	if err != nil || rep.AccessLog != 1 || e.count(t, `SELECT count(*) FROM access_log`) != 1 {
		t.Fatalf("purge: %v, %d access rows deleted, want 1 of 2", err, rep.AccessLog)
	}
}
