package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"postdesk/store"
	"postdesk/store/storetest"
)

// Whose web sessions and API tokens a config change ends, case by case:
// those dropped from the file or from a role (also by the role leaving the
// file); nobody else, and applying the same file again ends nothing more.
func TestApplyConfigEndsCredentialsOfChangedUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := storetest.Org(t, storetest.TestOrg)
	// A customer who is in no file keeps a session too.
	if _, err := st.EnsureUser(ctx, "walk.in@example.org", "Walk In"); err != nil {
		t.Fatal(err)
	}
	type creds struct {
		session []byte
		token   string
	}
	users := map[string]bool{ // email: its credentials end
		"ben.payroll@example.com":    true,  // gone from the file
		"lea.lead@example.com":       true,  // loses leads, keeps payroll-team
		"mika.manager@acme.example":  true,  // the managers role leaves the file
		"aino.handler@example.com":   false, // unchanged
		"cara.customer@acme.example": false, // a customer in the file, unchanged
		"walk.in@example.org":        false, // never in the file
	}
	have := map[string]creds{}
	for email := range users {
		u, err := st.UserByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte("session of " + email))
		if err := st.CreateSession(ctx, &store.Session{Hash: sum[:], UserID: u.ID, CSRF: "x",
			CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		tok, err := st.CreateAPIToken(ctx, u.ID, "test")
		if err != nil {
			t.Fatal(err)
		}
		have[email] = creds{session: sum[:], token: tok}
	}
	next := strings.Replace(storetest.TestOrg, "  - {email: ben.payroll@example.com, name: Ben Payroll, roles: [payroll-team]}\n", "", 1)
	next = strings.Replace(next, "roles: [payroll-team, leads]", "roles: [payroll-team]", 1)
	next = strings.Replace(next, "  - {key: managers, name: Managers, may: [manager]}\n", "", 1)
	next = strings.Replace(next, "roles: [managers], ", "", 1)
	if strings.Count(next, "\n") != strings.Count(storetest.TestOrg, "\n")-2 || strings.Contains(next, "managers") {
		t.Fatalf("the file edit went wrong:\n%s", next)
	}
	ben, err := st.UserByEmail(ctx, "ben.payroll@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetPassword(ctx, ben.ID, "argon2id-hash-placeholder"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := st.ApplyConfig(ctx, storetest.Config(t, next)); err != nil {
			t.Fatal(err)
		}
	}
	for email, ended := range users {
		c := have[email]
		_, serr := st.SessionByHash(ctx, c.session, time.Now())
		_, terr := st.UserByAPIToken(ctx, c.token)
		if gone := errors.Is(serr, store.ErrNotFound); gone != ended {
			t.Errorf("%s: session ended %v, want %v (%v)", email, gone, ended, serr)
		}
		if gone := errors.Is(terr, store.ErrNotFound); gone != ended {
			t.Errorf("%s: token ended %v, want %v (%v)", email, gone, ended, terr)
		}
	}
	if u, err := st.UserByEmail(ctx, "ben.payroll@example.com"); err != nil || u.PasswordHash != "" || u.FromConfig {
		t.Errorf("a user gone from the file keeps a password or stays configured: %+v %v", u, err)
	}
	var detail string
	if err := st.Pool().QueryRow(ctx, `SELECT detail->>'credentials_ended' FROM audit WHERE action = 'config_applied' ORDER BY id DESC LIMIT 1`).Scan(&detail); err != nil || detail != "[]" {
		t.Fatalf("the second application ended %s (%v), want none", detail, err)
	}
}
