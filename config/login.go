package config

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// loginKeys are the keys of Login under a mailbox and smtp.
var loginKeys = []string{
	"auth", "tls_ca", "tls_server_name", "tls_min_version",
	"oauth2", "oauth2.token_url", "oauth2.device_url", "oauth2.client_id", "oauth2.client_secret",
	"oauth2.scopes", "oauth2.scopes[]", "oauth2.refresh_token", "oauth2.mechanism",
}

// LogLevels are the accepted log_level values.
var LogLevels = []string{"debug", "info", "warn", "error"}

// setRefreshFiles records where each refresh_token: file: points.
func (c *Config) setRefreshFiles(p *parser) {
	for i := range c.Mailboxes {
		if o := c.Mailboxes[i].OAuth2; o != nil {
			o.RefreshTokenFile = p.refreshFiles[fmt.Sprintf("mailboxes[%d].oauth2.refresh_token", i)]
		}
	}
	if o := c.SMTP.OAuth2; o != nil {
		o.RefreshTokenFile = p.refreshFiles["smtp.oauth2.refresh_token"]
	}
}

func (l *Login) setDefaults() {
	if l.Auth == "" {
		l.Auth = AuthPassword
	}
	if l.OAuth2 != nil && l.OAuth2.Mechanism == "" {
		l.OAuth2.Mechanism = "xoauth2"
	}
}

// check checks the login of a mailbox or of smtp (under key k). login is
// the argument of `postdesk oauth login` that writes a missing refresh
// token (--mailbox NAME, --smtp).
func (l *Login) check(p *parser, k, username, password, login string) {
	l.checkTLS(p, k)
	switch l.Auth {
	case AuthPassword:
		if l.OAuth2 != nil {
			p.add(k+".oauth2", "set auth: oauth2 to use it (auth is password)")
		}
		return
	case AuthOAuth2:
	default:
		p.add(k+".auth", "want password or oauth2, got %q", l.Auth)
		return
	}
	if username == "" {
		p.add(k+".username", "missing: the mailbox address to log in as")
	}
	if password != "" {
		p.add(k+".password", "not used with auth: oauth2; remove it")
	}
	o := l.OAuth2
	if o == nil {
		p.add(k+".oauth2", "missing: auth: oauth2 needs token_url, client_id and client_secret or refresh_token")
		return
	}
	k += ".oauth2"
	checkEndpoint(p, k+".token_url", o.TokenURL, true)
	checkEndpoint(p, k+".device_url", o.DeviceURL, false)
	if o.ClientID == "" {
		p.add(k+".client_id", "missing: the application (client) ID of the app registration")
	}
	missing := p.missingRefresh[k+".refresh_token"]
	switch {
	case missing && !p.loggingIn:
		p.add(k+".refresh_token", "file %s does not exist yet: run postdesk oauth login %s", o.RefreshTokenFile, login)
	case o.RefreshToken == "" && !missing && o.ClientSecret == "":
		p.add(k+".client_secret", "missing: the client-credentials flow (no refresh_token) needs it")
	}
	if len(o.Scopes) == 0 {
		p.warn(k+".scopes", "none: Microsoft 365 wants https://outlook.office365.com/.default (app-only), Google https://mail.google.com/")
	}
	if o.Mechanism != "xoauth2" && o.Mechanism != "oauthbearer" {
		p.add(k+".mechanism", "want xoauth2 or oauthbearer, got %q", o.Mechanism)
	}
}

func (l *Login) checkTLS(p *parser, k string) {
	if l.TLSCA != "" {
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(l.TLSCA)) {
			p.add(k+".tls_ca", "no PEM certificate in it (want file:PATH of a CA bundle)")
		}
	}
	switch l.TLSMinVersion {
	case "", "1.2", "1.3":
	default:
		p.add(k+".tls_min_version", "want 1.2 or 1.3, got %q", l.TLSMinVersion)
	}
	if l.TLSServerName != "" && strings.ContainsAny(l.TLSServerName, " /:") {
		p.add(k+".tls_server_name", "%q is not a host name", l.TLSServerName)
	}
}

// checkEndpoint wants an https URL; http only to a loopback address (a
// local test provider), as the requests carry the client secret.
func checkEndpoint(p *parser, k, raw string, required bool) {
	if raw == "" {
		if required {
			p.add(k, "missing")
		}
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		p.add(k, "want an absolute https URL, got %q", raw)
		return
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		p.add(k, "want https: the request carries the client secret (http only to a loopback address)")
	}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) checkLogging(p *parser) {
	if c.LogLevel != "" && !slices.Contains(LogLevels, c.LogLevel) {
		p.add("log_level", "want one of %s, got %q", strings.Join(LogLevels, ", "), c.LogLevel)
	}
	for i, cidr := range c.TrustedProxies {
		if _, err := ParseProxy(cidr); err != nil {
			p.add(fmt.Sprintf("trusted_proxies[%d]", i), "%v", err)
		}
	}
}

// ParseProxy reads one trusted_proxies entry: a CIDR, or a single address.
func ParseProxy(s string) (netip.Prefix, error) {
	if pf, err := netip.ParsePrefix(s); err == nil {
		return pf.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (10.0.0.0/8) or an address", s)
}

// OIDC is sign-in through an OpenID Connect provider (Entra ID, Google,
// Keycloak ...): the authorization code flow with PKCE.
type OIDC struct {
	Issuer       string   `yaml:"issuer"` // its discovery document is ISSUER/.well-known/openid-configuration
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`       // besides openid; default email, profile
	ButtonLabel  string   `yaml:"button_label"` // default "Sign in with single sign-on"
	// AllowDomains, when set, are the only email domains accepted from the
	// provider (a multi-tenant provider vouches for anyone's address).
	AllowDomains []string `yaml:"allow_domains"`
}

// DefaultAuditRetention is how long the sign-in audit is kept: one year.
var DefaultAuditRetention = Retention{Months: 12, Set: true}

func (c *Config) setSignInDefaults() {
	if !c.AuditRetention.Set {
		c.AuditRetention = DefaultAuditRetention
	}
	if o := c.OIDC; o != nil {
		if len(o.Scopes) == 0 {
			o.Scopes = []string{"email", "profile"}
		}
		if o.ButtonLabel == "" {
			o.ButtonLabel = "Sign in with single sign-on"
		}
		for i, d := range o.AllowDomains {
			o.AllowDomains[i] = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
		}
	}
}

func (c *Config) checkSignIn(p *parser) {
	switch {
	case c.AuditRetention.bad != "":
		p.add("audit_retention", "%s", c.AuditRetention.bad)
	case c.AuditRetention.Zero():
		p.add("audit_retention", "must be longer than zero")
	}
	for i, r := range c.Roles {
		if r.RequireSSO && c.OIDC == nil {
			p.add(fmt.Sprintf("roles[%d].require_sso", i), "needs oidc: its members could not sign in at all")
		}
	}
	o := c.OIDC
	if o == nil {
		return
	}
	checkEndpoint(p, "oidc.issuer", o.Issuer, true)
	if o.ClientID == "" {
		p.add("oidc.client_id", "missing: the client (application) ID registered at the provider")
	}
	if o.ClientSecret == "" {
		p.add("oidc.client_secret", "missing: the client secret registered at the provider")
	}
	for i, d := range o.AllowDomains {
		if d == "" || strings.ContainsAny(d, " @/") {
			p.add(fmt.Sprintf("oidc.allow_domains[%d]", i), "%q is not a domain", d)
		}
	}
}
