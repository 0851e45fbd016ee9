package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"postdesk/config"
	"postdesk/conversation"
	"postdesk/store"
)

// pageNames are the page templates; each is parsed together with layout.html.
var pageNames = []string{"login", "inbox", "conversation", "new", "error", "sandbox"}

// staticFile is an asset held in memory with its content hash.
type staticFile struct {
	data        []byte
	contentType string
	version     string
}

func (s *server) loadStatic(fsys fs.FS) error {
	s.static = map[string]staticFile{}
	for _, name := range []string{"style.css", "app.js", "live.js", "compose.js", "conv.js", "clip.svg"} {
		b, err := fs.ReadFile(fsys, "static/"+name)
		if err != nil {
			return fmt.Errorf("web: static %s: %w", name, err)
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(name))
		if path.Ext(name) == ".js" {
			ct = "text/javascript; charset=utf-8"
		}
		s.static[name] = staticFile{data: b, contentType: ct, version: hex.EncodeToString(sum[:6])}
	}
	return nil
}

// staticHandler serves the stylesheet and the script, to anyone.
func (s *server) staticHandler(w http.ResponseWriter, r *http.Request) {
	f, ok := s.static[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	if r.URL.Query().Get("v") == f.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}

// loadPages parses every page once per language, with t, when, ago, size
// and status bound to that language, so that rendering picks a set and
// never clones templates per request.
func (s *server) loadPages(fsys fs.FS) error {
	s.pages = map[string]map[string]*template.Template{}
	s.locales = map[string]*locale{}
	for _, lang := range webLangs {
		l := newLocale(lang, s.zone, s.now)
		s.locales[lang] = l
		funcs := template.FuncMap{
			"asset": func(name string) string {
				if f, ok := s.static[name]; ok {
					return "/static/" + name + "?v=" + f.version
				}
				return "/static/" + name
			},
			"t":      l.T,
			"when":   l.When,
			"ago":    l.Ago,
			"iso":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
			"size":   l.Size,
			"add":    func(a, b int64) int64 { return a + b },
			"status": func(st string) string { return l.T(statusLabel(st)) },
			"join":   strings.Join,
			"has": func(list []string, v string) bool {
				for _, x := range list {
					if x == v {
						return true
					}
				}
				return false
			},
		}
		set := map[string]*template.Template{}
		for _, name := range pageNames {
			t, err := template.New(name).Funcs(funcs).ParseFS(fsys, "layout.html", "compose.html", name+".html")
			if err != nil {
				return fmt.Errorf("web: template %s: %w", name, err)
			}
			set[name] = t
		}
		s.pages[lang] = set
	}
	return nil
}

// page is what the layout needs; every page's data embeds it.
type page struct {
	Lang  string // the page's language, <html lang>
	Here  string // this page's path and query, where the language switch returns
	Langs []langLink
	Title string
	Nav   string // the active navigation item
	User  *store.User
	Staff bool
	CSRF  string
	Flash string
	Error string
	// Sandbox shows the link to the sandbox's captured mail (postdesk dev, staff).
	Sandbox bool
	Audit   bool // the link to the sign-in audit (the audit permission)
	Privacy bool // the link to data-subject requests (the privacy permission)
	Canned  bool // the link to canned answers and role signatures (the canned permission)
	// Full: signed in with every factor owed, so the control panel shows
	// the views and the pages (a session that still owes its TOTP code
	// sees only sign out and the language switch).
	Full bool
	// Panel are the views of Messages with their counts (panel.go),
	// counted once per request.
	Panel []panelView
	// Live: the page listens to /events and refreshes itself (live.go).
	Live bool
}

// langLink is one entry of the language switch.
type langLink struct {
	Code, Name string
	Current    bool
}

// pageLang lets render find the language of any page data.
func (p page) pageLang() string { return p.Lang }

// base is the layout's data; title is a message key, translated here.
func (s *server) base(w http.ResponseWriter, r *http.Request, rq *request, title, nav string) page {
	l := s.loc(r, rq)
	p := page{Lang: l.lang, Here: localPath(r.URL.RequestURI()), Title: l.T(title), Nav: nav}
	for _, code := range webLangs {
		p.Langs = append(p.Langs, langLink{Code: code, Name: langNames[code], Current: code == l.lang})
	}
	if r.Method != http.MethodGet {
		// The switch reloads with GET, and a form's address may only take posts.
		p.Here = "/"
		if u, err := url.Parse(r.Referer()); err == nil {
			p.Here = localPath(u.RequestURI())
		}
	}
	if rq != nil {
		p.User, p.Staff, p.CSRF = &rq.actor.User, rq.actor.IsStaff(), rq.csrf
		p.Sandbox = s.sandboxMail != nil && p.Staff
		p.Audit = rq.actor.StaffMay(config.MayAudit)
		p.Privacy = rq.actor.StaffMay(config.MayPrivacy)
		p.Canned = rq.actor.StaffMay(config.MayCanned)
		p.Flash = s.takeFlash(w, r, l)
		if p.Full = rq.stage == store.StageFull || rq.stage == ""; p.Full {
			p.Panel = s.panelViews(r.Context(), rq.actor)
			p.Live = s.live != nil
		}
	}
	return p
}

// render writes a page; a template error after the first byte can only be logged.
func (s *server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	lang := webLangs[0]
	if d, ok := data.(interface{ pageLang() string }); ok && s.pages[d.pageLang()] != nil {
		lang = d.pageLang()
	}
	if err := s.pages[lang][name].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("render", "page", name, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck
}

type errorData struct {
	page
	Status  int
	Heading string
	Message string
}

// errorPage shows a status with a message; rq may be nil (signed out).
func (s *server) errorPage(w http.ResponseWriter, r *http.Request, rq *request, status int, msg string) {
	l := s.loc(r, rq)
	heading := l.T(http.StatusText(status))
	if msg == "" {
		switch status {
		case http.StatusNotFound:
			msg = msgKey("There is no such page, conversation or file, or you may not see it.")
		case http.StatusForbidden:
			msg = msgKey("You may not do that.")
		case http.StatusInternalServerError:
			msg = msgKey("Something went wrong on our side; please try again.")
		}
	}
	d := errorData{page: s.base(w, r, rq, heading, ""), Status: status, Heading: heading, Message: l.T(msg)}
	s.render(w, status, "error", d)
}

// fail shows the page for a domain error (and logs the unexpected ones).
func (s *server) fail(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	status, msg := errKind(err)
	if status == http.StatusInternalServerError {
		s.log.Error("web", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if errors.Is(err, conversation.ErrForbidden) {
		// The reason is the action refused ("take ownership"), one of
		// forbiddenActions when the conversation package still words it so.
		l := s.loc(r, rq)
		reason := strings.TrimSuffix(err.Error(), ": "+conversation.ErrForbidden.Error())
		if slices.Contains(forbiddenActions, reason) {
			reason = l.T(reason)
		}
		msg = l.T("Not allowed: %s.", reason)
	}
	s.errorPage(w, r, rq, status, msg)
}

// statusLabel is the message key of a status.
func statusLabel(st string) string {
	switch st {
	case store.StatusNew:
		return "New"
	case store.StatusOpen:
		return "Open"
	case store.StatusWaiting:
		return "Waiting for customer"
	case store.StatusSolved:
		return "Solved"
	}
	return st
}
