package web_test

import (
	"archive/zip"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"postdesk/conversation"
)

var privacyOrg = strings.Replace(signinOrg, "may: [assign, legal_hold, audit]", "may: [assign, legal_hold, audit, privacy]", 1)

// The privacy permission answers a data-subject request on the web: the
// export downloads the person's zip; erasure shows a dry run first and
// erases only once the address is typed again.
func TestPrivacyPages(t *testing.T) {
	f := setupOrg(t, privacyOrg)
	mail := func(from, subject string) int64 {
		raw := "From: " + from + "\r\nTo: payroll@example.com\r\nSubject: " + subject + "\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") +
			"@example.test>\r\n\r\n" + subject + " please.\r\n"
		r, err := f.svc.Receive(f.ctx, conversation.Inbound{Raw: []byte(raw), DefaultCategory: "payroll"})
		if err != nil {
			t.Fatal(err)
		}
		return r.ConversationID
	}
	eeros := mail("Eero Example <eero.example@acme.example>", "Lomaraha kysymys")
	others := mail("Otto Other <otto.other@globex.example>", "Globex palkka")

	res, _ := f.login("aino.handler@example.com").get("/privacy")
	wantStatus(t, "without the permission", res, "", http.StatusForbidden)
	lea := f.login("lea.lead@example.com")
	res, body := lea.get("/privacy")
	wantStatus(t, "the page", res, body, http.StatusOK)

	res, body = lea.post("/privacy/export", url.Values{"email": {"Eero.Example@acme.example"}})
	wantStatus(t, "export", res, "", http.StatusOK)
	if res.Header.Get("Content-Type") != "application/zip" || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export headers: %v", res.Header)
	}
	zr, err := zip.NewReader(strings.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	var index []byte
	for _, zf := range zr.File {
		if zf.Name == "index.json" {
			rc, _ := zf.Open()
			index, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	if !bytes.Contains(index, []byte("Lomaraha kysymys")) || bytes.Contains(index, []byte("Globex")) {
		t.Fatalf("index.json:\n%s", index)
	}

	res, body = lea.post("/privacy/erase", url.Values{"email": {"eero.example@acme.example"}})
	wantStatus(t, "dry run", res, body, http.StatusOK)
	if !strings.Contains(body, "would delete 1 conversations") || !strings.Contains(body, `name="confirm"`) {
		t.Fatalf("no preview:\n%s", body)
	}
	res, body = lea.post("/privacy/erase", url.Values{"email": {"eero.example@acme.example"}, "confirm": {"someone.else@acme.example"}})
	wantStatus(t, "wrong confirmation", res, body, http.StatusOK)
	if !strings.Contains(body, "nothing was erased") {
		t.Fatalf("a wrong confirmation:\n%s", body)
	}
	if _, err := f.st.ConversationByID(f.ctx, eeros); err != nil {
		t.Fatal("erased before the confirmation")
	}
	res, body = lea.post("/privacy/erase", url.Values{"email": {"eero.example@acme.example"}, "confirm": {"Eero.Example@acme.example"}})
	wantStatus(t, "erase", res, body, http.StatusOK)
	if !strings.Contains(body, "Erased: 1 conversations deleted") {
		t.Fatalf("no report:\n%s", body)
	}
	if _, err := f.st.ConversationByID(f.ctx, eeros); err == nil {
		t.Fatal("Eero's conversation is still there")
	}
	if _, err := f.st.ConversationByID(f.ctx, others); err != nil {
		t.Fatalf("another customer's conversation went too: %v", err)
	}
	res, _ = lea.post("/privacy/erase", url.Values{"email": {"aino.handler@example.com"}, "confirm": {"aino.handler@example.com"}})
	wantStatus(t, "a configured user", res, "", http.StatusConflict)
	var audits int
	f.st.Pool().QueryRow(f.ctx, `SELECT count(*) FROM audit WHERE action IN ('export', 'erase') AND actor = 'lea.lead@example.com'`).Scan(&audits) //nolint:errcheck
	if audits != 4 {                                                                                                                               // the export, two dry runs, the erasure
		t.Fatalf("%d audit records by lea, want 4", audits)
	}
}
