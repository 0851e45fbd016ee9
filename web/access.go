package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"postdesk/config"
	"postdesk/store"
)

func init() { pageNames = append(pageNames, "access") }

// errBadNumber answers a ?conversation= that is not a conversation number.
var errBadNumber = errors.New("conversation: want its number")

// accessQuery reads ?conversation=NUMBER&user=EMAIL&before=ID into a filter;
// an unknown user matches nothing.
func (s *server) accessQuery(r *http.Request) (store.AccessFilter, string, string, error) {
	q := r.URL.Query()
	f := store.AccessFilter{Limit: auditPageSize}
	num := strings.TrimPrefix(strings.TrimSpace(q.Get("conversation")), "#")
	if num != "" {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n <= 0 {
			return f, num, "", errBadNumber
		}
		f.Number = n
	}
	email := strings.ToLower(strings.TrimSpace(q.Get("user")))
	if email != "" {
		u, err := s.st.UserByEmail(r.Context(), email)
		if errors.Is(err, store.ErrNotFound) {
			none := int64(-1)
			f.UserID = &none
		} else if err != nil {
			return f, num, email, err
		} else {
			f.UserID = &u.ID
		}
	}
	f.Before, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	return f, num, email, nil
}

type accessData struct {
	page
	Conversation, Reader string
	Events               []store.AccessEvent
	Older                int64
	Problem              string
}

// accessPage lists who read which conversation or file, newest first, to
// holders of the audit permission, by conversation, by reader or both.
func (s *server) accessPage(w http.ResponseWriter, r *http.Request, rq *request) {
	if !rq.actor.StaffMay(config.MayAudit) {
		s.errorPage(w, r, rq, http.StatusForbidden, msgKey("Not allowed: the access log is for roles with the audit permission."))
		return
	}
	f, num, email, err := s.accessQuery(r)
	d := accessData{page: s.base(w, r, rq, msgKey("Access log"), "access"), Conversation: num, Reader: email}
	if errors.Is(err, errBadNumber) {
		d.Problem = err.Error()
		s.render(w, http.StatusBadRequest, "access", d)
		return
	} else if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	if d.Events, err = s.st.AccessEvents(r.Context(), f); err != nil {
		s.fail(w, r, rq, err)
		return
	}
	if len(d.Events) == auditPageSize {
		d.Older = d.Events[len(d.Events)-1].ID
	}
	s.render(w, http.StatusOK, "access", d)
}

type apiAccessEvent struct {
	ID           int64     `json:"id"`
	At           time.Time `json:"at"`
	User         string    `json:"user"`
	Conversation int64     `json:"conversation"`
	Attachment   string    `json:"attachment,omitempty"`
	Via          string    `json:"via"`
	As           string    `json:"as"`
	Client       string    `json:"client"`
}

// apiAccessLog is GET /api/v1/audit/access[?conversation=&user=&before=]:
// the page's list as JSON, for the same permission. Reading it through the
// API is itself no conversation read.
func (s *server) apiAccessLog(w http.ResponseWriter, r *http.Request) {
	if !apiActor(r.Context()).StaffMay(config.MayAudit) {
		apiError(w, http.StatusForbidden, "the access log is for roles with the audit permission")
		return
	}
	f, _, _, err := s.accessQuery(r)
	if errors.Is(err, errBadNumber) {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	} else if err != nil {
		s.apiFail(w, r, err)
		return
	}
	es, err := s.st.AccessEvents(r.Context(), f)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	out := make([]apiAccessEvent, 0, len(es))
	for _, e := range es {
		out = append(out, apiAccessEvent{ID: e.ID, At: e.At.UTC(), User: e.Email, Conversation: e.Number, Attachment: e.AttachmentID,
			Via: e.Via, As: e.As, Client: e.Client})
	}
	apiJSON(w, http.StatusOK, map[string]any{"events": out})
}
