package web

import (
	"crypto/tls"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// X-Forwarded-For is believed only from trusted_proxies, read from its end
// past every trusted hop.
func TestClientIPTrustedProxies(t *testing.T) {
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct {
		name    string
		proxies []netip.Prefix
		peer    string
		xff     []string
		want    string
	}{
		{"no proxy: the peer", lb, "198.51.100.7:5000", nil, "198.51.100.7"},
		{"untrusted peer's header ignored", lb, "198.51.100.7:5000", []string{"203.0.113.9"}, "198.51.100.7"},
		{"trusted peer: the entry it added", lb, "10.1.2.3:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"forged first entry ignored", lb, "10.1.2.3:5000", []string{"198.51.100.1, 203.0.113.9"}, "203.0.113.9"},
		{"two trusted hops skipped", lb, "10.1.2.3:5000", []string{"203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"header lines joined", lb, "10.1.2.3:5000", []string{"198.51.100.1", "203.0.113.9"}, "203.0.113.9"},
		{"garbage stops the walk", lb, "10.1.2.3:5000", []string{"203.0.113.9, bogus"}, "10.1.2.3"},
		{"loopback not trusted unless listed", lb, "127.0.0.1:5000", []string{"203.0.113.9"}, "127.0.0.1"},
		{"loopback listed", []netip.Prefix{netip.MustParsePrefix("::1/128")}, "[::1]:5000", []string{"2001:db8::5"}, "2001:db8::5"},
		{"none trusted", []netip.Prefix{}, "127.0.0.1:5000", []string{"203.0.113.9"}, "127.0.0.1"},
		{"default: none, not even loopback", nil, "127.0.0.1:5000", []string{"203.0.113.9"}, "127.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &server{proxies: c.proxies}
			r := httptest.NewRequest("POST", "/login", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientIP(r); got != c.want {
				t.Errorf("clientIP = %s, want %s", got, c.want)
			}
		})
	}
}

// X-Forwarded-Proto counts only from a trusted peer, by its last value.
func TestHTTPSFromTrustedProxies(t *testing.T) {
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct {
		name  string
		peer  string
		proto []string
		tls   bool
		want  bool
	}{
		{"trusted https", "10.1.2.3:5000", []string{"https"}, false, true},
		{"trusted, any case", "10.1.2.3:5000", []string{"HTTPS"}, false, true},
		{"trusted http", "10.1.2.3:5000", []string{"http"}, false, false},
		{"trusted, no header", "10.1.2.3:5000", nil, false, false},
		{"the nearest proxy's value counts", "10.1.2.3:5000", []string{"https, http"}, false, false},
		{"appended by the nearest proxy", "10.1.2.3:5000", []string{"http, https"}, false, true},
		{"untrusted peer's header ignored", "198.51.100.7:5000", []string{"https"}, false, false},
		{"TLS to postdesk itself", "198.51.100.7:5000", nil, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &server{proxies: lb}
			r := httptest.NewRequest("POST", "/login", nil)
			r.RemoteAddr = c.peer
			if c.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for _, v := range c.proto {
				r.Header.Add("X-Forwarded-Proto", v)
			}
			if got := s.https(r); got != c.want {
				t.Errorf("https = %v, want %v", got, c.want)
			}
		})
	}
}
