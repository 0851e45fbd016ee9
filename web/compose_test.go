package web_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"postdesk/conversation"
	"postdesk/store"
	"postdesk/store/storetest"
)

// cannedOrg is the test organisation with the canned permission on Team
// leads (Lea Lead, also of Payroll team); nobody else holds it.
var cannedOrg = strings.Replace(storetest.TestOrg, "may: [assign, legal_hold]", "may: [assign, legal_hold, canned]", 1)

// An upload over the limit, sent as a plain multipart form (no script to
// stop it), brings the form back with its text, choices and a clear
// message instead of an error page; likewise a reply, and any other error.
func TestComposeTooLargeKeepsTheForm(t *testing.T) {
	f := setup(t)
	aino := f.login("aino.handler@example.com")
	res, body := aino.get("/new")
	wantStatus(t, "new form", res, body, http.StatusOK)
	if !strings.Contains(body, fmt.Sprintf(`data-max-bytes="%d"`, 25<<20)) {
		t.Fatalf("the form does not carry the size limit:\n%s", body)
	}

	big := make([]byte, 27<<20)
	text := "Hei,\nlokakuun palkasta puuttuu ylityö <b>6 h</b>."
	res, body = aino.postMultipart("/new", url.Values{"category": {"sick-leave"}, "roles": {"hr-team"}, "subject": {"Ylityöt & lomaraha"},
		"body": {text}, "company": {"Acme Oy"}}, upload{"palkkalaskelma.pdf", "application/pdf", big})
	wantStatus(t, "too large", res, body, http.StatusRequestEntityTooLarge)
	for _, want := range []string{"at most 25 MB", `id="new-form"`, `value="Ylityöt &amp; lomaraha"`, html.EscapeString(text),
		`value="Acme Oy"`, "Please choose the attachments again.", `value="sick-leave" data-roles="hr-team" selected`} {
		if !strings.Contains(body, want) {
			t.Fatalf("the form came back without %q:\n%s", want, body)
		}
	}
	if !strings.Contains(body, `value="hr-team" checked`) || strings.Contains(body, `value="payroll-team" checked`) {
		t.Fatalf("the receivers chosen were not kept:\n%s", body)
	}
	if p, _ := f.svc.List(f.ctx, f.actor("aino.handler@example.com"), conversation.Filter{}); len(p.Conversations) != 0 {
		t.Fatalf("a conversation was opened: %+v", p.Conversations)
	}

	// Within the body limit but over the files' limit: the same.
	res, body = aino.postMultipart("/new", url.Values{"category": {"payroll"}, "roles": {"payroll-team"}, "subject": {"Kaksi liitettä"}, "body": {"Teksti säilyy"}},
		upload{"a.bin", "application/octet-stream", make([]byte, 13<<20)}, upload{"b.bin", "application/octet-stream", make([]byte, 13<<20-1<<19)})
	wantStatus(t, "files too large", res, body, http.StatusBadRequest)
	if !strings.Contains(body, "Teksti säilyy") || !strings.Contains(body, "Please choose the attachments again.") {
		t.Fatalf("the form came back without its text:\n%s", body)
	}

	// Another error: no subject. The text stays, in Finnish.
	res, body = aino.postMultipart("/new", url.Values{"category": {"payroll"}, "roles": {"payroll-team"}, "subject": {" "}, "body": {"Teksti ilman otsikkoa"}})
	wantStatus(t, "no subject", res, body, http.StatusBadRequest)
	if !strings.Contains(body, "Subject is empty.") || !strings.Contains(body, "Teksti ilman otsikkoa") {
		t.Fatalf("no subject: %s", body)
	}

	// A reply over the limit: the conversation again, the reply kept.
	c := f.open("cara.customer@acme.example", "payroll", "Overtime missing")
	res, body = aino.postMultipart(fmt.Sprintf("/conversations/%d/reply", c.ID), url.Values{"body": {"Vastaus, joka ei saa kadota"}},
		upload{"big.bin", "application/octet-stream", big})
	wantStatus(t, "reply too large", res, body, http.StatusRequestEntityTooLarge)
	if !strings.Contains(body, "at most 25 MB") || !strings.Contains(body, "Vastaus, joka ei saa kadota") || !strings.Contains(body, "Overtime missing") {
		t.Fatalf("the reply came back without its text:\n%s", body)
	}
	if v, _ := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), c.ID); len(v.Messages) != 2 { // the mail and its routing
		t.Fatalf("the reply was sent: %d messages", len(v.Messages))
	}

	// Without the session's token the big form is not shown again.
	aino.csrf = "not-the-token"
	res, body = aino.postMultipart("/new", url.Values{"subject": {"x"}, "body": {"Ei näy"}}, upload{"big.bin", "application/octet-stream", big})
	wantStatus(t, "too large without a token", res, body, http.StatusRequestEntityTooLarge)
	if strings.Contains(body, "Ei näy") || strings.Contains(body, `id="new-form"`) {
		t.Fatalf("a form without the token came back:\n%s", body)
	}
}

// /canned: only the canned permission manages answers and role signatures;
// the composer offers a role's answers to its members (escaped), fills
// them for the conversation, and pre-fills the signature.
func TestComposeCannedAndSignature(t *testing.T) {
	f := setupOrg(t, cannedOrg)
	aino := f.login("aino.handler@example.com")
	res, body := aino.get("/canned")
	wantStatus(t, "canned without the permission", res, body, http.StatusForbidden)
	res, body = aino.post("/canned/save", url.Values{"role": {"1"}, "language": {"fi"}, "title": {"x"}, "body": {"y"}})
	wantStatus(t, "save without the permission", res, body, http.StatusForbidden)

	// The panel links the page for those who may manage it only.
	if _, home := aino.get("/"); strings.Contains(home, `href="/canned"`) {
		t.Error("the panel links canned answers for a user without the permission")
	}
	lea := f.login("lea.lead@example.com")
	if _, home := lea.get("/"); !strings.Contains(home, `href="/canned"`) {
		t.Error("the panel has no link to canned answers for a user with the permission")
	}
	roles, _ := f.st.RolesByKeys(f.ctx, []string{"payroll-team", "hr-team"})
	payroll, hr := strconv.FormatInt(roles[0].ID, 10), strconv.FormatInt(roles[1].ID, 10)
	res, body = lea.get("/canned")
	wantStatus(t, "canned page", res, body, http.StatusOK)
	for _, want := range []string{"Payroll team", "HR team", "{customer.name}", "{conversation.number}", "{handler.name}", "{my.name}"} {
		if !strings.Contains(body, want) {
			t.Fatalf("/canned lacks %q:\n%s", want, body)
		}
	}
	res, body = lea.post("/canned/save", url.Values{"role": {payroll}, "language": {"fi"}, "title": {"Verokortti <script>"},
		"body": {"Hei {customer.name},\nasia #{conversation.number} on hoidossa.\n{handler.name}"}})
	wantStatus(t, "save", res, body, http.StatusSeeOther)
	res, body = lea.post("/canned/save", url.Values{"role": {hr}, "language": {"fi"}, "title": {"Sairausloma"}, "body": {"Lähetä todistus."}})
	wantStatus(t, "save hr", res, body, http.StatusSeeOther)
	res, body = lea.post("/canned/save", url.Values{"role": {payroll}, "language": {"fi"}, "title": {""}, "body": {"Teksti jää"}})
	wantStatus(t, "save without a title", res, body, http.StatusBadRequest)
	if !strings.Contains(body, "The canned answer needs a title.") || !strings.Contains(body, "Teksti jää") {
		t.Fatalf("the invalid answer's form: %s", body)
	}
	res, body = lea.post("/canned/signature", url.Values{"role": {payroll}, "sig-fi": {"Palkkatiimi"}})
	wantStatus(t, "role signature", res, body, http.StatusSeeOther)
	all, err := f.st.CannedAnswers(f.ctx, nil)
	if err != nil || len(all) != 2 {
		t.Fatalf("answers %+v %v", all, err)
	}
	var payID, hrID int64
	for _, c := range all {
		if c.Title == "Sairausloma" {
			hrID = c.ID
		} else {
			payID = c.ID
		}
	}

	res, body = aino.post("/settings/signature", url.Values{"sig-fi": {"Aino Handler\npalkanlaskija"}})
	wantStatus(t, "own signature", res, body, http.StatusSeeOther)
	_, body = aino.get("/settings")
	if !strings.Contains(body, "Aino Handler\npalkanlaskija</textarea>") {
		t.Fatalf("settings do not show the signature:\n%s", body)
	}

	// The composer of a new message: Aino's (payroll) answer only, escaped;
	// her Finnish signature (language fi from the cookie's language) below.
	aino.hc.Jar.SetCookies(mustURL(t, f.srv.URL), []*http.Cookie{{Name: "postdesk_lang", Value: "fi", Path: "/"}})
	res, body = aino.get("/new")
	wantStatus(t, "new", res, body, http.StatusOK)
	if !strings.Contains(body, "Verokortti &lt;script&gt;") || strings.Contains(body, "Verokortti <script>") || strings.Contains(body, "Sairausloma") {
		t.Fatalf("canned pick-list:\n%s", body)
	}
	// The answer's text, filled for a new message (no customer nor number
	// yet, the writer as Handler), rides in the option for the script.
	if !strings.Contains(body, `data-text="Hei ,`+"\n"+`asia # on hoidossa.`+"\n"+`Aino Handler"`) {
		t.Fatalf("the option does not carry the filled answer:\n%s", body)
	}
	if !strings.Contains(body, ">\n\n\n-- \nAino Handler\npalkanlaskija\nPalkkatiimi</textarea>") {
		t.Fatalf("the signature is not pre-filled:\n%s", body)
	}

	// Without the script: "Insert" posts the form back with the answer above
	// the text, the rest of the form as it was, nothing sent.
	res, body = aino.postMultipart("/new", url.Values{"category": {"payroll"}, "roles": {"payroll-team"}, "subject": {"Verokortti"},
		"canned": {strconv.FormatInt(payID, 10)}, "insert": {"1"}, "body": {"\n\n-- \nAino Handler"}})
	wantStatus(t, "insert without the script", res, body, http.StatusOK)
	if !strings.Contains(body, ">\nHei ,\nasia # on hoidossa.\nAino Handler\n\n-- \nAino Handler</textarea>") || !strings.Contains(body, `value="Verokortti"`) {
		t.Fatalf("the answer was not inserted:\n%s", body)
	}
	if p, _ := f.svc.List(f.ctx, f.actor("aino.handler@example.com"), conversation.Filter{}); len(p.Conversations) != 0 {
		t.Fatalf("inserting sent the message: %+v", p.Conversations)
	}
	res, body = aino.postMultipart("/new", url.Values{"category": {"payroll"}, "subject": {"x"}, "canned": {strconv.FormatInt(hrID, 10)}, "insert": {"1"}})
	wantStatus(t, "insert another role's answer", res, body, http.StatusNotFound)

	c := f.open("cara.customer@acme.example", "payroll", "Verokortti puuttuu")
	fill := func(cl *client, conv, id int64) (*http.Response, string) {
		return cl.get(fmt.Sprintf("/canned/fill?conversation=%d&id=%d", conv, id))
	}
	res, body = fill(aino, c.ID, payID)
	wantStatus(t, "fill", res, body, http.StatusOK)
	if want := fmt.Sprintf("Hei Cara Customer,\nasia #%d on hoidossa.\n", c.Number); body != want {
		t.Fatalf("filled %q, want %q", body, want)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	res, body = fill(aino, c.ID, hrID)
	wantStatus(t, "another role's answer", res, body, http.StatusNotFound)
	cara := f.login("cara.customer@acme.example")
	res, body = fill(cara, c.ID, payID)
	wantStatus(t, "a customer fills", res, body, http.StatusNotFound)
	_, body = cara.get("/new")
	if strings.Contains(body, "Verokortti") || strings.Contains(body, "canned-select") || strings.Contains(body, "Palkkatiimi") {
		t.Fatalf("a customer is offered staff canned answers or signatures:\n%s", body)
	}
	mika := f.login("mika.manager@acme.example")
	res, body = fill(mika, c.ID, payID)
	wantStatus(t, "a manager fills", res, body, http.StatusNotFound)

	// Deleting: gone from the composer.
	res, body = lea.post("/canned/delete", url.Values{"id": {strconv.FormatInt(payID, 10)}})
	wantStatus(t, "delete", res, body, http.StatusSeeOther)
	if _, err := f.st.CannedAnswer(f.ctx, payID); err == nil {
		t.Fatal("the deleted answer is still stored")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// "Send new message" offers the company and the person from pick-lists: all
// of the organisation to staff who may set the company, only their own
// company's to a manager.
func TestNewMessagePickLists(t *testing.T) {
	f := setup(t)
	f.people("Acme Oy", "Pekka Palkansaaja")
	f.people("Globex Oy", "Gerda Globex")
	_, staff := f.login("aino.handler@example.com").get("/new")
	for _, want := range []string{`list="new-companies"`, `<option value="Acme Oy">`, `<option value="Globex Oy">`,
		`<option value="Pekka Palkansaaja">`, `<option value="Gerda Globex">`} {
		if !strings.Contains(staff, want) {
			t.Errorf("staff's form lacks %s", want)
		}
	}
	_, manager := f.login("mika.manager@acme.example").get("/new")
	if !strings.Contains(manager, `<option value="Pekka Palkansaaja">`) || !strings.Contains(manager, `<option value="Acme Oy">`) {
		t.Errorf("the manager's form lacks their own company's pick-lists")
	}
	for _, leak := range []string{"Globex Oy", "Gerda Globex"} {
		if strings.Contains(manager, leak) {
			t.Errorf("the manager's form offers %s, of another company", leak)
		}
	}
	if _, customer := f.login("cara.customer@acme.example").get("/new"); strings.Contains(customer, "new-people") {
		t.Error("a customer's form has the person pick-list")
	}
}

// A picture attached to a message (a pasted screenshot) is shown in the
// message; an SVG (which can carry script) and a PDF are only linked.
func TestAttachedPicturesShowInline(t *testing.T) {
	f := setup(t)
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	c := f.open("cara.customer@acme.example", "payroll", "Screenshot of the payslip",
		store.NewAttachment{Filename: "liitetty kuva 1.png", ContentType: "image/png", Data: png},
		store.NewAttachment{Filename: "logo.svg", ContentType: "image/svg+xml", Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
		store.NewAttachment{Filename: "payslip.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4")})
	v, err := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, m := range v.Messages {
		for _, a := range m.Attachments {
			ids[a.Filename] = a.ID
		}
	}
	_, body := f.login("aino.handler@example.com").get(fmt.Sprintf("/conversations/%d", c.ID))
	if want := `<img src="/attachments/` + ids["liitetty kuva 1.png"] + `"`; !strings.Contains(body, want) {
		t.Errorf("the pasted picture is not shown in the message (%s)", want)
	}
	for _, name := range []string{"logo.svg", "payslip.pdf"} {
		if id := ids[name]; id == "" || strings.Contains(body, `<img src="/attachments/`+id+`"`) {
			t.Errorf("%s (id %q) is shown as a picture", name, id)
		}
	}
}
