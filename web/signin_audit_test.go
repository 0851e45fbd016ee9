package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"postdesk/store/storetest"
)

// signinOrg is the test organisation with the audit permission for the
// team leads (lea.lead).
var signinOrg = strings.Replace(storetest.TestOrg, "may: [assign, legal_hold]", "may: [assign, legal_hold, audit]", 1)

// Sign-ins, failures, throttled tries and sign-outs are in the audit with
// time, client address and User-Agent; only the audit permission sees it,
// on the page and in the API.
func TestSigninAudit(t *testing.T) {
	f := setupOrg(t, signinOrg, behindProxy)
	f.setPassword("aino.handler@example.com")
	c := f.anonymous()
	for i := range 4 {
		res, _ := c.post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {fmt.Sprint("wrong ", i)}},
			"X-Forwarded-For", "203.0.113.9", "User-Agent", "TestBrowser/1.0")
		wantStatus(t, "wrong password", res, "", http.StatusUnauthorized)
	}
	res, _ := c.post("/login", url.Values{"email": {"aino.handler@example.com"}, "password": {password}}, "X-Forwarded-For", "203.0.113.9")
	wantStatus(t, "throttled", res, "", http.StatusTooManyRequests)
	res, _ = c.post("/login", url.Values{"email": {"nobody@example.com"}, "password": {"x"}}, "X-Forwarded-For", "203.0.113.9")
	wantStatus(t, "unknown address", res, "", http.StatusUnauthorized)
	aino := f.login("aino.handler@example.com")
	res, _ = aino.post("/logout", nil)
	wantStatus(t, "sign out", res, "", http.StatusSeeOther)

	lea := f.login("lea.lead@example.com")
	res, body := lea.get("/audit?email=aino.handler@example.com")
	wantStatus(t, "audit page", res, body, http.StatusOK)
	for _, want := range []string{"signin_failed", "signin_throttled", "signin", "signout", "203.0.113.9", "TestBrowser/1.0", "password"} {
		if !strings.Contains(body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	if strings.Contains(body, "nobody@example.com") {
		t.Errorf("the filter by address let another address through")
	}
	res, body = lea.get("/audit")
	wantStatus(t, "the whole audit", res, body, http.StatusOK)
	if !strings.Contains(body, "nobody@example.com") {
		t.Errorf("a failure for an unknown address is not in the audit")
	}
	if !strings.Contains(body, `href="/audit"`) {
		t.Errorf("no link to the audit in the navigation")
	}

	// Without the permission: refused, and no link.
	aino = f.login("aino.handler@example.com")
	res, body = aino.get("/audit")
	wantStatus(t, "audit without the permission", res, body, http.StatusForbidden)
	_, inbox := aino.get("/")
	if strings.Contains(inbox, `href="/audit"`) {
		t.Errorf("a link to the audit for a user without the permission")
	}

	var out struct {
		Events []struct {
			Event, Email, IP, Client, Method string
		}
	}
	res, body = f.api("lea.lead@example.com").call("GET", "/audit/signin?email=aino.handler@example.com", nil, &out)
	wantStatus(t, "API", res, body, http.StatusOK)
	events := map[string]int{}
	for _, e := range out.Events {
		events[e.Event]++
		if e.Email != "aino.handler@example.com" {
			t.Errorf("API filter let %s through", e.Email)
		}
	}
	if events["signin_failed"] != 4 || events["signin_throttled"] != 1 || events["signin"] < 2 || events["signout"] != 1 {
		t.Errorf("API events %v", events)
	}
	res, body = f.api("aino.handler@example.com").call("GET", "/audit/signin", nil, nil)
	wantStatus(t, "API without the permission", res, body, http.StatusForbidden)
}
