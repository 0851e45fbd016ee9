package web

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"postdesk/store"
)

type loginData struct {
	page
	Email string
	Next  string
	SSO   string // the single sign-on button's label, "" without oidc
}

// loginFailed is the one answer for an unknown address, a user without a
// password and a wrong password alike.
var loginFailed = msgKey("Wrong email address or password.")

// loginPage shows the sign-in form (or goes home when signed in already).
func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	if rq, err := s.session(r); err == nil && rq != nil {
		redirect(w, r, localPath(r.URL.Query().Get("next")))
		return
	}
	d := loginData{page: s.base(w, r, nil, msgKey("Sign in"), ""), Next: localPath(r.URL.Query().Get("next")), SSO: s.ssoLabel()}
	d.Flash = s.takeFlash(w, r, s.loc(r, nil))
	s.render(w, http.StatusOK, "login", d)
}

// loginSubmit checks the address and password, within the rate limits.
func (s *server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, nil, http.StatusBadRequest, msgKey("The form could not be read."))
		return
	}
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	pw := r.PostFormValue("password")
	d := loginData{page: s.base(w, r, nil, msgKey("Sign in"), ""), Email: email, Next: localPath(r.PostFormValue("next")), SSO: s.ssoLabel()}
	ip := s.clientIP(r)
	wait, err := s.limiter.wait(r.Context(), email, ip)
	if err != nil {
		s.log.Error("login: throttle", "err", err)
		s.errorPage(w, r, nil, http.StatusInternalServerError, "")
		return
	}
	if wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		l := s.loc(r, nil)
		d.Error = l.T("Too many failed sign-ins from here. Please wait %s and try again.", l.Wait(secs))
		s.record(r, store.SigninEvent{Email: email, Event: store.EventSignInThrottled, Method: "password",
			Detail: map[string]any{"wait_seconds": secs}})
		s.render(w, http.StatusTooManyRequests, "login", d)
		return
	}
	u, err := s.st.UserByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("login", "err", err)
		s.errorPage(w, r, nil, http.StatusInternalServerError, "")
		return
	}
	hash := dummyHash()
	if u != nil && u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	ok, err := CheckPassword(hash, pw)
	if err != nil {
		s.log.Error("login: unreadable password hash", "user", email, "err", err)
	}
	if !ok || u == nil || u.PasswordHash == "" {
		if err := s.limiter.failed(r.Context(), email, ip); err != nil {
			s.log.Error("login: throttle", "err", err)
		}
		s.log.Info("login failed", "email", email, "ip", ip)
		var uid *int64
		if u != nil {
			uid = &u.ID
		}
		s.record(r, store.SigninEvent{UserID: uid, Email: email, Event: store.EventSignInFailed, Method: "password",
			Detail: map[string]any{"reason": "wrong address or password"}})
		d.Error = loginFailed
		s.render(w, http.StatusUnauthorized, "login", d)
		return
	}
	if err := s.limiter.succeeded(r.Context(), email, ip); err != nil {
		s.log.Error("login: throttle", "err", err)
	}
	// require_sso: the right password says nothing a wrong one would not
	// (only its owner gets here), so the reason can be told.
	if a, err := s.svc.Actor(r.Context(), u.ID); err != nil {
		s.log.Error("login: roles", "err", err)
		s.errorPage(w, r, nil, http.StatusInternalServerError, "")
		return
	} else if s.requiresSSO(a.Roles) {
		s.record(r, store.SigninEvent{UserID: &u.ID, Email: u.Email, Event: store.EventSignInFailed, Method: "password",
			Detail: map[string]any{"reason": "role requires single sign-on"}})
		d.Error = msgKey("Your organisation requires single sign-on: use the button below instead of your password.")
		s.render(w, http.StatusForbidden, "login", d)
		return
	}
	// A session id the browser held before signing in is never reused.
	if old, _ := s.session(r); old != nil {
		s.st.DeleteSession(r.Context(), old.hash) //nolint:errcheck
	}
	stage, err := s.signInStage(r, u.ID)
	if err == nil {
		err = s.newStagedSession(w, r, u.ID, stage)
	}
	if err != nil {
		s.log.Error("login: session", "err", err)
		s.errorPage(w, r, nil, http.StatusInternalServerError, "")
		return
	}
	s.log.Info("login", "user", u.Email, "ip", ip, "stage", stage)
	// stage "mfa": the code comes next, recorded as a sign-in of its own.
	s.record(r, store.SigninEvent{UserID: &u.ID, Email: u.Email, Event: store.EventSignIn, Method: "password",
		Detail: map[string]any{"stage": stage}})
	switch stage {
	case store.StageMFA:
		redirect(w, r, "/login/mfa")
	case store.StageEnrol:
		redirect(w, r, "/settings/mfa")
	default:
		redirect(w, r, d.Next)
	}
}

// logout ends the session: the row goes, so the cookie is worthless.
func (s *server) logout(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := s.st.DeleteSession(r.Context(), rq.hash); err != nil {
		s.fail(w, r, rq, err)
		return
	}
	s.clearSessionCookie(w, r)
	s.record(r, store.SigninEvent{UserID: &rq.actor.User.ID, Email: rq.actor.User.Email, Event: store.EventSignOut})
	redirect(w, r, "/login")
}

// clientIP is the address sign-in failures are counted under: the peer of
// the connection, unless that peer is a trusted proxy (Options.
// TrustedProxies); then X-Forwarded-For is read from its end, each trusted
// proxy's entry skipped, and the first address no trusted proxy owns is the
// client. Entries before it were written by the client and are not
// believed.
func (s *server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return host
	}
	var entries []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		entries = append(entries, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(entries) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(entries[i]))
		if err != nil {
			break // garbage: trust nothing before it
		}
		client = a.Unmap()
		if !s.trusted(client) {
			break
		}
	}
	return client.String()
}

// secureFor reports whether a cookie set on the answer to r must be Secure:
// always when PublicURL is https, else when this request came over https
// (see https).
func (s *server) secureFor(r *http.Request) bool {
	return s.secure || s.https(r)
}

// https reports whether the browser reached postdesk over https: the
// connection itself is TLS, or a trusted proxy (Options.TrustedProxies)
// says so in X-Forwarded-Proto. Its last value counts, the one the proxy
// that connects to us set; from any other peer the header is ignored, as a
// client can send whatever it likes.
func (s *server) https(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return false
	}
	vs := r.Header.Values("X-Forwarded-Proto")
	if len(vs) == 0 {
		return false
	}
	parts := strings.Split(vs[len(vs)-1], ",")
	return strings.EqualFold(strings.TrimSpace(parts[len(parts)-1]), "https")
}

// trusted reports whether a peer is one of the trusted proxies.
func (s *server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ssoLabel is the single sign-on button's text, "" when there is none.
func (s *server) ssoLabel() string {
	if s.oidc == nil {
		return ""
	}
	if s.oidc.cfg.ButtonLabel == "" {
		return msgKey("Sign in with single sign-on")
	}
	return s.oidc.cfg.ButtonLabel
}
