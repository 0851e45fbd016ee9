package conversation

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"postdesk/config"
	"postdesk/store"
)

// Who sees what. The rule is written once, as the database view
// conversation_viewers (store/migrations/004_visibility.sql), which yields
// every (conversation, user, reason) that may see; every check in this
// package reads it: Get, List and its search, Attachment, the actions, and
// the recipients of every notification to the receiver roles (audience). So
// nobody is mailed a conversation they could not open, and nobody opens one
// they would not be mailed.
//
// A conversation is *about* its company, or, without one, its customer's
// company.
//
//	reason     who                                                   sees notes  staff powers
//	staff      member of a staff role among the receivers            yes         yes
//	customer   the customer                                          no          no
//	assignee   the customer assignee                                 no          no
//	company    member of a non-staff receiver role (managers), whose no          no
//	           company is the one the conversation is about
//	manager    holder of the manager permission, whose company is    no          no
//	           the one the conversation is about
//
// Anyone else sees nothing: a member of a non-staff receiver role from
// another company, or without a company, staff of other roles, strangers.

// Reason is why a user may see a conversation: one of the view's reasons.
type Reason string

// The reasons of conversation_viewers.
const (
	ReasonStaff    Reason = "staff"
	ReasonCustomer Reason = "customer"
	ReasonAssignee Reason = "assignee"
	ReasonCompany  Reason = "company"
	ReasonManager  Reason = "manager"
)

// Visibility is what the rule says of one user and one conversation.
type Visibility struct {
	Reasons []Reason // sorted; none: the user may not see it
}

// Sees reports whether the user may see the conversation at all.
func (v Visibility) Sees() bool { return len(v.Reasons) > 0 }

// Staff reports staff powers: reply to the customer, notes, take, solve.
func (v Visibility) Staff() bool { return slices.Contains(v.Reasons, ReasonStaff) }

// Visibility says whether and why the actor may see a conversation; a
// conversation that does not exist is seen by nobody.
func (s *Service) Visibility(ctx context.Context, a *Actor, convID int64) (Visibility, error) {
	return visibility(ctx, &s.st.DB, a.User.ID, convID)
}

func visibility(ctx context.Context, db *store.DB, userID, convID int64) (Visibility, error) {
	rs, err := db.ViewReasons(ctx, userID, convID)
	if err != nil {
		return Visibility{}, err
	}
	v := Visibility{Reasons: make([]Reason, 0, len(rs))}
	for _, r := range rs {
		v.Reasons = append(v.Reasons, Reason(r))
	}
	return v, nil
}

// audience is who of the given receiver roles hears of a conversation's
// news: their members who may see it, by the same rule.
func audience(ctx context.Context, tx *store.Tx, c *store.Conversation, roleIDs []int64) ([]store.User, error) {
	return tx.RoleAudience(ctx, c.ID, roleIDs)
}

// hasStaffPermission reports a permission granted by one of the actor's
// staff roles: set_company on a non-staff role (managers) grants nothing.
func (a *Actor) hasStaffPermission(perm string) bool {
	return slices.ContainsFunc(a.Roles, func(r store.Role) bool { return r.Staff && r.Has(perm) })
}

// managerOf reports whether the actor is a manager of this company.
func (a *Actor) managerOf(company *int64) bool {
	return a.Has(config.MayManage) && company != nil && a.User.CompanyID != nil && *a.User.CompanyID == *company
}

// Describing a conversation: who may set its company, person and customer
// assignee. Staff of the conversation whose staff role grants set_company
// may set all three (freely, within the guards of guardCompany and
// SetAssignee). A manager of the company the conversation is about may set
// its person and assignee within that company, and never its company.
type describeRights struct {
	company bool // may set or change the company
	other   bool // may set person and customer assignee
}

func rightsOn(a *Actor, staff bool, about *int64) describeRights {
	if staff && a.hasStaffPermission(config.MaySetCompany) {
		return describeRights{company: true, other: true}
	}
	return describeRights{other: a.managerOf(about)}
}

// guardCompany refuses a company change that would show the conversation to
// a customer outside the new company: its customer and customer assignee
// must both belong to the company it will be about.
func guardCompany(ctx context.Context, tx *store.Tx, c *store.Conversation, newCompany *int64) error {
	about := newCompany
	var customer *store.User
	if c.CustomerID != nil {
		u, err := tx.UserByID(ctx, *c.CustomerID)
		if err != nil {
			return err
		}
		customer = u
		if about == nil {
			about = u.CompanyID
		}
	}
	for _, id := range []*int64{c.CustomerID, c.AssigneeID} {
		if id == nil {
			continue
		}
		u := customer
		if u == nil || u.ID != *id {
			var err error
			if u, err = tx.UserByID(ctx, *id); err != nil {
				return err
			}
		}
		if u.CompanyID == nil || about == nil || *u.CompanyID != *about {
			return invalid("the company can change only while the customer and the customer assignee belong to the new one: %s does not", u.Email)
		}
	}
	return nil
}

// aboutCompany is the company a conversation is about, from the view.
func aboutCompany(ctx context.Context, tx *store.Tx, convID int64) (*int64, error) {
	id, err := tx.AboutCompany(ctx, convID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("conversation %d: %w", convID, ErrNotFound)
	}
	return id, err
}
