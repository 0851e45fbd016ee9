package storetest

import "net/url"

// withDatabase returns a connection URL naming another database.
func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}
