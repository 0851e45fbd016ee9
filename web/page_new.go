package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"postdesk/config"
	"postdesk/conversation"
	"postdesk/store"
)

type categoryOption struct {
	Key, Name string
	Roles     string // preset receiver keys, space-separated, for the script
	Selected  bool
}

type newData struct {
	page
	Categories  []categoryOption
	Roles       []roleOption
	Subject     string
	Company     string
	Person      string
	ChangeRoles bool // the user may pick receivers (change_receivers)
	Describe    bool // the user may set company and person
	// Companies and People are the pick-lists of company and person:
	// the organisation's for staff who may set the company, a manager's
	// own company's otherwise.
	Companies     []store.PickCompany
	People        []store.PickPerson
	PresetPressed bool
	Composer      composerData
}

// composerData is what the "composer" template (compose.html) needs: the
// text area with its attachments, canned answers and signature.
type composerData struct {
	ID       string // prefix of the element ids, unique on the page
	Field    string // the text area's name: body (replies, new messages) or note
	Label    string // message key of the text area's label
	Text     string
	Required bool
	MaxBytes int64 // the upload limit, checked by the script before sending
	MaxMB    int64
	Canned   []cannedOption
	// FilesDropped: an invalid form came back, its files must be chosen again.
	FilesDropped bool
	// InsertButton offers, without the script, a button that posts the
	// form back to insert the chosen canned answer: only where the form's
	// handler knows that button (newSubmit), never where posting sends.
	InsertButton bool
}

type cannedOption struct {
	ID       int64
	Title    string
	Text     string // filled for this conversation, inserted by the script
	Language string
	Other    bool // in another language than the page's
}

// sigSeparator starts a signature, as mail clients write it, so that the
// reader and quote trimming know where the text ends.
const sigSeparator = "-- \n"

// composer builds the composer for a form of a conversation (convID > 0)
// or of a new message (0): the canned answers the actor may insert and,
// when text is empty (a first showing, not a form come back), the text
// pre-filled with the signature below an empty first line. roleIDs are the
// conversation's receivers (nil on a new message); the page that shows a
// reply form calls it with field "body".
func (s *server) composer(ctx context.Context, rq *request, lang string, convID int64, roleIDs []int64, field, text string, fresh bool) (composerData, error) {
	a := rq.actor
	d := composerData{ID: "compose-" + field, Field: field, Label: msgKey("Message"), Text: text,
		MaxBytes: maxUpload, MaxMB: maxUpload >> 20}
	if field == "note" {
		d.Label = msgKey("Internal note")
	}
	list, err := s.svc.CannedFor(ctx, a, convID)
	if err != nil {
		return d, err
	}
	// The page's language first: it is most likely the one answered in.
	slices.SortStableFunc(list, func(x, y store.CannedAnswer) int {
		return boolRank(x.Language != lang) - boolRank(y.Language != lang)
	})
	for _, c := range list {
		d.Canned = append(d.Canned, cannedOption{ID: c.ID, Title: c.Title, Text: c.Body, Language: c.Language, Other: c.Language != lang})
	}
	// The signature in the page's language: the user's choice of the switch,
	// else their configured language, else their browser's (langOf).
	if fresh && field == "body" && text == "" {
		sig, err := s.svc.SignatureFor(ctx, a, roleIDs, lang)
		if err != nil {
			return d, err
		}
		if sig != "" {
			d.Text = "\n\n" + sigSeparator + sig
		}
	}
	return d, nil
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// newPage is "Send new message".
func (s *server) newPage(w http.ResponseWriter, r *http.Request, rq *request) {
	d, err := s.newForm(w, r, rq, r.URL.Query().Get("category"), nil, "", true)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	s.render(w, http.StatusOK, "new", d)
}

// newForm builds the form for a category; roles nil means its preset.
func (s *server) newForm(w http.ResponseWriter, r *http.Request, rq *request, category string, roles []string, body string, fresh bool) (*newData, error) {
	a := rq.actor
	d := &newData{page: s.base(w, r, rq, msgKey("Send new message"), "new"),
		ChangeRoles: a.Has(config.MayChangeReceivers),
		Describe:    a.MayDescribe()}
	if d.Describe {
		var only *int64
		if !a.StaffMay(config.MaySetCompany) {
			if a.User.CompanyID == nil {
				d.Describe = false
			}
			only = a.User.CompanyID
		}
		if d.Describe {
			var err error
			if d.Companies, err = s.st.Companies(r.Context(), only); err != nil {
				return nil, err
			}
			if d.People, err = s.st.CompanyPeople(r.Context(), only); err != nil {
				return nil, err
			}
		}
	}
	l := newLookup(r.Context(), s.st)
	cats := l.activeCategories()
	if !slices.ContainsFunc(cats, func(c store.Category) bool { return c.Key == category }) {
		category = ""
		if len(cats) > 0 {
			category = cats[0].Key
		}
	}
	var preset []string
	var presetIDs []int64
	for _, c := range cats {
		var keys []string
		for _, ro := range l.rolesOf(c.RoleIDs) {
			keys = append(keys, ro.Key)
		}
		d.Categories = append(d.Categories, categoryOption{Key: c.Key, Name: c.Name, Roles: strings.Join(keys, " "), Selected: c.Key == category})
		if c.Key == category {
			preset, presetIDs = keys, c.RoleIDs
		}
	}
	if roles == nil || !d.ChangeRoles {
		roles = preset
	}
	for _, ro := range l.knownRoles(a, nil) {
		if !ro.Active {
			continue
		}
		d.Roles = append(d.Roles, roleOption{Key: ro.Key, Name: ro.Name, Checked: slices.Contains(roles, ro.Key)})
	}
	if l.err != nil {
		return nil, l.err
	}
	var err error
	d.Composer, err = s.composer(r.Context(), rq, d.Lang, 0, presetIDs, "body", body, fresh)
	d.Composer.InsertButton = true
	return d, err
}

// newAgain shows the form again with what was sent (text, choices) and a
// message; the files must be chosen again, a browser cannot be given them.
func (s *server) newAgain(w http.ResponseWriter, r *http.Request, rq *request, status int, msg string, presetPressed bool) {
	s.newAgainWith(w, r, rq, newRequest(r), status, msg, presetPressed)
}

func (s *server) newAgainWith(w http.ResponseWriter, r *http.Request, rq *request, req conversation.NewRequest, status int, msg string, presetPressed bool) {
	roles := req.Roles // what was ticked; nil presets the category's
	if presetPressed {
		roles = nil
	}
	d, err := s.newForm(w, r, rq, req.Category, roles, req.Body, false)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	d.Subject, d.Company, d.Person, d.Error = req.Subject, req.Company, req.Person, msg
	d.PresetPressed = presetPressed
	d.Composer.FilesDropped = !presetPressed && (status == http.StatusRequestEntityTooLarge ||
		r.MultipartForm != nil && len(r.MultipartForm.File["files"]) > 0)
	s.render(w, status, "new", d)
}

func newRequest(r *http.Request) conversation.NewRequest {
	return conversation.NewRequest{Category: r.PostFormValue("category"), Subject: r.PostFormValue("subject"),
		Body: r.PostFormValue("body"), Roles: r.PostForm["roles"],
		Company: r.PostFormValue("company"), Person: r.PostFormValue("person")}
}

// newSubmit opens the conversation through the rules, as a mail would.
func (s *server) newSubmit(w http.ResponseWriter, r *http.Request, rq *request) {
	req := newRequest(r)
	// Without the script, "Use the category's receivers" posts the form back
	// to preset the receivers of the chosen category.
	if r.PostFormValue("preset") != "" {
		s.newAgain(w, r, rq, http.StatusOK, "", true)
		return
	}
	// Without the script, "Insert" beside the canned answers posts the form
	// back with the chosen answer, filled, put above the text.
	if r.PostFormValue("insert") != "" {
		id, _ := strconv.ParseInt(r.PostFormValue("canned"), 10, 64)
		if id > 0 {
			text, err := s.svc.FillCanned(r.Context(), rq.actor, 0, id)
			if err != nil {
				s.fail(w, r, rq, err)
				return
			}
			req.Body = text + req.Body
		}
		s.newAgainWith(w, r, rq, req, http.StatusOK, "", false)
		return
	}
	if rq.actor.Has(config.MayChangeReceivers) && len(req.Roles) == 0 {
		s.newAgain(w, r, rq, http.StatusBadRequest, msgKey("Pick at least one receiver."), false)
		return
	}
	files, err := formFiles(r)
	if err == nil {
		req.Attachments = files
		var c *store.Conversation
		c, err = s.svc.Open(r.Context(), rq.actor, req)
		if err == nil {
			s.setFlash(w, r, msgKey("Your message was sent as #%s."), strconv.FormatInt(c.Number, 10))
			redirect(w, r, convURL(c.ID))
			return
		}
	}
	if errors.Is(err, conversation.ErrInvalid) {
		s.newAgain(w, r, rq, http.StatusBadRequest, invalidMessage(err), false)
		return
	}
	s.fail(w, r, rq, err)
}

// An upload over the limit is cut off by readForm's MaxBytesReader, and the
// form parsed so far is lost with it. keepHead, wrapped around the routes of
// forms with files, keeps the first bytes of the body; the text fields come
// before the file input in every such form, so formTooLarge can read them
// back from there and show the form again with its text and a message, not
// a bare error page.

// headLimit is how much of a form's body is kept: far more than any text
// of a form, little beside the upload itself.
const headLimit = 256 << 10

type headKey struct{}

type headReader struct {
	rc  io.ReadCloser
	buf bytes.Buffer
}

func (h *headReader) Read(p []byte) (int, error) {
	n, err := h.rc.Read(p)
	if room := headLimit - h.buf.Len(); room > 0 {
		h.buf.Write(p[:min(n, room)])
	}
	return n, err
}

func (h *headReader) Close() error { return h.rc.Close() }

// keepHead keeps the head of a multipart form post for formTooLarge.
func keepHead(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		h := &headReader{rc: r.Body}
		r.Body = h
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), headKey{}, h)))
	})
}

// formTooLarge answers a form post whose body passed the size limit by
// showing its form again, with the text fields kept, when the route kept the
// head (keepHead) and the head carries the session's CSRF token; it reports
// whether it answered. readForm calls it before its plain error page.
func (s *server) formTooLarge(w http.ResponseWriter, r *http.Request, rq *request) bool {
	h, _ := r.Context().Value(headKey{}).(*headReader)
	if h == nil || rq == nil {
		return false
	}
	vals := headFields(r.Header.Get("Content-Type"), h.buf.Bytes())
	if vals.Get("csrf") == "" || vals.Get("csrf") != rq.csrf {
		return false
	}
	r.PostForm, r.Form, r.MultipartForm = vals, vals, nil
	msg := msgKey("The files are too large: at most 25 MB in all.")
	switch {
	case r.URL.Path == "/new":
		s.newAgain(w, r, rq, http.StatusRequestEntityTooLarge, msg, false)
	case strings.HasPrefix(r.URL.Path, "/conversations/"):
		id, ok := pathID(r)
		action := r.PathValue("action")
		if !ok || (action != "reply" && action != "note") {
			return false
		}
		form := &convForm{Reply: vals.Get("body"), Note: vals.Get("note")}
		s.showConversation(w, r, rq, id, http.StatusRequestEntityTooLarge, action, msg, form)
	default:
		return false
	}
	return true
}

// headFields reads the text fields of the kept head of a multipart body,
// up to the first part it cannot read whole.
func headFields(contentType string, head []byte) url.Values {
	vals := url.Values{}
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil || params["boundary"] == "" {
		return vals
	}
	mr := multipart.NewReader(bytes.NewReader(head), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return vals
		}
		if p.FileName() != "" || p.FormName() == "" {
			continue
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return vals // cut off within the field: better none than half
		}
		vals.Add(p.FormName(), string(b))
	}
}
