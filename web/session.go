package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"time"

	"postdesk/conversation"
	"postdesk/store"
)

// request is what a signed-in page handler gets: the actor, with the roles
// they hold now, and their session.
type request struct {
	actor *conversation.Actor
	hash  []byte // the session's hash
	csrf  string
	stage string // store.StageFull, or StageMFA / StageEnrol (mfa.go)
}

type pageHandler func(w http.ResponseWriter, r *http.Request, rq *request)

// newSession signs a user in: a fresh random id for the cookie, its hash in
// the database.
func (s *server) newSession(w http.ResponseWriter, r *http.Request, userID int64) error {
	return s.newStagedSession(w, r, userID, store.StageFull)
}

// newStagedSession is newSession for a session that may still owe a second
// factor (mfa.go).
func (s *server) newStagedSession(w http.ResponseWriter, r *http.Request, userID int64, stage string) error {
	ctx := r.Context()
	id := make([]byte, 32)
	rand.Read(id) //nolint:errcheck // never fails
	sum := sha256.Sum256(id)
	csrf := make([]byte, 24)
	rand.Read(csrf) //nolint:errcheck
	now := s.now()
	if err := s.st.CreateSession(ctx, &store.Session{Hash: sum[:], UserID: userID,
		CSRF: base64.RawURLEncoding.EncodeToString(csrf), CreatedAt: now, ExpiresAt: now.Add(sessionIdle), Stage: stage}); err != nil {
		return err
	}
	// Now and then, sweep the expired rows away.
	if id[0] == 0 {
		if _, err := s.st.DeleteExpiredSessions(ctx, now); err != nil {
			s.log.Warn("sweep sessions", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: base64.RawURLEncoding.EncodeToString(id), Path: "/",
		HttpOnly: true, Secure: s.secureFor(r), SameSite: http.SameSiteLaxMode})
	return nil
}

// clearSessionCookie tells the browser to forget the session.
func (s *server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secureFor(r), SameSite: http.SameSiteLaxMode})
}

// session finds the signed-in user of a page request, or nil. It moves the
// idle expiry forward, never past the absolute one.
func (s *server) session(r *http.Request) (*request, error) {
	c, err := r.Cookie(s.cookie)
	if err != nil {
		return nil, nil
	}
	id, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(id) != 32 {
		return nil, nil
	}
	sum := sha256.Sum256(id)
	ctx := r.Context()
	now := s.now()
	sess, err := s.st.SessionByHash(ctx, sum[:], now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	end := sess.CreatedAt.Add(sessionAbsolute)
	if !now.Before(end) {
		return nil, s.st.DeleteSession(ctx, sum[:])
	}
	// Extend at most once a minute, to spare the database a write per request.
	next := now.Add(sessionIdle)
	if next.After(end) {
		next = end
	}
	if next.Sub(sess.ExpiresAt) >= time.Minute {
		if err := s.st.ExtendSession(ctx, sum[:], next); err != nil {
			return nil, err
		}
	}
	a, err := s.svc.Actor(ctx, sess.UserID)
	if errors.Is(err, conversation.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &request{actor: a, hash: sum[:], csrf: sess.CSRF, stage: sess.Stage}, nil
}

// auth lets only signed-in users through: others are sent to the sign-in
// page. For unsafe methods it also reads the form (within the size limit)
// and checks the session's CSRF token.
func (s *server) auth(h pageHandler) http.Handler { return s.guard(h, false) }

// authStaged is auth for the pages a session that still owes a second
// factor may reach (mfa.go): the code form, enrolment, signing out.
func (s *server) authStaged(h pageHandler) http.Handler { return s.guard(h, true) }

func (s *server) guard(h pageHandler, staged bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq, err := s.session(r)
		if err != nil {
			s.log.Error("session", "err", err)
			s.errorPage(w, r, nil, http.StatusInternalServerError, "")
			return
		}
		if rq == nil {
			if _, err := r.Cookie(s.cookie); err == nil {
				s.clearSessionCookie(w, r) // expired or ended: let the browser forget it
			}
			next := "/"
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				next = r.URL.RequestURI()
			}
			v := url.Values{}
			if next != "/" {
				v.Set("next", next)
			}
			to := "/login"
			if len(v) > 0 {
				to += "?" + v.Encode()
			}
			redirect(w, r, to)
			return
		}
		if !staged && rq.stage != store.StageFull && rq.stage != "" {
			// Signed in by password only: the second factor comes first.
			to := "/login/mfa"
			if rq.stage == store.StageEnrol {
				to = "/settings/mfa"
			}
			redirect(w, r, to)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !s.readForm(w, r, rq) {
				return
			}
			if r.MultipartForm != nil {
				defer r.MultipartForm.RemoveAll() //nolint:errcheck
			}
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(rq.csrf)) != 1 {
				s.errorPage(w, r, rq, http.StatusForbidden, msgKey("The form has expired (or came from elsewhere): reload the page and send it again."))
				return
			}
		}
		h(w, s.reading(r, conversation.ViaWeb), rq)
	})
}

// reading marks a request for the access log (conversation.WithReading):
// its door and its client, the address as trusted_proxies decide it.
func (s *server) reading(r *http.Request, via string) *http.Request {
	return r.WithContext(conversation.WithReading(r.Context(), conversation.Reading{Via: via, Client: s.clientIP(r) + " " + r.UserAgent()}))
}

// readForm parses a posted form, multipart or not, within maxFormBody.
func (s *server) readForm(w http.ResponseWriter, r *http.Request, rq *request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	var err error
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		err = r.ParseMultipartForm(8 << 20)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			if s.formTooLarge(w, r, rq) { // the form again, its text kept (page_new.go)
				return false
			}
			s.errorPage(w, r, rq, http.StatusRequestEntityTooLarge, msgKey("The files are too large: at most 25 MB in all."))
			return false
		}
		s.errorPage(w, r, rq, http.StatusBadRequest, msgKey("The form could not be read."))
		return false
	}
	return true
}
