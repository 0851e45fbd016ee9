// Package config reads and checks postdesk.yaml. Every string value may be
// written as env:NAME or file:PATH so that secrets stay out of the file; they are
// resolved while reading, and every mistake is reported with the key it sits
// under (and its line), all of them at once, so an operator fixes a file in one
// pass.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole file.
type Config struct {
	Listen string `yaml:"listen"`
	// MetricsListen, when set, is the only address /metrics is served on
	// (for a scraper on a private network); listen then has no /metrics.
	MetricsListen string `yaml:"metrics_listen"`
	PublicURL     string `yaml:"public_url"`
	DatabaseURL   string `yaml:"database_url"`
	Secret        string `yaml:"secret"`
	TemplatesDir  string `yaml:"templates_dir"` // optional folder overriding the embedded templates
	LogLevel      string `yaml:"log_level"`     // debug | info (default) | warn | error
	// TrustedProxies are the peers (CIDRs) whose X-Forwarded-For and
	// X-Forwarded-Proto are believed; none: the headers are ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	Trace          []string `yaml:"trace"`    // protocols to trace in the log: imap, smtp (secrets and content masked)
	PurgeAt        string   `yaml:"purge_at"` // daily time of the retention purge, HH:MM local time
	// TimeZone is the organisation's IANA zone ("Europe/Helsinki"), in which
	// the web view shows dates and times; empty means the server's own zone.
	TimeZone   string     `yaml:"time_zone"`
	Mailboxes  []Mailbox  `yaml:"mailboxes"`
	SMTP       SMTP       `yaml:"smtp"`
	SenderAuth SenderAuth `yaml:"sender_auth"` // trust the receiving MTA's Authentication-Results
	IMAPPush   IMAPPush   `yaml:"imap_push"`   // the mail server's new-mail pushes (package push)
	Categories []Category `yaml:"categories"`
	Roles      []Role     `yaml:"roles"`
	Users      []User     `yaml:"users"`
	// AuditRetention is how long the sign-in audit is kept (default 1y).
	AuditRetention Retention `yaml:"audit_retention"`
	OIDC           *OIDC     `yaml:"oidc"` // sign-in through an OpenID provider
}

// IMAPPush enables the endpoint a mail server calls when a watched mailbox
// has new mail (docs/dovecot-push.md).
type IMAPPush struct {
	// Secret is the bearer token the server's push script (or the basic
	// auth password of Dovecot's OX driver) must send; empty: no endpoint.
	Secret string `yaml:"secret"`
}

// Mailbox is one IMAP account feeding a category.
type Mailbox struct {
	Name         string   `yaml:"name"`
	Host         string   `yaml:"host"`
	Port         int      `yaml:"port"`
	TLS          string   `yaml:"tls"`
	Username     string   `yaml:"username"`
	Password     string   `yaml:"password"`
	Folder       string   `yaml:"folder"`
	After        string   `yaml:"after"`
	PollInterval Duration `yaml:"poll_interval"`
	Category     string   `yaml:"category"`
	AlertAfter   Duration `yaml:"alert_after"`   // tell the category's staff when no poll succeeded for this long
	SilenceAlert Duration `yaml:"silence_alert"` // ... or when no mail came for this long (0: off)
	// Existing is what becomes of the mail already in the folder when
	// postdesk first connects: "quiet" (stored as the archive, nobody
	// mailed) or "notify" (handled like new mail).
	Existing string `yaml:"existing"`
	// Idle false makes the worker poll every poll_interval even where the
	// server offers IDLE (for a server whose IDLE is broken, or when
	// imap_push wakes it); nil or true: IDLE where offered.
	Idle  *bool `yaml:"idle"`
	Login `yaml:",inline"`
}

// Login is how postdesk logs in to an IMAP or SMTP server and checks its
// certificate; mailboxes and smtp share it.
type Login struct {
	Auth   string  `yaml:"auth"` // password (default) | oauth2
	OAuth2 *OAuth2 `yaml:"oauth2"`
	// TLSCA is a PEM bundle trusted besides the system roots (written as
	// file:PATH, so it holds the file's content once read).
	TLSCA         string `yaml:"tls_ca"`
	TLSServerName string `yaml:"tls_server_name"` // the name the certificate must carry (default: host)
	TLSMinVersion string `yaml:"tls_min_version"` // 1.2 (default) | 1.3
}

// OAuth2 is the OAuth2 client of a mailbox or of smtp (auth: oauth2).
type OAuth2 struct {
	TokenURL string `yaml:"token_url"`
	// DeviceURL is the device authorization endpoint (RFC 8628) that
	// `postdesk oauth login` uses; default: token_url with /token
	// replaced by /devicecode (Microsoft's layout).
	DeviceURL    string   `yaml:"device_url"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
	// RefreshToken selects the delegated flow; without it, client
	// credentials (app-only).
	RefreshToken string `yaml:"refresh_token"`
	Mechanism    string `yaml:"mechanism"` // xoauth2 (default) | oauthbearer
	// RefreshTokenFile is the PATH of refresh_token: file:PATH, where
	// `postdesk oauth login` writes the token ("" when not a file).
	RefreshTokenFile string `yaml:"-"`
}

// Auth modes.
const (
	AuthPassword = "password"
	AuthOAuth2   = "oauth2"
)

// SMTP is the relay postdesk sends through.
type SMTP struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	TLS      string `yaml:"tls"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Sessions is how many SMTP sessions each instance keeps open to the
	// relay at once (default outbound.DefaultSessions, 4; at most
	// MaxSMTPSessions). No higher than the relay accepts from one client.
	Sessions int `yaml:"sessions"`
	Login    `yaml:",inline"`
}

// MaxSMTPSessions bounds smtp.sessions: each session holds a connection
// to the relay and, while it claims and records, up to two of the
// database pool.
const MaxSMTPSessions = 32

// Category is a topic with its addresses, preset receiver roles and retention.
type Category struct {
	Key       string    `yaml:"key"`
	Name      string    `yaml:"name"`
	Addresses []string  `yaml:"addresses"`
	Roles     []string  `yaml:"roles"`
	Retention Retention `yaml:"retention"`
	AllowFrom []string  `yaml:"allow_from"`
	// Secure keeps the conversations' content off email: every mail about
	// them says only that there is something to read, and where.
	Secure bool `yaml:"secure"`
}

// Role is a group of users; conversations are routed to roles, never to people.
type Role struct {
	Key   string   `yaml:"key"`
	Name  string   `yaml:"name"`
	Staff bool     `yaml:"staff"`
	May   []string `yaml:"may"`
	// RequireMFA makes members enrol a TOTP second factor and give a code
	// at every password sign-in (enforced from their next sign-in).
	RequireMFA bool `yaml:"require_mfa"`
	// RequireSSO makes members sign in through oidc only: their password
	// is refused.
	RequireSSO bool `yaml:"require_sso"`
}

// User is a person known from the file (customers who only write in are
// created on the fly and need no entry).
type User struct {
	Email    string   `yaml:"email"`
	Name     string   `yaml:"name"`
	Roles    []string `yaml:"roles"`
	Language string   `yaml:"language"`
	Company  string   `yaml:"company"`
}

// Permissions a role may grant with `may`.
const (
	MayChangeReceivers = "change_receivers" // change a conversation's receiver roles
	MaySetCompany      = "set_company"      // set company, person and customer assignee
	MayAssign          = "assign"           // make another staff member the Handler
	MayLegalHold       = "legal_hold"       // keep a conversation from the purge
	MayManage          = "manager"          // see every conversation about one's own company
	MayAudit           = "audit"            // read the sign-in audit and the access log
	MayPrivacy         = "privacy"          // export and erase one person's data (GDPR Art. 15, 17)
	MayCanned          = "canned"           // manage canned answers and role signatures (the /canned page)
)

// Permissions lists every permission a role may grant.
var Permissions = []string{MayChangeReceivers, MaySetCompany, MayAssign, MayLegalHold, MayManage, MayAudit, MayPrivacy, MayCanned}

// Languages that templates exist for.
var Languages = []string{"en", "fi", "sv"}

// Defaults filled in where the file is silent.
const (
	DefaultListen       = "127.0.0.1:8080"
	DefaultFolder       = "INBOX"
	DefaultAfter        = "seen"
	DefaultExisting     = "quiet"
	DefaultPollInterval = 30 * time.Second
	DefaultAlertAfter   = time.Hour
	DefaultPurgeAt      = "03:30"
	MinSecretBytes      = 32
)

// DefaultRetention is four years.
var DefaultRetention = Retention{Months: 48}

// Problem is one mistake in the file.
type Problem struct {
	Key     string // e.g. categories[0].roles[1]
	Line    int    // 0 when unknown
	Message string
	Warning bool // reported, but the file is usable
}

func (p Problem) String() string {
	kind := ""
	if p.Warning {
		kind = "warning: "
	}
	if p.Line > 0 {
		return fmt.Sprintf("line %d: %s%s: %s", p.Line, kind, p.Key, p.Message)
	}
	return fmt.Sprintf("%s%s: %s", kind, p.Key, p.Message)
}

// Error carries every problem found; Warnings alone never make an Error.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	n := 0
	for _, p := range e.Problems {
		if !p.Warning {
			n++
		}
	}
	fmt.Fprintf(&b, "%s: %d problem(s)", e.File, n)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Load reads and checks a file. On success the returned warnings (possibly none)
// are worth printing; on failure the error is an *Error listing every problem.
func Load(file string) (*Config, []Problem, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(file, data, os.LookupEnv)
}

// LoadForOAuthLogin is Load for `postdesk oauth login`: a refresh_token
// file that does not exist yet is no mistake, as the login writes it.
func LoadForOAuthLogin(file string) (*Config, []Problem, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	return parse(file, data, os.LookupEnv, true)
}

// Parse reads a file's content; lookupEnv resolves env:NAME values.
func Parse(name string, data []byte, lookupEnv func(string) (string, bool)) (*Config, []Problem, error) {
	return parse(name, data, lookupEnv, false)
}

func parse(name string, data []byte, lookupEnv func(string) (string, bool), loggingIn bool) (*Config, []Problem, error) {
	p := &parser{lookupEnv: lookupEnv, lines: map[string]int{}, refreshFiles: map[string]string{}, missingRefresh: map[string]bool{}, loggingIn: loggingIn}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		return nil, nil, &Error{File: name, Problems: []Problem{{Key: "(file)", Message: yamlMessage(err)}}}
	}
	if root.Kind == 0 {
		return nil, nil, &Error{File: name, Problems: []Problem{{Key: "(file)", Message: "the file is empty"}}}
	}
	p.walk(&root, "")

	var c Config
	if err := root.Decode(&c); err != nil {
		p.decodeProblems(err)
	}
	if !p.failed() {
		c.setRefreshFiles(p)
		c.setDefaults()
		c.check(p)
	}
	if p.failed() {
		return nil, nil, &Error{File: name, Problems: p.problems}
	}
	return &c, p.problems, nil
}

type parser struct {
	lookupEnv func(string) (string, bool)
	lines     map[string]int // key path -> line
	problems  []Problem
	// refreshFiles are the paths of oauth2.refresh_token: file:PATH by key;
	// missingRefresh the ones that do not exist (yet).
	refreshFiles   map[string]string
	missingRefresh map[string]bool
	loggingIn      bool // LoadForOAuthLogin
}

func (p *parser) failed() bool {
	return slices.ContainsFunc(p.problems, func(q Problem) bool { return !q.Warning })
}

func (p *parser) add(key, format string, args ...any) {
	p.problems = append(p.problems, Problem{Key: key, Line: p.lineOf(key), Message: fmt.Sprintf(format, args...)})
}

func (p *parser) warn(key, format string, args ...any) {
	p.problems = append(p.problems, Problem{Key: key, Line: p.lineOf(key), Message: fmt.Sprintf(format, args...), Warning: true})
}

// lineOf finds the line of a key, or of its nearest parent the file has.
func (p *parser) lineOf(key string) int {
	for k := key; k != ""; {
		if l, ok := p.lines[k]; ok {
			return l
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// walk records line numbers, rejects unknown keys and resolves env: and file:
// values in place, before the typed decode.
func (p *parser) walk(n *yaml.Node, key string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			p.walk(c, key)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if key != "" {
				k = key + "." + k
			}
			p.lines[k] = n.Content[i].Line
			p.walk(n.Content[i+1], k)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			k := fmt.Sprintf("%s[%d]", key, i)
			p.lines[k] = c.Line
			p.walk(c, k)
		}
	case yaml.ScalarNode:
		if n.Tag != "!!str" && n.Style == 0 {
			return
		}
		if strings.HasSuffix(key, ".oauth2.refresh_token") && strings.HasPrefix(n.Value, "file:") {
			path := strings.TrimPrefix(n.Value, "file:")
			p.refreshFiles[key] = path
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				// Not yet logged in: check names it, oauth login writes it.
				p.missingRefresh[key] = true
				n.Value = ""
				return
			}
		}
		v, err := resolve(n.Value, p.lookupEnv)
		if err != nil {
			p.add(key, "%v", err)
			return
		}
		n.Value = v
	}
}

// resolve turns env:NAME and file:PATH into their value; other strings stay.
func resolve(v string, lookupEnv func(string) (string, bool)) (string, error) {
	switch {
	case strings.HasPrefix(v, "env:"):
		name := strings.TrimPrefix(v, "env:")
		val, ok := lookupEnv(name)
		if !ok || val == "" {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		return val, nil
	case strings.HasPrefix(v, "file:"):
		b, err := os.ReadFile(strings.TrimPrefix(v, "file:"))
		if err != nil {
			return "", fmt.Errorf("cannot read %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return v, nil
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// decodeProblems turns yaml's type errors into problems with keys where the line
// names one we recorded.
func (p *parser) decodeProblems(err error) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		p.add("(file)", "%s", yamlMessage(err))
		return
	}
	for _, msg := range te.Errors {
		m := yamlLine.FindStringSubmatch(msg)
		if m == nil {
			p.add("(file)", "%s", msg)
			continue
		}
		line, _ := strconv.Atoi(m[1])
		key := "(file)"
		for k, l := range p.lines {
			if l == line && (key == "(file)" || len(k) > len(key)) {
				key = k
			}
		}
		p.problems = append(p.problems, Problem{Key: key, Line: line, Message: m[2]})
	}
}

func yamlMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	}
	for i := range c.Mailboxes {
		m := &c.Mailboxes[i]
		if m.TLS == "" {
			m.TLS = "implicit"
		}
		if m.Port == 0 {
			m.Port = 143
			if m.TLS == "implicit" {
				m.Port = 993
			}
		}
		if m.Folder == "" {
			m.Folder = DefaultFolder
		}
		if m.After == "" {
			m.After = DefaultAfter
		}
		if m.Existing == "" {
			m.Existing = DefaultExisting
		}
		if !m.PollInterval.Set && m.PollInterval.bad == "" {
			m.PollInterval.D = DefaultPollInterval
		}
		if !m.AlertAfter.Set && m.AlertAfter.bad == "" {
			m.AlertAfter.D = DefaultAlertAfter
		}
		m.Login.setDefaults()
	}
	c.SMTP.Login.setDefaults()
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.PurgeAt == "" {
		c.PurgeAt = DefaultPurgeAt
	}
	c.setSignInDefaults()
	c.SenderAuth.setDefaults()
	if c.SMTP.TLS == "" {
		c.SMTP.TLS = "starttls"
	}
	if c.SMTP.Port == 0 {
		switch c.SMTP.TLS {
		case "implicit":
			c.SMTP.Port = 465
		case "none":
			c.SMTP.Port = 25
		default:
			c.SMTP.Port = 587
		}
	}
	for i := range c.Categories {
		if !c.Categories[i].Retention.Set {
			c.Categories[i].Retention = DefaultRetention
		}
		if c.Categories[i].AllowFrom == nil {
			c.Categories[i].AllowFrom = []string{"*"}
		}
	}
	for i := range c.Users {
		c.Users[i].Email = strings.ToLower(strings.TrimSpace(c.Users[i].Email))
	}
}

var keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

func (c *Config) check(p *parser) {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.add("listen", "want host:port, got %q", c.Listen)
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			p.add("metrics_listen", "want host:port, got %q", c.MetricsListen)
		} else if c.MetricsListen == c.Listen {
			p.add("metrics_listen", "is the same address as listen: leave it out to serve /metrics there")
		}
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add("public_url", "want an absolute http(s) URL, got %q", c.PublicURL)
	}
	if c.DatabaseURL == "" {
		p.add("database_url", "missing")
	}
	if len(c.Secret) < MinSecretBytes {
		p.add("secret", "too short: %d bytes, want at least %d (it signs reply tokens and sessions)", len(c.Secret), MinSecretBytes)
	}

	if c.IMAPPush.Secret != "" && len(c.IMAPPush.Secret) < MinSecretBytes {
		p.add("imap_push.secret", "too short: %d bytes, want at least %d (anyone who knows it can make postdesk poll)", len(c.IMAPPush.Secret), MinSecretBytes)
	}

	c.checkSignIn(p)
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "Local" {
			p.add("time_zone", "want an IANA time zone name such as Europe/Helsinki, got %q", c.TimeZone)
		}
	}
	if _, err := time.Parse("15:04", c.PurgeAt); err != nil {
		p.add("purge_at", "want a time of day as HH:MM, got %q", c.PurgeAt)
	}
	for i, t := range c.Trace {
		if t != "imap" && t != "smtp" {
			p.add(fmt.Sprintf("trace[%d]", i), "want imap or smtp, got %q", t)
		}
	}

	roles := map[string]bool{}
	for i, r := range c.Roles {
		k := fmt.Sprintf("roles[%d]", i)
		switch {
		case r.Key == "":
			p.add(k+".key", "missing")
		case !keyPattern.MatchString(r.Key):
			p.add(k+".key", "%q: use lower-case letters, digits, - and _", r.Key)
		case roles[r.Key]:
			p.add(k+".key", "duplicate role %q", r.Key)
		}
		roles[r.Key] = true
		if r.Name == "" {
			p.add(k+".name", "missing")
		}
		for j, m := range r.May {
			if !slices.Contains(Permissions, m) {
				p.add(fmt.Sprintf("%s.may[%d]", k, j), "unknown permission %q (known: %s)", m, strings.Join(Permissions, ", "))
			}
			if m == MaySetCompany && !r.Staff {
				p.warn(fmt.Sprintf("%s.may[%d]", k, j), "set_company grants nothing on a role without staff: true (managers set person and assignee through manager)")
			}
			if (m == MayAudit || m == MayPrivacy) && !r.Staff {
				p.warn(fmt.Sprintf("%s.may[%d]", k, j), "%s reaches every company's data and grants nothing on a role without staff: true", m)
			}
			if m == MayCanned && !r.Staff {
				p.warn(fmt.Sprintf("%s.may[%d]", k, j), "canned manages the staff roles' answers and grants nothing on a role without staff: true")
			}
		}
	}

	cats := map[string]bool{}
	addrs := map[string]string{}
	for i, cat := range c.Categories {
		k := fmt.Sprintf("categories[%d]", i)
		switch {
		case cat.Key == "":
			p.add(k+".key", "missing")
		case !keyPattern.MatchString(cat.Key):
			p.add(k+".key", "%q: use lower-case letters, digits, - and _", cat.Key)
		case cats[cat.Key]:
			p.add(k+".key", "duplicate category %q", cat.Key)
		}
		cats[cat.Key] = true
		if cat.Name == "" {
			p.add(k+".name", "missing")
		}
		if len(cat.Addresses) == 0 {
			p.add(k+".addresses", "at least one address is needed")
		}
		for j, a := range cat.Addresses {
			ak := fmt.Sprintf("%s.addresses[%d]", k, j)
			addr, err := checkAddress(a)
			if err != nil {
				p.add(ak, "%v", err)
				continue
			}
			if strings.Contains(addr, "+") {
				p.add(ak, "%q: a category address cannot hold '+' (plus-addresses carry reply tokens)", a)
				continue
			}
			if prev, dup := addrs[addr]; dup {
				p.add(ak, "duplicate address %q, already at %s", addr, prev)
				continue
			}
			addrs[addr] = ak
			c.Categories[i].Addresses[j] = addr
		}
		if len(cat.Roles) == 0 {
			p.add(k+".roles", "at least one receiver role is needed")
		}
		for j, r := range cat.Roles {
			if !roles[r] {
				p.add(fmt.Sprintf("%s.roles[%d]", k, j), "unknown role %q", r)
			}
		}
		if cat.Retention.bad != "" {
			p.add(k+".retention", "%s", cat.Retention.bad)
		} else if cat.Retention.Zero() {
			p.add(k+".retention", "must be longer than zero")
		} else if cat.Retention.Shorter(24 * time.Hour) {
			p.warn(k+".retention", "%s is under a day: conversations are purged that soon after they are solved", cat.Retention)
		}
		for j, pat := range cat.AllowFrom {
			if err := checkPattern(pat); err != nil {
				p.add(fmt.Sprintf("%s.allow_from[%d]", k, j), "%v", err)
			}
		}
	}

	names := map[string]bool{}
	for i, m := range c.Mailboxes {
		k := fmt.Sprintf("mailboxes[%d]", i)
		switch {
		case m.Name == "":
			p.add(k+".name", "missing")
		case !keyPattern.MatchString(m.Name):
			p.add(k+".name", "%q: use lower-case letters, digits, - and _", m.Name)
		case names[m.Name]:
			p.add(k+".name", "duplicate mailbox %q", m.Name)
		}
		names[m.Name] = true
		if m.Host == "" {
			p.add(k+".host", "missing")
		}
		checkPort(p, k+".port", m.Port)
		checkTLS(p, k+".tls", m.TLS)
		if m.Username == "" {
			p.add(k+".username", "missing")
		}
		if m.Password == "" && m.Auth != AuthOAuth2 {
			p.add(k+".password", "missing")
		}
		switch {
		case m.After == "seen", m.After == "delete":
		case strings.HasPrefix(m.After, "move:") && strings.TrimPrefix(m.After, "move:") != "":
		default:
			p.add(k+".after", "want seen, delete or move:FOLDER, got %q", m.After)
		}
		if m.Existing != "quiet" && m.Existing != "notify" {
			p.add(k+".existing", "want quiet or notify, got %q", m.Existing)
		}
		if m.PollInterval.bad != "" {
			p.add(k+".poll_interval", "%s", m.PollInterval.bad)
		} else if m.PollInterval.D <= 0 {
			p.add(k+".poll_interval", "must be longer than zero")
		}
		for key, d := range map[string]Duration{"alert_after": m.AlertAfter, "silence_alert": m.SilenceAlert} {
			if d.bad != "" {
				p.add(k+"."+key, "%s", d.bad)
			} else if d.D < 0 {
				p.add(k+"."+key, "must not be negative")
			}
		}
		if m.Category == "" {
			p.add(k+".category", "missing: the category for mail whose recipients name none")
		} else if !cats[m.Category] {
			p.add(k+".category", "unknown category %q", m.Category)
		}
	}

	if c.SMTP.Host == "" {
		p.add("smtp.host", "missing")
	}
	checkPort(p, "smtp.port", c.SMTP.Port)
	checkTLS(p, "smtp.tls", c.SMTP.TLS)
	if c.SMTP.Sessions < 0 || c.SMTP.Sessions > MaxSMTPSessions {
		p.add("smtp.sessions", "want 1 to %d sessions (or unset for the default), got %d", MaxSMTPSessions, c.SMTP.Sessions)
	}
	if c.SMTP.Auth != AuthOAuth2 && (c.SMTP.Username == "") != (c.SMTP.Password == "") {
		p.add("smtp.password", "username and password go together")
	}

	emails := map[string]bool{}
	for i, u := range c.Users {
		k := fmt.Sprintf("users[%d]", i)
		addr, err := checkAddress(u.Email)
		switch {
		case err != nil:
			p.add(k+".email", "%v", err)
		case emails[addr]:
			p.add(k+".email", "duplicate user %q", addr)
		}
		emails[addr] = true
		if u.Name == "" {
			p.add(k+".name", "missing")
		}
		for j, r := range u.Roles {
			if !roles[r] {
				p.add(fmt.Sprintf("%s.roles[%d]", k, j), "unknown role %q", r)
			}
		}
		if u.Language != "" && !slices.Contains(Languages, u.Language) {
			p.add(k+".language", "unknown language %q (known: %s)", u.Language, strings.Join(Languages, ", "))
		}
	}
	c.SenderAuth.check(p)
	c.checkLogging(p)
	for i, m := range c.Mailboxes {
		k := fmt.Sprintf("mailboxes[%d]", i)
		m.Login.check(p, k, m.Username, m.Password, "--mailbox "+m.Name)
	}
	c.SMTP.Login.check(p, "smtp", c.SMTP.Username, c.SMTP.Password, "--smtp")
	p.checkUnknownKeys()
}

// knownKeys are the keys the file may hold, as paths with [] for any index.
var knownKeys = map[string]bool{}

func init() {
	for _, k := range []string{
		"listen", "metrics_listen", "public_url", "database_url", "secret", "templates_dir", "trace", "trace[]", "purge_at", "time_zone",
		"mailboxes", "mailboxes[]", "mailboxes[].name", "mailboxes[].host", "mailboxes[].port", "mailboxes[].tls",
		"mailboxes[].username", "mailboxes[].password", "mailboxes[].folder", "mailboxes[].after",
		"mailboxes[].poll_interval", "mailboxes[].category", "mailboxes[].alert_after", "mailboxes[].silence_alert", "mailboxes[].existing", "mailboxes[].idle",
		"log_level", "trusted_proxies", "trusted_proxies[]", "imap_push", "imap_push.secret",
		"sender_auth", "sender_auth.authserv_ids", "sender_auth.authserv_ids[]", "sender_auth.staff_powers",
		"smtp", "smtp.host", "smtp.port", "smtp.tls", "smtp.username", "smtp.password", "smtp.sessions",
		"categories", "categories[]", "categories[].key", "categories[].name", "categories[].addresses", "categories[].addresses[]",
		"categories[].roles", "categories[].roles[]", "categories[].retention", "categories[].allow_from", "categories[].allow_from[]", "categories[].secure",
		"roles", "roles[]", "roles[].key", "roles[].name", "roles[].staff", "roles[].may", "roles[].may[]",
		"roles[].require_mfa", "roles[].require_sso", "audit_retention",
		"oidc", "oidc.issuer", "oidc.client_id", "oidc.client_secret", "oidc.scopes", "oidc.scopes[]",
		"oidc.button_label", "oidc.allow_domains", "oidc.allow_domains[]",
		"users", "users[]", "users[].email", "users[].name", "users[].roles", "users[].roles[]", "users[].language", "users[].company",
	} {
		knownKeys[k] = true
	}
	for _, prefix := range []string{"mailboxes[].", "smtp."} {
		for _, k := range loginKeys {
			knownKeys[prefix+k] = true
		}
	}
}

var indexPattern = regexp.MustCompile(`\[\d+\]`)

// checkUnknownKeys reports misspelt keys, which YAML would otherwise ignore.
func (p *parser) checkUnknownKeys() {
	keys := make([]string, 0, len(p.lines))
	for k := range p.lines {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !knownKeys[indexPattern.ReplaceAllString(k, "[]")] {
			p.add(k, "unknown key")
		}
	}
}

func checkPort(p *parser, key string, port int) {
	if port < 1 || port > 65535 {
		p.add(key, "want a port from 1 to 65535, got %d", port)
	}
}

func checkTLS(p *parser, key, mode string) {
	switch mode {
	case "implicit", "starttls", "none":
	default:
		p.add(key, "want implicit, starttls or none, got %q", mode)
	}
}

func checkAddress(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || !strings.Contains(a.Address, "@") {
		return "", fmt.Errorf("%q is not an email address", s)
	}
	return strings.ToLower(a.Address), nil
}

// checkPattern accepts "*", "*@domain", "*.domain" style globs and plain
// addresses, matched with path.Match against the lower-cased sender.
func checkPattern(pat string) error {
	if pat == "" {
		return errors.New("empty sender pattern")
	}
	if _, err := path.Match(pat, "x@example.com"); err != nil {
		return fmt.Errorf("bad sender pattern %q: %w", pat, err)
	}
	return nil
}

// AllowsSender reports whether a sender matches one of a category's patterns.
func (c *Category) AllowsSender(addr string) bool {
	addr = strings.ToLower(addr)
	for _, pat := range c.AllowFrom {
		if ok, _ := path.Match(strings.ToLower(pat), addr); ok {
			return true
		}
	}
	return false
}

// Tracing reports whether a protocol ("imap", "smtp") is traced.
// Location is the organisation's time zone (time_zone), the server's own
// zone when none is set; check has refused a name that does not load.
func (c *Config) Location() *time.Location {
	if c.TimeZone == "" {
		return time.Local
	}
	if loc, err := time.LoadLocation(c.TimeZone); err == nil {
		return loc
	}
	return time.Local
}

func (c *Config) Tracing(protocol string) bool { return slices.Contains(c.Trace, protocol) }
