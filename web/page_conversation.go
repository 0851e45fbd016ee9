package web

import (
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"postdesk/config"
	"postdesk/conversation"
	"postdesk/senderauth"
	"postdesk/store"
)

type attachmentView struct {
	ID       string
	Filename string
	Size     int64
}

type messageView struct {
	ID          int64
	Kind        string
	Side        string // them (customer side), us (staff), note, event
	Label       string // "Internal note", "Automatic reply", "Bounce"
	From        string // the name to show; empty when the name would mislead
	Addr        string // the real address, always shown
	NameWarning string // the display name poses as another address
	Unverified  string // sender_auth: the sender was not verified, and why
	Held        *conversation.HeldView
	When        time.Time
	HTML        template.HTML
	Text        string
	Event       string
	Attachments []attachmentView
	Problems    []string
	Last        bool
	// Mails are, for staff, the mails the outbox holds for this message and
	// the mode each was built in.
	Mails []mailView
}

// mailView is one mail about a message, as staff see it.
type mailView struct {
	Recipient string
	Secure    bool
	Mode      string // a message key
	Status    string // the outbox status (outboxStatuses), shown before a mail not built yet
	Failed    bool
}

func mailViews(ms []store.MailSent) []mailView {
	out := make([]mailView, 0, len(ms))
	for _, m := range ms {
		v := mailView{Recipient: m.Recipient}
		switch {
		case m.Secure == nil:
			v.Status, v.Mode = m.Status, msgKey("not built yet")
		case *m.Secure:
			v.Secure, v.Mode = true, msgKey("without content (secure category)")
		default:
			v.Mode = msgKey("with content")
		}
		v.Failed = m.Status == "failed"
		out = append(out, v)
	}
	return out
}

type roleOption struct {
	Key, Name string
	Checked   bool
}

// convForm is what the action forms hold, kept when one comes back invalid.
type convForm struct {
	Reply, Note, Company, Person, Assignee string
}

// allowed is which actions the page offers; the rules decide again when one
// is posted.
type allowed struct {
	Take, Assign, Reply, Note, Receivers, Describe, Solve, Reopen, Hold bool
	Company                                                             bool // the company field may change (Describe)
}

type convData struct {
	page
	Conv          store.Conversation
	Category      string
	Receivers     []string
	Handler       string
	HandlerEmail  string
	Customer      string
	CustomerEmail string
	CustomerWarn  string // the customer's display name poses as another address
	Assignee      string
	Company       string
	Person        string
	Messages      []messageView
	Staff         bool
	IsHandler     bool
	Blocked       bool // remote images were left out
	Images        bool // remote images are shown
	Can           allowed
	StaffUsers    []store.User
	Roles         []roleOption
	Form          convForm
	Failed        string // the action whose form shows the error
	// PurgeAfter is when the retention purge deletes the conversation if
	// nothing happens before (nil: a legal hold keeps it); Open says the
	// date still moves with new activity.
	PurgeAfter *time.Time
	Open       bool
	// MayAudit: the user may read who read this conversation.
	MayAudit bool
}

// conversationPage shows one conversation, chat style, with its actions.
func (s *server) conversationPage(w http.ResponseWriter, r *http.Request, rq *request) {
	id, ok := pathID(r)
	if !ok {
		s.errorPage(w, r, rq, http.StatusNotFound, "")
		return
	}
	s.showConversation(w, r, rq, id, http.StatusOK, "", "", nil)
}

func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// showConversation renders the page; after a refused action, with its
// message next to its form and what was typed kept.
func (s *server) showConversation(w http.ResponseWriter, r *http.Request, rq *request, id int64, status int, failed, msg string, form *convForm) {
	a := rq.actor
	v, err := s.svc.Get(r.Context(), a, id)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	s.markRead(r, a, v)
	c := v.Conversation
	l := newLookup(r.Context(), s.st)
	images := r.URL.Query().Get("images") == "1"
	d := convData{page: s.base(w, r, rq, "#"+strconv.FormatInt(c.Number, 10)+" "+c.Subject, "inbox"),
		Conv: c, Staff: v.Staff, Images: images, Failed: failed,
		Handler: l.name(c.HandlerID), HandlerEmail: l.email(c.HandlerID),
		CustomerEmail: l.email(c.CustomerID), Assignee: l.email(c.AssigneeID),
		Company: l.company(c.CompanyID), Person: l.person(c.PersonID)}
	d.Error = msg
	d.PurgeAfter, d.Open = v.PurgeAfter, c.Status != store.StatusSolved
	d.MayAudit = a.StaffMay(config.MayAudit)
	d.Customer, d.CustomerWarn = l.sender(c.CustomerID)
	if cat := l.category(c.CategoryID); cat.Name != "" {
		d.Category = cat.Name
	} else {
		d.Category = c.CategoryKey
	}
	receivers := l.rolesOf(c.RoleIDs)
	for _, ro := range receivers {
		d.Receivers = append(d.Receivers, ro.Name)
	}
	d.IsHandler = c.HandlerID != nil && *c.HandlerID == a.User.ID
	d.Can = allowed{
		Take:      v.Staff && !d.IsHandler,
		Assign:    v.Staff && (a.Has(config.MayAssign) || d.IsHandler),
		Reply:     true,
		Note:      v.Staff,
		Receivers: a.Has(config.MayChangeReceivers),
		Describe:  v.MayDescribe,
		Company:   v.MayChangeCompany,
		Solve:     v.Staff && c.Status != store.StatusSolved,
		Reopen:    v.Staff && (c.Status == store.StatusSolved || c.Status == store.StatusWaiting),
		Hold:      v.Staff && a.Has(config.MayLegalHold),
	}
	if form != nil {
		d.Form = *form
	} else {
		d.Form = convForm{Company: d.Company, Person: d.Person, Assignee: d.Assignee}
	}

	trust, err := s.svc.Trust(r.Context(), a, id)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	var mails map[int64][]store.MailSent
	if v.Staff {
		mails, err = s.st.MailsOf(r.Context(), id)
		if err != nil {
			s.fail(w, r, rq, err)
			return
		}
	}
	lc := s.loc(r, rq)
	for _, m := range v.Messages {
		mv := messageView{Mails: mailViews(mails[m.ID]), ID: m.ID, Kind: m.Kind, From: m.FromName, Addr: m.FromAddr, When: m.CreatedAt, Event: m.Event, Text: m.Text}
		if mv.Addr == "" && m.AuthorID != nil {
			mv.From, mv.Addr = l.name(m.AuthorID), l.email(m.AuthorID)
		}
		if senderauth.MisleadingName(mv.From, mv.Addr) {
			mv.NameWarning = lc.T("The display name %s is not the sender's address", strconv.Quote(mv.From))
			mv.From = ""
		}
		if ch, ok := trust.Checks[m.ID]; ok && !ch.Verified {
			mv.Unverified = ch.Reason
		}
		if h, ok := trust.Held[m.ID]; ok {
			mv.Held = &h
		}
		switch m.Kind {
		case store.KindEvent:
			mv.Side = "event"
			mv.Text = lc.Event(m.Event, m.Text)
		case store.KindStaff:
			mv.Side = "us"
		case store.KindNote:
			mv.Side, mv.Label = "note", msgKey("Internal note")
		case store.KindAutoReply:
			mv.Side, mv.Label = "them", msgKey("Automatic reply")
		case store.KindBounce:
			mv.Side, mv.Label = "them", msgKey("Delivery failure report")
		default:
			mv.Side = "them"
		}
		cids := map[string]string{}
		for _, at := range m.Attachments {
			if at.ContentID != "" {
				cids[at.ContentID] = at.ID
				cids[strings.ToLower(at.ContentID)] = at.ID
			}
			mv.Attachments = append(mv.Attachments, attachmentView{ID: at.ID, Filename: at.Filename, Size: at.Size})
		}
		if m.HTML != "" && m.Kind != store.KindEvent {
			h, blocked := mailHTML(m.HTML, cids, images)
			mv.HTML = h
			d.Blocked = d.Blocked || blocked
		}
		if v.Staff {
			mv.Problems = m.Problems
		}
		d.Messages = append(d.Messages, mv)
	}
	if n := len(d.Messages); n > 0 {
		d.Messages[n-1].Last = true
	}

	if d.Can.Assign {
		var staffRoles []int64
		for _, ro := range receivers {
			if ro.Staff {
				staffRoles = append(staffRoles, ro.ID)
			}
		}
		if len(staffRoles) > 0 {
			us, err := s.st.RoleMembers(r.Context(), staffRoles)
			l.keep(err)
			d.StaffUsers = us
		}
	}
	if d.Can.Receivers {
		for _, ro := range l.knownRoles(a, c.RoleIDs) {
			d.Roles = append(d.Roles, roleOption{Key: ro.Key, Name: ro.Name, Checked: slices.Contains(c.RoleIDs, ro.ID)})
		}
	}
	if l.err != nil {
		s.fail(w, r, rq, l.err)
		return
	}
	if images {
		w.Header().Set("Content-Security-Policy", csp(true))
	}
	s.render(w, status, "conversation", d)
}
