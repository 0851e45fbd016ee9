package main

import (
	"context"
	"strings"
	"testing"

	"postdesk/store"
	"postdesk/store/storetest"
)

// user reset-mfa removes the second factor and the recovery codes, ends
// the user's sessions and leaves a line in the sign-in audit.
func TestUserResetMFA(t *testing.T) {
	t.Parallel()
	dbURL := storetest.EmptyURL(t)
	f := writeConfig(t, dbURL, freePort(t))
	st := migratedOrg(t, dbURL, f)
	ctx := context.Background()
	u, err := st.UserByEmail(ctx, "aino.handler@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.StartMFA(ctx, u.ID, []byte("sealed secret")); err != nil {
		t.Fatal(err)
	}
	if err := st.InTx(ctx, func(tx *store.Tx) error {
		return tx.ConfirmMFA(ctx, u.ID, u.CreatedAt, [][]byte{[]byte("h1"), []byte("h2")})
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, &store.Session{Hash: []byte("session-hash-0123456789abcdef012"), UserID: u.ID, CSRF: "x",
		CreatedAt: u.CreatedAt, ExpiresAt: u.CreatedAt.AddDate(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}

	out, err := command(t, dbURL, "user", "reset-mfa", "--user", "aino.handler@example.com", "--config", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "second factor removed for aino.handler@example.com") {
		t.Fatalf("reset-mfa: %v\n%s", err, out)
	}
	var mfa, codes, sessions, audited int
	if err := st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM user_mfa), (SELECT count(*) FROM mfa_recovery),
		(SELECT count(*) FROM sessions), (SELECT count(*) FROM signin_audit WHERE event = 'mfa_reset' AND user_id = $1)`, u.ID).
		Scan(&mfa, &codes, &sessions, &audited); err != nil {
		t.Fatal(err)
	}
	if mfa != 0 || codes != 0 || sessions != 0 || audited != 1 {
		t.Fatalf("after reset-mfa: %d enrolments, %d recovery codes, %d sessions, %d audit rows", mfa, codes, sessions, audited)
	}
	out, err = command(t, dbURL, "user", "reset-mfa", "--user", "aino.handler@example.com", "--config", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "had no second factor") {
		t.Fatalf("reset-mfa again: %v\n%s", err, out)
	}
	if out, err := command(t, dbURL, "user", "reset-mfa", "--user", "nobody@example.com", "--config", f).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "no user nobody@example.com") {
		t.Fatalf("unknown user: %v\n%s", err, out)
	}
}
