package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"postdesk/config"
	"postdesk/internal/oauthtest"
	"postdesk/mailauth"
)

// approver is the operator's terminal: once the code is printed, the user
// signs in at the provider (Approve).
type approver struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	prov *oauthtest.Provider
}

func (a *approver) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.buf.Write(p)
	if strings.Contains(a.buf.String(), "enter the code ABCD-EFGH") {
		a.prov.Approve()
	}
	return len(p), nil
}

func TestOAuthLoginDeviceFlow(t *testing.T) {
	prov := oauthtest.Start(t, "payroll@example.com")
	dir := t.TempDir()
	refresh := filepath.Join(dir, "payroll.refresh")
	y := fmt.Sprintf(`
database_url: postgres://unused
secret: 0123456789abcdef0123456789abcdef
mailboxes:
  - name: payroll
    host: outlook.office365.com
    username: payroll@example.com
    category: payroll
    auth: oauth2
    oauth2:
      token_url: %s
      device_url: %s
      client_id: %s
      client_secret: %s
      scopes: [https://outlook.office365.com/IMAP.AccessAsUser.All, offline_access]
      refresh_token: file:%s
smtp: {host: 127.0.0.1}
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
`, prov.TokenURL, prov.DeviceURL, prov.ClientID, prov.ClientSecret, refresh)
	file := filepath.Join(dir, "postdesk.yaml")
	if err := os.WriteFile(file, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	// Before the login, check-config names the missing file and the cure.
	var out bytes.Buffer
	err := run(context.Background(), []string{"check-config", "--config", file}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "run postdesk oauth login --mailbox payroll") {
		t.Fatalf("check-config before login: %v", err)
	}
	term := &approver{prov: prov}
	if err := run(context.Background(), []string{"oauth", "login", "--mailbox", "payroll", "--config", file}, term, term); err != nil {
		t.Fatalf("oauth login: %v\n%s", err, term.buf.String())
	}
	if !strings.Contains(term.buf.String(), prov.URL+"/device") || !strings.Contains(term.buf.String(), "Signed in") {
		t.Errorf("output:\n%s", term.buf.String())
	}
	st, err := os.Stat(refresh)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("refresh token file: %v %v", st, err)
	}
	rt := strings.TrimSpace(mustRead(t, refresh))
	if strings.Contains(term.buf.String(), rt) {
		t.Error("the refresh token was printed")
	}
	// The saved token works: serve's client gets access tokens with it.
	if err := run(context.Background(), []string{"check-config", "--config", file}, &out, &out); err != nil {
		t.Fatalf("check-config after login: %v", err)
	}
	a, err := mailauth.New(mailauth.Config{TokenURL: prov.TokenURL, ClientID: prov.ClientID, RefreshToken: rt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Token(context.Background()); err != nil {
		t.Errorf("the saved refresh token: %v", err)
	}
}

// The relay's login gets the same device flow with --smtp.
func TestOAuthLoginSMTPDeviceFlow(t *testing.T) {
	prov := oauthtest.Start(t, "notifications@example.com")
	dir := t.TempDir()
	refresh := filepath.Join(dir, "smtp.refresh")
	y := fmt.Sprintf(`
database_url: postgres://unused
secret: 0123456789abcdef0123456789abcdef
smtp:
  host: smtp.office365.com
  username: notifications@example.com
  auth: oauth2
  oauth2:
    token_url: %s
    device_url: %s
    client_id: %s
    scopes: [https://outlook.office365.com/SMTP.Send, offline_access]
    refresh_token: file:%s
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
`, prov.TokenURL, prov.DeviceURL, prov.ClientID, refresh)
	file := filepath.Join(dir, "postdesk.yaml")
	if err := os.WriteFile(file, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"check-config", "--config", file}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "smtp.oauth2.refresh_token") || !strings.Contains(err.Error(), "run postdesk oauth login --smtp") {
		t.Fatalf("check-config before login: %v", err)
	}
	if err := run(context.Background(), []string{"oauth", "login", "--config", file}, &out, &out); err == nil || !strings.Contains(err.Error(), "--mailbox NAME or --smtp") {
		t.Fatalf("oauth login without a target: %v", err)
	}
	term := &approver{prov: prov}
	if err := run(context.Background(), []string{"oauth", "login", "--smtp", "--config", file}, term, term); err != nil {
		t.Fatalf("oauth login --smtp: %v\n%s", err, term.buf.String())
	}
	if !strings.Contains(term.buf.String(), "To sign in smtp") || !strings.Contains(term.buf.String(), "Sign in as notifications@example.com") {
		t.Errorf("output:\n%s", term.buf.String())
	}
	st, err := os.Stat(refresh)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("refresh token file: %v %v", st, err)
	}
	rt := strings.TrimSpace(mustRead(t, refresh))
	if rt == "" || strings.Contains(term.buf.String(), rt) {
		t.Errorf("refresh token %q empty or printed", rt)
	}
	if err := run(context.Background(), []string{"check-config", "--config", file}, &out, &out); err != nil {
		t.Fatalf("check-config after login: %v", err)
	}
	a, err := mailauth.New(mailauth.Config{TokenURL: prov.TokenURL, ClientID: prov.ClientID, RefreshToken: rt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Token(context.Background()); err != nil {
		t.Errorf("the saved refresh token: %v", err)
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "postdesk ") || !strings.Contains(out.String(), "commit ") || !strings.Contains(out.String(), "built ") {
		t.Errorf("version output %q", out.String())
	}
}

// serve's OAuth2 client saves a rotated refresh token over the file's, so a
// restart after the first one expired still signs in.
func TestRotatedRefreshTokenSaved(t *testing.T) {
	prov := oauthtest.Start(t, "payroll@example.com")
	file := filepath.Join(t.TempDir(), "payroll.refresh")
	first := prov.AddRefreshToken()
	if err := writeSecret(file, first); err != nil {
		t.Fatal(err)
	}
	l := config.Login{Auth: config.AuthOAuth2, OAuth2: &config.OAuth2{TokenURL: prov.TokenURL, ClientID: prov.ClientID,
		RefreshToken: first, RefreshTokenFile: file, Mechanism: "xoauth2"}}
	a, _, err := mailLogin(l, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	saved := strings.TrimSpace(mustRead(t, file))
	if saved == first || !strings.HasPrefix(saved, "rt-") {
		t.Fatalf("file holds %q, want the rotated token", saved)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
}
