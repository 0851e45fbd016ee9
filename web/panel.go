package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"postdesk/conversation"
	"postdesk/store"
)

// The control panel on the left of every signed-in page: the views of
// Messages with their counts and unread, then the other pages. Its numbers
// are counted once per request, in one statement (conversation.Counts),
// over what the visibility rule lets the user see.

// panelView is one view of the panel.
type panelView struct {
	Key    string // the view: open, mine, ..., role:KEY
	Label  string // a message key, or a role's own name (Role)
	Role   bool   // Label is a name, not translated
	Href   string
	Count  int
	More   bool // there are more than Count (the archive, counted so far)
	Unread int
	// Current: the page lists this view.
	Current bool
}

// viewLabels are the fixed views in the panel's order, with their message
// keys; staffOnly views are about Handlers, which only staff have.
var viewLabels = []struct {
	key, label string
	staffOnly  bool
}{
	{conversation.ViewOpen, msgKey("Open conversations"), false},
	{conversation.ViewMine, msgKey("Mine"), true},
	{conversation.ViewUnassigned, msgKey("Unassigned"), true},
	{conversation.ViewWaiting, msgKey("Waiting for customer"), false},
	{conversation.ViewSolved, msgKey("Solved / archive"), false},
}

// viewHref is a view's address; Open is the inbox's default, at /.
func viewHref(key string) string {
	if key == conversation.ViewOpen {
		return "/"
	}
	return "/?" + url.Values{"view": {key}}.Encode()
}

// panelViews counts the views for the actor; on a database error the panel
// shows the views without numbers rather than failing the page.
func (s *server) panelViews(ctx context.Context, a *conversation.Actor) []panelView {
	staff := a.IsStaff()
	c, err := s.svc.Counts(ctx, a)
	if err != nil {
		s.log.Error("panel counts", "user", a.User.ID, "err", err)
		c = &store.Counts{}
	}
	byKey := map[string]store.ViewCount{conversation.ViewOpen: c.Open, conversation.ViewMine: c.Mine,
		conversation.ViewUnassigned: c.Unassigned, conversation.ViewWaiting: c.Waiting, conversation.ViewSolved: c.Solved}
	var vs []panelView
	for _, v := range viewLabels {
		if v.staffOnly && !staff {
			continue
		}
		n := byKey[v.key]
		vs = append(vs, panelView{Key: v.key, Label: v.label, Href: viewHref(v.key), Count: n.Total, Unread: n.Unread,
			More: v.key == conversation.ViewSolved && c.SolvedMore})
	}
	if !staff {
		return vs
	}
	// One view per receiver role: the user's own staff roles, and every
	// other role that receives open work they may see.
	var ids []int64
	for _, r := range a.Roles {
		if r.Staff {
			ids = append(ids, r.ID)
		}
	}
	for id := range c.Roles {
		ids = append(ids, id)
	}
	l := newLookup(ctx, s.st)
	roles := l.rolesOf(ids)
	if l.err != nil {
		s.log.Error("panel roles", "err", l.err)
	}
	for _, r := range roles {
		n := c.Roles[r.ID]
		key := conversation.ViewRole + ":" + r.Key
		vs = append(vs, panelView{Key: key, Label: r.Name, Role: true, Href: viewHref(key), Count: n.Total, Unread: n.Unread})
	}
	return vs
}

// setView marks the view a page lists as current in the panel.
func (p *page) setView(key string) {
	for i := range p.Panel {
		p.Panel[i].Current = p.Panel[i].Key == key
	}
}

// viewLabel is the heading of a view: its panel label, translated unless a
// role's name.
func (p *page) viewLabel(l *locale, key string) string {
	for _, v := range p.Panel {
		if v.Key == key {
			if v.Role {
				return v.Label
			}
			return l.T(v.Label)
		}
	}
	if role, ok := strings.CutPrefix(key, conversation.ViewRole+":"); ok {
		return role
	}
	for _, v := range viewLabels {
		if v.key == key {
			return l.T(v.label)
		}
	}
	return key
}

// markRead moves the reader's read position to the newest message the page
// shows them. A failure costs only a bold row, so it is logged, not shown.
func (s *server) markRead(r *http.Request, a *conversation.Actor, v *conversation.View) {
	var newest int64
	for _, m := range v.Messages {
		newest = max(newest, m.ID)
	}
	if newest == 0 {
		return
	}
	if err := s.svc.MarkRead(r.Context(), a, v.Conversation.ID, newest); err != nil {
		s.log.Error("mark read", "conversation", v.Conversation.ID, "err", err)
	}
}
