package conversation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"postdesk/config"
	"postdesk/store"
)

// NewRequest is the "Send new message" form and POST /conversations.
type NewRequest struct {
	Category    string   // key
	Subject     string   // short description
	Body        string   // free text
	Roles       []string // receiver role keys; empty: the category's preset
	Company     string   // name; managers and handlers only
	Person      string   // name; managers and handlers only
	Attachments []store.NewAttachment
}

// MaxSubject is the longest subject kept; longer ones are refused rather than cut.
const MaxSubject = 300

// Open starts a conversation from the actor, routed to the category's preset
// roles (or to others, with change_receivers), and notifies every member.
func (s *Service) Open(ctx context.Context, a *Actor, req NewRequest) (*store.Conversation, error) {
	req.Subject, req.Body = trim(req.Subject), strings.TrimRight(req.Body, " \t\r\n")
	switch {
	case req.Subject == "":
		return nil, invalid("subject is empty")
	case len(req.Subject) > MaxSubject:
		return nil, invalid("subject is longer than %d bytes", MaxSubject)
	case strings.ContainsAny(req.Subject, "\r\n"):
		return nil, invalid("subject holds a line break")
	case trim(req.Body) == "" && len(req.Attachments) == 0:
		return nil, invalid("message is empty")
	}
	if (req.Company != "" || req.Person != "") && !a.MayDescribe() {
		return nil, fmt.Errorf("set company or person: %w", ErrForbidden)
	}
	var conv *store.Conversation
	err := s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		cat, err := tx.CategoryByKey(ctx, req.Category)
		if errors.Is(err, store.ErrNotFound) {
			return invalid("unknown category %q", req.Category)
		} else if err != nil {
			return err
		}
		roleIDs := cat.RoleIDs
		if len(req.Roles) > 0 {
			ids, err := s.roleIDs(ctx, tx, req.Roles)
			if err != nil {
				return err
			}
			if !sameIDs(ids, cat.RoleIDs) && !a.Has(config.MayChangeReceivers) {
				return fmt.Errorf("change receivers: %w", ErrForbidden)
			}
			roleIDs = ids
		}
		companyID, personID, err := openDescription(ctx, tx, a, req.Company, req.Person)
		if err != nil {
			return err
		}
		conv, err = tx.CreateConversation(ctx, store.NewConversation{Subject: req.Subject, CategoryID: cat.ID,
			CustomerID: a.id(), CompanyID: companyID, PersonID: personID, RoleIDs: roleIDs})
		if err != nil {
			return err
		}
		if err := tx.AddParticipant(ctx, conv.ID, a.User.Email, a.id()); err != nil {
			return err
		}
		msg := &store.Message{ConversationID: conv.ID, Direction: store.DirIn, Kind: store.KindCustomer, AuthorID: a.id(),
			FromAddr: a.User.Email, FromName: a.User.Name, Subject: req.Subject, Text: req.Body, MessageID: s.NewMessageID()}
		if err := tx.InsertMessage(ctx, msg, req.Attachments); err != nil {
			return err
		}
		return s.route(ctx, tx, conv, msg, a.User.ID, a.User.Email, nil)
	})
	if err != nil {
		return nil, err
	}
	return conv, nil
}

// route records the routing of a new conversation and notifies the members of
// its receiver roles who may see it (except the author). In a batch (bs)
// the roles of one set of ids are read once.
func (s *Service) route(ctx context.Context, tx *store.Tx, conv *store.Conversation, msg *store.Message, authorID int64, actor string, bs *batchState) error {
	roles, err := bs.rolesByIDs(ctx, tx, conv.RoleIDs)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(roles))
	keys := make([]string, 0, len(roles))
	for _, r := range roles {
		names = append(names, r.Name)
		keys = append(keys, r.Key)
	}
	if err := event(ctx, tx, conv.ID, nil, "routed", "Routed to "+strings.Join(names, ", ")); err != nil {
		return err
	}
	if !conv.HeldForReview {
		if err := s.notifyRoles(ctx, tx, conv, &msg.ID, store.TemplateNewConversation, authorID, conv.RoleIDs); err != nil {
			return err
		}
	}
	var actorID *int64
	if authorID != 0 {
		actorID = &authorID
	}
	return tx.AuditNumbered(ctx, actorID, actor, "opened", conv.ID, map[string]any{
		"category": conv.CategoryKey, "roles": keys, "held_for_review": conv.HeldForReview})
}

func (s *Service) roleIDs(ctx context.Context, tx *store.Tx, keys []string) ([]int64, error) {
	roles, err := tx.RolesByKeys(ctx, keys)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	} else if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(roles))
	for _, r := range roles {
		if !r.Active {
			return nil, invalid("role %q is no longer in use", r.Key)
		}
		if !slices.Contains(ids, r.ID) {
			ids = append(ids, r.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func sameIDs(a, b []int64) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// openDescription resolves the company and person a new conversation is
// about. Staff whose staff role grants set_company may name any; a manager
// only their own company (the default for everyone: the actor's own).
func openDescription(ctx context.Context, tx *store.Tx, a *Actor, company, person string) (companyID, personID *int64, err error) {
	company, person = trim(company), trim(person)
	free := a.hasStaffPermission(config.MaySetCompany)
	companyID = a.User.CompanyID
	if company != "" {
		co, err := tx.EnsureCompany(ctx, company)
		if err != nil {
			return nil, nil, err
		}
		if !free && !a.managerOf(&co.ID) {
			return nil, nil, fmt.Errorf("open a conversation about another company: %w", ErrForbidden)
		}
		companyID = &co.ID
	}
	if person != "" {
		if !free && !a.managerOf(companyID) {
			return nil, nil, fmt.Errorf("name a person of another company: %w", ErrForbidden)
		}
		p, err := tx.EnsurePerson(ctx, companyID, person)
		if err != nil {
			return nil, nil, err
		}
		personID = &p.ID
	}
	return companyID, personID, nil
}

// Reply adds the actor's message. From staff of the conversation it is an
// answer for the customer: the actor becomes Handler if there is none and the
// status becomes waiting. From the customer side it is a customer message: a
// waiting or solved conversation reopens and the Handler (or, with none, the
// roles) is told.
func (s *Service) Reply(ctx context.Context, a *Actor, convID int64, body string, files []store.NewAttachment) (*store.Message, error) {
	if trim(body) == "" && len(files) == 0 {
		return nil, invalid("message is empty")
	}
	var msg *store.Message
	err := s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, f, err := s.mayDo(ctx, tx, a, convID, ActReply)
		if err != nil {
			return err
		}
		if f.Staff {
			msg, err = s.staffReply(ctx, tx, a, c, body, files, "", nil)
			return err
		}
		msg, err = s.customerMessage(ctx, tx, c, &store.Message{ConversationID: c.ID, Direction: store.DirIn, Kind: store.KindCustomer,
			AuthorID: a.id(), FromAddr: a.User.Email, FromName: a.User.Name, Subject: c.Subject, Text: body, MessageID: s.NewMessageID()}, files)
		if err != nil {
			return err
		}
		return audit(ctx, tx, a, "customer_message", c.ID, map[string]any{"message": msg.ID})
	})
	return msg, err
}

// staffReply stores an answer and queues it for the customer side.
func (s *Service) staffReply(ctx context.Context, tx *store.Tx, a *Actor, c *store.Conversation, body string, files []store.NewAttachment,
	messageID string, inbound *store.Message) (*store.Message, error) {
	msg := &store.Message{ConversationID: c.ID, Direction: store.DirOut, Kind: store.KindStaff, AuthorID: a.id(),
		FromAddr: a.User.Email, FromName: a.User.Name, Subject: c.Subject, Text: body, MessageID: messageID}
	if inbound != nil {
		// A reply from the mail client keeps its source and headers.
		msg.To, msg.Cc, msg.InReplyTo, msg.References = inbound.To, inbound.Cc, inbound.InReplyTo, inbound.References
		msg.RawSHA256, msg.Problems, msg.Mailbox, msg.UIDValidity, msg.UID = inbound.RawSHA256, inbound.Problems, inbound.Mailbox, inbound.UIDValidity, inbound.UID
		msg.HTML, msg.RawKey = inbound.HTML, inbound.RawKey
	}
	if err := tx.InsertMessage(ctx, msg, files); err != nil {
		return nil, err
	}
	upd := store.ConversationUpdate{}
	if to, moves := Next(c.Status, ActReply, true); moves {
		upd.Status = &to
	}
	if c.HandlerID == nil {
		upd.HandlerID = ptr(a.id())
		if err := event(ctx, tx, c.ID, a.id(), "handler", a.User.Name+" is now the Handler"); err != nil {
			return nil, err
		}
	}
	if err := tx.UpdateConversation(ctx, c.ID, upd); err != nil {
		return nil, err
	}
	if err := tx.AddParticipant(ctx, c.ID, a.User.Email, a.id()); err != nil {
		return nil, err
	}
	customers, err := s.customerSide(ctx, tx, c)
	if err != nil {
		return nil, err
	}
	if err := s.notify(ctx, tx, c.ID, &msg.ID, store.TemplateAnswer, a.User.ID, customers...); err != nil {
		return nil, err
	}
	return msg, audit(ctx, tx, a, "replied", c.ID, map[string]any{"message": msg.ID, "handler_set": c.HandlerID == nil})
}

// customerSide is who receives answers: the customer and the customer assignee.
func (s *Service) customerSide(ctx context.Context, tx *store.Tx, c *store.Conversation) ([]store.User, error) {
	var us []store.User
	for _, id := range []*int64{c.CustomerID, c.AssigneeID} {
		if id == nil {
			continue
		}
		u, err := tx.UserByID(ctx, *id)
		if err != nil {
			return nil, err
		}
		us = append(us, *u)
	}
	return us, nil
}

// customerMessage stores a message from the customer side and reopens; c
// is locked by the caller (mayDo, or ingest's LockConversation).
func (s *Service) customerMessage(ctx context.Context, tx *store.Tx, c *store.Conversation, msg *store.Message, files []store.NewAttachment) (*store.Message, error) {
	if err := tx.InsertMessage(ctx, msg, files); err != nil {
		return nil, err
	}
	if err := tx.AddParticipant(ctx, c.ID, msg.FromAddr, msg.AuthorID); err != nil {
		return nil, err
	}
	upd := store.ConversationUpdate{}
	if next, moves := Next(c.Status, customerWrites, c.HandlerID != nil); moves {
		upd.Status = &next
		if c.Status == store.StatusSolved {
			if err := event(ctx, tx, c.ID, msg.AuthorID, "reopened", "Reopened by a reply from "+msg.FromAddr); err != nil {
				return nil, err
			}
		}
	}
	if err := tx.UpdateLocked(ctx, c.ID, upd); err != nil {
		return nil, err
	}
	var skip int64
	if msg.AuthorID != nil {
		skip = *msg.AuthorID
	}
	return msg, s.notifyHandlerOrRoles(ctx, tx, c, &msg.ID, store.TemplateCustomerReply, skip)
}

// Note adds an internal note: staff only, never sent to the customer.
func (s *Service) Note(ctx context.Context, a *Actor, convID int64, body string, files []store.NewAttachment) (*store.Message, error) {
	if trim(body) == "" && len(files) == 0 {
		return nil, invalid("note is empty")
	}
	var msg *store.Message
	err := s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, _, err := s.mayDo(ctx, tx, a, convID, ActNote)
		if err != nil {
			return err
		}
		msg = &store.Message{ConversationID: c.ID, Direction: store.DirInternal, Kind: store.KindNote, AuthorID: a.id(),
			FromAddr: a.User.Email, FromName: a.User.Name, Subject: c.Subject, Text: body}
		if err := tx.InsertMessage(ctx, msg, files); err != nil {
			return err
		}
		if err := tx.UpdateConversation(ctx, c.ID, store.ConversationUpdate{}); err != nil {
			return err
		}
		return audit(ctx, tx, a, "note", c.ID, map[string]any{"message": msg.ID})
	})
	return msg, err
}

// Take makes the actor the Handler.
func (s *Service) Take(ctx context.Context, a *Actor, convID int64) error {
	return s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, f, err := s.lockFacts(ctx, tx, a, convID)
		if err != nil {
			return err
		}
		if f.Staff && f.handledBy(a) {
			return nil // theirs already: taking it again changes nothing
		}
		if err := check(a, f, ActTake); err != nil {
			return err
		}
		return s.setHandler(ctx, tx, a, c, &a.User)
	})
}

// Assign makes another staff member of the conversation's roles the Handler.
// It takes the assign permission, or being the Handler now (handing over).
func (s *Service) Assign(ctx context.Context, a *Actor, convID int64, email string) error {
	return s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, _, err := s.mayDo(ctx, tx, a, convID, ActAssign)
		if err != nil {
			return err
		}
		u, err := tx.UserByEmail(ctx, email)
		if errors.Is(err, store.ErrNotFound) {
			return invalid("no user %q", email)
		} else if err != nil {
			return err
		}
		ok, err := isStaffOf(ctx, tx, u.ID, c.ID)
		if err != nil {
			return err
		}
		if !ok {
			return invalid("%s is not staff of this conversation's roles", u.Email)
		}
		return s.setHandler(ctx, tx, a, c, u)
	})
}

func (s *Service) setHandler(ctx context.Context, tx *store.Tx, a *Actor, c *store.Conversation, h *store.User) error {
	if c.HandlerID != nil && *c.HandlerID == h.ID {
		return nil
	}
	upd := store.ConversationUpdate{HandlerID: ptr(&h.ID)}
	if to, moves := Next(c.Status, ActTake, true); moves {
		upd.Status = &to
	}
	if err := tx.UpdateConversation(ctx, c.ID, upd); err != nil {
		return err
	}
	if err := event(ctx, tx, c.ID, a.id(), "handler", h.Name+" is now the Handler"); err != nil {
		return err
	}
	if h.ID != a.User.ID {
		if err := s.notify(ctx, tx, c.ID, nil, store.TemplateAssigned, a.User.ID, *h); err != nil {
			return err
		}
	}
	var prev any
	if c.HandlerID != nil {
		prev = *c.HandlerID
	}
	return audit(ctx, tx, a, "handler", c.ID, map[string]any{"handler": h.ID, "previous": prev})
}

// ChangeReceivers replaces the receiver roles; it takes change_receivers.
// Members of newly added roles are notified.
func (s *Service) ChangeReceivers(ctx context.Context, a *Actor, convID int64, keys []string) error {
	if len(keys) == 0 {
		return invalid("at least one receiver role is needed")
	}
	return s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, _, err := s.mayDo(ctx, tx, a, convID, ActReceivers)
		if err != nil {
			return err
		}
		ids, err := s.roleIDs(ctx, tx, keys)
		if err != nil {
			return err
		}
		if sameIDs(ids, c.RoleIDs) {
			return nil
		}
		if err := tx.SetConversationRoles(ctx, c.ID, ids); err != nil {
			return err
		}
		if err := tx.UpdateConversation(ctx, c.ID, store.ConversationUpdate{}); err != nil {
			return err
		}
		var added []int64
		for _, id := range ids {
			if !slices.Contains(c.RoleIDs, id) {
				added = append(added, id)
			}
		}
		if len(added) > 0 {
			if err := s.notifyRoles(ctx, tx, c, nil, store.TemplateNewConversation, a.User.ID, added); err != nil {
				return err
			}
		}
		roles, err := tx.RolesByIDs(ctx, ids)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(roles))
		for _, r := range roles {
			names = append(names, r.Name)
		}
		if err := event(ctx, tx, c.ID, a.id(), "receivers", "Receivers changed to "+strings.Join(names, ", ")); err != nil {
			return err
		}
		return audit(ctx, tx, a, "receivers", c.ID, map[string]any{"roles": keys})
	})
}

// Describe sets what the conversation is about: company and person (names;
// "" clears). Who may set which is Can's (set_company, set_person): staff
// whose staff role grants set_company both, a manager of the company it is
// about the person only. The company changes only while its customer and
// customer assignee belong to the new one (guardCompany). Each change is a
// line of the timeline and goes to the audit trail.
func (s *Service) Describe(ctx context.Context, a *Actor, convID int64, company, person string) error {
	return s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, f, err := s.mayDo(ctx, tx, a, convID, ActSetPerson)
		if err != nil {
			return err
		}
		company, person = trim(company), trim(person)
		var companyID *int64
		if company != "" {
			co, err := tx.EnsureCompany(ctx, company)
			if err != nil {
				return err
			}
			companyID = &co.ID
		}
		changes := map[string]any{}
		type line struct{ kind, text string }
		var lines []line
		if !sameID(companyID, c.CompanyID) {
			if err := check(a, f, ActSetCompany); err != nil {
				return err
			}
			if err := guardCompany(ctx, tx, c, companyID); err != nil {
				return err
			}
			changes["company"], changes["previous_company"] = companyID, c.CompanyID
			lines = append(lines, line{"company", describedLine("Company", company)})
		}
		var personID *int64
		if person != "" {
			// The person belongs to the company the conversation will be about.
			pc := companyID
			if pc == nil {
				if pc, err = customerCompany(ctx, tx, c); err != nil {
					return err
				}
			}
			p, err := tx.EnsurePerson(ctx, pc, person)
			if err != nil {
				return err
			}
			personID = &p.ID
		}
		if !sameID(personID, c.PersonID) {
			changes["person"], changes["previous_person"] = personID, c.PersonID
			lines = append(lines, line{"person", describedLine("Person", person)})
		}
		if len(lines) == 0 {
			return nil
		}
		if err := tx.UpdateConversation(ctx, c.ID, store.ConversationUpdate{CompanyID: &companyID, PersonID: &personID}); err != nil {
			return err
		}
		// One line per change, each of one shape, so that the timeline can
		// show it in the reader's language.
		for _, l := range lines {
			if err := event(ctx, tx, c.ID, a.id(), l.kind, l.text+" by "+a.User.Name); err != nil {
				return err
			}
		}
		return audit(ctx, tx, a, "described", c.ID, changes)
	})
}

func describedLine(what, value string) string {
	if value == "" {
		return what + " cleared"
	}
	return what + " set to " + value
}

func sameID(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// customerCompany is the company of a conversation's customer, if any.
func customerCompany(ctx context.Context, tx *store.Tx, c *store.Conversation) (*int64, error) {
	if c.CustomerID == nil {
		return nil, nil
	}
	u, err := tx.UserByID(ctx, *c.CustomerID)
	if err != nil {
		return nil, err
	}
	return u.CompanyID, nil
}

// SetAssignee names the customer-side person the conversation is assigned to
// ("" clears); they see it and receive the answers. Who may is Can's
// (set_assignee); the assignee must belong to the company the conversation
// is about, never to another. A change is written to the timeline and the
// audit trail.
func (s *Service) SetAssignee(ctx context.Context, a *Actor, convID int64, email string) error {
	return s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, f, err := s.mayDo(ctx, tx, a, convID, ActSetAssignee)
		if err != nil {
			return err
		}
		about := f.About
		var id *int64
		text := "Customer assignee removed"
		if trim(email) != "" {
			u, err := tx.UserByEmail(ctx, trim(email))
			if errors.Is(err, store.ErrNotFound) {
				return invalid("no user %q", email)
			} else if err != nil {
				return err
			}
			// The assignee will see the conversation: only a person of the
			// company it is about, never an outsider.
			if about == nil {
				return invalid("set the company the conversation is about before assigning a customer")
			}
			if u.CompanyID == nil || *u.CompanyID != *about {
				return invalid("%s is not of the company this conversation is about", u.Email)
			}
			id = &u.ID
			text = "Customer assignee set to " + u.Email
			if err := tx.AddParticipant(ctx, c.ID, u.Email, id); err != nil {
				return err
			}
		}
		if sameID(id, c.AssigneeID) {
			return nil
		}
		if err := tx.UpdateConversation(ctx, c.ID, store.ConversationUpdate{AssigneeID: &id}); err != nil {
			return err
		}
		if err := event(ctx, tx, c.ID, a.id(), "assignee", text+" by "+a.User.Name); err != nil {
			return err
		}
		return audit(ctx, tx, a, "assignee", c.ID, map[string]any{"assignee": id, "previous": c.AssigneeID})
	})
}

// Solve marks the conversation Solved; the customer side is told. The
// status table refuses a conversation that is Solved already.
func (s *Service) Solve(ctx context.Context, a *Actor, convID int64) error {
	return s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, _, err := s.mayDo(ctx, tx, a, convID, ActSolve)
		if err != nil {
			return err
		}
		return s.solve(ctx, tx, a, c)
	})
}

func (s *Service) solve(ctx context.Context, tx *store.Tx, a *Actor, c *store.Conversation) error {
	to, moves := Next(c.Status, ActSolve, c.HandlerID != nil)
	if !moves {
		return nil
	}
	upd := store.ConversationUpdate{Status: &to}
	if c.HandlerID == nil {
		upd.HandlerID = ptr(a.id())
	}
	if err := tx.UpdateConversation(ctx, c.ID, upd); err != nil {
		return err
	}
	if err := event(ctx, tx, c.ID, a.id(), "solved", "Marked Solved by "+a.User.Name); err != nil {
		return err
	}
	customers, err := s.customerSide(ctx, tx, c)
	if err != nil {
		return err
	}
	if err := s.notify(ctx, tx, c.ID, nil, store.TemplateSolved, a.User.ID, customers...); err != nil {
		return err
	}
	return audit(ctx, tx, a, "solved", c.ID, nil)
}

// Reopen sets a Solved conversation back to Open (New when it has no
// Handler). Staff only, and only on a Solved one (the status table); a
// conversation waiting for the customer is open work already. Customers
// reopen by replying.
func (s *Service) Reopen(ctx context.Context, a *Actor, convID int64) error {
	return s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, _, err := s.mayDo(ctx, tx, a, convID, ActReopen)
		if err != nil {
			return err
		}
		next, _ := Next(c.Status, ActReopen, c.HandlerID != nil)
		if err := tx.UpdateConversation(ctx, c.ID, store.ConversationUpdate{Status: &next}); err != nil {
			return err
		}
		if err := event(ctx, tx, c.ID, a.id(), "reopened", "Reopened by "+a.User.Name); err != nil {
			return err
		}
		return audit(ctx, tx, a, "reopened", c.ID, nil)
	})
}

// SetLegalHold keeps a conversation from the retention purge (or releases
// it); a change is a line of the timeline.
func (s *Service) SetLegalHold(ctx context.Context, a *Actor, convID int64, hold bool) error {
	return s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, _, err := s.mayDo(ctx, tx, a, convID, ActLegalHold)
		if err != nil {
			return err
		}
		if c.LegalHold == hold {
			return nil
		}
		if err := tx.UpdateConversation(ctx, c.ID, store.ConversationUpdate{LegalHold: &hold}); err != nil {
			return err
		}
		text := "Legal hold released by " + a.User.Name
		if hold {
			text = "Legal hold set by " + a.User.Name
		}
		if err := event(ctx, tx, c.ID, a.id(), "legal_hold", text); err != nil {
			return err
		}
		return audit(ctx, tx, a, "legal_hold", c.ID, map[string]any{"hold": hold})
	})
}

func ptr[T any](v T) *T { return &v }

// AlertMailbox tells the staff of a category, once, that one of its
// mailboxes has a problem (not connecting, or silent for too long). Further
// calls do nothing until the mailbox's alert is cleared by a recovery; with
// several instances checking, exactly one alert goes out.
func (s *Service) AlertMailbox(ctx context.Context, mailbox, category, reason string) (bool, error) {
	sent := false
	err := s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		cat, err := tx.CategoryByKey(ctx, category)
		if err != nil {
			return err
		}
		latched, err := tx.LatchAlert(ctx, mailbox)
		if err != nil || !latched {
			return err
		}
		n, err := s.AlertCategoryStaff(ctx, tx, cat, mailbox, reason)
		if err != nil {
			return err
		}
		sent = true
		return tx.Audit(ctx, nil, "health", "mailbox_alert", nil, map[string]any{"mailbox": mailbox, "reason": reason, "recipients": n})
	})
	return sent, err
}

// categoryStaff lists the members of a category's staff roles: those who
// hear of its mailboxes' troubles, which belong to no conversation.
func (s *Service) categoryStaff(ctx context.Context, tx *store.Tx, cat *store.Category) ([]store.User, error) {
	ids, err := s.staffRoles(ctx, tx, cat)
	if err != nil {
		return nil, err
	}
	return tx.RoleMembers(ctx, ids)
}

// AlertCategoryStaff queues, in the caller's transaction, a mailbox_alert
// mail about mailbox to every member of the category's staff roles, and
// returns how many were told. Callers latch it, so that one problem is told
// once (AlertMailbox; the purge's report of copies left on a server).
func (s *Service) AlertCategoryStaff(ctx context.Context, tx *store.Tx, cat *store.Category, mailbox, reason string) (int, error) {
	members, err := s.categoryStaff(ctx, tx, cat)
	if err != nil {
		return 0, err
	}
	for _, u := range members {
		uid := u.ID
		if err := tx.Enqueue(ctx, &store.OutboxItem{CategoryID: &cat.ID, Template: store.TemplateMailboxAlert,
			Recipient: u.Email, RecipientID: &uid, MailMessageID: s.NewMessageID(),
			Detail: map[string]string{"mailbox": mailbox, "reason": reason}}); err != nil {
			return 0, err
		}
	}
	return len(members), nil
}
