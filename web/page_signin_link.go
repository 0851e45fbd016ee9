package web

import (
	"errors"
	"net/http"
	"strconv"

	"postdesk/signinlink"
	"postdesk/store"
)

type linkData struct {
	page
	Token string
	Email string
}

// linkRequest asks for a customer sign-in link (the login page's second
// form): answered at once and alike for every address (requestLink).
func (s *server) linkRequestSubmit(w http.ResponseWriter, r *http.Request) {
	s.linkRequested(w, r, signinlink.SignIn, msgKey("Check your email"))
}

// linkPage is where a sign-in link leads: a button that signs in. Opening
// the page does not use the link (mail scanners open links too).
func (s *server) linkPage(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	l, err := s.st.LinkByHash(r.Context(), signinlink.Hash(tok), signinlink.SignIn, s.now())
	if errors.Is(err, store.ErrNotFound) {
		s.linkGone(w, r)
		return
	} else if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.render(w, http.StatusOK, "signin_link", linkData{page: s.base(w, r, nil, msgKey("Sign in"), ""), Token: tok, Email: l.Email})
}

// linkSubmit uses the link up and signs its customer in, to the
// conversation it was sent for. The session is an ordinary one of that
// user: every page shows what the visibility rule lets them see, and
// nothing more.
func (s *server) linkSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	l, err := s.st.UseLink(ctx, signinlink.Hash(r.PathValue("token")), signinlink.SignIn, s.now())
	if errors.Is(err, store.ErrNotFound) {
		s.record(r, store.SigninEvent{Email: "", Event: store.EventSignInFailed, Method: "link",
			Detail: map[string]any{"reason": "link unknown, used, expired or for another address"}})
		s.linkGone(w, r)
		return
	} else if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	// The user's roles are read now, not when the link was sent: one who
	// has become staff since signs in with a password.
	a, err := s.svc.Actor(ctx, l.UserID)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if a.IsStaff() || s.requiresMFA(a.Roles) || s.requiresSSO(a.Roles) {
		s.linkGone(w, r)
		return
	}
	if old, _ := s.session(r); old != nil {
		s.st.DeleteSession(ctx, old.hash) //nolint:errcheck
	}
	if err := s.newSession(w, r, l.UserID); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.record(r, store.SigninEvent{UserID: &l.UserID, Email: l.Email, Event: store.EventSignIn, Method: "link"})
	to := "/"
	if l.ConversationID != nil {
		to = "/conversations/" + strconv.FormatInt(*l.ConversationID, 10)
	}
	redirect(w, r, to)
}
