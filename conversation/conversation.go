// Package conversation holds the rules of a conversation, the one place that
// decides who may do what and what follows: routing to the category's roles,
// status and Handler changes, notifications queued in the outbox, events in the
// timeline and the audit trail. Mail ingest, the web pages and the JSON API all
// call it, so every door obeys the same rules.
//
// Visibility is one rule (visibility.go): members of a staff receiver role
// see a conversation and have staff powers (reply, note, take, solve); its
// customer and customer assignee see it; members of a non-staff receiver
// role and holders of the manager permission see it only when it is about
// their own company. Lists, search, attachments and the recipients of
// notifications all follow it. Whoever cannot see a conversation gets
// ErrNotFound, never ErrForbidden, so that its existence is not revealed. A
// conversation is routed to roles, never to a person: changing a user's
// roles never moves one.
//
// Transactions: the Service holds a store.Transactor, not a *store.Store, so
// a rule reads and writes only through the *store.Tx of the transaction it
// runs in; there is no pool to reach. Each exported method opens one
// transaction (store.Read for one that only reads) and passes its Tx and
// its context down; the helpers it calls take that Tx and never call an
// exported method, which would open a second transaction on a second
// connection (store.ErrNestedTx refuses it, see the store package doc).
package conversation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"postdesk/config"
	"postdesk/ingest/mailparse"
	"postdesk/senderauth"
	"postdesk/store"
	"postdesk/threading"
)

// Domain errors; only web maps them to HTTP.
var (
	ErrNotFound  = errors.New("not found")
	ErrForbidden = errors.New("not allowed")
	ErrInvalid   = errors.New("invalid")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Service applies the rules to the store.
type Service struct {
	st          store.Transactor
	idDomain    string
	signer      *threading.Signer
	senderLimit int
	domainLimit int
	senderAuth  *senderauth.Policy
	log         *slog.Logger
	parse       func(raw []byte) *mailparse.Message
	counts      countCache
}

// Options configures a Service; nil means defaults.
type Options struct {
	// MessageIDDomain is the right-hand side of the Message-IDs postdesk
	// makes; it lets threading recognise its own mail. Default "postdesk.invalid".
	MessageIDDomain string
	// Signer makes and checks reply tokens; Receive needs it.
	Signer *threading.Signer
	// SenderLimit is how many mails one sender may send within an hour
	// before further ones notify nobody (a loop breaker). Default 30.
	SenderLimit int
	// DomainLimit is how many acknowledgements (template received) one
	// remote domain gets within an hour; further new conversations from it
	// get none. Default 100.
	DomainLimit int
	// SenderAuth says whose Authentication-Results prove a sender, and
	// whether staff powers by mail need that proof (see held.go); nil
	// means none are checked, and staff powers rest on From alone.
	SenderAuth *senderauth.Policy
	// Parse replaces mailparse.Parse in Receive; nil means mailparse.Parse.
	// For tests of what a parser failure does (quarantine), which the real
	// parser, recovering its own panics, cannot produce on demand.
	Parse  func(raw []byte) *mailparse.Message
	Logger *slog.Logger
}

// New returns a Service; st is normally the *store.Store.
func New(st store.Transactor, opts *Options) *Service {
	s := &Service{st: st, idDomain: "postdesk.invalid", senderLimit: 30, domainLimit: 100, log: slog.Default(),
		counts: countCache{now: time.Now}}
	if opts != nil {
		s.signer, s.senderAuth = opts.Signer, opts.SenderAuth
		if opts.DomainLimit > 0 {
			s.domainLimit = opts.DomainLimit
		}
		if opts.SenderLimit > 0 {
			s.senderLimit = opts.SenderLimit
		}
		if opts.MessageIDDomain != "" {
			s.idDomain = opts.MessageIDDomain
		}
		if opts.Logger != nil {
			s.log = opts.Logger
		}
		s.parse = opts.Parse
	}
	return s
}

// NewMessageID returns a fresh Message-ID (without angle brackets) in
// postdesk's own domain.
func (s *Service) NewMessageID() string {
	b := make([]byte, 12)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b) + "@" + s.idDomain
}

// Actor is a user with the roles they hold at the moment of the call.
type Actor struct {
	User  store.User
	Roles []store.Role
}

// Actor loads a user and their current roles.
func (s *Service) Actor(ctx context.Context, userID int64) (a *Actor, err error) {
	err = s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		a, err = actor(ctx, tx, userID)
		return err
	})
	return a, err
}

// ActorByEmail loads a user by address and their current roles.
func (s *Service) ActorByEmail(ctx context.Context, email string) (a *Actor, err error) {
	err = s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		u, err := tx.UserByEmail(ctx, email)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("user %s: %w", email, ErrNotFound)
		} else if err != nil {
			return err
		}
		a, err = actor(ctx, tx, u.ID)
		return err
	})
	return a, err
}

// actor loads a user and their roles inside the caller's transaction.
func actor(ctx context.Context, tx *store.Tx, userID int64) (*Actor, error) {
	u, err := tx.UserByID(ctx, userID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("user %d: %w", userID, ErrNotFound)
		}
		return nil, err
	}
	roles, err := tx.UserRoles(ctx, userID)
	if err != nil {
		return nil, err
	}
	return &Actor{User: *u, Roles: roles}, nil
}

// Has reports whether any of the actor's roles grants a permission.
func (a *Actor) Has(perm string) bool {
	return slices.ContainsFunc(a.Roles, func(r store.Role) bool { return r.Has(perm) })
}

// IsStaff reports whether the actor holds any staff role.
func (a *Actor) IsStaff() bool {
	return slices.ContainsFunc(a.Roles, func(r store.Role) bool { return r.Staff })
}

// MayDescribe reports whether the actor may describe conversations at all
// (set company, person or customer assignee): staff whose staff role grants
// set_company, and managers. Which conversation and which field is decided
// per conversation (see describeRights).
func (a *Actor) MayDescribe() bool {
	return a.Has(config.MayManage) || a.hasStaffPermission(config.MaySetCompany)
}

func (a *Actor) id() *int64 { id := a.User.ID; return &id }

// access is what an actor may do on one conversation, read from the
// visibility rule inside the transaction that acts on it.
type access struct {
	see     bool
	staff   bool
	manager bool // sees it as a manager of its company
}

func (s *Service) access(ctx context.Context, tx *store.Tx, a *Actor, convID int64) (access, error) {
	v, err := visibility(ctx, tx, a.User.ID, convID)
	if err != nil {
		return access{}, err
	}
	return access{see: v.Sees(), staff: v.Staff(), manager: slices.Contains(v.Reasons, ReasonManager)}, nil
}

// lock reads and locks a conversation for an action, returning ErrNotFound when
// it does not exist or the actor cannot see it.
func (s *Service) lock(ctx context.Context, tx *store.Tx, a *Actor, convID int64) (*store.Conversation, access, error) {
	c, err := tx.LockConversation(ctx, convID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, access{}, fmt.Errorf("conversation %d: %w", convID, ErrNotFound)
		}
		return nil, access{}, err
	}
	acc, err := s.access(ctx, tx, a, convID)
	if err != nil {
		return nil, access{}, err
	}
	if !acc.see {
		return nil, access{}, fmt.Errorf("conversation %d: %w", convID, ErrNotFound)
	}
	return c, acc, nil
}

// audit writes the trail for an action by a user.
func audit(ctx context.Context, tx *store.Tx, a *Actor, action string, convID int64, detail map[string]any) error {
	return tx.Audit(ctx, a.id(), a.User.Email, action, &convID, detail)
}

// event adds a line to the timeline (routed, handler, solved, ...).
func event(ctx context.Context, tx *store.Tx, convID int64, authorID *int64, name, text string) error {
	return tx.InsertEvent(ctx, convID, authorID, name, text)
}

// notify queues one mail per recipient, skipping the actor themself and
// addresses already queued in this call.
func (s *Service) notify(ctx context.Context, tx *store.Tx, convID int64, msgID *int64, template string, skip int64, users ...store.User) error {
	seen := map[int64]bool{skip: true}
	var items []*store.OutboxItem
	for _, u := range users {
		if seen[u.ID] {
			continue
		}
		seen[u.ID] = true
		uid := u.ID
		items = append(items, &store.OutboxItem{ConversationID: &convID, MessageID: msgID, Template: template,
			Recipient: u.Email, RecipientID: &uid, MailMessageID: s.NewMessageID()})
	}
	return tx.EnqueueAll(ctx, items)
}

// notifyRoles queues template to every member of roleIDs who sees c by
// the rule, but not to skip: the audience is read in the same statement
// that queues the mails (store.EnqueueAudience).
func (s *Service) notifyRoles(ctx context.Context, tx *store.Tx, c *store.Conversation, msgID *int64, template string, skip int64, roleIDs []int64) error {
	return tx.EnqueueAudience(ctx, rule, store.AudienceMail{ConversationID: c.ID, MessageID: msgID, Template: template,
		RoleIDs: roleIDs, Skip: skip, Domain: s.idDomain})
}

// notifyHandlerOrRoles queues template to who hears of c's news (see
// handlerOrRoles), but not to skip.
func (s *Service) notifyHandlerOrRoles(ctx context.Context, tx *store.Tx, c *store.Conversation, msgID *int64, template string, skip int64) error {
	if c.HandlerID == nil {
		return s.notifyRoles(ctx, tx, c, msgID, template, skip, c.RoleIDs)
	}
	return tx.EnqueueAudience(ctx, rule, store.AudienceMail{ConversationID: c.ID, MessageID: msgID, Template: template,
		UserID: c.HandlerID, Skip: skip, Domain: s.idDomain})
}

func trim(s string) string { return strings.TrimSpace(s) }
