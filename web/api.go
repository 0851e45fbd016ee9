package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"postdesk/conversation"
	"postdesk/senderauth"
	"postdesk/store"
)

// The JSON API, /api/v1, as DESIGN.md lists it. Callers authenticate with
// `Authorization: Bearer TOKEN` (from `postdesk token create`) and nothing
// else: a session cookie is never read here. Request bodies are JSON
// (Content-Type: application/json, at most 1 MB, unknown fields refused);
// POST /conversations takes no files. Errors are {"error": "..."} with 400,
// 401, 403, 404 (and 405 for a wrong method, 500 for our own failure).

type apiAttachment struct {
	ID          string `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

type apiMessage struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	From        string          `json:"from"` // the real address, always
	FromName    string          `json:"from_name,omitempty"`
	FromWarning string          `json:"from_warning,omitempty"` // set when from_name poses as another address
	To          []string        `json:"to"`
	Subject     string          `json:"subject"`
	Text        string          `json:"text"`
	CreatedAt   time.Time       `json:"created_at"`
	Attachments []apiAttachment `json:"attachments"`
}

type apiConversation struct {
	ID        int64     `json:"id"`
	Number    int64     `json:"number"`
	Subject   string    `json:"subject"`
	Category  string    `json:"category"`
	Status    string    `json:"status"`
	Handler   *string   `json:"handler"`
	Roles     []string  `json:"roles"`
	Customer  *string   `json:"customer"`
	Company   *string   `json:"company"`
	Person    *string   `json:"person"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Unread: in a list, whether it has news for the caller since they
	// last opened it in the web view (the panel's bold row).
	Unread   *bool         `json:"unread,omitempty"`
	Messages *[]apiMessage `json:"messages,omitempty"` // in a list, left out
}

// apiConversationOne is one conversation with what a list leaves out.
type apiConversationOne struct {
	apiConversation
	// PurgeAfter is when the retention purge deletes it if nothing
	// happens before; null while a legal hold keeps it.
	PurgeAfter *time.Time `json:"purge_after"`
	LegalHold  bool       `json:"legal_hold"`
}

type apiKey struct{}

func apiActor(ctx context.Context) *conversation.Actor {
	return ctx.Value(apiKey{}).(*conversation.Actor)
}

// apiHandler routes /api/ behind the bearer token check.
func (s *server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/conversations", methods{"GET": s.apiList, "POST": s.apiOpen})
	mux.Handle("/api/v1/conversations/{id}", methods{"GET": s.apiGet})
	mux.Handle("/api/v1/conversations/{id}/messages", methods{"POST": s.apiPost})
	mux.Handle("/api/v1/conversations/{id}/handler", methods{"POST": s.apiHandlerSet})
	mux.Handle("/api/v1/conversations/{id}/status", methods{"POST": s.apiStatus})
	mux.Handle("/api/v1/attachments/{id}", methods{"GET": s.apiAttachment})
	mux.Handle("/api/v1/audit/signin", methods{"GET": s.apiSigninAudit}) // sign-in (signin_audit.go)
	mux.Handle("/api/v1/audit/access", methods{"GET": s.apiAccessLog})   // who read what (access.go)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "no such API call")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="postdesk"`)
			apiError(w, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer TOKEN (see postdesk token create)")
			return
		}
		u, err := s.st.UserByAPIToken(r.Context(), tok)
		if errors.Is(err, store.ErrNotFound) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="postdesk", error="invalid_token"`)
			apiError(w, http.StatusUnauthorized, "invalid token")
			return
		} else if err != nil {
			s.apiFail(w, r, err)
			return
		}
		a, err := s.svc.Actor(r.Context(), u.ID)
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		r = s.reading(r, conversation.ViaAPI)
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), apiKey{}, a)))
	})
}

// methods dispatches on the request method, answering 405 in JSON.
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, ok := m[r.Method]
	if !ok && r.Method == http.MethodHead {
		h, ok = m[http.MethodGet]
	}
	if !ok {
		allow := make([]string, 0, len(m))
		for k := range m {
			allow = append(allow, k)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		apiError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	h(w, r)
}

// bearer reads the token of an Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

func apiJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck
}

func apiError(w http.ResponseWriter, status int, msg string) {
	apiJSON(w, status, map[string]string{"error": msg})
}

// apiFail maps a domain error to its status.
func (s *server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, conversation.ErrNotFound), errors.Is(err, store.ErrNotFound):
		apiError(w, http.StatusNotFound, "not found")
	case errors.Is(err, conversation.ErrForbidden):
		apiError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, conversation.ErrInvalid):
		apiError(w, http.StatusBadRequest, strings.TrimSuffix(invalidMessage(err), "."))
	default:
		s.log.Error("api", "method", r.Method, "path", r.URL.Path, "err", err)
		apiError(w, http.StatusInternalServerError, "internal error")
	}
}

// decode reads a JSON body into v; an empty body is allowed when emptyOK.
func decode(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: body too large or unreadable", conversation.ErrInvalid)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if emptyOK {
			return nil
		}
		return fmt.Errorf("%w: a JSON body is needed", conversation.ErrInvalid)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return fmt.Errorf("%w: send Content-Type: application/json", conversation.ErrInvalid)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: bad JSON: %v", conversation.ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: bad JSON: more than one value", conversation.ErrInvalid)
	}
	return nil
}

// apiConv builds a conversation object; msgs nil leaves the messages out.
func apiConv(l *lookup, c store.Conversation, msgs []store.Message) apiConversation {
	out := apiConversation{ID: c.ID, Number: c.Number, Subject: c.Subject, Category: c.CategoryKey, Status: c.Status,
		Roles: []string{}, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
	opt := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	out.Handler, out.Customer = opt(l.email(c.HandlerID)), opt(l.email(c.CustomerID))
	out.Company, out.Person = opt(l.company(c.CompanyID)), opt(l.person(c.PersonID))
	for _, r := range l.rolesOf(c.RoleIDs) {
		out.Roles = append(out.Roles, r.Key)
	}
	if msgs != nil {
		ms := make([]apiMessage, 0, len(msgs))
		for _, m := range msgs {
			ms = append(ms, apiMsg(l, m))
		}
		out.Messages = &ms
	}
	return out
}

func apiMsg(l *lookup, m store.Message) apiMessage {
	out := apiMessage{ID: m.ID, Kind: m.Kind, From: m.FromAddr, To: m.To, Subject: m.Subject, Text: m.Text,
		CreatedAt: m.CreatedAt.UTC(), Attachments: []apiAttachment{}}
	out.FromName = m.FromName
	if out.From == "" && m.AuthorID != nil {
		out.From, out.FromName = l.email(m.AuthorID), l.name(m.AuthorID)
	}
	if senderauth.MisleadingName(out.FromName, out.From) {
		out.FromWarning = "the display name is not the sender's address"
	}
	if out.To == nil {
		out.To = []string{}
	}
	for _, a := range m.Attachments {
		out.Attachments = append(out.Attachments, apiAttachment{ID: a.ID, Filename: a.Filename, ContentType: a.ContentType, Size: a.Size})
	}
	return out
}
