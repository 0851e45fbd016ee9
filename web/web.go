// Package web is the HTTP side of postdesk: the server-rendered pages (one
// handler file per page), the JSON API under /api/v1, sign-in, sessions and
// CSRF protection. It decides nothing about conversations itself: every page
// and every API call goes through conversation.Service, the same rules mail
// ingest obeys, and only here are the domain errors mapped to HTTP
// (ErrNotFound 404, ErrForbidden 403, ErrInvalid 400).
//
// Sessions. Signing in makes a 32-byte random session id; the browser keeps
// it in a cookie (__Host-postdesk when PublicURL is https, else
// postdesk_session; HttpOnly, SameSite=Lax, no Expires so it ends with the
// browser; Secure when PublicURL is https, or when the request came over
// https: TLS to postdesk itself, or X-Forwarded-Proto: https from a trusted
// proxy, never from another peer), the database keeps only its SHA-256 in the
// sessions table. A session expires after 12 hours without a request (sliding
// expiry) and in any case 7 days after sign-in (absolute expiry). Signing out
// deletes the row, so the old cookie is worthless at once; setting a password
// ends every session of that user (changing one's own on the settings page,
// every other one). A session signed in by password that still owes its
// TOTP code, or must enrol one (require_mfa), reaches only those pages.
//
// Sign-in answers the same for an unknown address, a user without a password
// and a wrong password, and spends the same argon2id time on each. There is
// no lockout: failures are counted in PostgreSQL (shared by every instance)
// per (typed address, client) and slow only that pair, exponentially past
// three (1 s, 2 s, 4 s ... 15 min; answered 429 with Retry-After before the
// password is looked at), and per client against a budget of 100 an hour
// over all addresses. So the right password from a client that has not
// failed always works. The client is the connection's peer, or, when that
// peer is listed in trusted_proxies, the address it put last in
// X-Forwarded-For; an IPv6 client counts as its /64. Beyond the password:
// a TOTP second factor (mfa.go), one-time links by mail for customers and
// for password resets (signin_links.go), OpenID Connect (oidc.go), and the
// sign-in audit (signin_audit.go); the README's Sign-in tells the rules.
//
// CSRF. Unsafe requests to the pages pass net/http's CrossOriginProtection
// (Sec-Fetch-Site / Origin), and every form also carries the session's own
// token. The API takes bearer tokens only and never looks at a cookie, so a
// browser cannot be made to call it with the user's rights.
//
// Every response carries a strict Content-Security-Policy (no inline script or
// style; images from the app itself, and from https only on a conversation page
// whose reader asked for remote images), X-Content-Type-Options: nosniff,
// Referrer-Policy: same-origin and X-Frame-Options: DENY. Mail HTML is
// sanitized with bluemonday before it reaches a page, and attachments are
// always served as downloads with a content type that cannot run in the page.
package web

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"postdesk/config"
	"postdesk/conversation"
	"postdesk/signinlink"
	"postdesk/store"
	"postdesk/templates"
)

// Options configures the handler. Store, Service and Secret are required.
type Options struct {
	Store   *store.Store
	Service *conversation.Service
	// PublicURL is where users reach postdesk (https://desk.example.com); with
	// https the cookies are Secure and __Host- prefixed, and its origin is
	// trusted for form posts behind a proxy that rewrites Host.
	PublicURL string
	// Secret signs the flash messages; the config's secret (>= 32 bytes).
	Secret []byte
	// TemplatesDir overrides embedded templates: TemplatesDir/web/NAME
	// replaces web/NAME (pages *.html, static/style.css, static/app.js).
	TemplatesDir string
	Logger       *slog.Logger
	// Now is the clock for sessions and rate limits; default time.Now.
	Now func() time.Time
	// SandboxMail, when set (by `postdesk dev`), lists the mail the local
	// sandbox captured, shown at /sandbox to members of a staff role.
	SandboxMail func() []CapturedMail
	// TrustedProxies are the peers whose X-Forwarded-For and
	// X-Forwarded-Proto are believed (the config's trusted_proxies); none
	// by default, not even loopback: a local process that is not the
	// proxy could otherwise claim any client address.
	TrustedProxies []netip.Prefix
	// SignIn configures the sign-in methods beyond the password.
	SignIn SignIn
	// Location is the organisation's time zone (the config's time_zone),
	// in which pages show times; default time.Local.
	Location *time.Location
	// Live, when set and running (Live.Run), updates open pages in place.
	Live *Live
}

// SignIn is what the config says of signing in (see the README's Sign-in).
type SignIn struct {
	// RequireMFA and RequireSSO are the keys of the roles with
	// require_mfa and require_sso.
	RequireMFA, RequireSSO []string
	// OIDC, when set, adds single sign-on through that provider.
	OIDC *config.OIDC
}

// CapturedMail is one mail the sandbox's SMTP server took.
type CapturedMail struct {
	At        time.Time
	From      string
	To        []string
	Subject   string
	Size      int
	Mailboxes []string // the sandbox IMAP mailboxes it went into
}

// Session and sign-in limits; see the package doc.
const (
	sessionIdle     = 12 * time.Hour
	sessionAbsolute = 7 * 24 * time.Hour
	maxUpload       = 25 << 20 // attachments of one form, in all
	maxFormBody     = maxUpload + 1<<20
)

type server struct {
	st        *store.Store
	svc       *conversation.Service
	log       *slog.Logger
	now       func() time.Time
	secret    []byte
	secure    bool
	cookie    string                                   // session cookie name
	flashName string                                   // flash cookie name
	pages     map[string]map[string]*template.Template // by language, then page
	locales   map[string]*locale                       // by language
	zone      *time.Location                           // the organisation's time_zone
	static    map[string]staticFile
	limiter   *limiter

	sandboxMail func() []CapturedMail
	proxies     []netip.Prefix // trusted for X-Forwarded-For and -Proto

	// Sign-in beyond the password (signin_*.go).
	links              *signinlink.Keys
	bg                 sync.WaitGroup // link requests being handled after their answer
	mfaRoles, ssoRoles map[string]bool
	mfaAEAD            cipher.AEAD // seals TOTP secrets (mfa.go)
	oidc               *oidcState  // nil without single sign-on (oidc.go)
	publicURL          string      // PublicURL without a trailing slash
	live               *Live       // nil: pages do not update themselves (live.go)
}

// New returns the handler for the whole web side: pages at /, the API at
// /api/v1/, static assets at /static/. Mount it at "/".
func New(opts *Options) (http.Handler, error) {
	if opts == nil || opts.Store == nil || opts.Service == nil {
		return nil, errors.New("web: Options.Store and Options.Service are required")
	}
	if len(opts.Secret) < 32 {
		return nil, errors.New("web: Options.Secret must be at least 32 bytes")
	}
	s := &server{st: opts.Store, svc: opts.Service, log: opts.Logger, now: opts.Now, secret: opts.Secret,
		cookie: "postdesk_session", flashName: "postdesk_flash", sandboxMail: opts.SandboxMail, proxies: opts.TrustedProxies}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.zone = opts.Location
	if s.zone == nil {
		s.zone = time.Local
	}
	var origin string
	var err error
	if opts.PublicURL != "" {
		u, err := url.Parse(opts.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("web: bad PublicURL %q: want http(s)://host", opts.PublicURL)
		}
		origin = u.Scheme + "://" + u.Host
		if u.Scheme == "https" {
			s.secure = true
			s.cookie, s.flashName = "__Host-postdesk", "__Host-postdesk_flash"
		}
	}
	s.limiter = newLimiter(s.st, s.now)
	if s.links, err = signinlink.New(opts.Secret); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s.mfaRoles, s.ssoRoles = keySet(opts.SignIn.RequireMFA), keySet(opts.SignIn.RequireSSO)
	if s.mfaAEAD, err = mfaCipher(opts.Secret); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if opts.SignIn.OIDC != nil {
		s.oidc = &oidcState{cfg: opts.SignIn.OIDC}
	}
	s.publicURL = strings.TrimRight(opts.PublicURL, "/")
	s.live = opts.Live
	dummyHash() // made now, so that the first unknown address takes no longer than the rest
	fsys, err := templates.WebFS(opts.TemplatesDir)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if err := s.loadStatic(fsys); err != nil {
		return nil, err
	}
	if err := s.loadPages(fsys); err != nil {
		return nil, err
	}

	pages := http.NewServeMux()
	pages.HandleFunc("GET /login", s.loginPage)
	pages.HandleFunc("GET /lang", s.setLang)
	pages.HandleFunc("POST /login", s.loginSubmit)
	pages.Handle("POST /logout", s.authStaged(s.logout))
	pages.Handle("GET /{$}", s.auth(s.inbox))
	pages.Handle("GET /conversations/{id}", s.auth(s.conversationPage))
	pages.Handle("GET /conversations/{id}/export", s.auth(s.exportConversation))
	pages.Handle("POST /conversations/{id}/{action}", keepHead(s.auth(s.conversationAction)))
	pages.Handle("GET /new", s.auth(s.newPage))
	pages.Handle("POST /new", keepHead(s.auth(s.newSubmit)))
	// Canned answers and role signatures (page_canned.go).
	pages.Handle("GET /canned", s.auth(s.cannedPage))
	pages.Handle("POST /canned/{action}", s.auth(s.cannedAction))
	pages.Handle("GET /canned/fill", s.auth(s.cannedFill))
	pages.Handle("POST /settings/signature", s.auth(s.saveSignature))
	pages.Handle("GET /attachments/{id}", s.auth(s.attachmentPage))
	if s.sandboxMail != nil {
		pages.Handle("GET /sandbox", s.auth(s.sandboxPage))
	}
	// Sign-in: throttled password, audit, settings, links, TOTP, OpenID Connect.
	pages.Handle("GET /audit", s.auth(s.auditPage))
	pages.Handle("GET /settings", s.auth(s.settingsPage))
	pages.Handle("POST /settings/password", s.auth(s.changePassword))
	pages.HandleFunc("GET /reset", s.resetPage)
	pages.HandleFunc("POST /reset", s.resetRequest)
	pages.HandleFunc("GET /reset/{token}", s.resetLinkPage)
	pages.HandleFunc("POST /reset/{token}", s.resetLinkSubmit)
	pages.Handle("GET /settings/mfa", s.authStaged(s.mfaPage))
	pages.Handle("POST /settings/mfa/start", s.authStaged(s.mfaStart))
	pages.Handle("GET /settings/mfa/qr.png", s.authStaged(s.mfaQR))
	pages.Handle("POST /settings/mfa/confirm", s.authStaged(s.mfaConfirm))
	pages.Handle("GET /login/mfa", s.authStaged(s.loginMFAPage))
	pages.Handle("POST /login/mfa", s.authStaged(s.loginMFASubmit))
	if s.oidc != nil {
		pages.HandleFunc("GET /login/oidc", s.oidcStart)
		pages.HandleFunc("GET /login/oidc/callback", s.oidcCallback)
	}
	pages.HandleFunc("POST /login/link", s.linkRequestSubmit)
	pages.HandleFunc("GET /link/{token}", s.linkPage)
	pages.HandleFunc("POST /link/{token}", s.linkSubmit)

	// Who read what (access.go).
	pages.Handle("GET /audit/access", s.auth(s.accessPage))
	pages.Handle("GET /categories", s.auth(s.categoriesPage))
	// Data-subject requests (privacy.go).
	pages.Handle("GET /privacy", s.auth(s.privacyPage))
	pages.Handle("POST /privacy/export", s.auth(s.privacyExport))
	pages.Handle("POST /privacy/erase", s.auth(s.privacyErase))

	s.liveRoutes(pages)
	pages.HandleFunc("GET /static/{name}", s.staticHandler)
	pages.Handle("/", s.auth(func(w http.ResponseWriter, r *http.Request, rq *request) {
		s.errorPage(w, r, rq, http.StatusNotFound, "")
	}))

	cop := http.NewCrossOriginProtection()
	if origin != "" {
		if err := cop.AddTrustedOrigin(origin); err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, nil, http.StatusForbidden, msgKey("Cross-origin request refused: send the form from postdesk's own pages."))
	}))

	root := http.NewServeMux()
	root.Handle("/api/", s.apiHandler())
	root.Handle("/", cop.Handler(pages))
	return s.headers(root), nil
}

// csp is the Content-Security-Policy of every response; remote images widen
// img-src on the one page that asked for them.
func csp(remoteImages bool) string {
	img := "img-src 'self'"
	if remoteImages {
		img += " https:"
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " + img +
		"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// headers sets the security headers every response carries.
func (s *server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp(false))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// errKind maps a domain error to an HTTP status and a message for the user.
func errKind(err error) (int, string) {
	switch {
	case errors.Is(err, conversation.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, msgKey("Not found: there is no such conversation or file, or you may not see it.")
	case errors.Is(err, conversation.ErrForbidden):
		return http.StatusForbidden, "Not allowed: " + strings.TrimSuffix(err.Error(), ": "+conversation.ErrForbidden.Error()) + "."
	case errors.Is(err, conversation.ErrInvalid):
		return http.StatusBadRequest, invalidMessage(err)
	}
	return http.StatusInternalServerError, msgKey("Something went wrong on our side; please try again.")
}

// invalidMessage turns "invalid: subject is empty" into "Subject is empty."
func invalidMessage(err error) string {
	m := err.Error()
	if i := strings.Index(m, conversation.ErrInvalid.Error()+": "); i >= 0 {
		m = m[i+len(conversation.ErrInvalid.Error())+2:]
	}
	if m == "" {
		return "Invalid request."
	}
	m = strings.ToUpper(m[:1]) + m[1:]
	if !strings.HasSuffix(m, ".") {
		m += "."
	}
	return m
}

// sign makes an HMAC of a value with the server secret, for the flash cookie.
func (s *server) sign(v string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("flash\x00" + v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// setFlash leaves a one-time message for the next page (post/redirect/get).
// setFlash keeps a one-time message for the next page: a message key and
// its arguments, translated when shown, in the language of that page.
func (s *server) setFlash(w http.ResponseWriter, r *http.Request, key string, args ...string) {
	b, _ := json.Marshal(append([]string{key}, args...)) //nolint:errchkjson // strings always marshal
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: s.flashName, Value: v + "." + s.sign(v), Path: "/", MaxAge: 60,
		HttpOnly: true, Secure: s.secureFor(r), SameSite: http.SameSiteLaxMode})
}

// takeFlash reads and clears the one-time message.
func (s *server) takeFlash(w http.ResponseWriter, r *http.Request, l *locale) string {
	c, err := r.Cookie(s.flashName)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: s.flashName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secureFor(r), SameSite: http.SameSiteLaxMode})
	v, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.sign(v))) {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return ""
	}
	var parts []string
	if json.Unmarshal(b, &parts) != nil || len(parts) == 0 {
		return ""
	}
	args := make([]any, len(parts)-1)
	for i, a := range parts[1:] {
		args[i] = a
	}
	return l.T(parts[0], args...)
}

// redirect answers a form post with 303 See Other (post/redirect/get).
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// localPath keeps a "next" target only when it is a path on this site.
func localPath(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n\\") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return p
}
