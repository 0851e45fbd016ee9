package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"postdesk/conversation"
	"postdesk/store"
)

// visibilityOrg has a non-staff receiver role (managers, with the manager
// permission, and supervisors, without it) beside the staff roles, users of
// two companies and one of none.
const visibilityOrg = `
listen: 127.0.0.1:18080 # never served: the organisation only
database_url: postgres://unused
secret: 0123456789abcdef0123456789abcdef
smtp: {host: 127.0.0.1, port: 10025, tls: none} # never dialled: the tests give the sink's port
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team]}
  - {key: sick-leave, name: Sick leave, addresses: [hr@example.com], roles: [hr-team, managers, supervisors]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true, may: [change_receivers, set_company]}
  - {key: hr-team, name: HR team, staff: true}
  - {key: managers, name: Managers, may: [manager, set_company]}
  - {key: supervisors, name: Supervisors}
users:
  - {email: hilla.hr@example.com, name: Hilla HR, roles: [hr-team]}
  - {email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team]}
  - {email: mika.manager@acme.example, name: Mika Manager, roles: [managers], company: Acme Oy}
  - {email: bea.manager@beta.example, name: Bea Manager, roles: [managers], company: Beta Oy}
  - {email: sue.supervisor@acme.example, name: Sue Supervisor, roles: [supervisors], company: Acme Oy}
  - {email: nora.nocompany@example.com, name: Nora Nocompany, roles: [managers]}
  - {email: cara.customer@acme.example, name: Cara Customer, company: Acme Oy}
  - {email: olga.other@acme.example, name: Olga Other, company: Acme Oy}
  - {email: bert.beta@beta.example, name: Bert Beta, company: Beta Oy}
  - {email: uma.unknown@example.org, name: Uma Unknown}
  - {email: otto.other@globex.example, name: Otto Other, company: Globex Oy}
`

// The users of the table, one column each:
//
//	hilla  staff of the receiver role (hr-team)
//	aino   staff of another role (payroll-team)
//	mika   manager of Acme (managers: a non-staff receiver role with the manager permission)
//	bea    manager of Beta
//	sue    member of a non-staff receiver role without the manager permission, of Acme
//	nora   member of managers without a company
//	cara   the customer (of Acme)
//	olga   the customer assignee (of Acme) where one is set
//	otto   a stranger (Globex, no roles)
var visibilityUsers = []string{
	"hilla.hr@example.com", "aino.handler@example.com", "mika.manager@acme.example", "bea.manager@beta.example",
	"sue.supervisor@acme.example", "nora.nocompany@example.com", "cara.customer@acme.example",
	"olga.other@acme.example", "otto.other@globex.example",
}

// The conversations of the table, one row each:
//
//	acme       Sick leave (hr-team, managers, supervisors), customer cara, about Acme;
//	           a file from the customer, an internal note with a file, assignee olga
//	beta       Sick leave, customer bert, about Beta
//	nocompany  Sick leave, customer cara, no company of its own (about Acme through cara)
//	staffonly  Payroll (payroll-team only), customer cara, about Acme
//	orphan     Sick leave, customer uma, who has no company: about no company
//
// A cell is the rule's reasons, joined by +; "-" sees nothing. Whoever has
// "staff" also sees the note and its file. The columns are visibilityUsers;
// after the bar, who was mailed the new-conversation notice and a customer's
// reply (to no Handler), by first name.
var visibilityTable = []string{
	// conv     hilla  aino   mika             bea              sue      nora  cara      olga      otto  | notified
	"acme       staff  -      company+manager  -                company  -     customer  assignee  -     | hilla mika sue",
	"beta       staff  -      -                company+manager  -        -     -         -         -     | bea hilla",
	"nocompany  staff  -      company+manager  -                company  -     customer  -         -     | hilla mika sue",
	"staffonly  -      staff  manager          -                -        -     customer  -         -     | aino",
	"orphan     staff  -      -                -                -        -     -         -         -     | hilla",
}

// visibilityFixture is the table's organisation with its conversations.
type visibilityFixture struct {
	*fixture
	convs   map[string]*store.Conversation
	file    string // the customer's file on acme
	noteRef string // the note's file on acme
}

func newVisibilityFixture(t *testing.T) *visibilityFixture {
	f := &visibilityFixture{fixture: setupOrg(t, visibilityOrg), convs: map[string]*store.Conversation{}}
	open := func(name, who, category string, files ...store.NewAttachment) {
		t.Helper()
		c, err := f.svc.Open(f.ctx, f.actor(who), conversation.NewRequest{Category: category,
			Subject: "Subject-" + name, Body: "Body word word" + name, Attachments: files})
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		f.convs[name] = c
	}
	open("acme", "cara.customer@acme.example", "sick-leave",
		store.NewAttachment{Filename: "diagnosis.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4 diagnosis")})
	open("beta", "bert.beta@beta.example", "sick-leave")
	open("nocompany", "cara.customer@acme.example", "sick-leave")
	open("staffonly", "cara.customer@acme.example", "payroll")
	open("orphan", "uma.unknown@example.org", "sick-leave")

	hilla := f.actor("hilla.hr@example.com")
	if _, err := f.svc.Note(f.ctx, hilla, f.convs["acme"].ID, "Notetext diagnosis confidential",
		[]store.NewAttachment{{Filename: "note.csv", ContentType: "text/csv", Data: []byte("a,b")}}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetAssignee(f.ctx, f.actor("mika.manager@acme.example"), f.convs["acme"].ID, "olga.other@acme.example"); err != nil {
		t.Fatal(err)
	}
	// A conversation whose company was never set: only its customer's company
	// says what it is about. (Nothing in the rules clears one while a
	// customer's company is known, so the row is changed directly.)
	var none *int64
	if err := f.st.UpdateConversation(f.ctx, f.convs["nocompany"].ID, store.ConversationUpdate{CompanyID: &none}); err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.Get(f.ctx, hilla, f.convs["acme"].ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range v.Messages {
		for _, a := range m.Attachments {
			if m.Kind == store.KindNote {
				f.noteRef = a.ID
			} else {
				f.file = a.ID
			}
		}
	}
	if f.file == "" || f.noteRef == "" {
		t.Fatalf("files: %q %q", f.file, f.noteRef)
	}
	// A reply from each customer, to no Handler: the receiver roles hear of it.
	for _, name := range []string{"acme", "beta", "nocompany", "staffonly", "orphan"} {
		c := f.convs[name]
		customer, _ := f.st.UserByID(f.ctx, *c.CustomerID)
		if _, err := f.svc.Reply(f.ctx, f.actor(customer.Email), c.ID, "Another line", nil); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// recipients lists who an outbox template went to for a conversation, by
// the local part of the address.
func (f *visibilityFixture) recipients(convID int64, template string) string {
	f.t.Helper()
	rows, err := f.st.Pool().Query(f.ctx, `SELECT recipient FROM outbox WHERE conversation_id = $1 AND template = $2 ORDER BY recipient`,
		convID, template)
	if err != nil {
		f.t.Fatal(err)
	}
	rs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		f.t.Fatal(err)
	}
	for i, r := range rs {
		rs[i], _, _ = strings.Cut(r, ".")
	}
	return strings.Join(rs, " ")
}

// The visibility rule, cell by cell, through every door: the rule itself,
// the API (list, get, search, attachments), the pages (inbox, conversation,
// attachment) and the recipients of the notifications. The expected table
// is written out above, not derived from the rule under test.
func TestVisibilityTable(t *testing.T) {
	f := newVisibilityFixture(t)
	type door struct {
		api  *apiClient
		page *client
	}
	doors := map[string]door{}
	for _, who := range visibilityUsers {
		doors[who] = door{api: f.api(who), page: f.login(who)}
	}
	for _, line := range visibilityTable {
		cols, notified, _ := strings.Cut(line, "|")
		cells := strings.Fields(cols)
		row := struct{ conv, notified string }{cells[0], strings.Join(strings.Fields(notified), " ")}
		cells = cells[1:]
		if len(cells) != len(visibilityUsers) {
			t.Fatalf("%s: %d cells for %d users", row.conv, len(cells), len(visibilityUsers))
		}
		c := f.convs[row.conv]
		for i, who := range visibilityUsers {
			want := cells[i]
			sees, staff := want != "-", slices.Contains(strings.Split(want, "+"), "staff")
			cell := fmt.Sprintf("%s x %s (want %s)", row.conv, who, want)
			d := doors[who]

			// The rule.
			v, err := f.svc.Visibility(f.ctx, f.actor(who), c.ID)
			if err != nil {
				t.Fatal(err)
			}
			got := "-"
			if v.Sees() {
				rs := make([]string, len(v.Reasons))
				for i, r := range v.Reasons {
					rs[i] = string(r)
				}
				got = strings.Join(rs, "+")
			}
			if got != want {
				t.Errorf("%s: the rule says %s", cell, got)
			}

			// The API: get, list, search.
			var one struct {
				Messages []struct{ Kind, Text string } `json:"messages"`
			}
			res, body := d.api.call("GET", fmt.Sprintf("/conversations/%d", c.ID), nil, &one)
			if (res.StatusCode == http.StatusOK) != sees || (!sees && res.StatusCode != http.StatusNotFound) {
				t.Errorf("%s: API get %d %s", cell, res.StatusCode, body)
			}
			if sees && row.conv == "acme" && slices.ContainsFunc(one.Messages, func(m struct{ Kind, Text string }) bool { return m.Kind == "note" }) != staff {
				t.Errorf("%s: API get shows the note: %v", cell, !staff)
			}
			if listed := f.apiLists(d.api, "", c.Subject); listed != sees {
				t.Errorf("%s: API list holds it: %v", cell, listed)
			}
			if listed := f.apiLists(d.api, "word"+row.conv, c.Subject); listed != sees {
				t.Errorf("%s: API search by its text finds it: %v", cell, listed)
			}

			// The pages: inbox, search, the conversation.
			_, inbox := d.page.get("/")
			if strings.Contains(inbox, c.Subject) != sees {
				t.Errorf("%s: the inbox lists it: %v", cell, !sees)
			}
			_, found := d.page.get("/?q=" + url.QueryEscape("word"+row.conv))
			if strings.Contains(found, c.Subject) != sees {
				t.Errorf("%s: the inbox search finds it: %v", cell, !sees)
			}
			res, body = d.page.get(fmt.Sprintf("/conversations/%d", c.ID))
			if (res.StatusCode == http.StatusOK) != sees || (!sees && res.StatusCode != http.StatusNotFound) {
				t.Errorf("%s: page %d", cell, res.StatusCode)
			}
			if sees && row.conv == "acme" && strings.Contains(body, "Notetext") != staff {
				t.Errorf("%s: the page shows the note: %v", cell, !staff)
			}

			if row.conv != "acme" {
				continue
			}
			// The files: the customer's for those who see it, the note's for staff.
			for _, at := range []struct {
				id   string
				want bool
			}{{f.file, sees}, {f.noteRef, staff}} {
				res, _ := d.api.call("GET", "/attachments/"+at.id, nil, nil)
				pres, _ := d.page.get("/attachments/" + at.id)
				if (res.StatusCode == http.StatusOK) != at.want || (pres.StatusCode == http.StatusOK) != at.want {
					t.Errorf("%s: file %s: API %d, page %d", cell, at.id, res.StatusCode, pres.StatusCode)
				}
			}
			// Searching the note's text finds the conversation only for staff.
			if listed := f.apiLists(d.api, "Notetext", c.Subject); listed != staff {
				t.Errorf("%s: API search by the note's text finds it: %v", cell, listed)
			}
			_, found = d.page.get("/?q=Notetext")
			if strings.Contains(found, c.Subject) != staff {
				t.Errorf("%s: inbox search by the note's text finds it: %v", cell, !staff)
			}
		}
		for _, tmpl := range []string{store.TemplateNewConversation, store.TemplateCustomerReply} {
			if got := f.recipients(c.ID, tmpl); got != row.notified {
				t.Errorf("%s: %s mailed to %q, want %q", row.conv, tmpl, got, row.notified)
			}
		}
	}
}

// apiLists reports whether the API's list (with q when set) holds a subject.
func (f *visibilityFixture) apiLists(api *apiClient, q, subject string) bool {
	f.t.Helper()
	var list struct {
		Conversations []struct{ Subject string } `json:"conversations"`
	}
	path := "/conversations"
	if q != "" {
		path += "?q=" + url.QueryEscape(q)
	}
	res, body := api.call("GET", path, nil, &list)
	wantStatus(f.t, "API list", res, body, http.StatusOK)
	return slices.ContainsFunc(list.Conversations, func(c struct{ Subject string }) bool { return c.Subject == subject })
}

// The takeover of issue 10, refused at every step: a manager (whose role
// even grants set_company) cannot see another company's conversation, so
// cannot describe it as their own or hand it to their own customer; cannot
// move one of their own company's away; and cannot open one about another
// company through the API.
func TestManagerTakeoverRefused(t *testing.T) {
	f := newVisibilityFixture(t)
	mika := f.actor("mika.manager@acme.example")
	beta, acme := f.convs["beta"], f.convs["acme"]

	// Another company's conversation: not found, through the rules and every door.
	err := f.svc.Describe(f.ctx, mika, beta.ID, "Acme Oy", "")
	if !errors.Is(err, conversation.ErrNotFound) {
		t.Fatalf("describe another company's: %v", err)
	}
	if err := f.svc.SetAssignee(f.ctx, mika, beta.ID, "olga.other@acme.example"); !errors.Is(err, conversation.ErrNotFound) {
		t.Fatalf("assign another company's to an own customer: %v", err)
	}
	page := f.login("mika.manager@acme.example")
	res, body := page.post(fmt.Sprintf("/conversations/%d/describe", beta.ID),
		url.Values{"company": {"Acme Oy"}, "assignee": {"olga.other@acme.example"}})
	wantStatus(t, "page describe another company's", res, body, http.StatusNotFound)

	// Their own company's: the person and assignee within it, never the company.
	res, body = page.post(fmt.Sprintf("/conversations/%d/describe", acme.ID), url.Values{"company": {"Beta Oy"}})
	wantStatus(t, "page move own company's away", res, body, http.StatusForbidden)
	if err := f.svc.Describe(f.ctx, mika, acme.ID, "Beta Oy", ""); !errors.Is(err, conversation.ErrForbidden) {
		t.Fatalf("move own company's away: %v", err)
	}
	if err := f.svc.SetAssignee(f.ctx, mika, acme.ID, "bert.beta@beta.example"); !errors.Is(err, conversation.ErrInvalid) {
		t.Fatalf("assign another company's customer: %v", err)
	}
	if err := f.svc.Describe(f.ctx, mika, acme.ID, "Acme Oy", "Pekka Employee"); err != nil {
		t.Fatalf("set the person within the own company: %v", err)
	}
	_, body = page.get(fmt.Sprintf("/conversations/%d", acme.ID))
	if !strings.Contains(body, `name="company" value="Acme Oy" readonly`) {
		t.Error("the manager's company field is not read-only")
	}

	// Staff with set_company may change a company, but not away from its customer's.
	aino := f.actor("aino.handler@example.com")
	staffonly := f.convs["staffonly"]
	if err := f.svc.Describe(f.ctx, aino, staffonly.ID, "Beta Oy", ""); !errors.Is(err, conversation.ErrInvalid) {
		t.Fatalf("staff move a conversation away from its customer's company: %v", err)
	}

	// The API: a conversation about another company cannot be opened.
	api := f.api("mika.manager@acme.example")
	res, body = api.call("POST", "/conversations", map[string]any{"category": "sick-leave", "subject": "Takeover", "body": "x", "company": "Beta Oy"}, nil)
	wantStatus(t, "API open about another company", res, body, http.StatusForbidden)
	var opened struct {
		Company string `json:"company"`
		Person  string `json:"person"`
	}
	res, body = api.call("POST", "/conversations", map[string]any{"category": "sick-leave", "subject": "Own", "body": "x", "company": "Acme Oy", "person": "Pekka Employee"}, &opened)
	wantStatus(t, "API open about the own company", res, body, http.StatusCreated)
	if opened.Company != "Acme Oy" || opened.Person != "Pekka Employee" {
		t.Fatalf("opened about %q / %q", opened.Company, opened.Person)
	}

	// Nothing moved: beta is still Beta's, with no assignee; olga sees it not
	// and was never mailed about it.
	after := f.conv(beta.ID)
	if after.CompanyID == nil || after.AssigneeID != nil || *after.CompanyID != *f.actor("bert.beta@beta.example").User.CompanyID {
		t.Fatalf("beta after the takeover: %+v", after)
	}
	if v, _ := f.svc.Visibility(f.ctx, f.actor("olga.other@acme.example"), beta.ID); v.Sees() {
		t.Fatal("olga sees beta")
	}
	var n int
	if err := f.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE conversation_id = $1 AND recipient LIKE '%acme.example'`, beta.ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("mail about beta to Acme: %d, %v", n, err)
	}
	// The changes that were made are in the timeline and the audit trail.
	v, err := f.svc.Get(f.ctx, f.actor("hilla.hr@example.com"), acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, m := range v.Messages {
		if m.Kind == store.KindEvent {
			events = append(events, m.Text)
		}
	}
	for _, want := range []string{"Customer assignee set to olga.other@acme.example by Mika Manager", "Person set to Pekka Employee by Mika Manager"} {
		if !slices.Contains(events, want) {
			t.Errorf("timeline lacks %q: %q", want, events)
		}
	}
	var audits int
	if err := f.st.Pool().QueryRow(f.ctx, `SELECT count(*) FROM audit WHERE conversation_id = $1 AND action IN ('assignee', 'described') AND actor = $2`,
		acme.ID, "mika.manager@acme.example").Scan(&audits); err != nil || audits != 2 {
		t.Fatalf("audit rows: %d, %v", audits, err)
	}
}
