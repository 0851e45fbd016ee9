package config

import (
	"strings"
	"testing"
)

// audit_retention defaults to a year; roles' require_mfa and require_sso
// and the oidc block are read and checked.
func TestSignInKeys(t *testing.T) {
	c, _, err := Parse("postdesk.yaml", []byte(valid), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if c.AuditRetention.Months != 12 || c.OIDC != nil {
		t.Fatalf("defaults: audit_retention %v, oidc %v", c.AuditRetention, c.OIDC)
	}
	yaml := strings.Replace(valid, "roles:\n", "roles:\n  - {key: admins, name: Admins, staff: true, may: [audit], require_mfa: true, require_sso: true}\n", 1) +
		"audit_retention: 2y\noidc:\n  issuer: https://login.example.com/tenant/v2.0\n  client_id: postdesk\n  client_secret: s3cret\n  allow_domains: ['@Example.com']\n"
	c, _, err = Parse("postdesk.yaml", []byte(yaml), lookup)
	if err != nil {
		t.Fatal(err)
	}
	var admins *Role
	for i := range c.Roles {
		if c.Roles[i].Key == "admins" {
			admins = &c.Roles[i]
		}
	}
	if admins == nil || !admins.RequireMFA || !admins.RequireSSO {
		t.Fatalf("role %+v", admins)
	}
	o := c.OIDC
	if c.AuditRetention.Months != 24 || o == nil || o.ButtonLabel == "" || len(o.Scopes) != 2 || o.AllowDomains[0] != "example.com" {
		t.Fatalf("audit_retention %v, oidc %+v", c.AuditRetention, o)
	}

	bad := strings.Replace(valid, "roles:\n", "roles:\n  - {key: admins, name: Admins, staff: true, require_sso: true}\n", 1) +
		"audit_retention: 0s\n"
	_, _, err = Parse("postdesk.yaml", []byte(bad), lookup)
	for _, want := range []string{"require_sso: needs oidc", "audit_retention: must be longer than zero"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in %v", want, err)
		}
	}
	_, _, err = Parse("postdesk.yaml", []byte(valid+"oidc:\n  issuer: http://idp.example.com\n"), lookup)
	for _, want := range []string{"oidc.issuer", "oidc.client_id: missing", "oidc.client_secret: missing"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in %v", want, err)
		}
	}
}
