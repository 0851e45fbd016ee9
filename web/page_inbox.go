package web

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"postdesk/conversation"
	"postdesk/store"
)

type inboxRow struct {
	ID        int64
	Number    int64
	Subject   string
	Category  string
	Status    string
	Handler   string
	Customer  string
	Warn      string // the customer's display name poses as another address
	Roles     []string
	UpdatedAt time.Time
	Mine      bool
}

type inboxData struct {
	page
	Filter     conversation.Filter
	Rows       []inboxRow
	Categories []store.Category
	Roles      []store.Role
	Statuses   []string
	Older      string // link to the next page, "" on the last
	Newest     string // link back to the first page when paging
	Filtered   bool
}

// inbox lists the conversations the user may see, newest activity first.
func (s *server) inbox(w http.ResponseWriter, r *http.Request, rq *request) {
	q := r.URL.Query()
	f := conversation.Filter{Status: q.Get("status"), Category: q.Get("category"), Role: q.Get("role"),
		Query: q.Get("q"), Cursor: q.Get("cursor"), HandledByMe: q.Get("mine") == "1", Limit: 50}
	d := inboxData{page: s.base(w, r, rq, msgKey("Inbox"), "inbox"), Filter: f,
		Statuses: []string{store.StatusNew, store.StatusOpen, store.StatusWaiting, store.StatusSolved}}
	d.Filtered = f.Status != "" || f.Category != "" || f.Role != "" || f.Query != "" || f.HandledByMe
	status := http.StatusOK
	p, err := s.svc.List(r.Context(), rq.actor, f)
	if errors.Is(err, conversation.ErrInvalid) {
		status, d.Error = http.StatusBadRequest, invalidMessage(err)
		p = &store.Page{}
	} else if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	for _, c := range p.Conversations {
		row := inboxRow{ID: c.ID, Number: c.Number, Subject: c.Subject, Status: c.Status, UpdatedAt: c.UpdatedAt,
			Handler: cmp.Or(c.HandlerName, c.HandlerEmail), Category: cmp.Or(c.CategoryName, c.CategoryKey),
			Mine: c.HandlerID != nil && *c.HandlerID == rq.actor.User.ID}
		row.Customer, row.Warn = senderLabel(c.CustomerName, c.CustomerEmail)
		for _, ro := range c.Roles {
			row.Roles = append(row.Roles, ro.Name)
		}
		d.Rows = append(d.Rows, row)
	}
	l := newLookup(r.Context(), s.st)
	d.Categories = l.activeCategories()
	d.Roles = l.knownRoles(rq.actor, nil)
	if l.err != nil {
		s.fail(w, r, rq, l.err)
		return
	}
	link := func(cursor string) string {
		v := url.Values{}
		for k, val := range map[string]string{"status": f.Status, "category": f.Category, "role": f.Role, "q": f.Query, "cursor": cursor} {
			if val != "" {
				v.Set(k, val)
			}
		}
		if f.HandledByMe {
			v.Set("mine", "1")
		}
		if len(v) == 0 {
			return "/"
		}
		return "/?" + v.Encode()
	}
	if p.Next != "" {
		d.Older = link(p.Next)
	}
	if f.Cursor != "" {
		d.Newest = link("")
	}
	s.render(w, status, "inbox", d)
}

// convURL is a conversation's page.
func convURL(id int64) string { return "/conversations/" + strconv.FormatInt(id, 10) }
