package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// valid is the file from DESIGN.md, with its env: values set by lookup.
const valid = `
listen: 127.0.0.1:9180
public_url: http://127.0.0.1:9180
database_url: env:DATABASE_URL
secret: env:POSTDESK_SECRET
mailboxes:
  - name: payroll
    host: 127.0.0.1
    port: 993
    tls: implicit
    username: payroll@example.com
    password: env:PAYROLL_IMAP_PASSWORD
    folder: INBOX
    after: seen
    poll_interval: 30s
    category: payroll
sender_auth:
  authserv_ids: [mx.example.com]
  staff_powers: require_pass
smtp:
  host: 127.0.0.1
  port: 587
  tls: starttls
  username: postdesk@example.com
  password: env:SMTP_PASSWORD
categories:
  - key: payroll
    name: Payroll
    addresses: [payroll@example.com]
    roles: [payroll-team]
    retention: 4y
    allow_from: ["*"]
roles:
  - key: payroll-team
    name: Payroll team
    staff: true
    may: [change_receivers, set_company]
users:
  - email: alice@example.com
    name: Alice Example
    roles: [payroll-team]
    language: fi
`

var env = map[string]string{
	"DATABASE_URL":          "postgres://postgres@127.0.0.1/postdesk",
	"POSTDESK_SECRET":       "0123456789abcdef0123456789abcdef",
	"PAYROLL_IMAP_PASSWORD": "imap-pass",
	"SMTP_PASSWORD":         "smtp-pass",
}

func lookup(k string) (string, bool) { v, ok := env[k]; return v, ok }

func TestValid(t *testing.T) {
	c, warnings, err := Parse("postdesk.yaml", []byte(valid), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings %v", warnings)
	}
	if c.DatabaseURL != env["DATABASE_URL"] || c.Mailboxes[0].Password != "imap-pass" || c.SMTP.Password != "smtp-pass" {
		t.Fatalf("env: values not resolved: %+v", c)
	}
	if c.Mailboxes[0].PollInterval.D != 30*time.Second {
		t.Fatalf("poll_interval %v", c.Mailboxes[0].PollInterval)
	}
	if c.Categories[0].Retention != (Retention{Months: 48, Set: true}) {
		t.Fatalf("retention %+v", c.Categories[0].Retention)
	}
	if c.Users[0].Language != "fi" || c.Roles[0].May[1] != "set_company" {
		t.Fatalf("users/roles %+v %+v", c.Users, c.Roles)
	}
}

// TestSwedishAndTimeZone: language sv is accepted and time_zone names the
// zone the web view shows times in; without it the server's zone is used.
func TestSwedishAndTimeZone(t *testing.T) {
	y := strings.Replace(valid, "language: fi", "language: sv", 1)
	c, _, err := Parse("postdesk.yaml", []byte(y), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if c.Users[0].Language != "sv" {
		t.Fatalf("language %q", c.Users[0].Language)
	}
	if c.Location() != time.Local {
		t.Fatalf("default zone %v, want the server's", c.Location())
	}
	y = strings.Replace(y, "listen: 127.0.0.1:9180", "listen: 127.0.0.1:9180\ntime_zone: Europe/Stockholm", 1)
	c, _, err = Parse("postdesk.yaml", []byte(y), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if c.Location().String() != "Europe/Stockholm" {
		t.Fatalf("zone %v", c.Location())
	}
}

func TestDefaultsAndFileValues(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("fedcba9876543210fedcba9876543210\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := `
database_url: postgres://localhost/postdesk
secret: file:` + secretFile + `
mailboxes: [{name: hr, host: imap.example.com, username: u, password: p, category: hr}]
smtp: {host: smtp.example.com}
categories: [{key: hr, name: HR, addresses: [HR@Example.com], roles: [hr]}]
roles: [{key: hr, name: HR}]
users: [{email: Bob@Example.COM, name: Bob}]
`
	c, _, err := Parse("x.yaml", []byte(y), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if c.Secret != "fedcba9876543210fedcba9876543210" {
		t.Fatalf("file: secret %q (the trailing newline must go)", c.Secret)
	}
	m := c.Mailboxes[0]
	if m.AlertAfter.D != DefaultAlertAfter || m.SilenceAlert.D != 0 {
		t.Fatalf("alert defaults %+v %+v", m.AlertAfter, m.SilenceAlert)
	}
	if c.Listen != DefaultListen || c.MetricsListen != "" || m.Port != 993 || m.TLS != "implicit" || m.Folder != "INBOX" || m.After != "seen" || m.Existing != "quiet" || m.PollInterval.D != DefaultPollInterval {
		t.Fatalf("defaults: listen %s mailbox %+v", c.Listen, m)
	}
	if c.SMTP.Port != 587 || c.SMTP.TLS != "starttls" {
		t.Fatalf("smtp defaults %+v", c.SMTP)
	}
	if c.Categories[0].Retention != DefaultRetention || c.Categories[0].Addresses[0] != "hr@example.com" || c.Categories[0].AllowFrom[0] != "*" {
		t.Fatalf("category defaults %+v", c.Categories[0])
	}
	if c.Users[0].Email != "bob@example.com" || c.Users[0].Language != "" { // none: the browser's, and English mail
		t.Fatalf("user defaults %+v", c.Users[0])
	}
}

// Each mistake is reported with the key it sits under and a message naming
// the problem. Every row edits the valid file in one place.
func TestMistakes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to string
		key, msg string
	}{
		{"unknown role in a category", "roles: [payroll-team]\n    retention", "roles: [payroll-tim]\n    retention", "categories[0].roles[0]", `unknown role "payroll-tim"`},
		{"unknown role of a user", "roles: [payroll-team]\n    language", "roles: [nobody]\n    language", "users[0].roles[0]", `unknown role "nobody"`},
		{"duplicate address", "addresses: [payroll@example.com]", "addresses: [payroll@example.com, PAYROLL@example.com]", "categories[0].addresses[1]", "duplicate address"},
		{"plus in a category address", "addresses: [payroll@example.com]", "addresses: [payroll+x@example.com]", "categories[0].addresses[0]", "'+'"},
		{"bad address", "addresses: [payroll@example.com]", "addresses: [payroll]", "categories[0].addresses[0]", "not an email address"},
		{"bad poll duration", "poll_interval: 30s", "poll_interval: 30 seconds", "mailboxes[0].poll_interval", "bad duration"},
		{"bad alert duration", "poll_interval: 30s", "poll_interval: 30s\n    alert_after: soon", "mailboxes[0].alert_after", "bad duration"},
		{"negative silence", "poll_interval: 30s", "poll_interval: 30s\n    silence_alert: -1h", "mailboxes[0].silence_alert", "negative"},
		{"bad retention", "retention: 4y", "retention: 4 years", "categories[0].retention", "bad retention"},
		{"zero retention", "retention: 4y", "retention: 0s", "categories[0].retention", "longer than zero"},
		// 357913941y is 4294967292 months, which a 32-bit interval wraps
		// round to -4 months: a purge of everything.
		{"overflowing retention", "retention: 4y", "retention: 357913941y", "categories[0].retention", "longer than 100 years"},
		{"retention past the int range", "retention: 4y", "retention: 99999999999999999999d", "categories[0].retention", "longer than 100 years"},
		{"101 years", "retention: 4y", "retention: 101y", "categories[0].retention", "longer than 100 years"},
		{"1201 months", "retention: 4y", "retention: 1201mo", "categories[0].retention", "longer than 100 years"},
		{"36526 days", "retention: 4y", "retention: 36526d", "categories[0].retention", "longer than 100 years"},
		{"5218 weeks", "retention: 4y", "retention: 5218w", "categories[0].retention", "longer than 100 years"},
		{"876601 hours", "retention: 4y", "retention: 876601h", "categories[0].retention", "longer than 100 years"},
		{"short secret", "secret: env:POSTDESK_SECRET", "secret: tooshort", "secret", "too short"},
		{"short push secret", "listen: 127.0.0.1:9180", "listen: 127.0.0.1:9180\nimap_push: {secret: tooshort}", "imap_push.secret", "too short"},
		{"misspelt push key", "listen: 127.0.0.1:9180", "listen: 127.0.0.1:9180\nimap_push: {token: x}", "imap_push.token", "unknown key"},
		{"unset env", "password: env:SMTP_PASSWORD", "password: env:NO_SUCH_VARIABLE", "smtp.password", "NO_SUCH_VARIABLE is not set"},
		{"missing file", "password: env:SMTP_PASSWORD", "password: file:/nonexistent/postdesk-secret", "smtp.password", "cannot read"},
		{"bad tls mode", "tls: implicit", "tls: ssl", "mailboxes[0].tls", "want implicit, starttls or none"},
		{"bad port", "port: 993", "port: 99999", "mailboxes[0].port", "port from 1 to 65535"},
		{"too many smtp sessions", "port: 587", "port: 587\n  sessions: 33", "smtp.sessions", "want 1 to 32 sessions"},
		{"negative smtp sessions", "port: 587", "port: 587\n  sessions: -1", "smtp.sessions", "want 1 to 32 sessions"},
		{"port not a number", "port: 993", "port: imaps", "mailboxes[0].port", "cannot unmarshal"},
		{"bad after action", "after: seen", "after: archive", "mailboxes[0].after", "move:FOLDER"},
		{"bad existing mode", "after: seen", "after: seen\n    existing: ignore", "mailboxes[0].existing", `want quiet or notify, got "ignore"`},
		{"unknown mailbox category", "category: payroll\nsender_auth", "category: payrol\nsender_auth", "mailboxes[0].category", `unknown category "payrol"`},
		{"unknown permission", "may: [change_receivers, set_company]", "may: [change_receivers, fly]", "roles[0].may[1]", `unknown permission "fly"`},
		{"unknown language", "language: fi", "language: klingon", "users[0].language", "unknown language"},
		{"bad time zone", "listen: 127.0.0.1:9180", "listen: 127.0.0.1:9180\ntime_zone: Europe/Helsingfors", "time_zone", "IANA time zone"},
		{"misspelt key", "poll_interval: 30s", "pol_interval: 30s", "mailboxes[0].pol_interval", "unknown key"},
		{"missing smtp host", "  host: 127.0.0.1\n  port: 587", "  port: 587", "smtp.host", "missing"},
		{"bad listen", "listen: 127.0.0.1:9180", "listen: localhost", "listen", "host:port"},
		{"bad metrics listen", "listen: 127.0.0.1:9180", "listen: 127.0.0.1:9180\nmetrics_listen: 9090", "metrics_listen", "host:port"},
		{"metrics on listen", "listen: 127.0.0.1:9180", "listen: 127.0.0.1:9180\nmetrics_listen: 127.0.0.1:9180", "metrics_listen", "same address as listen"},
		{"bad purge time", "listen: 127.0.0.1:9180", "listen: 127.0.0.1:9180\npurge_at: 3am", "purge_at", "HH:MM"},
		{"bad trace", "listen: 127.0.0.1:9180", "listen: 127.0.0.1:9180\ntrace: [pop3]", "trace[0]", "want imap or smtp"},
		{"bad public url", "public_url: http://127.0.0.1:9180", "public_url: 127.0.0.1", "public_url", "absolute http(s) URL"},
		{"bad sender pattern", `allow_from: ["*"]`, `allow_from: ["[x"]`, "categories[0].allow_from[0]", "bad sender pattern"},
		{"duplicate user", "users:\n", "users:\n  - {email: alice@example.com, name: Alice Again}\n", "users[1].email", "duplicate user"},
		{"duplicate role", "roles:\n", "roles:\n  - {key: payroll-team, name: Twice}\n", "roles[1].key", "duplicate role"},
		{"category without roles", "roles: [payroll-team]\n    retention", "roles: []\n    retention", "categories[0].roles", "at least one"},
		{"not yaml", "listen: 127.0.0.1:9180", "listen: [", "(file)", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(valid, tc.from) {
				t.Fatalf("test edit %q not found in the valid file", tc.from)
			}
			y := strings.Replace(valid, tc.from, tc.to, 1)
			_, _, err := Parse("postdesk.yaml", []byte(y), lookup)
			if err == nil {
				t.Fatal("no error")
			}
			ce, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %T %v, want *Error", err, err)
			}
			for _, p := range ce.Problems {
				if p.Key == tc.key && strings.Contains(p.Message, tc.msg) {
					if tc.key != "(file)" && p.Line == 0 {
						t.Errorf("problem %v has no line", p)
					}
					return
				}
			}
			t.Fatalf("no problem under %s mentioning %q in:\n%v", tc.key, tc.msg, err)
		})
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	y := strings.NewReplacer("secret: env:POSTDESK_SECRET", "secret: short", "tls: implicit", "tls: ssl", "language: fi", "language: xx").Replace(valid)
	_, _, err := Parse("postdesk.yaml", []byte(y), lookup)
	msg := err.Error()
	for _, want := range []string{"secret", "mailboxes[0].tls", "users[0].language", "3 problem(s)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestShortRetentionWarns(t *testing.T) {
	_, warnings, err := Parse("postdesk.yaml", []byte(strings.Replace(valid, "retention: 4y", "retention: 36h", 1)), lookup)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("36h: %v %v", warnings, err)
	}
	c, warnings, err := Parse("postdesk.yaml", []byte(strings.Replace(valid, "retention: 4y", "retention: 10s", 1)), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || warnings[0].Key != "categories[0].retention" || !warnings[0].Warning {
		t.Fatalf("warnings %v", warnings)
	}
	if c.Categories[0].Retention.Exact != 10*time.Second {
		t.Fatalf("retention %+v", c.Categories[0].Retention)
	}
}

// set_company on a role without staff grants nothing (issue 10): the file
// still loads, with a warning at that permission.
func TestSetCompanyOnNonStaffRoleWarns(t *testing.T) {
	_, warnings, err := Parse("postdesk.yaml", []byte(strings.Replace(valid, "    staff: true\n", "", 1)), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || warnings[0].Key != "roles[0].may[1]" || !warnings[0].Warning || !strings.Contains(warnings[0].Message, "grants nothing") {
		t.Fatalf("warnings %v", warnings)
	}
}

// audit and privacy reach every company's data: on a customer-side role
// they grant nothing, and the file says so.
func TestAuditAndPrivacyOnNonStaffRoleWarn(t *testing.T) {
	y := strings.Replace(strings.Replace(valid, "    staff: true\n", "", 1), "may: [change_receivers, set_company]", "may: [audit, privacy]", 1)
	_, warnings, err := Parse("postdesk.yaml", []byte(y), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 || warnings[0].Key != "roles[0].may[0]" || warnings[1].Key != "roles[0].may[1]" || !strings.Contains(warnings[1].Message, "privacy reaches every company") {
		t.Fatalf("warnings %v", warnings)
	}
}

func TestParseRetention(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Retention
		err  bool
	}{
		{"4y", Retention{Months: 48, Set: true}, false},
		{"18mo", Retention{Months: 18, Set: true}, false},
		{"6w", Retention{Days: 42, Set: true}, false},
		{"90d", Retention{Days: 90, Set: true}, false},
		{"36h", Retention{Exact: 36 * time.Hour, Set: true}, false},
		{"90m", Retention{Exact: 90 * time.Minute, Set: true}, false},
		{"10s", Retention{Exact: 10 * time.Second, Set: true}, false},
		{"4x", Retention{}, true},
		{"y", Retention{}, true},
		{"-5h", Retention{}, true},
		{"", Retention{}, true},
		// The bound and its neighbours, in every unit.
		{"100y", Retention{Months: 1200, Set: true}, false},
		{"101y", Retention{}, true},
		{"357913941y", Retention{}, true},
		{"1200mo", Retention{Months: 1200, Set: true}, false},
		{"1201mo", Retention{}, true},
		{"5217w", Retention{Days: 36519, Set: true}, false},
		{"5218w", Retention{}, true},
		{"36525d", Retention{Days: 36525, Set: true}, false},
		{"36526d", Retention{}, true},
		{"876600h", Retention{Exact: 876600 * time.Hour, Set: true}, false},
		{"876601h", Retention{}, true},
		{"99999999999999999999d", Retention{}, true},
	} {
		got, err := ParseRetention(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseRetention(%q) = %+v, %v", tc.in, got, err)
		}
	}
	// Calendar arithmetic: four years from a leap day.
	from := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)
	if got := (Retention{Months: 48}).After(from); !got.Equal(time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("4y after %v = %v", from, got)
	}
}

func TestAllowsSender(t *testing.T) {
	c := Category{AllowFrom: []string{"*@acme.example", "boss@globex.example"}}
	for addr, want := range map[string]bool{
		"cara@acme.example": true, "CARA@ACME.EXAMPLE": true, "boss@globex.example": true,
		"other@globex.example": false, "x@acme.example.evil": false,
	} {
		if got := c.AllowsSender(addr); got != want {
			t.Errorf("AllowsSender(%s) = %v", addr, got)
		}
	}
}
