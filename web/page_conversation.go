package web

import (
	"html/template"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"postdesk/config"
	"postdesk/conversation"
	"postdesk/quote"
	"postdesk/senderauth"
	"postdesk/store"
)

type attachmentView struct {
	ID       string
	Filename string
	Size     int64
	// Image: a picture the page shows in the message itself (a pasted
	// screenshot, a photo of a certificate), served as a safe raster type
	// under nosniff; an image the mail's HTML places by cid is shown there.
	Image bool
}

// inlineImages are the types a page shows as pictures; never SVG, which
// can carry script.
var inlineImages = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

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
	// Quoted is the history a customer's mail client quoted under the new
	// text (quote.Split, quote.SplitHTML), kept behind "Show quoted text".
	Quoted      string
	QuotedHTML  template.HTML
	Long        bool   // the message is long: the page collapses it
	By          string // an event's author, for events whose text names none
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

// pickGroup is the customer-side users of one company, an optgroup of the
// customer assignee's pick-list.
type pickGroup struct {
	Company string
	Users   []store.PickUser
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
	// Can is what the user may do here, as conversation.Can says; the
	// rules decide again when an action is posted.
	Can        conversation.Permissions
	IsNew      bool // the status is New (the side panel's status line)
	StaffUsers []store.User
	Roles      []roleOption
	Form       convForm
	Failed     string // the action whose form shows the error
	// PurgeAfter is when the retention purge deletes the conversation if
	// nothing happens before (nil: a legal hold keeps it); Open says the
	// date still moves with new activity.
	PurgeAfter *time.Time
	Open       bool
	// Composer and NoteComposer are the reply's and the note's text areas
	// with their attachments, canned answers and (a fresh reply) signature.
	Composer, NoteComposer composerData
	// MayAudit: the user may read who read this conversation.
	MayAudit bool
	// The pick-lists of the side panel: the organisation's companies,
	// people and customer-side users for staff, only the own company's
	// for a manager.
	Companies []store.PickCompany
	People    []store.PickPerson
	Assignees []pickGroup
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
	l.usersOf(v)
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
	d.Can = v.Can
	if form != nil {
		d.Form = *form
	} else {
		d.Form = convForm{Company: d.Company, Person: d.Person, Assignee: d.Assignee}
	}

	msgs, blocked, err := s.messageViews(r, rq, v, l, images)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	d.Messages, d.Blocked = msgs, blocked
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
	if d.Can.Describe() {
		var perr error
		d.Companies, d.People, d.Assignees, perr = s.pickLists(r, v)
		l.keep(perr)
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
	if d.Can.Reply {
		if d.Composer, err = s.composer(r.Context(), rq, d.Lang, c.ID, c.RoleIDs, "body", d.Form.Reply, failed != "reply"); err != nil {
			s.fail(w, r, rq, err)
			return
		}
		d.Composer.Label = msgKey("Your message")
		if v.Staff {
			d.Composer.Label = msgKey("Reply to the customer")
		}
		d.Composer.FilesDropped = failed == "reply"
	}
	if d.Can.Note {
		if d.NoteComposer, err = s.composer(r.Context(), rq, d.Lang, c.ID, c.RoleIDs, "note", d.Form.Note, false); err != nil {
			s.fail(w, r, rq, err)
			return
		}
		d.NoteComposer.Label = msgKey("Note for staff only, never sent to the customer")
		d.NoteComposer.FilesDropped = failed == "note"
	}
	if images {
		w.Header().Set("Content-Security-Policy", csp(true))
	}
	s.render(w, status, "conversation", d)
}

// pickLists are the side panel's choices: staff who may set the company
// pick from the whole organisation; anyone else who may describe (a
// manager) only from the company the conversation is about, their own.
func (s *server) pickLists(r *http.Request, v *conversation.View) ([]store.PickCompany, []store.PickPerson, []pickGroup, error) {
	ctx := r.Context()
	var only *int64
	if !v.Can.SetCompany {
		if v.About == nil {
			return nil, nil, nil, nil
		}
		only = v.About
	}
	companies, err := s.st.Companies(ctx, only)
	if err != nil {
		return nil, nil, nil, err
	}
	// The person and the assignee belong to the company the conversation
	// is about; staff may move it, so they see everyone.
	people, err := s.st.CompanyPeople(ctx, only)
	if err != nil {
		return nil, nil, nil, err
	}
	users, err := s.st.CompanyUsers(ctx, only)
	if err != nil {
		return nil, nil, nil, err
	}
	var groups []pickGroup
	for _, u := range users {
		if n := len(groups); n == 0 || groups[n-1].Company != u.Company {
			groups = append(groups, pickGroup{Company: u.Company})
		}
		groups[len(groups)-1].Users = append(groups[len(groups)-1].Users, u)
	}
	return companies, people, groups, nil
}

// convEvents are the events that name who made them ("... by NAME"),
// with both parts translated; the others go through locale.Event.
var convEvents = []struct {
	kind string
	re   *regexp.Regexp
	key  string
}{
	{"company", regexp.MustCompile(`^Company set to (.+) by (.+)$`), msgKey("Company set to %s by %s")},
	{"company", regexp.MustCompile(`^Company cleared by (.+)$`), msgKey("Company cleared by %s")},
	{"person", regexp.MustCompile(`^Person set to (.+) by (.+)$`), msgKey("Person set to %s by %s")},
	{"person", regexp.MustCompile(`^Person cleared by (.+)$`), msgKey("Person cleared by %s")},
	{"assignee", regexp.MustCompile(`^Customer assignee set to (.+) by (.+)$`), msgKey("Customer assignee set to %s by %s")},
	{"assignee", regexp.MustCompile(`^Customer assignee removed by (.+)$`), msgKey("Customer assignee removed by %s")},
	{"legal_hold", regexp.MustCompile(`^Legal hold set by (.+)$`), msgKey("Legal hold set by %s")},
	{"legal_hold", regexp.MustCompile(`^Legal hold released by (.+)$`), msgKey("Legal hold released by %s")},
}

// convEvent is an event's text in the page's language and, for an event
// whose stored text does not say who made it, its author.
func convEvent(lc *locale, kind, text, author string) (string, string) {
	for _, e := range convEvents {
		if e.kind != kind {
			continue
		}
		if m := e.re.FindStringSubmatch(text); m != nil {
			args := make([]any, 0, len(m)-1)
			for _, a := range m[1:] {
				args = append(args, a)
			}
			return lc.T(e.key, args...), ""
		}
	}
	out := lc.Event(kind, text)
	if kind == "described" {
		// Written before each change was an event of its own: in English,
		// with its author.
		return out, ""
	}
	if author != "" && !strings.Contains(text, author) && !strings.Contains(text, " by ") && !strings.Contains(text, " from ") && kind != "routed" {
		return out, author
	}
	return out, ""
}

// isLong says a message is long enough for the page to fold it: more than
// longLines lines or longChars characters.
func isLong(text string) bool {
	const longLines, longChars = 24, 1600
	return strings.Count(text, "\n") >= longLines || utf8.RuneCountInString(text) > longChars
}

// messageViews are the conversation's messages as the page (and the
// export) shows them; blocked says remote images were left out.
func (s *server) messageViews(r *http.Request, rq *request, v *conversation.View, l *lookup, images bool) (out []messageView, blocked bool, err error) {
	trust, err := s.svc.Trust(r.Context(), rq.actor, v.Conversation.ID)
	if err != nil {
		return nil, false, err
	}
	var mails map[int64][]store.MailSent
	if v.Staff {
		mails, err = s.st.MailsOf(r.Context(), v.Conversation.ID)
		if err != nil {
			return nil, false, err
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
			mv.Text, mv.By = convEvent(lc, m.Event, m.Text, mv.From)
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
			mv.Attachments = append(mv.Attachments, attachmentView{ID: at.ID, Filename: at.Filename, Size: at.Size,
				Image: at.ContentID == "" && inlineImages[safeContentType(at.ContentType)]})
		}
		body := m.HTML
		if m.Kind == store.KindCustomer && len(m.RawSHA256) > 0 {
			// A customer's mail client quotes the whole thread under each
			// answer; the page shows the new text, the rest on request. A
			// message written on the page quotes nothing, whatever it holds.
			var quoted string
			mv.Text, mv.Quoted = quote.Split(m.Text)
			if body != "" {
				body, quoted = quote.SplitHTML(body)
				if quoted != "" {
					qh, b := mailHTML(quoted, cids, images)
					mv.QuotedHTML, blocked = qh, blocked || b
				}
			}
		}
		mv.Long = isLong(mv.Text)
		if body != "" && m.Kind != store.KindEvent {
			h, b := mailHTML(body, cids, images)
			mv.HTML = h
			blocked = blocked || b
		}
		if v.Staff {
			mv.Problems = m.Problems
		}
		out = append(out, mv)
	}
	return out, blocked, nil
}
