package web_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"postdesk/conversation"
)

// Who read what: a staff member's page view and file download, a manager's
// view and an API token's read are each recorded with the client; the
// customer reading their own conversation is not. The audit permission
// sees it per conversation and per reader, on the page and in the API.
func TestAccessLog(t *testing.T) {
	f := setupOrg(t, signinOrg, behindProxy)
	raw := "From: Cara Customer <cara.customer@acme.example>\r\nTo: payroll@example.com\r\nSubject: Verokortti\r\n" +
		"Message-ID: <acc1@acme.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nMy tax card.\r\n--b\r\nContent-Type: application/pdf\r\n" +
		"Content-Disposition: attachment; filename=\"verokortti.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte("%PDF tax card")) + "\r\n--b--\r\n"
	r, err := f.svc.Receive(f.ctx, conversation.Inbound{Raw: []byte(raw), DefaultCategory: "payroll"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), r.ConversationID)
	if err != nil || len(v.Messages) == 0 || len(v.Messages[0].Attachments) != 1 {
		t.Fatalf("the fixture conversation: %v", err)
	}
	// That Get came through no door: logged as "internal". Start counting from here.
	f.st.Pool().Exec(f.ctx, `DELETE FROM access_log`) //nolint:errcheck
	number, att := v.Conversation.Number, v.Messages[0].Attachments[0].ID
	page := fmt.Sprintf("/conversations/%d", r.ConversationID)

	aino := f.login("aino.handler@example.com")
	res, body := aino.get(page)
	wantStatus(t, "aino's view", res, body, http.StatusOK)
	res, _ = aino.get("/attachments/" + att)
	wantStatus(t, "aino's download", res, "", http.StatusOK)
	res, body = f.login("mika.manager@acme.example").get(page)
	wantStatus(t, "the manager's view", res, body, http.StatusOK)
	res, body = f.login("cara.customer@acme.example").get(page)
	wantStatus(t, "the customer's own view", res, body, http.StatusOK)
	res, body = f.api("ben.payroll@example.com").call("GET", fmt.Sprintf("/conversations/%d", r.ConversationID), nil, nil)
	wantStatus(t, "an API read", res, body, http.StatusOK)

	var rows []string
	rs, err := f.st.Pool().Query(f.ctx, `SELECT email || ' ' || as_what || ' ' || via || ' ' || (attachment_id IS NOT NULL)::text || ' ' || number::text
		FROM access_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var s string
		rs.Scan(&s) //nolint:errcheck
		rows = append(rows, s)
	}
	rs.Close()
	want := []string{
		fmt.Sprintf("aino.handler@example.com staff web false %d", number),
		fmt.Sprintf("aino.handler@example.com staff web true %d", number),
		fmt.Sprintf("mika.manager@acme.example manager web false %d", number),
		fmt.Sprintf("ben.payroll@example.com staff api false %d", number),
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Fatalf("access log:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}

	// Only the audit permission reads it.
	res, _ = aino.get("/audit/access")
	wantStatus(t, "without the permission", res, "", http.StatusForbidden)
	lea := f.login("lea.lead@example.com")
	res, body = lea.get(fmt.Sprintf("/audit/access?conversation=%d", number))
	wantStatus(t, "by conversation", res, body, http.StatusOK)
	for _, w := range []string{"aino.handler@example.com", "mika.manager@acme.example", "ben.payroll@example.com", "a file", "manager"} {
		if !strings.Contains(body, w) {
			t.Errorf("the page by conversation lacks %q", w)
		}
	}
	if strings.Contains(body, "cara.customer@acme.example") {
		t.Error("the customer's own read is logged")
	}
	res, body = lea.get("/audit/access?user=mika.manager@acme.example")
	wantStatus(t, "by reader", res, body, http.StatusOK)
	if !strings.Contains(body, "mika.manager@acme.example") || strings.Contains(body, "ben.payroll@example.com") {
		t.Errorf("the page by reader shows others")
	}
	if _, body := lea.get(page); !strings.Contains(body, fmt.Sprintf(`href="/audit/access?conversation=%d"`, number)) {
		t.Error("the conversation page has no link to who read it")
	}
	var out struct {
		Events []struct{ User, As, Via, Client string }
	}
	res, body = f.api("lea.lead@example.com").call("GET", "/audit/access?user=aino.handler@example.com", nil, &out)
	wantStatus(t, "API", res, body, http.StatusOK)
	if len(out.Events) != 2 || out.Events[0].User != "aino.handler@example.com" || out.Events[0].Client == "" {
		t.Fatalf("API: %s", body)
	}
	res, _ = f.api("aino.handler@example.com").call("GET", "/audit/access", nil, nil)
	wantStatus(t, "API without the permission", res, "", http.StatusForbidden)
}
