package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

type apiConv struct {
	ID        int64     `json:"id"`
	Number    int64     `json:"number"`
	Subject   string    `json:"subject"`
	Category  string    `json:"category"`
	Status    string    `json:"status"`
	Handler   *string   `json:"handler"`
	Roles     []string  `json:"roles"`
	Customer  *string   `json:"customer"`
	Company   *string   `json:"company"`
	Person    *string   `json:"person"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Messages  []apiMsg  `json:"messages"`
}

type apiMsg struct {
	ID          int64     `json:"id"`
	Kind        string    `json:"kind"`
	From        string    `json:"from"`
	To          []string  `json:"to"`
	Subject     string    `json:"subject"`
	Text        string    `json:"text"`
	CreatedAt   time.Time `json:"created_at"`
	Attachments []struct {
		ID          string `json:"id"`
		Filename    string `json:"filename"`
		ContentType string `json:"content_type"`
		Size        int64  `json:"size"`
	} `json:"attachments"`
}

// The API's whole round: a customer opens, staff take, answer, note and
// solve, the customer reads the answer; the JSON shapes are DESIGN.md's.
func TestAPIConversationRound(t *testing.T) {
	f := setup(t)
	cara, aino := f.api("cara.customer@acme.example"), f.api("aino.handler@example.com")

	var opened apiConv
	res, body := cara.call("POST", "/conversations", map[string]any{"category": "payroll", "subject": "Tax card", "body": "My new tax card is attached later."}, &opened)
	wantStatus(t, "open", res, body, http.StatusCreated)
	if opened.Number < 1000 || opened.Status != "new" || opened.Category != "payroll" || opened.Handler != nil ||
		opened.Customer == nil || *opened.Customer != "cara.customer@acme.example" || opened.Company == nil || *opened.Company != "Acme Oy" ||
		!slices.Equal(opened.Roles, []string{"payroll-team"}) || len(opened.Messages) != 2 {
		t.Fatalf("opened: %s", body)
	}
	if res.Header.Get("Location") != fmt.Sprintf("/api/v1/conversations/%d", opened.ID) {
		t.Fatalf("Location %q", res.Header.Get("Location"))
	}
	m := opened.Messages[0]
	if m.Kind != "customer" || m.From != "cara.customer@acme.example" || m.Text != "My new tax card is attached later." || m.To == nil || m.Attachments == nil {
		t.Fatalf("first message: %+v", m)
	}
	if opened.Messages[1].Kind != "event" {
		t.Fatalf("second message: %+v, want the routed event", opened.Messages[1])
	}
	// The raw JSON: exactly the documented keys, times in RFC 3339.
	var raw map[string]json.RawMessage
	json.Unmarshal([]byte(body), &raw) //nolint:errcheck
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := "can category company created_at customer handler id legal_hold messages number person purge_after quoted roles status subject updated_at"; strings.Join(keys, " ") != want {
		t.Fatalf("conversation keys %v, want %s", keys, want)
	}
	var ts string
	json.Unmarshal(raw["created_at"], &ts) //nolint:errcheck
	if _, err := time.Parse(time.RFC3339, ts); err != nil {
		t.Fatalf("created_at %q: %v", ts, err)
	}
	var msgs []map[string]json.RawMessage
	json.Unmarshal(raw["messages"], &msgs) //nolint:errcheck
	keys = keys[:0]
	for k := range msgs[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := "attachments created_at from from_name id kind subject text to"; strings.Join(keys, " ") != want {
		t.Fatalf("message keys %v, want %s", keys, want)
	}

	path := fmt.Sprintf("/conversations/%d", opened.ID)
	var list struct {
		Conversations []map[string]json.RawMessage `json:"conversations"`
		Next          *string                      `json:"next"`
	}
	res, body = aino.call("GET", "/conversations?status=new&category=payroll&role=payroll-team", nil, &list)
	wantStatus(t, "list", res, body, http.StatusOK)
	if len(list.Conversations) != 1 || list.Next == nil || *list.Next != "" {
		t.Fatalf("list: %s", body)
	}
	if _, ok := list.Conversations[0]["messages"]; ok {
		t.Fatal("a list carries messages")
	}
	// Cara's mail is news to Aino until she opens it in the web view;
	// Cara's own is none to her.
	unread := func(c *apiClient, who string, want bool) {
		t.Helper()
		res, body := c.call("GET", "/conversations", nil, &list)
		wantStatus(t, who+"'s list", res, body, http.StatusOK)
		if len(list.Conversations) != 1 || string(list.Conversations[0]["unread"]) != fmt.Sprint(want) {
			t.Fatalf("%s's list: %s, want unread %v", who, body, want)
		}
	}
	unread(aino, "Aino", true)
	unread(cara, "Cara", false)
	res, body = f.login("aino.handler@example.com").get(fmt.Sprintf("/conversations/%d", opened.ID))
	wantStatus(t, "Aino opens it", res, body, http.StatusOK)
	unread(aino, "Aino", false)
	res, body = aino.call("GET", "/conversations?status=bogus", nil, nil)
	wantStatus(t, "bad status", res, body, http.StatusBadRequest)
	res, body = aino.call("GET", "/conversations?cursor=not-a-cursor", nil, nil)
	wantStatus(t, "bad cursor", res, body, http.StatusBadRequest)

	var c apiConv
	res, body = aino.call("POST", path+"/handler", nil, &c)
	wantStatus(t, "take", res, body, http.StatusOK)
	if c.Handler == nil || *c.Handler != "aino.handler@example.com" || c.Status != "open" {
		t.Fatalf("after take: %s", body)
	}
	var msg apiMsg
	res, body = aino.call("POST", path+"/messages", map[string]any{"body": "Thanks, we'll wait for it.", "internal": false}, &msg)
	wantStatus(t, "reply", res, body, http.StatusCreated)
	if msg.Kind != "staff" || msg.From != "aino.handler@example.com" {
		t.Fatalf("reply: %s", body)
	}
	res, body = aino.call("POST", path+"/messages", map[string]any{"body": "Customer called too.", "internal": true}, &msg)
	wantStatus(t, "note", res, body, http.StatusCreated)
	if msg.Kind != "note" {
		t.Fatalf("note: %s", body)
	}
	res, body = aino.call("POST", path+"/handler", map[string]any{"user": "ben.payroll@example.com"}, &c)
	wantStatus(t, "hand over", res, body, http.StatusOK)
	if *c.Handler != "ben.payroll@example.com" {
		t.Fatalf("after hand-over: %s", body)
	}
	res, body = aino.call("POST", path+"/status", map[string]any{"status": "solved"}, &c)
	wantStatus(t, "solve", res, body, http.StatusOK)
	if c.Status != "solved" {
		t.Fatalf("after solve: %s", body)
	}
	res, body = aino.call("POST", path+"/status", map[string]any{"status": "waiting"}, nil)
	wantStatus(t, "bad status", res, body, http.StatusBadRequest)
	if body != "{\"error\":\"Status must be \\\"solved\\\" or \\\"open\\\"\"}\n" {
		t.Fatalf("400 body %q", body)
	}

	res, body = cara.call("GET", path, nil, &c)
	wantStatus(t, "customer reads", res, body, http.StatusOK)
	var kinds []string
	for _, m := range c.Messages {
		kinds = append(kinds, m.Kind)
	}
	if !slices.Contains(kinds, "staff") || slices.Contains(kinds, "note") {
		t.Fatalf("the customer sees kinds %v: want the answer, no note", kinds)
	}
	// A customer reply reopens.
	res, body = cara.call("POST", path+"/messages", map[string]any{"body": "Here it is."}, &msg)
	wantStatus(t, "customer reply", res, body, http.StatusCreated)
	cara.call("GET", path, nil, &c)
	if c.Status != "open" || msg.Kind != "customer" {
		t.Fatalf("after the customer's reply: status %s, kind %s", c.Status, msg.Kind)
	}

	// Requests the API cannot read.
	for _, tc := range []struct {
		what, method, path, ctype, body string
		want                            int
	}{
		{"not JSON", "POST", "/conversations", "application/json", "{", http.StatusBadRequest},
		{"a form", "POST", "/conversations", "application/x-www-form-urlencoded", "subject=x", http.StatusBadRequest},
		{"unknown field", "POST", "/conversations", "application/json", `{"category":"payroll","subject":"s","body":"b","cc":"x"}`, http.StatusBadRequest},
		{"empty subject", "POST", "/conversations", "application/json", `{"category":"payroll","subject":"","body":"b"}`, http.StatusBadRequest},
		{"two values", "POST", path + "/messages", "application/json", `{"body":"a"}{"body":"b"}`, http.StatusBadRequest},
		{"no body", "POST", path + "/status", "application/json", ``, http.StatusBadRequest},
		{"wrong method", "DELETE", path, "", ``, http.StatusMethodNotAllowed},
		{"unknown call", "GET", "/nothing", "", ``, http.StatusNotFound},
		{"bad id", "GET", "/conversations/abc", "", ``, http.StatusNotFound},
	} {
		req, _ := http.NewRequest(tc.method, f.srv.URL+"/api/v1"+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+aino.token)
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error string `json:"error"`
		}
		err = json.NewDecoder(res.Body).Decode(&e)
		res.Body.Close()
		if res.StatusCode != tc.want || err != nil || e.Error == "" {
			t.Errorf("%s: %d %q (%v), want %d with an error message", tc.what, res.StatusCode, e.Error, err, tc.want)
		}
	}
}

// Paging: the cursor leads to older conversations until there are none.
func TestAPIPaging(t *testing.T) {
	f := setup(t)
	for i := range 55 {
		f.open("cara.customer@acme.example", "payroll", fmt.Sprintf("Question %02d", i))
	}
	api := f.api("cara.customer@acme.example")
	seen := map[string]bool{}
	cursor := ""
	pages := 0
	for {
		var p struct {
			Conversations []apiConv `json:"conversations"`
			Next          string    `json:"next"`
		}
		res, body := api.call("GET", "/conversations?cursor="+cursor, nil, &p)
		wantStatus(t, "page", res, body, http.StatusOK)
		for _, c := range p.Conversations {
			if seen[c.Subject] {
				t.Fatalf("%q twice", c.Subject)
			}
			seen[c.Subject] = true
		}
		pages++
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if len(seen) != 55 || pages != 2 {
		t.Fatalf("%d conversations on %d pages, want 55 on 2", len(seen), pages)
	}

	// The inbox pages the same way, with an "Older" link.
	c := f.login("cara.customer@acme.example")
	_, body := c.get("/")
	if !strings.Contains(body, `rel="next"`) || strings.Count(body, `<li>`) != 50 {
		t.Fatalf("first inbox page: %d rows, older link %v", strings.Count(body, "<li>"), strings.Contains(body, `rel="next"`))
	}
	i := strings.Index(body, `href="/?cursor=`)
	link := body[i+6 : i+6+strings.Index(body[i+6:], `"`)]
	_, body = c.get(strings.ReplaceAll(link, "&amp;", "&"))
	if strings.Count(body, `<li>`) != 5 || strings.Contains(body, `rel="next"`) || !strings.Contains(body, "Question 00") {
		t.Fatalf("second inbox page: %d rows", strings.Count(body, "<li>"))
	}
}

// One conversation tells when the retention purge deletes it: its last
// activity plus its category's retention (four years by default, in
// calendar months), or null while a legal hold keeps it. The page says the
// same.
func TestAPIConversationPurgeAfter(t *testing.T) {
	f := setup(t)
	cara, aino := f.api("cara.customer@acme.example"), f.api("aino.handler@example.com")
	var opened apiConv
	res, body := cara.call("POST", "/conversations", map[string]any{"category": "payroll", "subject": "Retention", "body": "How long do you keep this?"}, &opened)
	wantStatus(t, "open", res, body, http.StatusCreated)

	type one struct {
		UpdatedAt  time.Time  `json:"updated_at"`
		PurgeAfter *time.Time `json:"purge_after"`
		LegalHold  bool       `json:"legal_hold"`
	}
	var got one
	res, body = aino.call("GET", fmt.Sprintf("/conversations/%d", opened.ID), nil, &got)
	wantStatus(t, "get", res, body, http.StatusOK)
	if got.PurgeAfter == nil || got.LegalHold {
		t.Fatalf("purge_after missing: %s", body)
	}
	want := got.UpdatedAt.AddDate(4, 0, 0)
	if d := got.PurgeAfter.Sub(want); d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("purge_after %v, want %v (updated_at + 4 years)", got.PurgeAfter, want)
	}
	web := f.login("aino.handler@example.com")
	if _, page := web.get(fmt.Sprintf("/conversations/%d", opened.ID)); !strings.Contains(page, "deleted on "+got.PurgeAfter.Local().Format("2 Jan 2006")) {
		t.Fatalf("the page does not show the purge date %v", got.PurgeAfter)
	}

	if _, err := f.st.Pool().Exec(f.ctx, `UPDATE conversations SET legal_hold = true WHERE id = $1`, opened.ID); err != nil {
		t.Fatal(err)
	}
	got = one{}
	res, body = aino.call("GET", fmt.Sprintf("/conversations/%d", opened.ID), nil, &got)
	wantStatus(t, "get held", res, body, http.StatusOK)
	if got.PurgeAfter != nil || !got.LegalHold || !strings.Contains(body, `"purge_after":null`) {
		t.Fatalf("under a legal hold: %s", body)
	}
	if _, page := web.get(fmt.Sprintf("/conversations/%d", opened.ID)); !strings.Contains(page, "kept by a legal hold") {
		t.Fatal("the page does not say the legal hold keeps it")
	}
}

// Staff see under each message the mails sent about it and the mode each
// was built in (secure: without content); a customer sees none of that.
func TestPageShowsEachMailsMode(t *testing.T) {
	f := setup(t)
	cara := f.api("cara.customer@acme.example")
	var opened apiConv
	res, body := cara.call("POST", "/conversations", map[string]any{"category": "payroll", "subject": "Mode", "body": "Which mode?"}, &opened)
	wantStatus(t, "open", res, body, http.StatusCreated)
	n, err := f.st.Pool().Exec(f.ctx, `UPDATE outbox SET built_secure = (recipient <> 'aino.handler@example.com') WHERE conversation_id = $1`, opened.ID)
	if err != nil || n.RowsAffected() == 0 {
		t.Fatalf("no outbox rows to mark: %v", err)
	}
	_, page := f.login("aino.handler@example.com").get(fmt.Sprintf("/conversations/%d", opened.ID))
	if !strings.Contains(page, "Mailed to") || !strings.Contains(page, "without content (secure category)") || !strings.Contains(page, "with content") {
		t.Fatalf("the staff page does not show the mails' modes:\n%s", page)
	}
	if _, page := f.login("cara.customer@acme.example").get(fmt.Sprintf("/conversations/%d", opened.ID)); strings.Contains(page, "Mailed to") {
		t.Fatal("the customer sees the outbox")
	}
}

// Staff see each category's retention and mode on the categories page; a
// customer does not find the page.
func TestCategoriesPageListsRetention(t *testing.T) {
	f := setup(t)
	if _, err := f.st.Pool().Exec(f.ctx, `UPDATE categories SET retention = interval '18 months', secure = true WHERE key = 'payroll'`); err != nil {
		t.Fatal(err)
	}
	res, body := f.login("aino.handler@example.com").get("/categories")
	wantStatus(t, "staff", res, body, http.StatusOK)
	for _, want := range []string{"Payroll", "payroll@example.com", "18mo", "secure: no content by email", "4y"} {
		if !strings.Contains(body, want) {
			t.Errorf("the categories page lacks %q", want)
		}
	}
	res, _ = f.login("cara.customer@acme.example").get("/categories")
	wantStatus(t, "customer", res, "", http.StatusNotFound)
}
