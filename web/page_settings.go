package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"

	"postdesk/config"
	"postdesk/store"
)

type settingsData struct {
	page
	HasPassword bool
	SSOOnly     bool // the user's role signs in by single sign-on only
	MFA         bool // a second factor is enrolled
	Signatures  []signatureField
	MayCanned   bool // the link to /canned
}

// settingsPage shows the user's own sign-in settings.
func (s *server) settingsPage(w http.ResponseWriter, r *http.Request, rq *request) {
	s.renderSettings(w, r, rq, http.StatusOK, "")
}

func (s *server) renderSettings(w http.ResponseWriter, r *http.Request, rq *request, status int, msg string) {
	u, err := s.st.UserByID(r.Context(), rq.actor.User.ID)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	d := settingsData{page: s.base(w, r, rq, msgKey("Settings"), "settings"), HasPassword: u.PasswordHash != "",
		SSOOnly: s.requiresSSO(rq.actor.Roles)}
	if d.MFA, err = s.mfaEnrolled(r, u.ID); err != nil {
		s.fail(w, r, rq, err)
		return
	}
	if d.Staff {
		own, err := s.svc.MySignatures(r.Context(), rq.actor)
		if err != nil {
			s.fail(w, r, rq, err)
			return
		}
		if msg != "" && r.Method == http.MethodPost && r.URL.Path == "/settings/signature" {
			// Came back invalid: what was typed, not what is stored.
			for _, lang := range config.Languages {
				own[lang] = r.PostFormValue("sig-" + lang)
			}
		}
		d.Signatures, d.MayCanned = langFields(own), rq.actor.MayManageCanned()
	}
	d.Error = msg
	s.render(w, status, "settings", d)
}

// changePassword sets a new password after checking the current one
// (throttled like sign-in, so that a borrowed session cannot guess it),
// and ends every other session of the user.
func (s *server) changePassword(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	u, err := s.st.UserByID(ctx, rq.actor.User.ID)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	if u.PasswordHash == "" || s.requiresSSO(rq.actor.Roles) {
		s.renderSettings(w, r, rq, http.StatusBadRequest, msgKey("You have no password to change here."))
		return
	}
	ip := s.clientIP(r)
	wait, err := s.limiter.wait(ctx, u.Email, ip)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	if wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
		s.renderSettings(w, r, rq, http.StatusTooManyRequests,
			s.loc(r, rq).T("Too many wrong passwords from here. Please wait %s and try again.", s.loc(r, rq).Wait(int(math.Ceil(wait.Seconds())))))
		return
	}
	ok, err := CheckPassword(u.PasswordHash, r.PostFormValue("current"))
	if err != nil {
		s.log.Error("change password: unreadable password hash", "user", u.Email, "err", err)
	}
	if !ok {
		if err := s.limiter.failed(ctx, u.Email, ip); err != nil {
			s.log.Error("change password: throttle", "err", err)
		}
		s.record(r, store.SigninEvent{UserID: &u.ID, Email: u.Email, Event: store.EventSignInFailed, Method: "password",
			Detail: map[string]any{"reason": "wrong current password on the settings page"}})
		s.renderSettings(w, r, rq, http.StatusUnauthorized, msgKey("The current password is wrong."))
		return
	}
	pw := r.PostFormValue("new")
	if pw != r.PostFormValue("repeat") {
		s.renderSettings(w, r, rq, http.StatusBadRequest, msgKey("The new password and its repetition differ."))
		return
	}
	if err := CheckNewPassword(pw, u.Email); err != nil {
		s.renderSettings(w, r, rq, http.StatusBadRequest, passwordProblem(s.loc(r, rq), err))
		return
	}
	hash, err := HashPassword(pw)
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.SetPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		return tx.DeleteOtherSessions(ctx, u.ID, rq.hash)
	})
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	s.record(r, store.SigninEvent{UserID: &u.ID, Email: u.Email, Event: store.EventPasswordChanged, Method: "settings"})
	s.setFlash(w, r, "Password changed. You were signed out everywhere else.")
	redirect(w, r, "/settings")
}

// passwordProblem is a CheckNewPassword error in words for the form.
func passwordProblem(l *locale, err error) string {
	switch {
	case errors.Is(err, ErrWeakPassword):
		return l.T("The new password is too short: use at least %d characters, a few words are easiest.", MinPasswordLength)
	case errors.Is(err, ErrCommonPassword):
		return l.T("The new password is too common (or is your address): guessers try it first. Choose another.")
	case errors.Is(err, ErrLongPassword):
		return l.T("The new password is too long.")
	}
	return l.T("The new password cannot be used.")
}
