// Package oauthtest runs an OAuth2 provider for tests on a loopback port: a
// token endpoint (RFC 6749: client_credentials and refresh_token grants,
// and the device_code grant of RFC 8628), a device authorization endpoint,
// and a token introspection endpoint (RFC 7662) for Dovecot's oauth2
// passdb to check the tokens it issued. Tokens can be revoked, and the
// token endpoint made to hang, to test what a client does then.
package oauthtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// Provider is a running test provider.
type Provider struct {
	// URL is the server's base; TokenURL, DeviceURL and IntrospectURL its
	// endpoints.
	URL, TokenURL, DeviceURL, IntrospectURL string
	ClientID, ClientSecret                  string
	// Username is what introspection names as a token's owner (Dovecot's
	// username_attribute "username").
	Username string
	// ExpiresIn is the lifetime given with new tokens, in seconds (default 3600).
	ExpiresIn int

	mu       sync.Mutex
	active   map[string]bool   // access token -> valid
	refresh  map[string]bool   // refresh tokens accepted
	devices  map[string]string // device_code -> "pending" | "approved"
	issued   []string
	forms    []url.Values // every token request's form, in turn
	requests int
	hang     chan struct{} // when set, the token endpoint waits for it to close
}

// Start starts a provider for client id/secret whose tokens belong to
// username; it stops with the test.
func Start(t testing.TB, username string) *Provider {
	p := &Provider{ClientID: "postdesk-test", ClientSecret: "s3cret-" + randHex(4), Username: username, ExpiresIn: 3600,
		active: map[string]bool{}, refresh: map[string]bool{}, devices: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("POST /devicecode", p.device)
	mux.HandleFunc("POST /introspect", p.introspect)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		p.Hang(false)
		srv.Close()
	})
	p.URL = srv.URL
	p.TokenURL, p.DeviceURL, p.IntrospectURL = srv.URL+"/token", srv.URL+"/devicecode", srv.URL+"/introspect"
	return p
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AddRefreshToken makes a refresh token acceptable and returns it.
func (p *Provider) AddRefreshToken() string {
	rt := "rt-" + randHex(8)
	p.mu.Lock()
	p.refresh[rt] = true
	p.mu.Unlock()
	return rt
}

// Issued returns the access tokens issued so far, oldest first.
func (p *Provider) Issued() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.issued...)
}

// Requests is how many token requests were answered.
func (p *Provider) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

// Forms returns the forms of the token requests the client credentials
// passed, oldest first.
func (p *Provider) Forms() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]url.Values(nil), p.forms...)
}

// Active reports whether an access token is issued and not revoked.
func (p *Provider) Active(tok string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active[tok]
}

// Revoke makes an access token invalid at the introspection endpoint.
func (p *Provider) Revoke(tok string) {
	p.mu.Lock()
	p.active[tok] = false
	p.mu.Unlock()
}

// RevokeAll revokes every token issued and every one issued from now on.
func (p *Provider) RevokeAll() {
	p.mu.Lock()
	for k := range p.active {
		p.active[k] = false
	}
	p.active[""] = false // marker: new tokens start revoked
	p.mu.Unlock()
}

// Hang makes the token endpoint stop answering (until Hang(false)).
func (p *Provider) Hang(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on && p.hang == nil {
		p.hang = make(chan struct{})
	}
	if !on && p.hang != nil {
		close(p.hang)
		p.hang = nil
	}
}

// Approve approves every pending device code (the user signed in).
func (p *Provider) Approve() {
	p.mu.Lock()
	for k, v := range p.devices {
		if v == "pending" {
			p.devices[k] = "approved"
		}
	}
	p.mu.Unlock()
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc}) //nolint:errcheck // test server
}

// clientOK checks the client's credentials, in the Authorization header
// (RFC 6749 section 2.3.1) or the body.
func (p *Provider) clientOK(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	return id == p.ClientID && (secret == p.ClientSecret || secret == "" && r.PostForm.Get("grant_type") != "client_credentials")
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	hang := p.hang
	p.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, 400, "invalid_request", err.Error())
		return
	}
	if !p.clientOK(r) {
		oauthError(w, 401, "invalid_client", "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0000")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	p.forms = append(p.forms, r.PostForm)
	resp := map[string]any{"token_type": "Bearer", "expires_in": p.ExpiresIn}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if !p.refresh[rt] {
			oauthError(w, 400, "invalid_grant", "AADSTS70000: The provided grant has expired or is revoked.")
			return
		}
		// Rotate, as Microsoft does: the new one works, the old one too.
		next := "rt-" + randHex(8)
		p.refresh[next] = true
		resp["refresh_token"] = next
	case "urn:ietf:params:oauth:grant-type:device_code":
		switch p.devices[r.PostForm.Get("device_code")] {
		case "pending":
			oauthError(w, 400, "authorization_pending", "")
			return
		case "approved":
			delete(p.devices, r.PostForm.Get("device_code"))
			rt := "rt-" + randHex(8)
			p.refresh[rt] = true
			resp["refresh_token"] = rt
		default:
			oauthError(w, 400, "expired_token", "")
			return
		}
	default:
		oauthError(w, 400, "unsupported_grant_type", r.PostForm.Get("grant_type"))
		return
	}
	tok := "at-" + randHex(12)
	_, revoked := p.active[""]
	p.active[tok] = !revoked
	p.issued = append(p.issued, tok)
	resp["access_token"] = tok
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp) //nolint:errcheck // test server
}

func (p *Provider) device(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("client_id") != p.ClientID {
		oauthError(w, 400, "invalid_client", "unknown client")
		return
	}
	code := "dc-" + randHex(8)
	p.mu.Lock()
	p.devices[code] = "pending"
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{ //nolint:errcheck // test server
		"device_code": code, "user_code": "ABCD-EFGH", "verification_uri": p.URL + "/device",
		"expires_in": 900, "interval": 1,
	})
}

// introspect answers RFC 7662 requests (token=... in the body), as
// Dovecot's introspection_mode = post sends them.
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	p.mu.Lock()
	active := p.active[r.PostForm.Get("token")]
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	// The owner is named for a revoked token too, so that only the active
	// attribute refuses it (Dovecot's active_attribute must be checked).
	json.NewEncoder(w).Encode(map[string]any{"active": active, "username": p.Username}) //nolint:errcheck // test server
}
