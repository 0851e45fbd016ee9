package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"postdesk/internal/dovecottest"
	"postdesk/push"
	"postdesk/store"
	"postdesk/store/storetest"
)

// TestServeWakesOnPush: a mailbox that neither idles nor polls within the
// test (idle: false, poll_interval: 1h) still has its mail within moments,
// because Dovecot's push script calls serve's endpoint, which wakes the
// worker through PostgreSQL.
func TestServeWakesOnPush(t *testing.T) {
	t.Parallel()
	const secret = "push-secret-0123456789abcdef-0123456789"
	dbURL := storetest.EmptyURL(t)
	listen := freePort(t)
	dc := dovecottest.StartWith(t, &dovecottest.Options{
		PushScript: push.DovecotScript,
		PushSettings: map[string]string{
			"postdesk_push_url":    "http://" + listen + push.Path,
			"postdesk_push_secret": secret,
		},
	})
	f := writeConfig(t, dbURL, listen)
	b, _ := os.ReadFile(f)
	b = append(b, fmt.Sprintf(`imap_push: {secret: %s}
mailboxes:
  - {name: payroll, host: %s, port: %d, tls: none, username: %s, password: %s, category: payroll,
     idle: false, poll_interval: 1h, existing: notify}
`, secret, dc.Host, dc.Port, dovecottest.DefaultUser.Name, dovecottest.DefaultUser.Password)...)
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	startServe(t, dbURL, f)

	// The endpoint is there and wants the secret.
	for _, c := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer " + secret, 204}} {
		req, _ := http.NewRequest("POST", "http://"+listen+push.Path, strings.NewReader(`{"user":"nobody","folder":"INBOX"}`))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("POST %s with %q: %d, want %d", push.Path, c.auth, resp.StatusCode, c.want)
		}
	}

	// Only after the worker's first poll (it reports it) is the mail
	// appended: from then on only a wake-up brings it in within the hour.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if strings.Contains(httpGet(t, "http://"+listen+"/metrics", 200), `postdesk_mailbox_connected{mailbox="payroll"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker never connected")
		}
	}
	dc.Append(t, dovecottest.DefaultUser.Name, "INBOX", []byte("From: Cara Customer <cara.customer@acme.example>\r\n"+
		"To: payroll@example.com\r\nSubject: Pushed\r\nMessage-ID: <push1@acme.example>\r\n\r\nHei.\r\n"))
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var n int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM conversations WHERE subject = 'Pushed'`).Scan(&n); err == nil && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pushed mail was not fetched; dovecot log:\n%s", dc.Log())
		}
	}
	body := httpGet(t, "http://"+listen+"/metrics", 200)
	for _, want := range []string{
		`postdesk_imap_pushes_total{result="refused"} 2`,
		`postdesk_imap_pushes_total{result="unwatched"} 1`,
		`postdesk_imap_pushes_total{result="woke"} 1`,
		`postdesk_imap_pushes_total{result="failed"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
