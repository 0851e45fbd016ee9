package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"postdesk/config"
	"postdesk/conversation"
	"postdesk/store"
)

func init() {
	pageNames = append(pageNames, "canned")
	// The reasons conversation/canned.go refuses with, shown through t.
	invalidReasons = append(invalidReasons, msgKey("The canned answer needs a title."), msgKey("The title is too long."),
		msgKey("The canned answer is empty."), msgKey("The canned answer is too long."), msgKey("Unknown language."),
		msgKey("The signature is too long."), msgKey("Canned answers and role signatures belong to a staff role."))
	forbiddenActions = append(forbiddenActions, msgKey("manage canned answers"), msgKey("set a signature"))
}

// placeholders are shown beside the answer form, with what each becomes.
var placeholders = []struct{ Code, Meaning string }{
	{conversation.PlaceCustomer, msgKey("the customer's name")},
	{conversation.PlaceNumber, msgKey("the conversation's number")},
	{conversation.PlaceHandler, msgKey("the Handler's name")},
	{conversation.PlaceMe, msgKey("your name")},
}

type cannedRole struct {
	ID         int64
	Name       string
	Answers    []store.CannedAnswer
	Signatures []signatureField
}

// signatureField is one language's signature in a form.
type signatureField struct {
	Lang, LangName, Body string
}

type cannedData struct {
	page
	Roles        []cannedRole
	AnswerLangs  []signatureField // the languages an answer may be in
	Edit         store.CannedAnswer
	Placeholders []struct{ Code, Meaning string }
}

// cannedPage is /canned: the canned answers of every staff role and the
// roles' signatures, for whoever holds the canned permission.
func (s *server) cannedPage(w http.ResponseWriter, r *http.Request, rq *request) {
	if !rq.actor.MayManageCanned() {
		s.fail(w, r, rq, fmt.Errorf("manage canned answers: %w", conversation.ErrForbidden))
		return
	}
	var edit store.CannedAnswer
	if id, err := strconv.ParseInt(r.URL.Query().Get("edit"), 10, 64); err == nil && id > 0 {
		c, err := s.st.CannedAnswer(r.Context(), id)
		if err != nil {
			s.fail(w, r, rq, err)
			return
		}
		edit = *c
	}
	s.renderCanned(w, r, rq, http.StatusOK, "", edit)
}

func (s *server) renderCanned(w http.ResponseWriter, r *http.Request, rq *request, status int, msg string, edit store.CannedAnswer) {
	ctx, a := r.Context(), rq.actor
	if !a.MayManageCanned() {
		s.fail(w, r, rq, fmt.Errorf("manage canned answers: %w", conversation.ErrForbidden))
		return
	}
	answers, err := s.svc.CannedAll(ctx, a)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	roles, err := s.st.StaffRoles(ctx)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	ids := make([]int64, len(roles))
	for i, ro := range roles {
		ids[i] = ro.ID
	}
	sigs, err := s.svc.RoleSignatures(ctx, a, ids)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	d := cannedData{page: s.base(w, r, rq, msgKey("Canned answers"), "canned"), Edit: edit, Placeholders: placeholders}
	d.Error = msg
	if d.Edit.Language == "" {
		d.Edit.Language = d.Lang
	}
	d.AnswerLangs = langFields(nil)
	for _, ro := range roles {
		cr := cannedRole{ID: ro.ID, Name: ro.Name, Signatures: langFields(sigs[ro.ID])}
		for _, c := range answers {
			if c.RoleID == ro.ID {
				cr.Answers = append(cr.Answers, c)
			}
		}
		d.Roles = append(d.Roles, cr)
	}
	s.render(w, status, "canned", d)
}

// langFields are the signature fields of every language, filled from bodies.
func langFields(bodies map[string]string) []signatureField {
	out := make([]signatureField, 0, len(config.Languages))
	for _, lang := range config.Languages {
		out = append(out, signatureField{Lang: lang, LangName: langNames[lang], Body: bodies[lang]})
	}
	return out
}

// cannedAction is a posted change on /canned: save (add or edit) or delete
// an answer, or save a role's signatures.
func (s *server) cannedAction(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx, a := r.Context(), rq.actor
	id, _ := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	role, _ := strconv.ParseInt(r.PostFormValue("role"), 10, 64)
	var err error
	var flash string
	c := store.CannedAnswer{ID: id, RoleID: role, Language: r.PostFormValue("language"),
		Title: r.PostFormValue("title"), Body: r.PostFormValue("body")}
	switch r.PathValue("action") {
	case "save":
		err, flash = s.svc.SaveCanned(ctx, a, &c), msgKey("The canned answer was saved.")
	case "delete":
		err, flash = s.svc.DeleteCanned(ctx, a, id), msgKey("The canned answer was deleted.")
	case "signature":
		for _, lang := range config.Languages {
			if err = s.svc.SetRoleSignature(ctx, a, role, lang, r.PostFormValue("sig-"+lang)); err != nil {
				break
			}
		}
		flash = msgKey("The role's signatures were saved.")
	default:
		s.errorPage(w, r, rq, http.StatusNotFound, "")
		return
	}
	if errors.Is(err, conversation.ErrInvalid) {
		// The form again, with what was typed.
		s.renderCanned(w, r, rq, http.StatusBadRequest, invalidMessage(err), c)
		return
	}
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	s.setFlash(w, r, flash)
	redirect(w, r, "/canned")
}

// cannedFill is GET /canned/fill?conversation=ID&id=CID: a canned answer as
// plain text with its placeholders filled for that conversation (0: a new
// message), for the composer's script to insert. Plain text in a text area
// needs no escaping; the nosniff header keeps it from being read as a page.
func (s *server) cannedFill(w http.ResponseWriter, r *http.Request, rq *request) {
	q := r.URL.Query()
	conv, err1 := strconv.ParseInt(q.Get("conversation"), 10, 64)
	id, err2 := strconv.ParseInt(q.Get("id"), 10, 64)
	if err1 != nil || err2 != nil || conv < 0 || id <= 0 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	text, err := s.svc.FillCanned(r.Context(), rq.actor, conv, id)
	if err != nil {
		status, _ := errKind(err)
		if status == http.StatusInternalServerError {
			s.log.Error("canned fill", "err", err)
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(text)) //nolint:errcheck
}

// saveSignature is POST /settings/signature: the user's own signatures,
// one per language.
func (s *server) saveSignature(w http.ResponseWriter, r *http.Request, rq *request) {
	for _, lang := range config.Languages {
		if err := s.svc.SetMySignature(r.Context(), rq.actor, lang, r.PostFormValue("sig-"+lang)); err != nil {
			if errors.Is(err, conversation.ErrInvalid) {
				s.renderSettings(w, r, rq, http.StatusBadRequest, invalidMessage(err))
				return
			}
			s.fail(w, r, rq, err)
			return
		}
	}
	s.setFlash(w, r, msgKey("Your signatures were saved."))
	redirect(w, r, "/settings")
}
