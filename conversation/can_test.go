package conversation_test

import (
	"slices"
	"strings"
	"testing"

	"postdesk/config"
	"postdesk/conversation"
	"postdesk/store"
)

// Can over every kind of user, for a conversation about company 1 that is
// Open with user 99 as its Handler: what each may do, and nothing else.
func TestCanTable(t *testing.T) {
	acme, globex := int64(1), int64(2)
	handler := int64(99)
	role := func(staff bool, perms ...string) store.Role { return store.Role{Staff: staff, Permissions: perms} }
	user := func(id int64, company *int64, roles ...store.Role) *conversation.Actor {
		return &conversation.Actor{User: store.User{ID: id, CompanyID: company}, Roles: roles}
	}
	staffOnly := conversation.Facts{Sees: true, Staff: true}
	seesOnly := conversation.Facts{Sees: true}
	all := []conversation.Action{conversation.ActRead, conversation.ActExport, conversation.ActReply}
	staffBasics := append(slices.Clone(all), conversation.ActNote, conversation.ActTake, conversation.ActSolve)
	tests := []struct {
		name  string
		actor *conversation.Actor
		facts conversation.Facts // Sees and Staff, by the visibility rule
		want  []conversation.Action
	}{
		{"staff without permissions", user(10, nil, role(true)), staffOnly, staffBasics},
		{"staff with assign", user(11, nil, role(true, config.MayAssign)), staffOnly,
			append(slices.Clone(staffBasics), conversation.ActAssign)},
		{"staff with legal_hold", user(12, nil, role(true, config.MayLegalHold)), staffOnly,
			append(slices.Clone(staffBasics), conversation.ActLegalHold)},
		{"staff with change_receivers", user(13, nil, role(true, config.MayChangeReceivers)), staffOnly,
			append(slices.Clone(staffBasics), conversation.ActReceivers)},
		{"staff with set_company", user(14, nil, role(true, config.MaySetCompany)), staffOnly,
			append(slices.Clone(staffBasics), conversation.ActSetCompany, conversation.ActSetPerson, conversation.ActSetAssignee)},
		{"the Handler, staff without permissions", user(handler, nil, role(true)), staffOnly,
			append(slices.Clone(all), conversation.ActNote, conversation.ActAssign, conversation.ActSolve)},
		// set_company on a staff role of another conversation's team gives
		// nothing here: the actor is not staff of this one.
		{"staff of other roles with set_company, seeing as customer", user(15, &acme, role(true, config.MaySetCompany)), seesOnly, all},
		{"manager of the company", user(20, &acme, role(false, config.MayManage)), seesOnly,
			append(slices.Clone(all), conversation.ActSetPerson, conversation.ActSetAssignee)},
		{"manager of another company", user(21, &globex, role(false, config.MayManage)), conversation.Facts{}, nil},
		{"manager without a company", user(22, nil, role(false, config.MayManage)), conversation.Facts{}, nil},
		{"set_company on a customer-side role", user(23, &acme, role(false, config.MaySetCompany)), seesOnly, all},
		{"customer", user(30, &acme), seesOnly, all},
		{"member of a non-staff receiver role of the company", user(31, &acme, role(false)), seesOnly, all},
		{"member of a non-staff receiver role of another company", user(32, &globex, role(false)), conversation.Facts{}, nil},
		{"stranger", user(40, nil), conversation.Facts{}, nil},
	}
	for _, tc := range tests {
		f := tc.facts
		f.Status, f.HandlerID, f.About = store.StatusOpen, &handler, &acme
		var got []conversation.Action
		for _, act := range conversation.Actions {
			if conversation.Can(tc.actor, f, act) {
				got = append(got, act)
			}
		}
		want := slices.Clone(tc.want)
		sortActions(got)
		sortActions(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: may %v, want %v", tc.name, got, want)
		}
		p := conversation.PermissionsOf(tc.actor, f)
		for act, ok := range p.Map() {
			if ok != slices.Contains(want, conversation.Action(act)) {
				t.Errorf("%s: Permissions says %s %v", tc.name, act, ok)
			}
		}
	}
}

func sortActions(as []conversation.Action) {
	slices.SortFunc(as, func(a, b conversation.Action) int { return strings.Compare(string(a), string(b)) })
}

// The status table: Solve only while not Solved, Reopen only on Solved,
// and where each action leaves the status.
func TestStatusTransitions(t *testing.T) {
	staff := &conversation.Actor{User: store.User{ID: 1}, Roles: []store.Role{{Staff: true}}}
	for _, tc := range []struct {
		status        string
		solve, reopen bool
	}{
		{store.StatusNew, true, false},
		{store.StatusOpen, true, false},
		{store.StatusWaiting, true, false},
		{store.StatusSolved, false, true},
	} {
		f := conversation.Facts{Sees: true, Staff: true, Status: tc.status}
		if got := conversation.Can(staff, f, conversation.ActSolve); got != tc.solve {
			t.Errorf("solve a %s conversation: %v, want %v", tc.status, got, tc.solve)
		}
		if got := conversation.Can(staff, f, conversation.ActReopen); got != tc.reopen {
			t.Errorf("reopen a %s conversation: %v, want %v", tc.status, got, tc.reopen)
		}
	}
	for _, tc := range []struct {
		from       string
		act        conversation.Action
		hasHandler bool
		to         string
		moves      bool
	}{
		{store.StatusNew, conversation.ActTake, true, store.StatusOpen, true},
		{store.StatusOpen, conversation.ActTake, true, "", false},
		{store.StatusNew, conversation.ActReply, false, store.StatusWaiting, true},
		{store.StatusSolved, conversation.ActReply, true, store.StatusWaiting, true},
		{store.StatusOpen, conversation.ActSolve, true, store.StatusSolved, true},
		{store.StatusSolved, conversation.ActSolve, true, "", false},
		{store.StatusSolved, conversation.ActReopen, true, store.StatusOpen, true},
		{store.StatusSolved, conversation.ActReopen, false, store.StatusNew, true},
		{store.StatusWaiting, conversation.ActReopen, true, "", false},
		{store.StatusOpen, conversation.ActNote, true, "", false},
	} {
		to, moves := conversation.Next(tc.from, tc.act, tc.hasHandler)
		if moves != tc.moves || (moves && to != tc.to) {
			t.Errorf("%s from %s (handler %v): %q %v, want %q %v", tc.act, tc.from, tc.hasHandler, to, moves, tc.to, tc.moves)
		}
	}
}

// The actions obey the table too: a refusal of the status is ErrInvalid
// with its reason, one of the roles ErrForbidden, and a change of the
// legal hold, the company and the person each writes a timeline event.
func TestActionsAskCan(t *testing.T) {
	f := setup(t)
	c := f.open("cara.customer@acme.example", "payroll", "Tax card")
	aino, hilla, mika := f.actor("aino.handler@example.com"), f.actor("hilla.hr@example.com"), f.actor("mika.manager@acme.example")
	lea := f.actor("lea.lead@example.com")

	if err := f.svc.Take(f.ctx, aino, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Take(f.ctx, aino, c.ID); err != nil {
		t.Fatalf("taking one's own conversation again: %v", err)
	}
	err := f.svc.Reopen(f.ctx, aino, c.ID)
	wantErr(t, err, conversation.ErrInvalid)
	if !strings.Contains(err.Error(), conversation.RefusedReopen) {
		t.Fatalf("reopen an open conversation: %v", err)
	}
	if _, err := f.svc.Reply(f.ctx, aino, c.ID, "We are on it.", nil); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.svc.Reopen(f.ctx, aino, c.ID), conversation.ErrInvalid) // waiting is not solved
	if err := f.svc.Solve(f.ctx, aino, c.ID); err != nil {
		t.Fatal(err)
	}
	err = f.svc.Solve(f.ctx, aino, c.ID)
	wantErr(t, err, conversation.ErrInvalid)
	if !strings.Contains(err.Error(), conversation.RefusedSolved) {
		t.Fatalf("solve twice: %v", err)
	}
	if err := f.svc.Reopen(f.ctx, aino, c.ID); err != nil {
		t.Fatal(err)
	}

	// Roles: HR does not see it; Aino has no legal_hold; the manager may
	// set the person but not the company.
	wantErr(t, f.svc.Solve(f.ctx, hilla, c.ID), conversation.ErrNotFound)
	wantErr(t, f.svc.SetLegalHold(f.ctx, aino, c.ID, true), conversation.ErrForbidden)
	wantErr(t, f.svc.Describe(f.ctx, mika, c.ID, "Globex Oy", ""), conversation.ErrForbidden)
	if err := f.svc.SetLegalHold(f.ctx, lea, c.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Describe(f.ctx, mika, c.ID, "Acme Oy", "Pirjo Palkansaaja"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Describe(f.ctx, aino, c.ID, "", "Pirjo Palkansaaja"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetAssignee(f.ctx, mika, c.ID, "olga.other@acme.example"); err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.Get(f.ctx, aino, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, m := range v.Messages {
		if m.Kind == store.KindEvent {
			events = append(events, m.Event+": "+m.Text)
		}
	}
	for _, want := range []string{"legal_hold: Legal hold set by Lea Lead", "person: Person set to Pirjo Palkansaaja by Mika Manager",
		"assignee: Customer assignee set to olga.other@acme.example by Mika Manager",
		"company: Company cleared by Aino Handler", "reopened: Reopened by Aino Handler", "solved: Marked Solved by Aino Handler"} {
		if !slices.Contains(events, want) {
			t.Errorf("timeline %q lacks %q", events, want)
		}
	}
	if !v.Can.Solve || v.Can.Reopen || v.Can.Take || !v.Can.SetCompany {
		t.Errorf("Aino's permissions on her open conversation: %+v", v.Can)
	}
	mv, err := f.svc.Get(f.ctx, mika, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if mv.Can.SetCompany || !mv.Can.SetPerson || !mv.Can.SetAssignee || mv.Can.Note || mv.Can.Solve {
		t.Errorf("the manager's permissions: %+v", mv.Can)
	}
}

// Mail commands ask Can as the buttons do: a bare #solved on a Solved
// conversation is refused by the status table and the refusal noted on
// the mail for staff; a second #take by the Handler changes nothing.
func TestMailCommandsAskCan(t *testing.T) {
	f, c, addr := staffMailFixture(t)
	f.receive(2, staffMail(addr, "take1", "#take\n"))
	f.receive(3, staffMail(addr, "take2", "#take\n"))
	f.receive(4, staffMail(addr, "solved1", "#solved Paid in the next run.\n"))
	r := f.receive(5, staffMail(addr, "solved2", "#solved\n"))
	if got := f.get(c.ID); got.Status != store.StatusSolved {
		t.Fatalf("status %s, want solved", got.Status)
	}
	v, err := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	handlers, solved := 0, 0
	var refused *store.Message
	for i, m := range v.Messages {
		switch {
		case m.Event == "handler":
			handlers++
		case m.Event == "solved":
			solved++
		case m.ID == r.MessageID:
			refused = &v.Messages[i]
		}
	}
	if handlers != 1 || solved != 1 {
		t.Errorf("%d handler and %d solved events, want one each", handlers, solved)
	}
	if refused == nil || !slices.ContainsFunc(refused.Problems, func(p string) bool {
		return strings.Contains(p, "#solved was not obeyed") && strings.Contains(p, conversation.RefusedSolved)
	}) {
		t.Errorf("the refused #solved is not noted: %+v", refused)
	}
}
