package web

import (
	"fmt"
	"net/http"
	"strconv"

	"postdesk/conversation"
	"postdesk/quote"
	"postdesk/store"
)

// GET /api/v1/conversations?view=&status=&category=&role=&q=&cursor=&mine=1
func (s *server) apiList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a := apiActor(r.Context())
	p, err := s.svc.List(r.Context(), a, conversation.Filter{View: apiView(q), Status: q.Get("status"), Category: q.Get("category"),
		Role: q.Get("role"), Query: q.Get("q"), Cursor: q.Get("cursor"), HandledByMe: q.Get("mine") == "1"})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	out := struct {
		Conversations []apiConversation `json:"conversations"`
		Next          string            `json:"next"`
	}{Conversations: []apiConversation{}, Next: p.Next}
	for _, c := range p.Conversations {
		out.Conversations = append(out.Conversations, apiListed(c))
	}
	apiJSON(w, http.StatusOK, out)
}

// apiListed is a conversation of a list, from the names the list query
// read with it: no query per row.
func apiListed(c store.Listed) apiConversation {
	out := apiConversation{ID: c.ID, Number: c.Number, Subject: c.Subject, Category: c.CategoryKey, Status: c.Status,
		Roles: []string{}, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(), Unread: &c.Unread}
	opt := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	out.Handler, out.Customer = opt(c.HandlerEmail), opt(c.CustomerEmail)
	out.Company, out.Person = opt(c.CompanyName), opt(c.PersonName)
	for _, r := range c.Roles {
		out.Roles = append(out.Roles, r.Key)
	}
	return out
}

// apiShow answers with one conversation and its messages, as the actor sees it.
func (s *server) apiShow(w http.ResponseWriter, r *http.Request, id int64, status int) {
	v, err := s.svc.Get(r.Context(), apiActor(r.Context()), id)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	l := newLookup(r.Context(), s.st)
	l.usersOf(v)
	one := apiConversationOne{apiConversation: apiConv(l, v.Conversation, v.Messages), LegalHold: v.Conversation.LegalHold}
	if v.PurgeAfter != nil {
		t := v.PurgeAfter.UTC()
		one.PurgeAfter = &t
	}
	// can: what the token's user may do here (conversation.Can), so that a
	// client offers only that; quoted: by message id, the history a
	// customer's mail client quoted under its new text (the text of the
	// message holds both), as the page shows it behind "Show quoted text".
	out := struct {
		apiConversationOne
		Can    map[string]bool   `json:"can"`
		Quoted map[string]string `json:"quoted"`
	}{apiConversationOne: one, Can: v.Can.Map(), Quoted: map[string]string{}}
	for _, m := range v.Messages {
		if m.Kind != store.KindCustomer || len(m.RawSHA256) == 0 {
			continue // only mail quotes; a message written on a page does not
		}
		if _, q := quote.Split(m.Text); q != "" {
			out.Quoted[strconv.FormatInt(m.ID, 10)] = q
		}
	}
	if l.err != nil {
		s.apiFail(w, r, l.err)
		return
	}
	apiJSON(w, status, out)
}

func apiID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, ok := pathID(r)
	if !ok {
		apiError(w, http.StatusNotFound, "not found")
	}
	return id, ok
}

// GET /api/v1/conversations/{id}
func (s *server) apiGet(w http.ResponseWriter, r *http.Request) {
	if id, ok := apiID(w, r); ok {
		s.apiShow(w, r, id, http.StatusOK)
	}
}

// POST /api/v1/conversations {"category","subject","body","roles"?,"company"?,"person"?}
func (s *server) apiOpen(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Category string   `json:"category"`
		Subject  string   `json:"subject"`
		Body     string   `json:"body"`
		Roles    []string `json:"roles"`
		Company  string   `json:"company"`
		Person   string   `json:"person"`
	}
	if err := decode(w, r, &in, false); err != nil {
		s.apiFail(w, r, err)
		return
	}
	c, err := s.svc.Open(r.Context(), apiActor(r.Context()), conversation.NewRequest{Category: in.Category, Subject: in.Subject,
		Body: in.Body, Roles: in.Roles, Company: in.Company, Person: in.Person})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/conversations/%d", c.ID))
	s.apiShow(w, r, c.ID, http.StatusCreated)
}

// POST /api/v1/conversations/{id}/messages {"body","internal": false}: a
// reply (from staff, an answer to the customer) or an internal note; answers
// 201 with the message object.
func (s *server) apiPost(w http.ResponseWriter, r *http.Request) {
	id, ok := apiID(w, r)
	if !ok {
		return
	}
	var in struct {
		Body     string `json:"body"`
		Internal bool   `json:"internal"`
	}
	if err := decode(w, r, &in, false); err != nil {
		s.apiFail(w, r, err)
		return
	}
	a := apiActor(r.Context())
	var m *store.Message
	var err error
	if in.Internal {
		m, err = s.svc.Note(r.Context(), a, id, in.Body, nil)
	} else {
		m, err = s.svc.Reply(r.Context(), a, id, in.Body, nil)
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusCreated, apiMsg(newLookup(r.Context(), s.st), *m))
}

// POST /api/v1/conversations/{id}/handler: take ownership; {"user": EMAIL} assigns.
func (s *server) apiHandlerSet(w http.ResponseWriter, r *http.Request) {
	id, ok := apiID(w, r)
	if !ok {
		return
	}
	var in struct {
		User string `json:"user"`
	}
	if err := decode(w, r, &in, true); err != nil {
		s.apiFail(w, r, err)
		return
	}
	a := apiActor(r.Context())
	var err error
	if in.User == "" {
		err = s.svc.Take(r.Context(), a, id)
	} else {
		err = s.svc.Assign(r.Context(), a, id, in.User)
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.apiShow(w, r, id, http.StatusOK)
}

// POST /api/v1/conversations/{id}/status {"status": "solved" | "open"}
func (s *server) apiStatus(w http.ResponseWriter, r *http.Request) {
	id, ok := apiID(w, r)
	if !ok {
		return
	}
	var in struct {
		Status string `json:"status"`
	}
	if err := decode(w, r, &in, false); err != nil {
		s.apiFail(w, r, err)
		return
	}
	a := apiActor(r.Context())
	var err error
	switch in.Status {
	case "solved":
		err = s.svc.Solve(r.Context(), a, id)
	case "open":
		err = s.svc.Reopen(r.Context(), a, id)
	default:
		err = fmt.Errorf(`%w: status must be "solved" or "open"`, conversation.ErrInvalid)
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.apiShow(w, r, id, http.StatusOK)
}

// GET /api/v1/attachments/{id}
func (s *server) apiAttachment(w http.ResponseWriter, r *http.Request) {
	at, data, err := s.svc.Attachment(r.Context(), apiActor(r.Context()), r.PathValue("id"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	serveAttachment(w, at, data)
}
