package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"postdesk/conversation"
	"postdesk/internal/dovecottest"
	"postdesk/store"
	"postdesk/store/storetest"
	"postdesk/web"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "postdesk-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "postdesk")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// closedPort is a port nothing listens on (free a moment ago): the relay of
// tests that send nothing, which must never be a running sandbox's.
func closedPort(t *testing.T) int {
	t.Helper()
	_, port, err := net.SplitHostPort(freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writeConfig(t *testing.T, dbURL, listen string) string {
	t.Helper()
	y := fmt.Sprintf(`
listen: %s
database_url: env:TEST_DATABASE_URL
secret: env:TEST_SECRET
smtp: {host: 127.0.0.1, port: %d, tls: none}
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
users:
  - {email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team]}
`, listen, closedPort(t))
	f := filepath.Join(t.TempDir(), "postdesk.yaml")
	if err := os.WriteFile(f, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// migratedOrg migrates the database of config file f through the binary and
// applies the file's organisation, as serve would at start, for commands
// that work on a configured database without a running service.
func migratedOrg(t *testing.T, dbURL, f string) *store.Store {
	t.Helper()
	if out, err := command(t, dbURL, "migrate", "--config", f).CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	resolved := strings.NewReplacer("env:TEST_DATABASE_URL", dbURL, "env:TEST_SECRET", "0123456789abcdef0123456789abcdef").Replace(mustRead(t, f))
	if err := st.ApplyConfig(ctx, storetest.Config(t, resolved)); err != nil {
		t.Fatal(err)
	}
	return st
}

func command(t *testing.T, dbURL string, args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "TEST_DATABASE_URL="+dbURL, "TEST_SECRET=0123456789abcdef0123456789abcdef")
	return cmd
}

// startServe runs `postdesk serve` and waits until it serves. The logs are
// complete once ready is closed (after the process exits).
func startServe(t *testing.T, dbURL, configFile string) (*exec.Cmd, *bytes.Buffer, chan bool) {
	t.Helper()
	cmd := command(t, dbURL, "serve", "--config", configFile)
	logs := &bytes.Buffer{}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), `"msg":"serving"`) {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("serve exited:\n%s", logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	return cmd, logs, ready
}

func TestCheckConfigNamesEveryMistake(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "broken.yaml")
	os.WriteFile(f, []byte(`
secret: short
smtp: {host: 127.0.0.1, tls: ssl}
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payrol-team], retention: 4 years}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
`), 0o600)
	out, err := command(t, "", "check-config", "--config", f).CombinedOutput()
	if err == nil {
		t.Fatalf("check-config passed a broken file:\n%s", out)
	}
	if code := err.(*exec.ExitError).ExitCode(); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	for _, want := range []string{"database_url: missing", "secret: too short", "smtp.tls", `categories[0].roles[0]: unknown role "payrol-team"`,
		"categories[0].retention: bad retention", "line 5"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckConfigValid(t *testing.T) {
	t.Parallel()
	f := writeConfig(t, "", freePort(t))
	out, err := command(t, "postgres://unused/x", "check-config", "--config", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok (1 categories, 1 roles, 1 users, 0 mailboxes)") {
		t.Fatalf("check-config: %v\n%s", err, out)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	out, err := command(t, "", "frobnicate").CombinedOutput()
	if err == nil || err.(*exec.ExitError).ExitCode() != 2 || !strings.Contains(string(out), "unknown command") {
		t.Fatalf("unknown command: %v\n%s", err, out)
	}
	out, err = command(t, "", "token", "create").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--user") {
		t.Fatalf("token create without --user: %v\n%s", err, out)
	}
}

// serve migrates, applies the config, answers until SIGTERM and then stops
// cleanly; token create works against what it applied.
func TestServeMigratesAppliesAndStops(t *testing.T) {
	t.Parallel()
	dbURL := storetest.EmptyURL(t)
	listen := freePort(t)
	f := writeConfig(t, dbURL, listen)

	out, err := command(t, dbURL, "migrate", "--config", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "applied 001_domain.sql") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	out, err = command(t, dbURL, "migrate", "--config", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "up to date") {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}

	cmd, logs, ready := startServe(t, dbURL, f)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + listen + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByEmail(ctx, "aino.handler@example.com")
	if err != nil {
		t.Fatalf("serve did not apply the config: %v", err)
	}
	out, err = command(t, dbURL, "token", "create", "--user", "aino.handler@example.com", "--config", f).Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	tok := strings.TrimSpace(string(out))
	if got, err := st.UserByAPIToken(ctx, tok); err != nil || got.ID != u.ID {
		t.Fatalf("the printed token does not authenticate: %v", err)
	}
	var stored int
	st.Pool().QueryRow(ctx, `SELECT count(*) FROM api_tokens WHERE position($1::bytea in hash) > 0`, []byte(tok)).Scan(&stored)
	if stored != 0 {
		t.Fatal("the token itself is stored")
	}

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		for range ready { // the log reader has finished once ready closes
		}
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", logs.String())
	}
}

// serve runs a worker for each configured mailbox: a mail appended to
// Dovecot becomes a routed conversation with its notification rows.
func TestServeIngestsMailbox(t *testing.T) {
	t.Parallel()
	dbURL := storetest.EmptyURL(t)
	dc := dovecottest.Start(t)
	listen := freePort(t)
	f := writeConfig(t, dbURL, listen)
	b, _ := os.ReadFile(f)
	b = append(b, fmt.Sprintf(`mailboxes:
  - {name: payroll, host: %s, port: %d, tls: none, username: %s, password: %s, category: payroll, poll_interval: 200ms, existing: notify}
`, dc.Host, dc.Port, dovecottest.DefaultUser.Name, dovecottest.DefaultUser.Password)...)
	os.WriteFile(f, b, 0o600)
	startServe(t, dbURL, f)

	dc.Append(t, dovecottest.DefaultUser.Name, "INBOX", []byte("From: Cara Customer <cara.customer@acme.example>\r\n"+
		"To: payroll@example.com\r\nSubject: Tax card\r\nMessage-ID: <serve1@acme.example>\r\n\r\nMy new tax card.\r\n"))
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The worker counts the mail once its batch has committed, a moment
	// after the rows below become visible: both are waited for.
	ingested := `postdesk_mails_ingested_total{kind="customer",mailbox="payroll"} 1`
	var body string
	deadline := time.Now().Add(15 * time.Second)
	for {
		var subject string
		var notified int
		err := st.Pool().QueryRow(ctx, `SELECT c.subject, (SELECT count(*) FROM outbox o WHERE o.conversation_id = c.id)
			FROM conversations c`).Scan(&subject, &notified)
		if err == nil && subject == "Tax card" && notified == 2 { // the member, and the customer's acknowledgement
			if body = httpGet(t, "http://"+listen+"/metrics", 200); strings.Contains(body, ingested) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no routed conversation from the mailbox counted in /metrics: %v %q %d", err, subject, notified)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{
		ingested,
		`postdesk_conversations{status="new"} 1`,
		`postdesk_outbox_rows{status="pending"} 2`,
		`postdesk_mailbox_connected{mailbox="payroll"} 1`,
		`postdesk_database_up 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Nothing listens on the configured SMTP port: a session fault, the
	// relay's and not the mail's; after three in a row the relay is down.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		body := httpGet(t, "http://"+listen+"/metrics", 200)
		if !strings.Contains(body, `postdesk_smtp_delivery_attempts_total{result="session"} 0`) && strings.Contains(body, "\npostdesk_smtp_relay_up 0\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refused sessions in /metrics")
		}
	}
	if body := httpGet(t, "http://"+listen+"/readyz", 503); !strings.Contains(body, `"mailbox payroll":"ok"`) || !strings.Contains(body, `"smtp":"fail"`) {
		t.Errorf("/readyz with the relay down: %s", body)
	}
	if body := httpGet(t, "http://"+listen+"/metrics", 200); !strings.Contains(body, `postdesk_outbox_rows{status="pending"} 2`) {
		t.Errorf("the mail did not wait for the relay:\n%s", body)
	}
}

func httpGet(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d: %s", url, resp.StatusCode, want, b)
	}
	return string(b)
}

// waitLog reads a process's log until a line holds want, then keeps
// draining it in the background.
func waitLog(t *testing.T, r io.Reader, want string) {
	t.Helper()
	sc := bufio.NewScanner(r)
	found := make(chan bool, 1)
	go func() {
		for sc.Scan() {
			if strings.Contains(sc.Text(), want) {
				select {
				case found <- true:
				default:
				}
			}
		}
		close(found)
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("the process exited before logging %s", want)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("no %s within a minute", want)
	}
}

func TestUserPasswordFromStdin(t *testing.T) {
	t.Parallel()
	dbURL := storetest.EmptyURL(t)
	listen := freePort(t)
	f := writeConfig(t, dbURL, listen)
	if out, err := command(t, dbURL, "migrate", "--config", f).CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	resolved := strings.NewReplacer("env:TEST_DATABASE_URL", dbURL, "env:TEST_SECRET", "0123456789abcdef0123456789abcdef").Replace(mustRead(t, f))
	if err := st.ApplyConfig(ctx, storetest.Config(t, resolved)); err != nil {
		t.Fatal(err)
	}
	cmd := command(t, dbURL, "user", "password", "--user", "aino.handler@example.com", "--config", f)
	cmd.Stdin = strings.NewReader("correct horse battery\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "password set") {
		t.Fatalf("user password: %v\n%s", err, out)
	}
	u, _ := st.UserByEmail(ctx, "aino.handler@example.com")
	if ok, err := web.CheckPassword(u.PasswordHash, "correct horse battery"); !ok || err != nil || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("stored hash %q does not check: %v %v", u.PasswordHash, ok, err)
	}
	cmd = command(t, dbURL, "user", "password", "--user", "aino.handler@example.com", "--config", f)
	cmd.Stdin = strings.NewReader("short\n")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("a short password was accepted:\n%s", out)
	}
	cmd = command(t, dbURL, "user", "password", "--user", "nobody@example.com", "--config", f)
	cmd.Stdin = strings.NewReader("long enough password\n")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no user nobody@example.com") {
		t.Fatalf("an unknown user: %v\n%s", err, out)
	}
}

func mustRead(t *testing.T, f string) string {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// `postdesk purge --dry-run` lists what has expired without deleting it;
// `postdesk purge` deletes exactly that.
func TestPurgeCommand(t *testing.T) {
	t.Parallel()
	dbURL := storetest.EmptyURL(t)
	f := writeConfig(t, dbURL, freePort(t))
	short := strings.Replace(mustRead(t, f), "roles: [payroll-team]}", "roles: [payroll-team], retention: 90d}", 1)
	os.WriteFile(f, []byte(short), 0o600)
	st := migratedOrg(t, dbURL, f)
	ctx := context.Background()
	svc := conversation.New(st, nil)
	aino, err := svc.ActorByEmail(ctx, "aino.handler@example.com")
	if err != nil {
		t.Fatal(err)
	}
	old, err := svc.Open(ctx, aino, conversation.NewRequest{Category: "payroll", Subject: "Old payroll question", Body: "x"})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := svc.Open(ctx, aino, conversation.NewRequest{Category: "payroll", Subject: "New payroll question", Body: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE conversations SET updated_at = now() - interval '91 days' WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}

	out, err := command(t, dbURL, "purge", "--dry-run", "--config", f).CombinedOutput()
	if err != nil {
		t.Fatalf("purge --dry-run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("#%d", old.Number)) || strings.Contains(string(out), fmt.Sprintf("#%d", fresh.Number)) ||
		strings.Contains(string(out), "Old payroll question") {
		t.Fatalf("dry run lists (never the subject):\n%s", out)
	}
	if _, err := st.ConversationByID(ctx, old.ID); err != nil {
		t.Fatalf("a dry run deleted: %v", err)
	}
	if out, err := command(t, dbURL, "purge", "--config", f).CombinedOutput(); err != nil {
		t.Fatalf("purge: %v\n%s", err, out)
	}
	if _, err := st.ConversationByID(ctx, old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the expired conversation is still there: %v", err)
	}
	if _, err := st.ConversationByID(ctx, fresh.ID); err != nil {
		t.Fatalf("the fresh conversation went too: %v", err)
	}
	var runs int
	st.Pool().QueryRow(ctx, `SELECT count(*) FROM audit WHERE action = 'purge' AND actor LIKE 'cli%'`).Scan(&runs)
	if runs != 2 {
		t.Fatalf("%d purge audit records, want 2 (the dry run and the purge)", runs)
	}
}

// With metrics_listen, /metrics is served there and only there; the main
// address answers 404 for it and the metrics address serves nothing else.
func TestServeMetricsListen(t *testing.T) {
	t.Parallel()
	dbURL := storetest.EmptyURL(t)
	listen, metricsAt := freePort(t), freePort(t)
	f := writeConfig(t, dbURL, listen)
	y, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, append(y, []byte("metrics_listen: "+metricsAt+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	startServe(t, dbURL, f)
	if body := httpGet(t, "http://"+metricsAt+"/metrics", 200); !strings.Contains(body, "postdesk_database_up 1") {
		t.Errorf("metrics_listen /metrics:\n%s", body)
	}
	httpGet(t, "http://"+listen+"/metrics", 404)
	httpGet(t, "http://"+listen+"/healthz", 200)
	httpGet(t, "http://"+metricsAt+"/healthz", 404)
	httpGet(t, "http://"+metricsAt+"/", 404)
}
