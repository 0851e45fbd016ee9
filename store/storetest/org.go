package storetest

import (
	"context"
	"testing"

	"postdesk/config"
	"postdesk/store"
)

// Config parses a config file's text as tests write it (env: values are
// never set), failing the test on any problem.
func Config(t testing.TB, yaml string) *config.Config {
	t.Helper()
	c, _, err := config.Parse("test.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Org returns a fresh database holding the roles, categories and users of a
// config, applied as serve applies them.
func Org(t testing.TB, yaml string) (*store.Store, *config.Config) {
	t.Helper()
	st := New(t)
	c := Config(t, yaml)
	if err := st.ApplyConfig(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return st, c
}

// TestOrg is the invented organisation most tests run: Payroll
// (payroll-team) and Sick leave (hr-team); team leads who may assign and hold;
// managers of Acme Oy; and customers of two companies.
const TestOrg = `
listen: 127.0.0.1:8080
database_url: postgres://unused
secret: 0123456789abcdef0123456789abcdef
smtp: {host: 127.0.0.1, port: 2525, tls: none}
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team]}
  - {key: sick-leave, name: Sick leave, addresses: [hr@example.com], roles: [hr-team]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true, may: [change_receivers, set_company]}
  - {key: hr-team, name: HR team, staff: true}
  - {key: leads, name: Team leads, staff: true, may: [assign, legal_hold]}
  - {key: managers, name: Managers, may: [manager]}
users:
  - {email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team]}
  - {email: ben.payroll@example.com, name: Ben Payroll, roles: [payroll-team]}
  - {email: hilla.hr@example.com, name: Hilla HR, roles: [hr-team]}
  - {email: lea.lead@example.com, name: Lea Lead, roles: [payroll-team, leads]}
  - {email: mika.manager@acme.example, name: Mika Manager, roles: [managers], company: Acme Oy}
  - {email: cara.customer@acme.example, name: Cara Customer, company: Acme Oy}
  - {email: otto.other@globex.example, name: Otto Other, company: Globex Oy}
  - {email: olga.other@acme.example, name: Olga Other, company: Acme Oy}
`
