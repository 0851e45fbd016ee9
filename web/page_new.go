package web

import (
	"errors"
	"net/http"
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
	Categories    []categoryOption
	Roles         []roleOption
	Subject       string
	Body          string
	Company       string
	Person        string
	ChangeRoles   bool // the user may pick receivers (change_receivers)
	Describe      bool // the user may set company and person
	FilesDropped  bool // an invalid form came back: its files must be chosen again
	PresetPressed bool
}

// newPage is "Send new message".
func (s *server) newPage(w http.ResponseWriter, r *http.Request, rq *request) {
	d, err := s.newForm(w, r, rq, r.URL.Query().Get("category"), nil)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	s.render(w, http.StatusOK, "new", d)
}

// newForm builds the form for a category; roles nil means its preset.
func (s *server) newForm(w http.ResponseWriter, r *http.Request, rq *request, category string, roles []string) (*newData, error) {
	a := rq.actor
	d := &newData{page: s.base(w, r, rq, msgKey("Send new message"), "new"),
		ChangeRoles: a.Has(config.MayChangeReceivers),
		Describe:    a.MayDescribe()}
	l := newLookup(r.Context(), s.st)
	cats := l.activeCategories()
	if !slices.ContainsFunc(cats, func(c store.Category) bool { return c.Key == category }) {
		category = ""
		if len(cats) > 0 {
			category = cats[0].Key
		}
	}
	var preset []string
	for _, c := range cats {
		var keys []string
		for _, ro := range l.rolesOf(c.RoleIDs) {
			keys = append(keys, ro.Key)
		}
		d.Categories = append(d.Categories, categoryOption{Key: c.Key, Name: c.Name, Roles: strings.Join(keys, " "), Selected: c.Key == category})
		if c.Key == category {
			preset = keys
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
	return d, l.err
}

// newSubmit opens the conversation through the rules, as a mail would.
func (s *server) newSubmit(w http.ResponseWriter, r *http.Request, rq *request) {
	req := conversation.NewRequest{Category: r.PostFormValue("category"), Subject: r.PostFormValue("subject"),
		Body: r.PostFormValue("body"), Roles: r.PostForm["roles"],
		Company: r.PostFormValue("company"), Person: r.PostFormValue("person")}
	again := func(status int, msg string, presetPressed bool) {
		roles := req.Roles // what was ticked; nil presets the category's
		if presetPressed {
			roles = nil
		}
		d, err := s.newForm(w, r, rq, req.Category, roles)
		if err != nil {
			s.fail(w, r, rq, err)
			return
		}
		d.Subject, d.Body, d.Company, d.Person, d.Error = req.Subject, req.Body, req.Company, req.Person, msg
		d.PresetPressed = presetPressed
		d.FilesDropped = !presetPressed && r.MultipartForm != nil && len(r.MultipartForm.File["files"]) > 0
		s.render(w, status, "new", d)
	}
	// Without the script, "Use the category's receivers" posts the form back
	// to preset the receivers of the chosen category.
	if r.PostFormValue("preset") != "" {
		again(http.StatusOK, "", true)
		return
	}
	if rq.actor.Has(config.MayChangeReceivers) && len(req.Roles) == 0 {
		again(http.StatusBadRequest, msgKey("Pick at least one receiver."), false)
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
		again(http.StatusBadRequest, invalidMessage(err), false)
		return
	}
	s.fail(w, r, rq, err)
}
