package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"postdesk/conversation"
	"postdesk/store"
)

func init() { pageNames = append(pageNames, "export") }

// exportData is the standalone file of one conversation.
type exportData struct {
	Lang       string
	Title      string
	Conv       store.Conversation
	Category   string
	Receivers  []string
	Handler    string
	Customer   string
	Company    string
	Person     string
	Assignee   string
	Messages   []messageView
	ExportedAt time.Time
	ExportedBy string
	Style      template.CSS
}

// exportStyle is the file's stylesheet, inline so that the file stands alone.
const exportStyle = `body { margin: 2rem auto; max-width: 48rem; padding: 0 1rem; color: #1d2330; background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Ubuntu, sans-serif; }
h1 { font-size: 1.4rem; margin: 0 0 .75rem; }
.num { color: #667085; font-weight: 400; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0 0 1.5rem; font-size: .92rem; }
dt { color: #667085; }
dd { margin: 0; overflow-wrap: anywhere; }
ol { list-style: none; margin: 0; padding: 0; }
li { margin: 0 0 1rem; }
.event { color: #667085; font-size: .88rem; text-align: center; }
article { border: 1px solid #d9dde3; border-radius: 8px; padding: .6rem .8rem; break-inside: avoid; }
.us article { background: #eef4fc; }
.note article { background: #fff7d6; border-style: dashed; }
header { display: flex; flex-wrap: wrap; gap: .2rem .6rem; font-size: .88rem; margin-bottom: .4rem; }
header time { margin-left: auto; color: #667085; }
.tag { font-size: .72rem; font-weight: 700; text-transform: uppercase; color: #8a5300; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
.mailhtml { overflow-wrap: anywhere; }
.mailhtml img { max-width: 100%; height: auto; }
blockquote, .quoted > div { margin: .5rem 0; padding-left: .75rem; border-left: 3px solid #d9dde3; color: #475467; }
.quoted summary { color: #1f5fbf; cursor: pointer; font-size: .9rem; }
.files { margin: .5rem 0 0; padding: .4rem 0 0 1.2rem; border-top: 1px solid #d9dde3; font-size: .9rem; }
footer { margin-top: 2rem; color: #667085; font-size: .85rem; }
`

// exportConversation is GET /conversations/{id}/export: the thread as one
// HTML file to keep or send on, with its style inline and no scripts, the
// mail HTML sanitized as on the page and remote images left out. It is a
// read like any other: the visibility rule decides (Get), and Get records
// it in the access log.
func (s *server) exportConversation(w http.ResponseWriter, r *http.Request, rq *request) {
	id, ok := pathID(r)
	if !ok {
		s.errorPage(w, r, rq, http.StatusNotFound, "")
		return
	}
	a := rq.actor
	v, err := s.svc.Get(r.Context(), a, id)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	if !v.Can.Export {
		s.fail(w, r, rq, fmt.Errorf("read: %w", conversation.ErrForbidden))
		return
	}
	c := v.Conversation
	l := newLookup(r.Context(), s.st)
	l.usersOf(v)
	lc := s.loc(r, rq)
	d := exportData{Lang: lc.lang, Title: "#" + strconv.FormatInt(c.Number, 10) + " " + c.Subject, Conv: c,
		Handler: l.name(c.HandlerID), Company: l.company(c.CompanyID), Person: l.person(c.PersonID),
		Assignee: l.email(c.AssigneeID), ExportedAt: s.now(), ExportedBy: a.User.Email, Style: exportStyle}
	d.Customer, _ = l.sender(c.CustomerID)
	if cat := l.category(c.CategoryID); cat.Name != "" {
		d.Category = cat.Name
	} else {
		d.Category = c.CategoryKey
	}
	for _, ro := range l.rolesOf(c.RoleIDs) {
		d.Receivers = append(d.Receivers, ro.Name)
	}
	msgs, _, err := s.messageViews(r, rq, v, l, false)
	if err == nil {
		err = l.err
	}
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	d.Messages = msgs
	var buf bytes.Buffer
	if err := s.pages[d.Lang]["export"].ExecuteTemplate(&buf, "export", d); err != nil {
		s.log.Error("render", "page", "export", "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="conversation-%d.html"`, c.Number))
	// Opened from the disk or in place, the file runs nothing and loads
	// nothing: its style is inline, its images are the mail's own or none.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
}
