package conversation_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"postdesk/config"
	"postdesk/conversation"
	"postdesk/store"
	"postdesk/store/storetest"
)

// The organisation the tests run is storetest.TestOrg.
const testConfig = storetest.TestOrg

type fixture struct {
	t   *testing.T
	ctx context.Context
	st  *store.Store
	svc *conversation.Service
	cfg *config.Config
}

func setup(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	st, cfg := storetest.Org(t, testConfig)
	f := &fixture{t: t, ctx: context.Background(), st: st, cfg: cfg}
	f.svc = conversation.New(f.st, &conversation.Options{MessageIDDomain: "postdesk.example.com"})
	return f
}

func parse(t *testing.T, y string) *config.Config { return storetest.Config(t, y) }

func (f *fixture) actor(email string) *conversation.Actor {
	f.t.Helper()
	a, err := f.svc.ActorByEmail(f.ctx, email)
	if err != nil {
		f.t.Fatalf("actor %s: %v", email, err)
	}
	return a
}

func (f *fixture) open(email, category, subject string) *store.Conversation {
	f.t.Helper()
	c, err := f.svc.Open(f.ctx, f.actor(email), conversation.NewRequest{Category: category, Subject: subject, Body: "Hello, my salary was wrong."})
	if err != nil {
		f.t.Fatalf("open: %v", err)
	}
	return c
}

func (f *fixture) outbox(convID int64, template string) []string {
	f.t.Helper()
	items, err := f.st.OutboxFor(f.ctx, convID)
	if err != nil {
		f.t.Fatal(err)
	}
	var to []string
	for _, it := range items {
		if it.Template == template {
			to = append(to, it.Recipient)
		}
	}
	slices.Sort(to)
	return to
}

func (f *fixture) audits(convID int64) []string {
	f.t.Helper()
	es, err := f.st.AuditTrail(f.ctx, convID)
	if err != nil {
		f.t.Fatal(err)
	}
	var as []string
	for _, e := range es {
		as = append(as, e.Actor+":"+e.Action)
	}
	return as
}

func (f *fixture) get(convID int64) *store.Conversation {
	f.t.Helper()
	c, err := f.st.ConversationByID(f.ctx, convID)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func TestOpenRoutesToPresetRolesAndNotifiesMembers(t *testing.T) {
	f := setup(t)
	c := f.open("cara.customer@acme.example", "payroll", "Salary for October")
	if c.Status != store.StatusNew || c.HandlerID != nil {
		t.Fatalf("new conversation: status %s handler %v", c.Status, c.HandlerID)
	}
	roles, _ := f.st.RolesByIDs(f.ctx, c.RoleIDs)
	if len(roles) != 1 || roles[0].Key != "payroll-team" {
		t.Fatalf("routed to %v, want payroll-team", roles)
	}
	got := f.outbox(c.ID, store.TemplateNewConversation)
	want := []string{"aino.handler@example.com", "ben.payroll@example.com", "lea.lead@example.com"}
	if !slices.Equal(got, want) {
		t.Fatalf("notified %v, want %v (every member, nobody else)", got, want)
	}
	if c.CompanyID == nil {
		t.Fatal("a customer's conversation is about their company")
	}
	if a := f.audits(c.ID); !slices.Contains(a, "cara.customer@acme.example:opened") {
		t.Fatalf("audit %v lacks opened", a)
	}
	v, err := f.svc.Get(f.ctx, f.actor("cara.customer@acme.example"), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Messages) != 2 || v.Messages[0].Kind != store.KindCustomer || v.Messages[1].Event != "routed" {
		t.Fatalf("timeline %+v: want the message and a routed event", v.Messages)
	}
}

func TestOpenRefusals(t *testing.T) {
	f := setup(t)
	cara := f.actor("cara.customer@acme.example")
	for _, tc := range []struct {
		name string
		req  conversation.NewRequest
		want error
	}{
		{"empty subject", conversation.NewRequest{Category: "payroll", Body: "x"}, conversation.ErrInvalid},
		{"subject with a line break", conversation.NewRequest{Category: "payroll", Subject: "a\r\nBcc: x@example.net", Body: "x"}, conversation.ErrInvalid},
		{"empty body", conversation.NewRequest{Category: "payroll", Subject: "s", Body: "  "}, conversation.ErrInvalid},
		{"unknown category", conversation.NewRequest{Category: "nope", Subject: "s", Body: "x"}, conversation.ErrInvalid},
		{"customer picks other receivers", conversation.NewRequest{Category: "payroll", Subject: "s", Body: "x", Roles: []string{"hr-team"}}, conversation.ErrForbidden},
		{"customer sets a company", conversation.NewRequest{Category: "payroll", Subject: "s", Body: "x", Company: "Globex Oy"}, conversation.ErrForbidden},
		{"customer names a person", conversation.NewRequest{Category: "payroll", Subject: "s", Body: "x", Person: "Pekka"}, conversation.ErrForbidden},
	} {
		_, err := f.svc.Open(f.ctx, cara, tc.req)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
	// The preset receivers, named explicitly, need no permission.
	if _, err := f.svc.Open(f.ctx, cara, conversation.NewRequest{Category: "payroll", Subject: "s", Body: "x", Roles: []string{"payroll-team"}}); err != nil {
		t.Fatalf("preset roles named explicitly: %v", err)
	}
}

func TestOpenWithPermissions(t *testing.T) {
	f := setup(t)
	aino := f.actor("aino.handler@example.com")
	c, err := f.svc.Open(f.ctx, aino, conversation.NewRequest{Category: "payroll", Subject: "Tax card", Body: "x",
		Roles: []string{"payroll-team", "hr-team"}, Company: "Globex Oy", Person: "Pekka Employee"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.RoleIDs) != 2 || c.CompanyID == nil || c.PersonID == nil {
		t.Fatalf("conversation %+v: want two roles, a company and a person", c)
	}
	co, _ := f.st.CompanyByID(f.ctx, *c.CompanyID)
	if co.Name != "Globex Oy" {
		t.Fatalf("company %q", co.Name)
	}
	got := f.outbox(c.ID, store.TemplateNewConversation)
	want := []string{"ben.payroll@example.com", "hilla.hr@example.com", "lea.lead@example.com"}
	if !slices.Equal(got, want) {
		t.Fatalf("notified %v, want %v (the author is not notified)", got, want)
	}
	// A manager may name their own company but not another.
	mika := f.actor("mika.manager@acme.example")
	if _, err := f.svc.Open(f.ctx, mika, conversation.NewRequest{Category: "payroll", Subject: "s", Body: "x", Company: "Acme Oy", Person: "Liisa"}); err != nil {
		t.Fatalf("manager, own company: %v", err)
	}
	_, err = f.svc.Open(f.ctx, mika, conversation.NewRequest{Category: "payroll", Subject: "s", Body: "x", Company: "Globex Oy"})
	wantErr(t, err, conversation.ErrForbidden)
}

func TestVisibility(t *testing.T) {
	f := setup(t)
	payroll := f.open("cara.customer@acme.example", "payroll", "Salary")
	sick := f.open("otto.other@globex.example", "sick-leave", "Sick leave days")

	for _, tc := range []struct {
		who  string
		conv *store.Conversation
		see  bool
	}{
		{"cara.customer@acme.example", payroll, true}, // their own
		{"cara.customer@acme.example", sick, false},   // another customer's
		{"otto.other@globex.example", payroll, false}, // another customer's
		{"olga.other@acme.example", payroll, false},   // same company, not a manager
		{"mika.manager@acme.example", payroll, true},  // manager of the company
		{"mika.manager@acme.example", sick, false},    // another company
		{"aino.handler@example.com", payroll, true},   // member of the receiver role
		{"aino.handler@example.com", sick, false},     // another role's conversation
		{"hilla.hr@example.com", sick, true},          // member of the receiver role
		{"hilla.hr@example.com", payroll, false},      // another role's conversation
	} {
		_, err := f.svc.Get(f.ctx, f.actor(tc.who), tc.conv.ID)
		if tc.see && err != nil {
			t.Errorf("%s should see %q: %v", tc.who, tc.conv.Subject, err)
		}
		if !tc.see && !errors.Is(err, conversation.ErrNotFound) {
			t.Errorf("%s must not see %q: got %v, want not found", tc.who, tc.conv.Subject, err)
		}
		page, err := f.svc.List(f.ctx, f.actor(tc.who), conversation.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		listed := slices.ContainsFunc(page.Conversations, func(c store.Listed) bool { return c.ID == tc.conv.ID })
		if listed != tc.see {
			t.Errorf("%s lists %q: %v, want %v", tc.who, tc.conv.Subject, listed, tc.see)
		}
	}
	// Acting on an invisible conversation reveals nothing either.
	otto := f.actor("otto.other@globex.example")
	_, err := f.svc.Reply(f.ctx, otto, payroll.ID, "let me in", nil)
	wantErr(t, err, conversation.ErrNotFound)
	wantErr(t, f.svc.Take(f.ctx, f.actor("hilla.hr@example.com"), payroll.ID), conversation.ErrNotFound)
	_, err = f.svc.Get(f.ctx, otto, 1<<40)
	wantErr(t, err, conversation.ErrNotFound)
}

func TestStaffReplyCustomerReplyAndSolve(t *testing.T) {
	f := setup(t)
	c := f.open("cara.customer@acme.example", "payroll", "Salary")
	aino := f.actor("aino.handler@example.com")
	cara := f.actor("cara.customer@acme.example")

	if _, err := f.svc.Reply(f.ctx, aino, c.ID, "We will fix it in the next run.", nil); err != nil {
		t.Fatal(err)
	}
	got := f.get(c.ID)
	if got.Status != store.StatusWaiting || got.HandlerID == nil || *got.HandlerID != aino.User.ID {
		t.Fatalf("after the staff reply: status %s handler %v; want waiting, Aino", got.Status, got.HandlerID)
	}
	if to := f.outbox(c.ID, store.TemplateAnswer); !slices.Equal(to, []string{"cara.customer@acme.example"}) {
		t.Fatalf("answer sent to %v, want the customer only", to)
	}

	msg, err := f.svc.Reply(f.ctx, cara, c.ID, "Thanks, but what about the tax?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Kind != store.KindCustomer {
		t.Fatalf("customer's reply kind %s", msg.Kind)
	}
	if got := f.get(c.ID); got.Status != store.StatusOpen {
		t.Fatalf("a customer reply to a waiting conversation: status %s, want open", got.Status)
	}
	if to := f.outbox(c.ID, store.TemplateCustomerReply); !slices.Equal(to, []string{"aino.handler@example.com"}) {
		t.Fatalf("customer reply notified %v, want the Handler only", to)
	}

	wantErr(t, f.svc.Solve(f.ctx, cara, c.ID), conversation.ErrForbidden)
	if err := f.svc.Solve(f.ctx, aino, c.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.get(c.ID); got.Status != store.StatusSolved || got.SolvedAt == nil {
		t.Fatalf("after solve: %s %v", got.Status, got.SolvedAt)
	}
	if to := f.outbox(c.ID, store.TemplateSolved); !slices.Equal(to, []string{"cara.customer@acme.example"}) {
		t.Fatalf("solved notice to %v", to)
	}
	// A customer reply to a solved conversation reopens it.
	if _, err := f.svc.Reply(f.ctx, cara, c.ID, "One more thing.", nil); err != nil {
		t.Fatal(err)
	}
	if got := f.get(c.ID); got.Status != store.StatusOpen || got.SolvedAt != nil {
		t.Fatalf("after a reply to solved: %s %v, want open", got.Status, got.SolvedAt)
	}
	// Staff reopen after a second solve.
	if err := f.svc.Solve(f.ctx, aino, c.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.svc.Reopen(f.ctx, cara, c.ID), conversation.ErrForbidden)
	if err := f.svc.Reopen(f.ctx, aino, c.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.get(c.ID); got.Status != store.StatusOpen {
		t.Fatalf("after reopen: %s", got.Status)
	}
	want := []string{"aino.handler@example.com:replied", "cara.customer@acme.example:customer_message",
		"aino.handler@example.com:solved", "aino.handler@example.com:reopened"}
	if a := f.audits(c.ID); !containsAll(a, want) {
		t.Fatalf("audit %v lacks %v", a, want)
	}
}

func TestCustomerReplyWithoutHandlerNotifiesRoles(t *testing.T) {
	f := setup(t)
	c := f.open("cara.customer@acme.example", "sick-leave", "Sick leave")
	if _, err := f.svc.Reply(f.ctx, f.actor("cara.customer@acme.example"), c.ID, "Any news?", nil); err != nil {
		t.Fatal(err)
	}
	if to := f.outbox(c.ID, store.TemplateCustomerReply); !slices.Equal(to, []string{"hilla.hr@example.com"}) {
		t.Fatalf("notified %v, want the roles' members", to)
	}
	if got := f.get(c.ID); got.Status != store.StatusNew {
		t.Fatalf("status %s, want new (no Handler yet)", got.Status)
	}
}

func TestNotesAreStaffOnlyAndHidden(t *testing.T) {
	f := setup(t)
	c := f.open("cara.customer@acme.example", "payroll", "Salary")
	cara := f.actor("cara.customer@acme.example")
	_, err := f.svc.Note(f.ctx, cara, c.ID, "customer note", nil)
	wantErr(t, err, conversation.ErrForbidden)
	_, err = f.svc.Note(f.ctx, f.actor("mika.manager@acme.example"), c.ID, "manager note", nil)
	wantErr(t, err, conversation.ErrForbidden)
	if _, err := f.svc.Note(f.ctx, f.actor("aino.handler@example.com"), c.ID, "Check the 2025 tax card first.", []store.NewAttachment{
		{Filename: "calc.txt", ContentType: "text/plain", Data: []byte("internal")}}); err != nil {
		t.Fatal(err)
	}
	staff, _ := f.svc.Get(f.ctx, f.actor("ben.payroll@example.com"), c.ID)
	customer, _ := f.svc.Get(f.ctx, cara, c.ID)
	if !hasKind(staff.Messages, store.KindNote) {
		t.Fatal("staff do not see the note")
	}
	if hasKind(customer.Messages, store.KindNote) {
		t.Fatal("the customer sees an internal note")
	}
	var attID string
	for _, m := range staff.Messages {
		for _, a := range m.Attachments {
			attID = a.ID
		}
	}
	if _, _, err := f.svc.Attachment(f.ctx, cara, attID); !errors.Is(err, conversation.ErrNotFound) {
		t.Fatalf("customer fetching a note's file: %v, want not found", err)
	}
	if _, data, err := f.svc.Attachment(f.ctx, f.actor("ben.payroll@example.com"), attID); err != nil || string(data) != "internal" {
		t.Fatalf("staff fetching a note's file: %q %v", data, err)
	}
	if n := f.outbox(c.ID, store.TemplateAnswer); len(n) != 0 {
		t.Fatalf("a note was queued for %v", n)
	}
	// Full-text search finds notes for staff only.
	if p, _ := f.svc.List(f.ctx, f.actor("ben.payroll@example.com"), conversation.Filter{Query: "tax card"}); len(p.Conversations) != 1 {
		t.Fatalf("staff search for a note's words found %d", len(p.Conversations))
	}
	if p, _ := f.svc.List(f.ctx, cara, conversation.Filter{Query: "tax card"}); len(p.Conversations) != 0 {
		t.Fatalf("customer search found a note's words")
	}
}

func TestTakeAndAssign(t *testing.T) {
	f := setup(t)
	c := f.open("cara.customer@acme.example", "payroll", "Salary")
	aino, ben, lea := f.actor("aino.handler@example.com"), f.actor("ben.payroll@example.com"), f.actor("lea.lead@example.com")

	wantErr(t, f.svc.Take(f.ctx, f.actor("cara.customer@acme.example"), c.ID), conversation.ErrForbidden)
	wantErr(t, f.svc.Take(f.ctx, f.actor("mika.manager@acme.example"), c.ID), conversation.ErrForbidden)
	if err := f.svc.Take(f.ctx, aino, c.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.get(c.ID); got.Status != store.StatusOpen || *got.HandlerID != aino.User.ID {
		t.Fatalf("after take: %s %v", got.Status, got.HandlerID)
	}
	// Ben has no assign permission and is not the Handler.
	wantErr(t, f.svc.Assign(f.ctx, ben, c.ID, "ben.payroll@example.com"), conversation.ErrForbidden)
	// The Handler may hand over, but only to staff of the conversation's roles.
	wantErr(t, f.svc.Assign(f.ctx, aino, c.ID, "hilla.hr@example.com"), conversation.ErrInvalid)
	if err := f.svc.Assign(f.ctx, aino, c.ID, "ben.payroll@example.com"); err != nil {
		t.Fatal(err)
	}
	if to := f.outbox(c.ID, store.TemplateAssigned); !slices.Equal(to, []string{"ben.payroll@example.com"}) {
		t.Fatalf("assignment notice to %v", to)
	}
	// Lea has the assign permission.
	if err := f.svc.Assign(f.ctx, lea, c.ID, "aino.handler@example.com"); err != nil {
		t.Fatal(err)
	}
	if got := f.get(c.ID); *got.HandlerID != aino.User.ID {
		t.Fatal("assign by a lead did not take")
	}
	if a := f.audits(c.ID); !containsAll(a, []string{"aino.handler@example.com:handler", "lea.lead@example.com:handler"}) {
		t.Fatalf("audit %v", a)
	}
}

func TestChangeReceivers(t *testing.T) {
	f := setup(t)
	c := f.open("cara.customer@acme.example", "sick-leave", "Sick leave")
	hilla := f.actor("hilla.hr@example.com") // staff, but without change_receivers
	wantErr(t, f.svc.ChangeReceivers(f.ctx, hilla, c.ID, []string{"payroll-team"}), conversation.ErrForbidden)
	wantErr(t, f.svc.ChangeReceivers(f.ctx, f.actor("cara.customer@acme.example"), c.ID, []string{"payroll-team"}), conversation.ErrForbidden)
	// Aino may change receivers, but cannot see this conversation yet.
	aino := f.actor("aino.handler@example.com")
	wantErr(t, f.svc.ChangeReceivers(f.ctx, aino, c.ID, []string{"payroll-team"}), conversation.ErrNotFound)

	p := f.open("cara.customer@acme.example", "payroll", "Wrong category")
	wantErr(t, f.svc.ChangeReceivers(f.ctx, aino, p.ID, []string{"no-such-role"}), conversation.ErrInvalid)
	wantErr(t, f.svc.ChangeReceivers(f.ctx, aino, p.ID, nil), conversation.ErrInvalid)
	if err := f.svc.ChangeReceivers(f.ctx, aino, p.ID, []string{"hr-team"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Get(f.ctx, hilla, p.ID); err != nil {
		t.Fatalf("the new role's member cannot see it: %v", err)
	}
	if _, err := f.svc.Get(f.ctx, f.actor("ben.payroll@example.com"), p.ID); !errors.Is(err, conversation.ErrNotFound) {
		t.Fatalf("the old role's member still sees it: %v", err)
	}
	if to := f.outbox(p.ID, store.TemplateNewConversation); !slices.Contains(to, "hilla.hr@example.com") {
		t.Fatalf("new role's members not notified: %v", to)
	}
}

func TestDescribeAndAssignee(t *testing.T) {
	f := setup(t)
	c := f.open("cara.customer@acme.example", "payroll", "Salary")
	cara := f.actor("cara.customer@acme.example")
	wantErr(t, f.svc.Describe(f.ctx, cara, c.ID, "Globex Oy", ""), conversation.ErrForbidden)
	wantErr(t, f.svc.SetAssignee(f.ctx, cara, c.ID, "olga.other@acme.example"), conversation.ErrForbidden)
	// Staff without set_company (Ben has it through payroll-team; Hilla cannot see it).
	aino := f.actor("aino.handler@example.com")
	if err := f.svc.Describe(f.ctx, aino, c.ID, "Acme Oy", "Pekka Employee"); err != nil {
		t.Fatal(err)
	}
	olga := f.actor("olga.other@acme.example")
	if _, err := f.svc.Get(f.ctx, olga, c.ID); !errors.Is(err, conversation.ErrNotFound) {
		t.Fatal("olga sees it before being assigned")
	}
	// An outsider would see the payroll conversation: refused.
	wantErr(t, f.svc.SetAssignee(f.ctx, f.actor("mika.manager@acme.example"), c.ID, "otto.other@globex.example"), conversation.ErrInvalid)
	if _, err := f.svc.Get(f.ctx, f.actor("otto.other@globex.example"), c.ID); !errors.Is(err, conversation.ErrNotFound) {
		t.Fatal("the refused outsider sees the conversation")
	}
	if err := f.svc.SetAssignee(f.ctx, f.actor("mika.manager@acme.example"), c.ID, "olga.other@acme.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Get(f.ctx, olga, c.ID); err != nil {
		t.Fatalf("the customer assignee cannot see it: %v", err)
	}
	if _, err := f.svc.Reply(f.ctx, aino, c.ID, "Answer", nil); err != nil {
		t.Fatal(err)
	}
	if to := f.outbox(c.ID, store.TemplateAnswer); !slices.Equal(to, []string{"cara.customer@acme.example", "olga.other@acme.example"}) {
		t.Fatalf("answer sent to %v, want the customer and the assignee", to)
	}
	if a := f.audits(c.ID); !containsAll(a, []string{"aino.handler@example.com:described", "mika.manager@acme.example:assignee"}) {
		t.Fatalf("audit %v", a)
	}
}

func TestLegalHold(t *testing.T) {
	f := setup(t)
	c := f.open("cara.customer@acme.example", "payroll", "Salary")
	wantErr(t, f.svc.SetLegalHold(f.ctx, f.actor("aino.handler@example.com"), c.ID, true), conversation.ErrForbidden)
	if err := f.svc.SetLegalHold(f.ctx, f.actor("lea.lead@example.com"), c.ID, true); err != nil {
		t.Fatal(err)
	}
	if !f.get(c.ID).LegalHold {
		t.Fatal("hold not set")
	}
}

// A role change of a user never moves a conversation: it stays with its
// roles; a removed member loses access and a new member gains it.
func TestRoleChangeKeepsConversations(t *testing.T) {
	f := setup(t)
	c := f.open("cara.customer@acme.example", "payroll", "Salary")
	aino := f.actor("aino.handler@example.com")
	if err := f.svc.Take(f.ctx, aino, c.ID); err != nil {
		t.Fatal(err)
	}
	// Aino moves from payroll-team to hr-team; Hilla joins payroll-team.
	changed := strings.Replace(testConfig, "{email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team]}",
		"{email: aino.handler@example.com, name: Aino Handler, roles: [hr-team]}", 1)
	changed = strings.Replace(changed, "{email: hilla.hr@example.com, name: Hilla HR, roles: [hr-team]}",
		"{email: hilla.hr@example.com, name: Hilla HR, roles: [hr-team, payroll-team]}", 1)
	if err := f.st.ApplyConfig(f.ctx, parse(t, changed)); err != nil {
		t.Fatal(err)
	}
	aino = f.actor("aino.handler@example.com")
	if _, err := f.svc.Get(f.ctx, aino, c.ID); !errors.Is(err, conversation.ErrNotFound) {
		t.Fatalf("a removed member still sees the conversation: %v", err)
	}
	if _, err := f.svc.Reply(f.ctx, aino, c.ID, "still here?", nil); !errors.Is(err, conversation.ErrNotFound) {
		t.Fatalf("a removed member can still reply: %v", err)
	}
	got := f.get(c.ID)
	if len(got.RoleIDs) != 1 || got.Status != store.StatusOpen {
		t.Fatalf("the conversation changed: %+v", got)
	}
	if _, err := f.svc.Get(f.ctx, f.actor("hilla.hr@example.com"), c.ID); err != nil {
		t.Fatalf("a new member cannot see the role's conversation: %v", err)
	}
	if err := f.svc.Take(f.ctx, f.actor("hilla.hr@example.com"), c.ID); err != nil {
		t.Fatalf("a new member cannot take it: %v", err)
	}
	// Applying the same file again changes nothing.
	if err := f.st.ApplyConfig(f.ctx, parse(t, changed)); err != nil {
		t.Fatal(err)
	}
	roles, _ := f.st.UserRoles(f.ctx, f.actor("hilla.hr@example.com").User.ID)
	if len(roles) != 2 {
		t.Fatalf("hilla's roles after a second apply: %v", roles)
	}
}

func TestListFiltersAndPaging(t *testing.T) {
	f := setup(t)
	var ids []int64
	for i := range 7 {
		c := f.open("cara.customer@acme.example", "payroll", "Question "+string(rune('A'+i)))
		ids = append(ids, c.ID)
	}
	aino := f.actor("aino.handler@example.com")
	if err := f.svc.Take(f.ctx, aino, ids[2]); err != nil {
		t.Fatal(err)
	}
	var seen []int64
	cursor := ""
	for pages := 0; ; pages++ {
		p, err := f.svc.List(f.ctx, aino, conversation.Filter{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Conversations {
			seen = append(seen, c.ID)
		}
		if p.Next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		cursor = p.Next
	}
	if len(seen) != 7 || seen[0] != ids[2] {
		t.Fatalf("pages gave %v; want all 7, the one just taken first (newest activity)", seen)
	}
	mine, _ := f.svc.List(f.ctx, aino, conversation.Filter{HandledByMe: true})
	if len(mine.Conversations) != 1 || mine.Conversations[0].ID != ids[2] {
		t.Fatalf("handled by me: %v", mine.Conversations)
	}
	open, _ := f.svc.List(f.ctx, aino, conversation.Filter{Status: store.StatusOpen})
	if len(open.Conversations) != 1 {
		t.Fatalf("status open: %d", len(open.Conversations))
	}
	if p, _ := f.svc.List(f.ctx, aino, conversation.Filter{Category: "sick-leave"}); len(p.Conversations) != 0 {
		t.Fatal("category filter")
	}
	if p, _ := f.svc.List(f.ctx, aino, conversation.Filter{Query: "Question C"}); len(p.Conversations) != 1 {
		t.Fatalf("subject search found %d", len(p.Conversations))
	}
	_, err := f.svc.List(f.ctx, aino, conversation.Filter{Status: "bogus"})
	wantErr(t, err, conversation.ErrInvalid)
	_, err = f.svc.List(f.ctx, aino, conversation.Filter{Cursor: "!!"})
	wantErr(t, err, conversation.ErrInvalid)
}

func hasKind(ms []store.Message, kind string) bool {
	return slices.ContainsFunc(ms, func(m store.Message) bool { return m.Kind == kind })
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// The company of a conversation changes only while no customer outside the
// new company would see it, and only by staff whose staff role grants
// set_company; each change is an event and an audit record.
func TestCompanyChangeGuards(t *testing.T) {
	f := setup(t)
	aino, mika := f.actor("aino.handler@example.com"), f.actor("mika.manager@acme.example")
	c := f.open("cara.customer@acme.example", "payroll", "Salary")

	// Away from the customer's company: refused, whoever asks.
	wantErr(t, f.svc.Describe(f.ctx, aino, c.ID, "Globex Oy", ""), conversation.ErrInvalid)
	wantErr(t, f.svc.Describe(f.ctx, mika, c.ID, "Globex Oy", ""), conversation.ErrForbidden)
	// Cleared, it is about the customer's company still: allowed for staff,
	// and the manager of that company still sees it but may not set it.
	if err := f.svc.Describe(f.ctx, aino, c.ID, "", ""); err != nil {
		t.Fatalf("clear the company: %v", err)
	}
	if v, err := f.svc.Visibility(f.ctx, mika, c.ID); err != nil || !slices.Equal(v.Reasons, []conversation.Reason{conversation.ReasonManager}) {
		t.Fatalf("the manager after the company was cleared: %+v %v", v, err)
	}
	wantErr(t, f.svc.Describe(f.ctx, mika, c.ID, "Acme Oy", ""), conversation.ErrForbidden)
	if err := f.svc.Describe(f.ctx, mika, c.ID, "", "Pekka Employee"); err != nil {
		t.Fatalf("the manager names the person: %v", err)
	}
	// An assignee of another company would block a move there too.
	if err := f.svc.SetAssignee(f.ctx, mika, c.ID, "olga.other@acme.example"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Describe(f.ctx, aino, c.ID, "Acme Oy", "Pekka Employee"); err != nil {
		t.Fatalf("set the company the customer and assignee belong to: %v", err)
	}

	// A customer of no company: no company may be set, since that customer
	// would then read a company's conversation.
	walkIn, err := f.st.EnsureUser(f.ctx, "walk.in@example.org", "Walk In")
	if err != nil {
		t.Fatal(err)
	}
	w := f.open(walkIn.Email, "payroll", "A question")
	wantErr(t, f.svc.Describe(f.ctx, aino, w.ID, "Acme Oy", ""), conversation.ErrInvalid)
	wantErr(t, f.svc.SetAssignee(f.ctx, aino, w.ID, "olga.other@acme.example"), conversation.ErrInvalid)
	if got := f.get(w.ID); got.CompanyID != nil || got.AssigneeID != nil {
		t.Fatalf("refused changes stuck: %+v", got)
	}

	v, err := f.svc.Get(f.ctx, aino, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, m := range v.Messages {
		if m.Kind == store.KindEvent && m.Event != "routed" {
			events = append(events, m.Text)
		}
	}
	want := []string{"Company cleared by Aino Handler", "Person set to Pekka Employee by Mika Manager",
		"Customer assignee set to olga.other@acme.example by Mika Manager", "Company set to Acme Oy by Aino Handler"}
	if !slices.Equal(events, want) {
		t.Fatalf("timeline %q, want %q", events, want)
	}
	if a := f.audits(c.ID); !containsAll(a, []string{"aino.handler@example.com:described", "mika.manager@acme.example:described", "mika.manager@acme.example:assignee"}) {
		t.Fatalf("audit %v", a)
	}
}
