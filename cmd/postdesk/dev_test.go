package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/smtp"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postdesk/store"
	"postdesk/store/storetest"
	"postdesk/web"
)

// startDev runs `postdesk dev` on free ports in a folder of its own and
// returns the web, IMAP and SMTP addresses once it serves.
func startDev(t *testing.T, dbURL string) (web, imapAddr, smtpAddr string, out *lockedBuffer) {
	t.Helper()
	web, imapAddr, smtpAddr = freePort(t), freePort(t), freePort(t)
	cmd := exec.Command(binary, "dev", "--listen", web, "--imap", imapAddr, "--smtp", smtpAddr)
	cmd.Dir = t.TempDir()
	cmd.Env = append(cmd.Environ(), "DATABASE_URL="+dbURL)
	out = &lockedBuffer{}
	cmd.Stdout = out
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitLog(t, stderr, `"msg":"serving"`)
	return web, imapAddr, smtpAddr, out
}

// lockedBuffer is a process's output, read while the process still writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// awaitSandboxMail reads the subjects in a user's sandbox INBOX until done
// says they are what the test waits for, or deadline passes (a zero one:
// read once). Between reads it waits in IDLE for the server's EXISTS, so it
// goes on the moment a mail arrives, never on a timer.
func awaitSandboxMail(t *testing.T, addr, user string, deadline time.Time, done func(subjects []string) bool) []string {
	t.Helper()
	var count atomic.Uint32 // the mailbox's size, as EXISTS last said
	arrived := make(chan struct{}, 1)
	c, err := imapclient.DialInsecure(addr, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(data *imapclient.UnilateralDataMailbox) {
			if data.NumMessages != nil {
				count.Store(*data.NumMessages)
				select {
				case arrived <- struct{}{}:
				default:
				}
			}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, devMailPassword).Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatalf("select %s: %v", user, err)
	}
	count.Store(sel.NumMessages)
	for {
		subjects := sandboxSubjects(t, c, count.Load())
		if done(subjects) || deadline.IsZero() {
			return subjects
		}
		idle, err := c.Idle()
		if err != nil {
			t.Fatal(err)
		}
		timeout := time.NewTimer(time.Until(deadline))
		select {
		case <-arrived:
		case <-timeout.C:
		}
		timeout.Stop()
		if err := idle.Close(); err != nil {
			t.Fatal(err)
		}
		if err := idle.Wait(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			return sandboxSubjects(t, c, count.Load())
		}
	}
}

// sandboxSubjects fetches the subjects of the first n mails of the selected
// mailbox.
func sandboxSubjects(t *testing.T, c *imapclient.Client, n uint32) []string {
	t.Helper()
	if n == 0 {
		return nil
	}
	var all imap.SeqSet
	all.AddRange(1, n)
	msgs, err := c.Fetch(all, &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, m := range msgs {
		subjects = append(subjects, m.Envelope.Subject)
	}
	return subjects
}

// `make run`'s promise: with no config and no mail server, a mail sent to the
// sandbox becomes a conversation, and the staff member's mailbox in the
// sandbox receives the notification.
func TestDevSandboxEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := storetest.EmptyURL(t)
	webAddr, imapAddr, smtpAddr, out := startDev(t, dbURL)
	for _, want := range []string{"http://" + webAddr, "swaks --server " + smtpAddr, imapAddr, "payroll@example.com"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the banner lacks %q:\n%s", want, out)
		}
	}

	msg := "From: Cara Customer <cara.customer@acme.example>\r\nTo: payroll@example.com\r\nSubject: Holiday pay question\r\n" +
		"Message-ID: <dev-e2e@acme.example>\r\n\r\nIs holiday pay paid in June?\r\n"
	if err := smtp.SendMail(smtpAddr, nil, "cara.customer@acme.example", []string{"payroll@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(45 * time.Second)
	notified := func(subjects []string) bool {
		return strings.Contains(strings.Join(subjects, "\n"), "Holiday pay question")
	}
	if subjects := awaitSandboxMail(t, imapAddr, "aino.palkka@example.com", deadline, notified); !notified(subjects) {
		t.Fatalf("no notification in the staff member's sandbox mailbox: %v", subjects)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var subjects []string
	rows, _ := st.Pool().Query(ctx, `SELECT subject FROM conversations ORDER BY id`)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		subjects = append(subjects, s)
	}
	rows.Close()
	if len(subjects) != 4 || subjects[3] != "Holiday pay question" {
		t.Fatalf("conversations %q: want the three demo ones and the mail", subjects)
	}
	// The acknowledgement names the number, never the subject the sender
	// chose (a spoofer's words must not be mailed on).
	var number int64
	if err := st.Pool().QueryRow(ctx, `SELECT number FROM conversations WHERE subject = 'Holiday pay question'`).Scan(&number); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("[#%d]", number)
	acked := func(subjects []string) bool { return strings.Contains(strings.Join(subjects, "\n"), tag) }
	got := strings.Join(awaitSandboxMail(t, imapAddr, "cara.customer@acme.example", deadline, acked), "\n")
	if !strings.Contains(got, tag) {
		t.Fatalf("the customer got no acknowledgement in the sandbox: %q", got)
	}
	if strings.Contains(got, "Holiday pay question") {
		t.Fatalf("the acknowledgement repeats the sender's subject: %q", got)
	}

	// The conversation through the JSON API, as a staff member of the role.
	u, err := st.UserByEmail(ctx, "aino.palkka@example.com")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := st.CreateAPIToken(ctx, u.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+webAddr+"/api/v1/conversations?q=holiday", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Conversations []struct {
			Subject, Category, Status, Customer string
			Roles                               []string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("API: %d %v", resp.StatusCode, err)
	}
	if len(page.Conversations) != 1 || page.Conversations[0].Subject != "Holiday pay question" ||
		page.Conversations[0].Category != "payroll" || page.Conversations[0].Customer != "cara.customer@acme.example" {
		t.Fatalf("API conversations %+v", page.Conversations)
	}
	// The demo users can sign in to the web view with the printed password.
	if ok, err := web.CheckPassword(u.PasswordHash, devWebPassword); !ok || err != nil {
		t.Fatalf("the demo password does not open %s: %v", u.Email, err)
	}
	if !strings.Contains(out.String(), devWebPassword) {
		t.Error("the banner does not print the web password")
	}
}
