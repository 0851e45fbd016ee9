package health

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"postdesk/conversation"
	"postdesk/store"
	"postdesk/store/storetest"
)

const alertConfig = `
database_url: postgres://unused
secret: 0123456789abcdef0123456789abcdef
smtp: {host: 127.0.0.1}
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team, managers]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
  - {key: managers, name: Managers, may: [manager]}
users:
  - {email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team]}
  - {email: ben.payroll@example.com, name: Ben Payroll, roles: [payroll-team]}
  - {email: mika.manager@acme.example, name: Mika Manager, roles: [managers]}
`

func alerts(t *testing.T, st *store.Store) []string {
	t.Helper()
	rows, err := st.Pool().Query(context.Background(), `SELECT recipient FROM outbox WHERE template = 'mailbox_alert' ORDER BY recipient, id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var to []string
	for rows.Next() {
		var r string
		rows.Scan(&r)
		to = append(to, r)
	}
	return to
}

func TestMailboxAlertOncePerProblem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := storetest.Org(t, alertConfig)
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	a := &Alerter{St: st, Svc: conversation.New(st, nil), Now: func() time.Time { return now },
		Rules: []AlertRule{{Mailbox: "payroll", Category: "payroll", AlertAfter: time.Hour}}}
	check := func() {
		t.Helper()
		if err := a.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check()
	if got := alerts(t, st); len(got) != 0 {
		t.Fatalf("alerted at start: %v", got)
	}
	st.SetMailboxHealth(ctx, "payroll", store.MailboxHealth{LastError: "login refused"})
	now = now.Add(61 * time.Minute)
	check()
	check()
	now = now.Add(time.Hour)
	check()
	want := []string{"aino.handler@example.com", "ben.payroll@example.com"} // the category's staff, once each
	if got := alerts(t, st); !slices.Equal(got, want) {
		t.Fatalf("alerts to %v, want %v (once, staff only)", got, want)
	}
	// Recovery re-arms it; the next outage alerts again.
	st.SetMailboxHealth(ctx, "payroll", store.MailboxHealth{Connected: true, LastSuccess: now})
	check()
	if mb, _ := st.Mailbox(ctx, "payroll"); mb.AlertedAt != nil {
		t.Fatal("recovery did not clear the alert")
	}
	now = now.Add(2 * time.Hour)
	check()
	if got := alerts(t, st); len(got) != 4 {
		t.Fatalf("a second outage sent %d alerts in all, want 4", len(got))
	}
}

func TestMailboxSilenceAlert(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := storetest.Org(t, alertConfig)
	now := time.Now()
	a := &Alerter{St: st, Svc: conversation.New(st, nil), Now: func() time.Time { return now },
		Rules: []AlertRule{{Mailbox: "payroll", Category: "payroll", AlertAfter: time.Hour, SilenceAfter: 24 * time.Hour}}}
	a.Check(ctx)
	st.AdvanceCursor(ctx, "payroll", 1, 5) // a mail arrives now
	now = now.Add(23 * time.Hour)
	st.SetMailboxHealth(ctx, "payroll", store.MailboxHealth{Connected: true, LastSuccess: now})
	a.Check(ctx)
	if got := alerts(t, st); len(got) != 0 {
		t.Fatalf("alerted within the silence window: %v", got)
	}
	now = now.Add(2 * time.Hour)
	st.SetMailboxHealth(ctx, "payroll", store.MailboxHealth{Connected: true, LastSuccess: now})
	a.Check(ctx)
	if got := alerts(t, st); len(got) != 2 {
		t.Fatalf("silent mailbox: %d alerts, want 2", len(got))
	}
	var reason string
	st.Pool().QueryRow(ctx, `SELECT detail->>'reason' FROM outbox LIMIT 1`).Scan(&reason)
	if reason == "" || reason[:11] != "no new mail" {
		t.Fatalf("reason %q", reason)
	}
}

// A refused login is told at once (not after AlertAfter), once.
func TestMailboxAlertOnAuthFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := storetest.Org(t, alertConfig)
	now := time.Now()
	a := &Alerter{St: st, Svc: conversation.New(st, nil), Now: func() time.Time { return now },
		Rules: []AlertRule{{Mailbox: "payroll", Category: "payroll", AlertAfter: time.Hour}}}
	a.Check(ctx)
	st.SetMailboxHealth(ctx, "payroll", store.MailboxHealth{LastError: AuthFailurePrefix + "login as payroll@example.com: imap: NO [AUTHENTICATIONFAILED] Authentication failed."})
	now = now.Add(time.Minute)
	a.Check(ctx)
	a.Check(ctx)
	if got := alerts(t, st); len(got) != 2 {
		t.Fatalf("auth failure: %d alerts, want one per staff member", len(got))
	}
	var reason string
	st.Pool().QueryRow(ctx, `SELECT detail->>'reason' FROM outbox LIMIT 1`).Scan(&reason)
	if !strings.Contains(reason, "refused postdesk's login") || !strings.Contains(reason, "AUTHENTICATIONFAILED") {
		t.Fatalf("reason %q", reason)
	}
}
