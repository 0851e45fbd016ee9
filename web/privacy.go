package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"

	"postdesk/config"
	"postdesk/privacy"
	"postdesk/store"
)

func init() { pageNames = append(pageNames, "privacy") }

type privacyData struct {
	page
	Email     string
	WithNotes bool
	Problem   string
	// Preview is a dry run's report, with the button that erases for real;
	// Done the report of an erasure.
	Preview, Done *store.EraseReport
}

// mayPrivacy answers a user without the privacy permission.
func (s *server) mayPrivacy(w http.ResponseWriter, r *http.Request, rq *request) bool {
	if rq.actor.StaffMay(config.MayPrivacy) {
		return true
	}
	s.errorPage(w, r, rq, http.StatusForbidden, msgKey("Not allowed: data-subject requests are for roles with the privacy permission."))
	return false
}

func (s *server) privacyPage(w http.ResponseWriter, r *http.Request, rq *request) {
	if !s.mayPrivacy(w, r, rq) {
		return
	}
	s.render(w, http.StatusOK, "privacy", privacyData{page: s.base(w, r, rq, msgKey("Data-subject requests"), "privacy")})
}

// privacyAddress reads the form's address; "" after answering a bad one.
func (s *server) privacyAddress(w http.ResponseWriter, r *http.Request, rq *request) (string, privacyData) {
	d := privacyData{page: s.base(w, r, rq, msgKey("Data-subject requests"), "privacy"), WithNotes: r.PostFormValue("notes") == "1"}
	d.Email = strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	if a, err := mail.ParseAddress(d.Email); err != nil || a.Address != d.Email {
		d.Problem = msgKey("Give the person's email address.")
		s.render(w, http.StatusBadRequest, "privacy", d)
		return "", d
	}
	return d.Email, d
}

// privacyExport sends the person's zip as a download. The export reads the
// database query by query while it writes: no transaction stays open
// while the file goes over the network.
func (s *server) privacyExport(w http.ResponseWriter, r *http.Request, rq *request) {
	if !s.mayPrivacy(w, r, rq) {
		return
	}
	email, d := s.privacyAddress(w, r, rq)
	if email == "" {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", contentDisposition("postdesk-export-"+strings.ReplaceAll(email, "@", "-at-")+".zip"))
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if _, err := privacy.Export(r.Context(), s.st, email, privacy.ExportOptions{WithNotes: d.WithNotes, Actor: rq.actor.User.Email}, w); err != nil {
		// Part of the zip may be out already: the browser is left with a
		// broken download, and the log with the reason.
		s.log.Error("privacy export", "err", err)
	}
}

// privacyErase erases in two steps: the form's first post is a dry run that
// shows what would go; only its confirmation, with the address typed
// again, erases.
func (s *server) privacyErase(w http.ResponseWriter, r *http.Request, rq *request) {
	if !s.mayPrivacy(w, r, rq) {
		return
	}
	email, d := s.privacyAddress(w, r, rq)
	if email == "" {
		return
	}
	confirm := r.PostFormValue("confirm") != ""
	if confirm && strings.ToLower(strings.TrimSpace(r.PostFormValue("confirm"))) != email {
		confirm = false
		d.Problem = msgKey("The address typed to confirm is not the same: nothing was erased.")
	}
	rep, err := privacy.Erase(r.Context(), s.st, store.EraseRequest{Email: email, Actor: rq.actor.User.Email, DryRun: !confirm})
	if errors.Is(err, privacy.ErrConfigured) {
		d.Problem = fmt.Sprintf("%s is a user of the config file: remove them from users (and restart) first.", email)
		s.render(w, http.StatusConflict, "privacy", d)
		return
	} else if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	if confirm {
		d.Done = rep
	} else {
		d.Preview = rep
	}
	s.render(w, http.StatusOK, "privacy", d)
}
