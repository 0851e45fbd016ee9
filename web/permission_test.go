package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"postdesk/store"
)

// Every page and API call that names a conversation or a file answers 404 to
// someone who may not see it: another customer, another company, another
// role. Nothing tells them it exists.
func TestPermissionsOtherPeoplesConversations(t *testing.T) {
	f := setup(t)
	file := store.NewAttachment{Filename: "tax-card.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4 secret")}
	payroll := f.open("cara.customer@acme.example", "payroll", "Salary for October", file)
	sick := f.open("otto.other@globex.example", "sick-leave", "Sick leave days")
	v, err := f.svc.Get(f.ctx, f.actor("cara.customer@acme.example"), payroll.ID)
	if err != nil {
		t.Fatal(err)
	}
	attID := v.Messages[0].Attachments[0].ID

	for _, tc := range []struct {
		who  string
		why  string
		conv *store.Conversation
		att  string
	}{
		{"otto.other@globex.example", "another customer's", payroll, attID},
		{"olga.other@acme.example", "same company, not a manager", payroll, attID},
		{"hilla.hr@example.com", "another role's", payroll, attID},
		{"cara.customer@acme.example", "another customer's", sick, ""},
		{"mika.manager@acme.example", "another company's", sick, ""},
		{"aino.handler@example.com", "another role's", sick, ""},
	} {
		{
			c := f.login(tc.who)
			path := fmt.Sprintf("/conversations/%d", tc.conv.ID)
			res, body := c.get(path)
			wantStatus(t, tc.who+": "+tc.why+" conversation page", res, body, http.StatusNotFound)
			if strings.Contains(body, tc.conv.Subject) {
				t.Fatalf("the 404 page names the subject")
			}
			for _, action := range []string{"take", "reply", "note", "solve", "reopen", "receivers", "describe", "assign", "hold"} {
				res, body := c.post(path+"/"+action, url.Values{"body": {"x"}, "note": {"x"}, "roles": {"hr-team"}, "company": {"X"}, "user": {tc.who}, "hold": {"1"}})
				wantStatus(t, tc.why+" "+action, res, body, http.StatusNotFound)
			}
			_, inbox := c.get("/")
			if strings.Contains(inbox, tc.conv.Subject) {
				t.Fatalf("the inbox lists %s conversation %q", tc.why, tc.conv.Subject)
			}
			if tc.att != "" {
				res, body := c.get("/attachments/" + tc.att)
				wantStatus(t, tc.why+" attachment", res, body, http.StatusNotFound)
			}

			api := f.api(tc.who)
			apath := fmt.Sprintf("/conversations/%d", tc.conv.ID)
			for _, call := range []struct {
				method, path string
				body         any
			}{
				{"GET", apath, nil},
				{"POST", apath + "/messages", map[string]any{"body": "x"}},
				{"POST", apath + "/messages", map[string]any{"body": "x", "internal": true}},
				{"POST", apath + "/handler", nil},
				{"POST", apath + "/handler", map[string]any{"user": tc.who}},
				{"POST", apath + "/status", map[string]any{"status": "solved"}},
				{"POST", apath + "/status", map[string]any{"status": "open"}},
			} {
				res, body := api.call(call.method, call.path, call.body, nil)
				wantStatus(t, tc.why+" API "+call.method+" "+call.path, res, body, http.StatusNotFound)
				if body != "{\"error\":\"not found\"}\n" {
					t.Fatalf("API 404 body %q", body)
				}
			}
			var list struct {
				Conversations []struct{ Subject string } `json:"conversations"`
			}
			api.call("GET", "/conversations", nil, &list)
			for _, c := range list.Conversations {
				if c.Subject == tc.conv.Subject {
					t.Fatalf("the API lists %s conversation", tc.why)
				}
			}
			if tc.att != "" {
				res, body := api.call("GET", "/attachments/"+tc.att, nil, nil)
				wantStatus(t, tc.why+" API attachment", res, body, http.StatusNotFound)
			}
		}
	}

	// Those who may see it do: the customer, the manager of the company, the role.
	for _, who := range []string{"cara.customer@acme.example", "mika.manager@acme.example", "ben.payroll@example.com"} {
		c := f.login(who)
		res, body := c.get(fmt.Sprintf("/conversations/%d", payroll.ID))
		wantStatus(t, who+" sees the conversation", res, body, http.StatusOK)
		res, body = c.get("/attachments/" + attID)
		wantStatus(t, who+" gets the file", res, body, http.StatusOK)
	}
}

// A customer is not offered staff actions, and posting them directly is refused.
func TestPermissionsCustomerActions(t *testing.T) {
	f := setup(t)
	conv := f.open("cara.customer@acme.example", "payroll", "Salary for October")
	path := fmt.Sprintf("/conversations/%d", conv.ID)
	// A note with a file: staff only, the file too.
	if _, err := f.svc.Note(f.ctx, f.actor("aino.handler@example.com"), conv.ID, "Check the overtime sheet",
		[]store.NewAttachment{{Filename: "sheet.csv", ContentType: "text/csv", Data: []byte("a,b")}}); err != nil {
		t.Fatal(err)
	}
	staffView, _ := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), conv.ID)
	noteFile := staffView.Messages[len(staffView.Messages)-1].Attachments[0].ID

	c := f.login("cara.customer@acme.example")
	res, body := c.get(path)
	wantStatus(t, "customer page", res, body, http.StatusOK)
	for _, absent := range []string{"Add myself as Handler", "Mark Solved", "Internal note", "Check the overtime sheet", "sheet.csv",
		"/receivers", "/describe", "/assign", "/hold", "/take", "/note", "Reopen"} {
		if strings.Contains(body, absent) {
			t.Errorf("the customer's page holds %q", absent)
		}
	}
	if !strings.Contains(body, "/reply") {
		t.Error("the customer cannot write in their own conversation")
	}
	for _, tc := range []struct {
		action string
		form   url.Values
	}{
		{"take", nil},
		{"note", url.Values{"note": {"I am staff now"}}},
		{"solve", nil},
		{"reopen", nil},
		{"receivers", url.Values{"roles": {"hr-team"}}},
		{"describe", url.Values{"company": {"Globex Oy"}, "person": {"Someone"}}},
		{"assign", url.Values{"user": {"cara.customer@acme.example"}}},
		{"hold", url.Values{"hold": {"1"}}},
	} {
		res, body := c.post(path+"/"+tc.action, tc.form)
		wantStatus(t, "customer posts "+tc.action, res, body, http.StatusForbidden)
	}
	res, body = c.get("/attachments/" + noteFile)
	wantStatus(t, "customer reads a note's file", res, body, http.StatusNotFound)
	after := f.conv(conv.ID)
	if after.HandlerID != nil || after.CompanyID == nil || len(after.RoleIDs) != 1 || after.Status != store.StatusNew || after.LegalHold {
		t.Fatalf("the conversation changed: %+v", after)
	}

	// "Send new message": no receiver choice, no company; posted anyway, refused.
	res, body = c.get("/new")
	wantStatus(t, "new form", res, body, http.StatusOK)
	if strings.Contains(body, `name="company"`) || !strings.Contains(body, `value="payroll-team" checked disabled`) {
		t.Fatalf("the customer's form offers company or live receiver boxes:\n%s", body)
	}
	res, body = c.postMultipart("/new", url.Values{"category": {"payroll"}, "subject": {"s"}, "body": {"x"}, "roles": {"hr-team"}})
	wantStatus(t, "customer picks receivers", res, body, http.StatusForbidden)
	res, body = c.postMultipart("/new", url.Values{"category": {"payroll"}, "subject": {"s"}, "body": {"x"}, "company": {"Globex Oy"}})
	wantStatus(t, "customer sets a company", res, body, http.StatusForbidden)

	// The API refuses the same.
	api := f.api("cara.customer@acme.example")
	apath := fmt.Sprintf("/conversations/%d", conv.ID)
	for _, call := range []struct {
		path string
		body any
	}{
		{apath + "/handler", nil},
		{apath + "/handler", map[string]any{"user": "aino.handler@example.com"}},
		{apath + "/status", map[string]any{"status": "solved"}},
		{apath + "/messages", map[string]any{"body": "note", "internal": true}},
		{"/conversations", map[string]any{"category": "payroll", "subject": "s", "body": "x", "roles": []string{"hr-team"}}},
		{"/conversations", map[string]any{"category": "payroll", "subject": "s", "body": "x", "company": "Globex Oy"}},
	} {
		res, body := api.call("POST", call.path, call.body, nil)
		wantStatus(t, "API customer "+call.path, res, body, http.StatusForbidden)
		if !strings.HasPrefix(body, `{"error":"`) {
			t.Fatalf("API error body %q", body)
		}
	}
	var got struct {
		Messages []struct{ Kind string } `json:"messages"`
	}
	api.call("GET", apath, nil, &got)
	for _, m := range got.Messages {
		if m.Kind == "note" {
			t.Fatal("the API shows the customer an internal note")
		}
	}
}

// Staff without change_receivers or set_company see neither form and are
// refused when they post; team leads may assign and hold, others may not.
func TestPermissionsStaffWithoutExtraRights(t *testing.T) {
	f := setup(t)
	conv := f.open("otto.other@globex.example", "sick-leave", "Sick leave days")
	path := fmt.Sprintf("/conversations/%d", conv.ID)
	c := f.login("hilla.hr@example.com")
	res, body := c.get(path)
	wantStatus(t, "hr page", res, body, http.StatusOK)
	for _, want := range []string{"Add myself as Handler", "Internal note", "Mark Solved"} {
		if !strings.Contains(body, want) {
			t.Errorf("staff page lacks %q", want)
		}
	}
	for _, absent := range []string{"/receivers", "/describe", "/hold", "/assign"} {
		if strings.Contains(body, absent) {
			t.Errorf("the page offers %s to staff without the right", absent)
		}
	}
	for _, action := range []string{"receivers", "describe", "hold", "assign"} {
		res, body := c.post(path+"/"+action, url.Values{"roles": {"payroll-team"}, "company": {"Acme Oy"}, "hold": {"1"}, "user": {"hilla.hr@example.com"}})
		wantStatus(t, "hr posts "+action, res, body, http.StatusForbidden)
	}
	// Once Handler, she may hand over (assign) but still not hold.
	res, _ = c.post(path+"/take", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("take: %d", res.StatusCode)
	}
	_, body = c.get(path)
	if !strings.Contains(body, "/assign") || strings.Contains(body, "/hold") {
		t.Fatal("the Handler should be offered Assign and not legal hold")
	}

	// A lead of the payroll team may assign another member and set a hold.
	pay := f.open("cara.customer@acme.example", "payroll", "Salary")
	ppath := fmt.Sprintf("/conversations/%d", pay.ID)
	lea := f.login("lea.lead@example.com")
	_, body = lea.get(ppath)
	if !strings.Contains(body, ppath+"/assign") || !strings.Contains(body, ppath+"/hold") {
		t.Fatal("the lead is not offered assign and legal hold")
	}
	res, body = lea.post(ppath+"/assign", url.Values{"user": {"ben.payroll@example.com"}})
	wantStatus(t, "lead assigns", res, body, http.StatusSeeOther)
	res, body = lea.post(ppath+"/hold", url.Values{"hold": {"1"}})
	wantStatus(t, "lead holds", res, body, http.StatusSeeOther)
	got := f.conv(pay.ID)
	ben := f.actor("ben.payroll@example.com")
	if got.HandlerID == nil || *got.HandlerID != ben.User.ID || !got.LegalHold {
		t.Fatalf("after assign and hold: %+v", got)
	}
	// Assigning someone outside the roles is invalid: the page again with the reason.
	res, body = lea.post(ppath+"/assign", url.Values{"user": {"hilla.hr@example.com"}})
	wantStatus(t, "assign outside the roles", res, body, http.StatusBadRequest)
	if !strings.Contains(body, "is not staff of this conversation") {
		t.Fatalf("no reason shown:\n%s", body)
	}
}

func TestUnauthenticated(t *testing.T) {
	f := setup(t)
	conv := f.open("cara.customer@acme.example", "payroll", "Salary")
	anon := f.anonymous()
	for _, path := range []string{"/", "/new", fmt.Sprintf("/conversations/%d", conv.ID), "/attachments/abc", "/nowhere", "/?status=new"} {
		res, body := anon.get(path)
		wantStatus(t, "GET "+path, res, body, http.StatusSeeOther)
		loc, _ := url.Parse(res.Header.Get("Location"))
		if loc.Path != "/login" || (path != "/" && loc.Query().Get("next") != path) {
			t.Errorf("GET %s: redirected to %q, want /login?next=%s", path, res.Header.Get("Location"), path)
		}
	}
	for _, path := range []string{"/new", fmt.Sprintf("/conversations/%d/take", conv.ID), "/logout"} {
		res, body := anon.post(path, url.Values{"subject": {"x"}})
		wantStatus(t, "POST "+path, res, body, http.StatusSeeOther)
		if res.Header.Get("Location") != "/login" {
			t.Errorf("POST %s: redirected to %q", path, res.Header.Get("Location"))
		}
	}
	for _, path := range []string{"/login", "/static/style.css", "/static/app.js"} {
		res, body := anon.get(path)
		wantStatus(t, "GET "+path+" signed out", res, body, http.StatusOK)
	}
	// After signing in, the login page sends the user on to where they were going.
	f.setPassword("cara.customer@acme.example")
	res, _ := anon.post("/login", url.Values{"email": {"cara.customer@acme.example"}, "password": {password}, "next": {"/new"}})
	if res.Header.Get("Location") != "/new" {
		t.Fatalf("next: %q", res.Header.Get("Location"))
	}
	// An open redirect is not possible.
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		res, _ := f.anonymous().post("/login", url.Values{"email": {"cara.customer@acme.example"}, "password": {password}, "next": {next}})
		if res.Header.Get("Location") != "/" {
			t.Errorf("next %q: redirected to %q", next, res.Header.Get("Location"))
		}
	}

	// The API: 401 without a token, with a bad one, and with only a cookie.
	api := &apiClient{f: f}
	for _, tok := range []string{"", "pd_not-a-token"} {
		api.token = tok
		for _, path := range []string{"/conversations", fmt.Sprintf("/conversations/%d", conv.ID), "/attachments/x", "/nope"} {
			res, body := api.call("GET", path, nil, nil)
			wantStatus(t, "API "+path+" token "+tok, res, body, http.StatusUnauthorized)
			if !strings.HasPrefix(body, `{"error":`) || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 body %q, WWW-Authenticate %q", body, res.Header.Get("WWW-Authenticate"))
			}
		}
	}
	c := f.login("cara.customer@acme.example")
	res, body := c.get("/api/v1/conversations")
	wantStatus(t, "API with a session cookie", res, body, http.StatusUnauthorized)
	u, _ := url.Parse(f.srv.URL)
	if len(c.hc.Jar.Cookies(u)) == 0 {
		t.Fatal("the cookie jar holds no session: the test proves nothing")
	}
}

// A form posted from another site is refused, even with the user's cookie
// and a valid token; so is one without the session's token.
func TestCrossOriginPostRefused(t *testing.T) {
	f := setup(t)
	conv := f.open("cara.customer@acme.example", "payroll", "Salary")
	c := f.login("aino.handler@example.com")
	path := fmt.Sprintf("/conversations/%d/take", conv.ID)
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "https://evil.example"},
	} {
		res, body := c.post(path, nil, h...)
		wantStatus(t, "cross-origin "+strings.Join(h, ": "), res, body, http.StatusForbidden)
		if !strings.Contains(body, "Cross-origin request refused") {
			t.Fatalf("no clear message:\n%s", body)
		}
	}
	res, body := c.post(path, url.Values{"csrf": {"forged"}})
	wantStatus(t, "wrong CSRF token", res, body, http.StatusForbidden)
	// The login form too.
	res, body = f.anonymous().post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {password}}, "Sec-Fetch-Site", "cross-site")
	wantStatus(t, "cross-origin login", res, body, http.StatusForbidden)
	if f.conv(conv.ID).HandlerID != nil {
		t.Fatal("a refused post changed the conversation")
	}
	// The same post from the page itself works.
	res, body = c.post(path, nil, "Sec-Fetch-Site", "same-origin", "Origin", f.srv.URL)
	wantStatus(t, "same-origin post", res, body, http.StatusSeeOther)
	if f.conv(conv.ID).HandlerID == nil {
		t.Fatal("take did not take")
	}
}

// Every response carries the security headers.
func TestSecurityHeaders(t *testing.T) {
	f := setup(t)
	conv := f.open("cara.customer@acme.example", "payroll", "Salary")
	c := f.login("cara.customer@acme.example")
	api := f.api("cara.customer@acme.example")
	check := func(what string, res *http.Response) {
		t.Helper()
		h := res.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", what, csp, want)
			}
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "same-origin" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", what, h)
		}
	}
	pageCSP := "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	for _, path := range []string{"/", "/new", fmt.Sprintf("/conversations/%d", conv.ID), "/nowhere", "/static/style.css"} {
		res, _ := c.get(path)
		check(path, res)
		if path != "/static/style.css" && res.Header.Get("Content-Security-Policy") != pageCSP {
			t.Errorf("%s: CSP %q", path, res.Header.Get("Content-Security-Policy"))
		}
	}
	res, _ := f.anonymous().get("/login")
	check("/login", res)
	res, _ = api.call("GET", "/conversations", nil, nil)
	check("API", res)
	res, _ = (&apiClient{f: f}).call("GET", "/conversations", nil, nil)
	check("API 401", res)
	for _, h := range []string{"Cache-Control"} {
		if r, _ := c.get("/"); !slices.Contains(r.Header.Values(h), "no-store") {
			t.Errorf("pages must not be cached: %s %q", h, r.Header.Values(h))
		}
	}
}
