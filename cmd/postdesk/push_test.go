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

	// Every ingest commit that queues mail notifies the outbox channel: a
	// listener of the test's own says when to look for a stored mail.
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	committed, listening := make(chan struct{}, 16), make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.Listen(ctx, map[string]func(){store.ChannelOutbox: func() {
			select {
			case committed <- struct{}{}:
			default:
			}
		}}, func() { listening <- struct{}{} }, nil)
	}()
	defer func() { cancel(); <-done; st.Close() }()
	<-listening
	deliver := func(subject string) {
		t.Helper()
		dc.Append(t, dovecottest.DefaultUser.Name, "INBOX", []byte("From: Cara Customer <cara.customer@acme.example>\r\n"+
			"To: payroll@example.com\r\nSubject: "+subject+"\r\nMessage-ID: <"+subject+"@acme.example>\r\n\r\nHei.\r\n"))
		timeout := time.After(30 * time.Second)
		for {
			var n int
			if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM conversations WHERE subject = $1`, subject).Scan(&n); err == nil && n == 1 {
				return
			}
			select {
			case <-committed:
			case <-timeout:
				t.Fatalf("the mail %q was not fetched; dovecot log:\n%s", subject, dc.Log())
			}
		}
	}
	// Once the first mail is stored the worker has polled and sleeps for
	// the hour: from then on only a wake-up brings the next one in.
	deliver("First")
	deliver("Pushed")
	body := httpGet(t, "http://"+listen+"/metrics", 200)
	for _, want := range []string{
		`postdesk_imap_pushes_total{result="refused"} 2`,
		`postdesk_imap_pushes_total{result="unwatched"} 1`,
		`postdesk_imap_pushes_total{result="woke"} 2`,
		`postdesk_imap_pushes_total{result="failed"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
