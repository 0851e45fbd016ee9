package web_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"postdesk/conversation"
	"postdesk/store"
)

// The read model (the inbox's branches, filters, search and keyset paging)
// lists exactly what the visibility rule lets each user see, on the same
// table of users and conversations as TestVisibilityTable. The expected set
// is computed row by row: the rule for the one conversation
// (Service.Visibility), the filter on its fields in Go, and which texts of
// the fixture each search finds; the list must give that set, newest
// activity first, page by page without a row twice.
func TestReadModelMatchesRule(t *testing.T) {
	f := newVisibilityFixture(t)
	f.handle(t)
	names := []string{"acme", "beta", "nocompany", "staffonly", "orphan"}
	type row struct {
		name  string
		c     *store.Conversation
		roles []string
	}
	var rows []row
	byName := map[string]*store.Conversation{}
	for _, name := range names {
		c := f.conv(f.convs[name].ID)
		rs, err := f.st.RolesByIDs(f.ctx, c.RoleIDs)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range rs {
			keys = append(keys, r.Key)
		}
		rows = append(rows, row{name, c, keys})
		byName[name] = c
	}
	// Which conversations a search finds, before the rule: in any message
	// one may see, and in the note (staff only). The fixture's texts:
	// subjects Subject-NAME, bodies "Body word wordNAME", replies "Another
	// line", a note on acme "Notetext diagnosis confidential", senders the
	// customers (cara on acme, nocompany and staffonly).
	all := names
	searches := []struct {
		q         string
		finds     []string
		staffOnly []string // found by the note's text, for staff of it only
	}{
		{"", all, nil},
		{"word", all, nil},
		{"wordacme", []string{"acme"}, nil},
		{"another line", all, nil},
		{"notetext", nil, []string{"acme"}},
		{"diagnosis", nil, []string{"acme"}}, // also the customer's file name, which is not searched
		{"subject-beta", []string{"beta"}, nil},
		{"cara", []string{"acme", "nocompany", "staffonly"}, nil},          // the sender's name and address
		{"customer@acme", []string{"acme", "nocompany", "staffonly"}, nil}, // part of the address
		{"ubjec", all, nil},                                                // inside the subject
		{"zzzz", nil, nil},
	}
	filters := []conversation.Filter{
		{}, {Status: store.StatusNew}, {Status: store.StatusOpen}, {Status: store.StatusSolved},
		{Category: "sick-leave"}, {Category: "payroll"}, {Role: "managers"}, {Role: "hr-team"}, {HandledByMe: true},
		{Status: store.StatusNew, Category: "sick-leave", Role: "supervisors"},
	}
	for _, who := range visibilityUsers {
		a := f.actor(who)
		vis := map[string]conversation.Visibility{}
		for _, r := range rows {
			v, err := f.svc.Visibility(f.ctx, a, r.c.ID)
			if err != nil {
				t.Fatal(err)
			}
			vis[r.name] = v
		}
		for _, s := range searches {
			for _, flt := range filters {
				flt.Query = s.q
				var want []string
				for _, r := range rows {
					v := vis[r.name]
					found := slices.Contains(s.finds, r.name) || (v.Staff() && slices.Contains(s.staffOnly, r.name))
					if !v.Sees() || !found ||
						(flt.Status != "" && r.c.Status != flt.Status) ||
						(flt.Category != "" && r.c.CategoryKey != flt.Category) ||
						(flt.Role != "" && !slices.Contains(r.roles, flt.Role)) ||
						(flt.HandledByMe && (r.c.HandlerID == nil || *r.c.HandlerID != a.User.ID)) {
						continue
					}
					want = append(want, r.name)
				}
				slices.SortFunc(want, func(x, y string) int { return newestFirst(byName[x], byName[y]) })
				for _, limit := range []int{1, 50} {
					flt.Limit = limit
					got := f.walk(t, a, flt)
					if strings.Join(got, " ") != strings.Join(want, " ") {
						t.Errorf("%s, %+v: listed %q, want %q", who, flt, got, want)
					}
				}
			}
		}
	}
}

// The panel's counts follow the rule on the same table: for every user,
// each view counts the conversations the rule lets them see, once each
// however many of the rule's paths reach them (a manager of Acme who is in
// a receiver role sees acme both ways), and unread counts what the list
// marks unread.
func TestCountsMatchRule(t *testing.T) {
	f := newVisibilityFixture(t)
	f.handle(t)
	// Hilla reads beta: it is no longer news to her.
	if err := f.svc.MarkRead(f.ctx, f.actor("hilla.hr@example.com"), f.convs["beta"].ID, 1<<40); err != nil {
		t.Fatal(err)
	}
	for _, who := range visibilityUsers {
		a := f.actor(who)
		unread := map[int64]bool{}
		p, err := f.svc.List(f.ctx, a, conversation.Filter{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range p.Conversations {
			unread[l.ID] = l.Unread
		}
		var want store.Counts
		want.Roles = map[int64]store.ViewCount{}
		add := func(v *store.ViewCount, u bool) {
			v.Total++
			if u {
				v.Unread++
			}
		}
		for _, conv := range f.convs {
			v, err := f.svc.Visibility(f.ctx, a, conv.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !v.Sees() {
				continue
			}
			c := f.conv(conv.ID)
			if c.Status == store.StatusSolved {
				want.Solved.Total++
				continue
			}
			u := unread[c.ID]
			add(&want.Open, u)
			if c.HandlerID != nil && *c.HandlerID == a.User.ID {
				add(&want.Mine, u)
			}
			if c.HandlerID == nil {
				add(&want.Unassigned, u)
			}
			if c.Status == store.StatusWaiting {
				add(&want.Waiting, u)
			}
			for _, id := range c.RoleIDs {
				r := want.Roles[id]
				add(&r, u)
				want.Roles[id] = r
			}
		}
		got, err := f.svc.Counts(f.ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(*got) != fmt.Sprint(want) {
			t.Errorf("%s: counts %+v, the rule says %+v", who, *got, want)
		}
	}
}

// handle gives the table statuses and Handlers to filter and count on:
// acme taken by hilla (open), staffonly taken by aino and solved, beta left
// new.
func (f *visibilityFixture) handle(t *testing.T) {
	t.Helper()
	hilla, aino := f.actor("hilla.hr@example.com"), f.actor("aino.handler@example.com")
	if err := f.svc.Take(f.ctx, hilla, f.convs["acme"].ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Take(f.ctx, aino, f.convs["staffonly"].ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Solve(f.ctx, aino, f.convs["staffonly"].ID); err != nil {
		t.Fatal(err)
	}
}

// walk lists every page of a filter and names the conversations listed.
func (f *visibilityFixture) walk(t *testing.T, a *conversation.Actor, flt conversation.Filter) []string {
	t.Helper()
	byID := map[int64]string{}
	for name, c := range f.convs {
		byID[c.ID] = name
	}
	var got []string
	seen := map[int64]bool{}
	for pages := 0; ; pages++ {
		p, err := f.svc.List(f.ctx, a, flt)
		if err != nil {
			t.Fatalf("%+v: %v", flt, err)
		}
		if len(p.Conversations) > flt.Limit {
			t.Fatalf("%+v: %d rows on a page", flt, len(p.Conversations))
		}
		for _, c := range p.Conversations {
			if seen[c.ID] {
				t.Fatalf("%+v: %s listed twice", flt, byID[c.ID])
			}
			seen[c.ID] = true
			got = append(got, byID[c.ID])
		}
		if p.Next == "" {
			return got
		}
		if pages > 10 {
			t.Fatalf("%+v: paging does not end", flt)
		}
		flt.Cursor = p.Next
	}
}

func newestFirst(x, y *store.Conversation) int {
	if c := y.UpdatedAt.Compare(x.UpdatedAt); c != 0 {
		return c
	}
	return int(y.ID - x.ID)
}

// A cursor is checked: anything but one the list made is refused, and a
// page never depends on anything but the cursor's position.
func TestReadModelCursor(t *testing.T) {
	f := newVisibilityFixture(t)
	hilla := f.actor("hilla.hr@example.com")
	for _, bad := range []string{"!!", "e30", "eyJ1IjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJpIjowfQ", // {} and id 0
		"eyJ1IjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJpIjoxLCJ4IjoxfQ"} { // an unknown field
		if _, err := f.svc.List(f.ctx, hilla, conversation.Filter{Cursor: bad}); !errors.Is(err, conversation.ErrInvalid) {
			t.Errorf("cursor %q: %v, want invalid", bad, err)
		}
	}
	first, err := f.svc.List(f.ctx, hilla, conversation.Filter{Limit: 2})
	if err != nil || first.Next == "" {
		t.Fatalf("first page: %v, %+v", err, first)
	}
	// New activity on a row already shown moves it to the top; the next page
	// neither repeats it nor skips a row.
	moved := first.Conversations[0].ID
	if _, err := f.svc.Note(f.ctx, hilla, moved, "moved up", nil); err != nil {
		t.Fatal(err)
	}
	rest := f.walk(t, hilla, conversation.Filter{Limit: 2, Cursor: first.Next})
	all := f.walk(t, hilla, conversation.Filter{Limit: 50})
	if len(all) != 4 || all[0] != f.name(moved) {
		t.Fatalf("after the note: %q, want 4 with %s first", all, f.name(moved))
	}
	var want []string
	for _, name := range all {
		if name != f.name(first.Conversations[0].ID) && name != f.name(first.Conversations[1].ID) {
			want = append(want, name)
		}
	}
	if strings.Join(rest, " ") != strings.Join(want, " ") {
		t.Fatalf("the pages after the first: %q, want %q", rest, want)
	}
}

func (f *visibilityFixture) name(id int64) string {
	for name, c := range f.convs {
		if c.ID == id {
			return name
		}
	}
	return ""
}

// The inbox and the API list show the names their rows refer to (read in
// the list query, not one query per row): category, customer, Handler,
// company, person and receiver roles.
func TestReadModelNames(t *testing.T) {
	f := newVisibilityFixture(t)
	hilla := f.actor("hilla.hr@example.com")
	acme := f.convs["acme"]
	if err := f.svc.Take(f.ctx, hilla, acme.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Describe(f.ctx, f.actor("mika.manager@acme.example"), acme.ID, "Acme Oy", "Pekka Employee"); err != nil {
		t.Fatal(err)
	}
	var list struct {
		Conversations []struct {
			ID                                   int64
			Subject, Category, Handler, Customer string
			Company, Person                      string
			Roles                                []string
		} `json:"conversations"`
	}
	res, body := f.api("hilla.hr@example.com").call("GET", "/conversations?q="+url.QueryEscape("wordacme"), nil, &list)
	wantStatus(t, "API list", res, body, http.StatusOK)
	if len(list.Conversations) != 1 {
		t.Fatalf("API list: %s", body)
	}
	got := list.Conversations[0]
	if got.Category != "sick-leave" || got.Handler != "hilla.hr@example.com" || got.Customer != "cara.customer@acme.example" ||
		got.Company != "Acme Oy" || got.Person != "Pekka Employee" || strings.Join(got.Roles, " ") != "hr-team managers supervisors" {
		t.Errorf("API list row: %+v", got)
	}
	_, page := f.login("hilla.hr@example.com").get("/?q=wordacme")
	for _, want := range []string{"Subject-acme", "Sick leave", "Cara Customer", "Handler: you"} {
		if !strings.Contains(page, want) {
			t.Errorf("the inbox row lacks %q", want)
		}
	}
	if strings.Contains(page, fmt.Sprintf("/conversations/%d", f.convs["beta"].ID)) {
		t.Error("the search lists beta")
	}
}
