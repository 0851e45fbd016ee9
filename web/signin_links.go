package web

import (
	"context"
	"errors"
	"strconv"
	"time"

	"postdesk/signinlink"
	"postdesk/store"
)

// Mail bombing: at most linksPerHour links per address and
// requestsPerClient requests per client address an hour, whatever the
// purpose; past that, requests are answered as usual and dropped.
const (
	linksPerHour      = 5
	requestsPerClient = 20
	linkWork          = 30 * time.Second // the most one request's background work may take
)

// linkRequest is what is known of one request for a link by the time the
// answer goes out.
type linkRequest struct {
	email, purpose, ip, client string
	at                         time.Time
}

// requestLink handles a request for a sign-in or reset link after the
// answer: the person asking gets the same page at once whether the address
// is known or not, and the lookup, the link and the outbox row are made in
// the background, so that neither the answer nor its timing tells. The
// mail itself goes through the outbox (asynchronously, from any instance).
func (s *server) requestLink(ctx context.Context, req linkRequest) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), linkWork)
		defer cancel()
		if err := s.makeLink(ctx, req); err != nil {
			s.log.Error("sign-in link", "purpose", req.purpose, "err", err)
		}
		if afterLink != nil {
			afterLink(req.email)
		}
	}()
}

// afterLink, when set (by tests only), is told of every link request
// whose background work is done.
var afterLink func(email string)

// makeLink makes the link and queues its mail when the address may have
// one, and records the request in the sign-in audit either way.
func (s *server) makeLink(ctx context.Context, req linkRequest) error {
	ev := store.SigninEvent{At: req.at, Email: req.email, Event: store.EventLinkRequested, Method: req.purpose,
		IP: req.ip, Client: req.client, Detail: map[string]any{}}
	defer func() {
		if err := s.st.RecordSignin(ctx, &ev); err != nil {
			s.log.Error("sign-in audit", "event", ev.Event, "err", err)
		}
	}()
	asked, err := s.st.CountSigninEvents(ctx, store.EventLinkRequested, req.ip, req.at.Add(-time.Hour))
	if err != nil {
		return err
	}
	if asked >= requestsPerClient {
		ev.Detail["sent"], ev.Detail["why"] = false, "too many requests from this client within the hour"
		return nil
	}
	u, err := s.st.UserByEmail(ctx, req.email)
	if errors.Is(err, store.ErrNotFound) {
		ev.Detail["sent"], ev.Detail["why"] = false, "unknown address"
		return nil
	} else if err != nil {
		return err
	}
	ev.UserID = &u.ID
	convID, why, err := s.linkAllowed(ctx, u, req.purpose)
	if err != nil {
		return err
	}
	if why != "" {
		ev.Detail["sent"], ev.Detail["why"] = false, why
		return nil
	}
	n, err := s.st.RecentLinks(ctx, u.Email, req.at.Add(-time.Hour))
	if err != nil {
		return err
	}
	if n >= linksPerHour {
		ev.Detail["sent"], ev.Detail["why"] = false, "too many links asked for within the hour"
		return nil
	}
	cat, err := s.st.LinkCategory(ctx, u.ID)
	if err != nil {
		return err
	}
	template := store.TemplateSigninLink
	if req.purpose == signinlink.Reset {
		template = store.TemplatePasswordReset
	}
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		l := &store.SigninLink{Hash: signinlink.Placeholder(), Nonce: signinlink.Nonce(), Purpose: req.purpose,
			Email: u.Email, UserID: u.ID, ConversationID: convID, CreatedAt: req.at, ExpiresAt: req.at.Add(signinlink.TTL)}
		if err := tx.CreateLink(ctx, l); err != nil {
			return err
		}
		if err := tx.SetLinkHash(ctx, l.ID, signinlink.Hash(s.links.Token(l.ID, l.Nonce))); err != nil {
			return err
		}
		uid := u.ID
		return tx.Enqueue(ctx, &store.OutboxItem{Template: template, Recipient: u.Email, RecipientID: &uid,
			CategoryID: &cat, Detail: map[string]string{"link": strconv.FormatInt(l.ID, 10)},
			MailMessageID: s.svc.NewMessageID()})
	})
	if err != nil {
		return err
	}
	ev.Detail["sent"] = true
	if err := s.st.DeleteExpiredLinks(ctx, req.at.Add(-24*time.Hour)); err != nil {
		s.log.Warn("sweep links", "err", err)
	}
	return nil
}

// linkAllowed decides whether a user may be mailed a link for purpose: a
// reason why not ("" when allowed), and for a sign-in link the customer's
// newest conversation. Sign-in links are for customers, people who wrote
// in and hold no staff role; staff sign in with a password (or single
// sign-on) and a second factor, which a link must not step around. A reset
// is for users who have a password, unless their role signs in by single
// sign-on only.
func (s *server) linkAllowed(ctx context.Context, u *store.User, purpose string) (*int64, string, error) {
	a, err := s.svc.Actor(ctx, u.ID)
	if err != nil {
		return nil, "", err
	}
	if s.requiresSSO(a.Roles) {
		return nil, "the role signs in by single sign-on only", nil
	}
	switch purpose {
	case signinlink.Reset:
		if u.PasswordHash == "" {
			return nil, "no password to reset", nil
		}
		return nil, "", nil
	case signinlink.SignIn:
		if a.IsStaff() || s.requiresMFA(a.Roles) {
			return nil, "staff sign in with a password", nil
		}
		id, err := s.st.CustomerConversation(ctx, u.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "no conversation", nil
		} else if err != nil {
			return nil, "", err
		}
		return &id, "", nil
	}
	return nil, "unknown purpose", nil
}

// requiresSSO and requiresMFA read the roles' require_sso and
// require_mfa (Options.RequireSSO, RequireMFA).
func (s *server) requiresSSO(roles []store.Role) bool { return s.anyRole(roles, s.ssoRoles) }
func (s *server) requiresMFA(roles []store.Role) bool { return s.anyRole(roles, s.mfaRoles) }

func (s *server) anyRole(roles []store.Role, keys map[string]bool) bool {
	for _, r := range roles {
		if keys[r.Key] {
			return true
		}
	}
	return false
}

func keySet(keys []string) map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}
