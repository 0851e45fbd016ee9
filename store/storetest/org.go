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
