package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"postdesk/config"
	"postdesk/store"
)

func init() {
	// The sign-in pages, parsed with the layout like the rest (render.go).
	pageNames = append(pageNames, "audit", "settings", "reset", "signin_message", "signin_link", "mfa", "login_mfa")
}

// record adds an event to the sign-in audit with the request's time,
// client address and User-Agent. A failure to record is logged, not
// shown: the person signing in can do nothing about it.
func (s *server) record(r *http.Request, e store.SigninEvent) {
	e.At = s.now()
	e.IP = s.clientIP(r)
	e.Client = r.UserAgent()
	if err := s.st.RecordSignin(r.Context(), &e); err != nil {
		s.log.Error("sign-in audit", "event", e.Event, "err", err)
	}
}

type auditData struct {
	page
	Email  string
	Events []store.SigninEvent
	Older  int64 // the id to page on from, 0 at the end
}

const auditPageSize = 200

// auditPage lists the sign-in audit, newest first, to holders of the audit
// permission; ?email= narrows it to one address.
func (s *server) auditPage(w http.ResponseWriter, r *http.Request, rq *request) {
	if !rq.actor.StaffMay(config.MayAudit) {
		s.errorPage(w, r, rq, http.StatusForbidden, msgKey("Not allowed: the sign-in audit is for roles with the audit permission."))
		return
	}
	email := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("email")))
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	es, err := s.st.SigninEvents(r.Context(), store.SigninFilter{Email: email, Before: before, Limit: auditPageSize})
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	d := auditData{page: s.base(w, r, rq, msgKey("Sign-in audit"), "audit"), Email: email, Events: es}
	if len(es) == auditPageSize {
		d.Older = es[len(es)-1].ID
	}
	s.render(w, http.StatusOK, "audit", d)
}

type apiSigninEvent struct {
	ID     int64          `json:"id"`
	At     time.Time      `json:"at"`
	UserID *int64         `json:"user_id"`
	Email  string         `json:"email"`
	Event  string         `json:"event"`
	Method string         `json:"method,omitempty"`
	IP     string         `json:"ip"`
	Client string         `json:"client"`
	Detail map[string]any `json:"detail"`
}

// apiSigninAudit is GET /api/v1/audit/signin[?email=&before=]: the page's
// list as JSON, for the same permission.
func (s *server) apiSigninAudit(w http.ResponseWriter, r *http.Request) {
	if !apiActor(r.Context()).StaffMay(config.MayAudit) {
		apiError(w, http.StatusForbidden, "the sign-in audit is for roles with the audit permission")
		return
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	es, err := s.st.SigninEvents(r.Context(), store.SigninFilter{Email: strings.TrimSpace(r.URL.Query().Get("email")), Before: before})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	out := make([]apiSigninEvent, 0, len(es))
	for _, e := range es {
		out = append(out, apiSigninEvent(e))
	}
	apiJSON(w, http.StatusOK, map[string]any{"events": out})
}
