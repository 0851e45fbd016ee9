package web

import (
	"errors"
	"net/http"
	"strings"

	"postdesk/signinlink"
	"postdesk/store"
)

type messageData struct {
	page
	Heading string
	Message string
}

type resetData struct {
	page
	Token string // of a link being used, "" on the request form
	Email string
}

// linkSent is the one answer to every request for a link, known address
// or not.
var linkSent = msgKey("If postdesk knows this address, a link is on its way to it. It works once, for 30 minutes. " +
	"If nothing arrives, check the address and your spam folder, or ask your contact person.")

// resetPage is the form that asks for a password-reset link.
func (s *server) resetPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "reset", resetData{page: s.base(w, r, nil, msgKey("Forgot your password?"), "")})
}

// resetRequest answers at once, the same for every address, and makes the
// link in the background (requestLink).
func (s *server) resetRequest(w http.ResponseWriter, r *http.Request) {
	s.linkRequested(w, r, signinlink.Reset, msgKey("Check your email"))
}

// linkRequested reads the address of a link request, hands it to
// requestLink and shows the one answer.
func (s *server) linkRequested(w http.ResponseWriter, r *http.Request, purpose, heading string) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, nil, http.StatusBadRequest, msgKey("The form could not be read."))
		return
	}
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	if email != "" && len(email) <= 254 {
		s.requestLink(r.Context(), linkRequest{email: email, purpose: purpose, ip: s.clientIP(r),
			client: r.UserAgent(), at: s.now()})
	}
	s.render(w, http.StatusOK, "signin_message", messageData{page: s.base(w, r, nil, heading, ""),
		Heading: heading, Message: linkSent})
}

// linkGone is the answer for a link that is unknown, used or expired.
func (s *server) linkGone(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusGone, "signin_message", messageData{page: s.base(w, r, nil, msgKey("Link not valid"), ""),
		Heading: msgKey("This link is no longer valid"),
		Message: msgKey("A link works once, for 30 minutes, and only for the address it was sent to. Ask for a new one.")})
}

// resetLinkPage shows the new-password form of a reset link; opening it
// does not use it up (mail scanners open links too).
func (s *server) resetLinkPage(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	l, err := s.st.LinkByHash(r.Context(), signinlink.Hash(tok), signinlink.Reset, s.now())
	if errors.Is(err, store.ErrNotFound) {
		s.linkGone(w, r)
		return
	} else if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.render(w, http.StatusOK, "reset", resetData{page: s.base(w, r, nil, msgKey("Set a new password"), ""), Token: tok, Email: l.Email})
}

// resetLinkSubmit sets the new password and uses the link up: the
// password is checked first, so a refused one leaves the link usable.
// Every session of the user ends.
func (s *server) resetLinkSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, nil, http.StatusBadRequest, msgKey("The form could not be read."))
		return
	}
	ctx := r.Context()
	tok := r.PathValue("token")
	hash := signinlink.Hash(tok)
	l, err := s.st.LinkByHash(ctx, hash, signinlink.Reset, s.now())
	if errors.Is(err, store.ErrNotFound) {
		s.linkGone(w, r)
		return
	} else if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	d := resetData{page: s.base(w, r, nil, msgKey("Set a new password"), ""), Token: tok, Email: l.Email}
	pw := r.PostFormValue("new")
	if pw != r.PostFormValue("repeat") {
		d.Error = msgKey("The new password and its repetition differ.")
		s.render(w, http.StatusBadRequest, "reset", d)
		return
	}
	if err := CheckNewPassword(pw, l.Email); err != nil {
		d.Error = passwordProblem(s.loc(r, nil), err)
		s.render(w, http.StatusBadRequest, "reset", d)
		return
	}
	pwHash, err := HashPassword(pw)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		used, err := tx.UseLink(ctx, hash, signinlink.Reset, s.now())
		if err != nil {
			return err
		}
		l = used
		if err := tx.SetPassword(ctx, l.UserID, pwHash); err != nil {
			return err
		}
		return tx.DeleteUserSessions(ctx, l.UserID)
	})
	if errors.Is(err, store.ErrNotFound) {
		s.linkGone(w, r)
		return
	} else if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.record(r, store.SigninEvent{UserID: &l.UserID, Email: l.Email, Event: store.EventPasswordChanged, Method: "reset link"})
	s.setFlash(w, r, "Your new password is set. Sign in with it.")
	redirect(w, r, "/login")
}
