package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"postdesk/conversation"
	"postdesk/store"
	"postdesk/store/storetest"
)

// The organisation of the search plan test: Acme's manager (the manager
// permission and a receiver role of Sick leave), Acme's supervisor (a
// receiver role of Sick leave only), a member of HR, and customers of Acme,
// of Globex and of no company, three of them named Virtanen.
const searchPlanOrg = `
listen: 127.0.0.1:18081
database_url: postgres://unused
secret: 0123456789abcdef0123456789abcdef
smtp: {host: 127.0.0.1, port: 10026, tls: none}
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team]}
  - {key: sick-leave, name: Sick leave, addresses: [hr@example.com], roles: [hr-team, managers, supervisors]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
  - {key: hr-team, name: HR team, staff: true}
  - {key: managers, name: Managers, may: [manager]}
  - {key: supervisors, name: Supervisors}
users:
  - {email: hilla.hr@example.com, name: Hilla HR, roles: [hr-team]}
  - {email: mika.manager@acme.example, name: Mika Manager, roles: [managers], company: Acme Oy}
  - {email: sami.super@acme.example, name: Sami Super, roles: [supervisors], company: Acme Oy}
  - {email: aino.virtanen@acme.example, name: Aino Virtanen, company: Acme Oy}
  - {email: cara.customer@acme.example, name: Cara Customer, company: Acme Oy}
  - {email: otto.virtanen@globex.example, name: Otto Virtanen, company: Globex Oy}
  - {email: pia.virtanen@posti.example, name: Pia Virtanen}
`

// A search by a viewer without staff powers reads their branches'
// conversations together (a manager's company and manager branches, each by
// its company's own conversations and those of no company whose customer is
// in it), and the staff branches as before. Whichever way each path is read
// (its hits from its index, or a walk that probes each conversation), and
// however the pages are cut, the search lists exactly what the rule lets the
// viewer see and the search finds, newest activity first: not a
// conversation of another company or of none, not a note's text, and not a
// conversation the manager's roles do not receive for the supervisor.
func TestSearchPlanNonStaffBranches(t *testing.T) {
	ctx := context.Background()
	st, _ := storetest.Org(t, searchPlanOrg)
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: "postdesk.example.com"})
	actor := func(email string) *conversation.Actor {
		t.Helper()
		a, err := svc.ActorByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	convs := map[string]*store.Conversation{}
	open := func(name, who, category, subject, body string) {
		t.Helper()
		c, err := svc.Open(ctx, actor(who), conversation.NewRequest{Category: category, Subject: subject, Body: body})
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		convs[name] = c
	}
	open("a1", "aino.virtanen@acme.example", "sick-leave", "Sairausloma", "Hei")           // the sender
	open("a2", "aino.virtanen@acme.example", "payroll", "Palkka", "Hei")                   // the sender, payroll
	open("a3", "cara.customer@acme.example", "sick-leave", "Virtasen loma", "Hei")         // the subject
	open("a4", "cara.customer@acme.example", "sick-leave", "Lomakorvaus", "Hei")           // inside the subject; no company
	open("a5", "cara.customer@acme.example", "payroll", "Kysymys", "Korvaukset puuttuvat") // the text; no company
	open("a6", "cara.customer@acme.example", "sick-leave", "Kysymys", "Hei")               // a note's text
	for _, name := range []string{"a7", "a8", "a9"} {
		open(name, "cara.customer@acme.example", "sick-leave", "Kysymys", "Hei")
	}
	open("g1", "otto.virtanen@globex.example", "sick-leave", "Lomakorvaus", "Korvaukset")
	open("p1", "pia.virtanen@posti.example", "sick-leave", "Lomakorvaus", "Korvaukset")
	if _, err := svc.Note(ctx, actor("hilla.hr@example.com"), convs["a6"].ID, "Virtanen korvaus", nil); err != nil {
		t.Fatal(err)
	}
	// Conversations whose company was never set: only their customer's
	// company says what they are about.
	var none *int64
	for _, name := range []string{"a4", "a5"} {
		if err := st.UpdateConversation(ctx, convs[name].ID, store.ConversationUpdate{CompanyID: &none}); err != nil {
			t.Fatal(err)
		}
	}
	// The oldest conversation's news makes it the newest: the order is of
	// activity, not of opening.
	if _, err := svc.Reply(ctx, actor("aino.virtanen@acme.example"), convs["a1"].ID, "Hei taas", nil); err != nil {
		t.Fatal(err)
	}
	names := map[int64]string{}
	for name, c := range convs {
		if convs[name], _ = st.ConversationByID(ctx, c.ID); convs[name] == nil {
			t.Fatalf("%s gone", name)
		}
		names[c.ID] = name
	}

	searches := []struct {
		who, q string
		want   []string
	}{
		{"mika.manager@acme.example", "korvaus", []string{"a4", "a5"}},
		{"mika.manager@acme.example", "irtane", []string{"a1", "a2"}},
		{"mika.manager@acme.example", "virta", []string{"a1", "a2", "a3"}},
		{"mika.manager@acme.example", "zzzz", nil},
		{"sami.super@acme.example", "korvaus", []string{"a4"}},
		{"sami.super@acme.example", "virta", []string{"a1", "a3"}},
		{"cara.customer@acme.example", "korvaus", []string{"a4", "a5"}},
		{"aino.virtanen@acme.example", "virta", []string{"a1", "a2"}},
		{"hilla.hr@example.com", "korvaus", []string{"a4", "a6", "g1", "p1"}},
		{"hilla.hr@example.com", "virta", []string{"a1", "a3", "a6", "g1", "p1"}},
	}
	for _, rare := range []int{2000, 0} {
		// 2000: every path here is rare, read from its index; 0: every path
		// is frequent, walked and probed.
		restore := store.SetRareHitsForTest(rare)
		for _, s := range searches {
			want := slices.Clone(s.want)
			slices.SortFunc(want, func(x, y string) int {
				if c := convs[y].UpdatedAt.Compare(convs[x].UpdatedAt); c != 0 {
					return c
				}
				return int(convs[y].ID - convs[x].ID)
			})
			for _, limit := range []int{1, 2, 50} {
				var got []string
				f := conversation.Filter{Query: s.q, Limit: limit}
				for pages := 0; ; pages++ {
					p, err := svc.List(ctx, actor(s.who), f)
					if err != nil {
						t.Fatalf("%s %q: %v", s.who, s.q, err)
					}
					if len(p.Conversations) > limit || pages > 10 {
						t.Fatalf("%s %q, limit %d: %d rows on page %d", s.who, s.q, limit, len(p.Conversations), pages)
					}
					for _, c := range p.Conversations {
						got = append(got, names[c.ID])
					}
					if p.Next == "" {
						break
					}
					f.Cursor = p.Next
				}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("rare below %d hits, %s searching %q, %d a page: listed %q, want %q", rare, s.who, s.q, limit, got, want)
				}
			}
		}
		restore()
	}
}
