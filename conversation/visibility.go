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

// Who sees what. The rule is written once, here, as the SQL conditions of
// visibilityClauses; the store runs them (store.Rule) for every list,
// search, single read, attachment check and action, and for the recipients
// of every notification to the receiver roles (Audience). So nobody is
// mailed a conversation they could not open, and nobody opens one they
// would not be mailed.
//
// A conversation is *about* its company, or, without one, its customer's
// company.
//
//	reason     who                                                   sees notes  staff powers
//	customer   the customer                                          no          no
//	assignee   the customer assignee                                 no          no
//	staff      member of a staff role among the receivers            yes         yes
//	company    member of a non-staff receiver role (managers), whose no          no
//	           company is the one the conversation is about
//	manager    holder of the manager permission, whose company is    no          no
//	           the one the conversation is about
//
// Anyone else sees nothing: a member of a non-staff receiver role from
// another company, or without a company, staff of other roles, strangers.

// Reason is why a user may see a conversation.
type Reason string

// The reasons, as the table above names them.
const (
	ReasonCustomer Reason = "customer"
	ReasonAssignee Reason = "assignee"
	ReasonStaff    Reason = "staff"
	ReasonCompany  Reason = "company"
	ReasonManager  Reason = "manager"
)

// aboutSQL is the company the conversation c is about.
const aboutSQL = `coalesce(c.company_id, (SELECT cu.company_id FROM users cu WHERE cu.id = c.customer_id))`

// visibilityClauses is the rule: for each reason, its SQL condition on the
// conversation c and the viewer, written VIEWER (their id) and
// VIEWER_COMPANY (their company, NULL for none; NULL never equals, so a user
// without a company is nobody's company member or manager).
//
// The cheap conditions come first, and each clause tests what needs no
// lookup per conversation before what does: lists evaluate them row by row.
var visibilityClauses = []struct {
	reason Reason
	sql    string
}{
	{ReasonCustomer, `c.customer_id = VIEWER`},
	{ReasonAssignee, `c.assignee_id = VIEWER`},
	{ReasonStaff, `EXISTS (SELECT 1 FROM conversation_roles cr JOIN roles r ON r.id = cr.role_id AND r.staff
		JOIN role_members rm ON rm.role_id = cr.role_id WHERE cr.conversation_id = c.id AND rm.user_id = VIEWER)`},
	{ReasonCompany, `(EXISTS (SELECT 1 FROM conversation_roles cr JOIN roles r ON r.id = cr.role_id AND NOT r.staff
		JOIN role_members rm ON rm.role_id = cr.role_id WHERE cr.conversation_id = c.id AND rm.user_id = VIEWER)
		AND VIEWER_COMPANY = ` + aboutSQL + `)`},
	{ReasonManager, `(EXISTS (SELECT 1 FROM role_members rm JOIN roles r ON r.id = rm.role_id
		WHERE rm.user_id = VIEWER AND '` + config.MayManage + `' = ANY (r.permissions))
		AND VIEWER_COMPANY = ` + aboutSQL + `)`},
}

// rule is visibilityClauses made into the store's forms: the viewer as the
// parameter $1 for lists and checks (their company read once per query), and
// as the row v of users for recipient lists.
var rule = func() store.Rule {
	param := strings.NewReplacer("VIEWER_COMPANY", "(SELECT vu.company_id FROM users vu WHERE vu.id = $1)", "VIEWER", "$1")
	row := strings.NewReplacer("VIEWER_COMPANY", "v.company_id", "VIEWER", "v.id")
	var sees, reasons []string
	staff := ""
	for _, cl := range visibilityClauses {
		if cl.reason == ReasonStaff {
			staff = cl.sql
		}
		sees = append(sees, cl.sql)
		reasons = append(reasons, "CASE WHEN "+cl.sql+" THEN '"+string(cl.reason)+"' END")
	}
	or := "(" + strings.Join(sees, "\n\tOR ") + ")"
	return store.Rule{
		Sees:    param.Replace(or),
		Staff:   param.Replace(staff),
		Reasons: param.Replace("array_remove(ARRAY[" + strings.Join(reasons, ", ") + "]::text[], NULL)"),
		SeesRow: row.Replace(or),
		About:   aboutSQL,
	}
}()

// Visibility is what the rule says of one user and one conversation.
type Visibility struct {
	Reasons []Reason // in the table's order; none: the user may not see it
}

// Sees reports whether the user may see the conversation at all.
func (v Visibility) Sees() bool { return len(v.Reasons) > 0 }

// Staff reports staff powers: reply to the customer, notes, take, solve.
func (v Visibility) Staff() bool { return slices.Contains(v.Reasons, ReasonStaff) }

// Visibility says whether and why the actor may see a conversation; a
// conversation that does not exist is seen by nobody.
func (s *Service) Visibility(ctx context.Context, a *Actor, convID int64) (v Visibility, err error) {
	err = s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		v, err = visibility(ctx, tx, a.User.ID, convID)
		return err
	})
	return v, err
}

func visibility(ctx context.Context, tx *store.Tx, userID, convID int64) (Visibility, error) {
	rs, err := tx.ViewReasons(ctx, rule, userID, convID)
	if err != nil {
		return Visibility{}, err
	}
	v := Visibility{Reasons: make([]Reason, 0, len(rs))}
	for _, r := range rs {
		v.Reasons = append(v.Reasons, Reason(r))
	}
	return v, nil
}

// Audience is who of the given receiver roles hears of a conversation's
// news: their members who may see it, by the rule. Every notification to
// the roles goes to these, and only these.
func Audience(ctx context.Context, tx *store.Tx, c *store.Conversation, roleIDs []int64) ([]store.User, error) {
	return tx.RoleAudience(ctx, rule, c.ID, roleIDs)
}

// isStaffOf reports staff powers of a user on a conversation, by the rule.
func isStaffOf(ctx context.Context, tx *store.Tx, userID, convID int64) (bool, error) {
	return tx.IsStaffOf(ctx, rule, userID, convID)
}

// hasStaffPermission reports a permission granted by one of the actor's
// staff roles: set_company on a non-staff role (managers) grants nothing.
func (a *Actor) hasStaffPermission(perm string) bool {
	return slices.ContainsFunc(a.Roles, func(r store.Role) bool { return r.Staff && r.Has(perm) })
}

// StaffMay reports a permission that reaches past one company (audit,
// privacy): only a staff role grants it; on a customer-side role it grants
// nothing, and check-config warns.
func (a *Actor) StaffMay(perm string) bool { return a.hasStaffPermission(perm) }

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

// aboutCompany is the company a conversation is about, by the rule.
func aboutCompany(ctx context.Context, tx *store.Tx, convID int64) (*int64, error) {
	id, err := tx.AboutCompany(ctx, rule, convID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("conversation %d: %w", convID, ErrNotFound)
	}
	return id, err
}
