package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// oauthFile is the contract: a Microsoft 365 mailbox (client
// credentials) and an SMTP relay with a delegated refresh token.
func oauthFile() string {
	return strings.Replace(valid, `    password: env:PAYROLL_IMAP_PASSWORD
`, `    auth: oauth2
    oauth2:
      token_url: https://login.microsoftonline.com/TENANT/oauth2/v2.0/token
      client_id: 00000000-0000-0000-0000-000000000000
      client_secret: env:M365_CLIENT_SECRET
      scopes: [https://outlook.office365.com/.default]
      mechanism: oauthbearer
    tls_server_name: outlook.office365.com
    tls_min_version: "1.3"
`, 1) + `
log_level: debug
trusted_proxies: [10.0.0.0/8, "::1"]
`
}

func oauthLookup(k string) (string, bool) {
	if k == "M365_CLIENT_SECRET" {
		return "m365-secret", true
	}
	return lookup(k)
}

func TestOAuth2Config(t *testing.T) {
	c, warnings, err := Parse("postdesk.yaml", []byte(oauthFile()), oauthLookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings %v", warnings)
	}
	m := c.Mailboxes[0]
	if m.Auth != AuthOAuth2 || m.OAuth2 == nil || m.OAuth2.ClientSecret != "m365-secret" || m.OAuth2.Mechanism != "oauthbearer" ||
		m.OAuth2.Scopes[0] != "https://outlook.office365.com/.default" || m.TLSServerName != "outlook.office365.com" || m.TLSMinVersion != "1.3" {
		t.Fatalf("mailbox login %+v %+v", m.Login, m.OAuth2)
	}
	if c.SMTP.Auth != AuthPassword || c.LogLevel != "debug" || len(c.TrustedProxies) != 2 {
		t.Fatalf("smtp auth %q, log_level %q, trusted_proxies %v", c.SMTP.Auth, c.LogLevel, c.TrustedProxies)
	}
}

func TestRefreshTokenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "payroll.refresh")
	smtpOAuth := strings.Replace(oauthFile(), `  username: postdesk@example.com
  password: env:SMTP_PASSWORD
`, `  username: postdesk@example.com
  auth: oauth2
  oauth2:
    token_url: https://oauth2.googleapis.com/token
    client_id: desk.apps.googleusercontent.com
    client_secret: google-secret
    scopes: [https://mail.google.com/]
    refresh_token: file:`+path+`
`, 1)
	_, _, err := Parse("postdesk.yaml", []byte(smtpOAuth), oauthLookup)
	if err == nil || !strings.Contains(err.Error(), "smtp.oauth2.refresh_token: file "+path+" does not exist") {
		t.Fatalf("missing refresh token file: %v", err)
	}
	// oauth login writes it: a missing file is fine then, and its path known.
	if err := os.WriteFile(filepath.Join(dir, "postdesk.yaml"), []byte(smtpOAuth), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("M365_CLIENT_SECRET", "x")
	for k, v := range env {
		t.Setenv(k, v)
	}
	c, _, err := LoadForOAuthLogin(filepath.Join(dir, "postdesk.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTP.OAuth2.RefreshTokenFile != path || c.SMTP.OAuth2.RefreshToken != "" {
		t.Fatalf("refresh token file %q, token %q", c.SMTP.OAuth2.RefreshTokenFile, c.SMTP.OAuth2.RefreshToken)
	}
	if err := os.WriteFile(path, []byte("rt-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err = Parse("postdesk.yaml", []byte(smtpOAuth), oauthLookup)
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTP.OAuth2.RefreshToken != "rt-123" || c.SMTP.OAuth2.RefreshTokenFile != path {
		t.Fatalf("refresh token %q from %q", c.SMTP.OAuth2.RefreshToken, c.SMTP.OAuth2.RefreshTokenFile)
	}
}

// Every mistake in the block is named by its key.
func TestOAuth2ConfigProblems(t *testing.T) {
	bad := strings.Replace(valid, `    password: env:PAYROLL_IMAP_PASSWORD
`, `    password: env:PAYROLL_IMAP_PASSWORD
    auth: oauth2
    oauth2:
      token_url: http://login.example.com/token
      scopes: []
      mechanism: plain
      tenant: x
    tls_ca: not a certificate
    tls_min_version: "1.1"
`, 1) + "log_level: verbose\ntrusted_proxies: [10.0.0.0/33]\n"
	bad = strings.Replace(bad, "  tls: starttls\n", "  tls: starttls\n  auth: kerberos\n", 1)
	_, _, err := Parse("postdesk.yaml", []byte(bad), lookup)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"mailboxes[0].password: not used with auth: oauth2",
		"mailboxes[0].oauth2.token_url: want https",
		"mailboxes[0].oauth2.client_id: missing",
		"mailboxes[0].oauth2.client_secret: missing",
		"mailboxes[0].oauth2.mechanism: want xoauth2 or oauthbearer",
		"mailboxes[0].oauth2.tenant: unknown key",
		"mailboxes[0].tls_ca: no PEM certificate",
		"mailboxes[0].tls_min_version: want 1.2 or 1.3",
		"smtp.auth: want password or oauth2",
		"log_level: want one of debug, info, warn, error",
		"trusted_proxies[0]:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in:\n%v", want, err)
		}
	}
}

// trusted_proxies: absent is nil, [] is empty; web trusts no peer either way.
func TestTrustedProxiesAbsentOrEmpty(t *testing.T) {
	c, _, err := Parse("postdesk.yaml", []byte(valid), lookup)
	if err != nil || c.TrustedProxies != nil {
		t.Fatalf("absent: %v %#v", err, c.TrustedProxies)
	}
	c, _, err = Parse("postdesk.yaml", []byte(valid+"trusted_proxies: []\n"), lookup)
	if err != nil || c.TrustedProxies == nil || len(c.TrustedProxies) != 0 {
		t.Fatalf("empty: %v %#v", err, c.TrustedProxies)
	}
}
