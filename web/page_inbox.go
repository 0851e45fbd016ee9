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
	Unread    bool // news for this user since they last opened it
}

type inboxData struct {
	page
	Filter     conversation.Filter
	Heading    string // the view's name; "" for everything
	Rows       []inboxRow
	Categories []store.Category
	Roles      []store.Role
	Statuses   []string
	Older      string // link to the next page, "" on the last
	Newest     string // link back to the first page when paging
	Filtered   bool
}

// inbox lists the conversations the user may see, newest activity first:
// one view of the control panel (Open when nothing else is asked for), or,
// with a search or filters and no view, everything.
func (s *server) inbox(w http.ResponseWriter, r *http.Request, rq *request) {
	q := r.URL.Query()
	f := conversation.Filter{View: q.Get("view"), Status: q.Get("status"), Category: q.Get("category"), Role: q.Get("role"),
		Query: q.Get("q"), Cursor: q.Get("cursor"), HandledByMe: q.Get("mine") == "1", Limit: 50}
	filtered := f.Status != "" || f.Category != "" || f.Role != "" || f.Query != "" || f.HandledByMe
	if f.View == "" && !filtered {
		f.View = conversation.ViewOpen
	}
	if f.View == "all" {
		f.View = ""
	}
	d := inboxData{page: s.base(w, r, rq, msgKey("Inbox"), "inbox"), Filter: f,
		Statuses: []string{store.StatusNew, store.StatusOpen, store.StatusWaiting, store.StatusSolved}}
	d.Filtered = filtered
	d.setView(f.View)
	if f.View != "" {
		d.Heading = d.viewLabel(s.loc(r, rq), f.View)
		d.Title = d.Heading
	}
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
			Mine: c.HandlerID != nil && *c.HandlerID == rq.actor.User.ID, Unread: c.Unread}
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
		for k, val := range map[string]string{"view": viewParam(f.View), "status": f.Status, "category": f.Category, "role": f.Role, "q": f.Query, "cursor": cursor} {
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

// viewParam is a view as the inbox's address holds it: Open is the
// default, and an explicit "all" keeps filters from falling back to it.
func viewParam(view string) string {
	switch view {
	case conversation.ViewOpen:
		return ""
	case "":
		return "all"
	}
	return view
}
