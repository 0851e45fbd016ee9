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

// What a clause asks of the viewer alone, apart from their id: the facts,
// each a bigint[] over {viewer}. A list resolves them once, up front, so that
// its branches are plain conditions on the conversation an index can serve;
// a check of one conversation (and a recipient list) evaluates them in place.
// An empty fact holds for no conversation: every clause that names one is
// a conjunction, so a list skips the clause's branches altogether.
var viewerFacts = []struct{ name, sql string }{
	{"{staff_roles}", `ARRAY(SELECT rm.role_id FROM role_members rm JOIN roles r ON r.id = rm.role_id AND r.staff
		WHERE rm.user_id = {viewer})`},
	{"{other_roles}", `ARRAY(SELECT rm.role_id FROM role_members rm JOIN roles r ON r.id = rm.role_id AND NOT r.staff
		WHERE rm.user_id = {viewer})`},
	// The viewer's company; none for a user without one, so that they are
	// nobody's company member or manager.
	{"{company}", `ARRAY(SELECT vu.company_id FROM users vu WHERE vu.id = {viewer} AND vu.company_id IS NOT NULL)`},
	// Their company when they hold the manager permission.
	{"{managed}", `ARRAY(SELECT vu.company_id FROM users vu WHERE vu.id = {viewer} AND vu.company_id IS NOT NULL
		AND EXISTS (SELECT 1 FROM role_members rm JOIN roles r ON r.id = rm.role_id
			WHERE rm.user_id = {viewer} AND '` + config.MayManage + `' = ANY (r.permissions)))`},
}

// receivedBy: a receiver role of c is one of roles. c.role_ids mirrors
// conversation_roles (migration 006's triggers), on the row, where one index
// holds it with the subject.
func receivedBy(roles string) string {
	return `c.role_ids && ` + roles
}

// aboutOneOf is aboutSQL = company (a fact of at most one element: NULL
// when empty, which equals nothing) as two alternatives, each of which an
// index serves in the order of activity: c's own company, or, without one,
// its customer's.
func aboutOneOf(company string, and ...string) []string {
	pre := strings.Join(append(and, ""), " AND ")
	one := `(` + company + `)[1]`
	return []string{
		pre + `c.company_id = ` + one,
		pre + `c.company_id IS NULL AND c.customer_id IN (SELECT cu.id FROM users cu WHERE cu.company_id = ` + one + `)`,
	}
}

// visibilityClauses is the rule: for each reason, its SQL condition on the
// conversation c and the viewer ({viewer}, their id, and the facts above),
// as alternatives (any one suffices). The cheap conditions come first.
var visibilityClauses = []struct {
	reason Reason
	paths  []string
}{
	{ReasonCustomer, []string{`c.customer_id = {viewer}`}},
	{ReasonAssignee, []string{`c.assignee_id = {viewer}`}},
	{ReasonStaff, []string{receivedBy("{staff_roles}")}},
	{ReasonCompany, aboutOneOf("{company}", receivedBy("{other_roles}"))},
	{ReasonManager, aboutOneOf("{managed}")},
}

// rule is visibilityClauses made into the store's forms: the viewer as the
// parameter $1 for checks (each fact a subquery, evaluated once per query),
// as the row v of users for recipient lists, and, for lists, as branches
// over the facts resolved up front (the fact i written {i}).
var rule = func() store.Rule {
	inPlace := func(viewer string) func(string) string {
		var facts []string
		for _, f := range viewerFacts {
			facts = append(facts, f.name, f.sql)
		}
		fr, vr := strings.NewReplacer(facts...), strings.NewReplacer("{viewer}", viewer)
		return func(s string) string { return vr.Replace(fr.Replace(s)) }
	}
	param, row := inPlace("$1"), inPlace("v.id")
	var sees, reasons []string
	var r store.Rule
	for _, f := range viewerFacts {
		r.Facts = append(r.Facts, param(f.sql))
	}
	for _, cl := range visibilityClauses {
		either := "(" + strings.Join(cl.paths, " OR ") + ")"
		if cl.reason == ReasonStaff {
			r.Staff = param(either)
		}
		sees = append(sees, either)
		reasons = append(reasons, "CASE WHEN "+either+" THEN '"+string(cl.reason)+"' END")
		for _, p := range cl.paths {
			b := store.Branch{Reason: string(cl.reason), Staff: cl.reason == ReasonStaff}
			var bind []string
			for i, f := range viewerFacts {
				if strings.Contains(p, f.name) {
					b.Needs = append(b.Needs, i)
				}
				bind = append(bind, f.name, fmt.Sprintf("{%d}", i))
			}
			b.Sees = strings.NewReplacer(append(bind, "{viewer}", "$1")...).Replace(p)
			r.Branches = append(r.Branches, b)
		}
	}
	or := "(" + strings.Join(sees, "\n\tOR ") + ")"
	r.Sees, r.SeesRow = param(or), row(or)
	r.Reasons = param("array_remove(ARRAY[" + strings.Join(reasons, ", ") + "]::text[], NULL)")
	r.About = aboutSQL
	return r
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
