package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"postdesk/conversation"
	"postdesk/store"
)

// convOrg is the test organisation with Lea Lead (payroll staff with every
// right) and Mika Manager (manager of Acme Oy) using postdesk in Finnish.
func convOrg() string {
	return strings.NewReplacer(
		"{email: lea.lead@example.com, name: Lea Lead, roles: [payroll-team, leads]}",
		"{email: lea.lead@example.com, name: Lea Lead, roles: [payroll-team, leads], language: fi}",
		"{email: mika.manager@acme.example, name: Mika Manager, roles: [managers], company: Acme Oy}",
		"{email: mika.manager@acme.example, name: Mika Manager, roles: [managers], company: Acme Oy, language: fi}",
	).Replace(testConfig)
}

// people adds persons to the organisation's companies, for the pick-lists.
func (f *fixture) people(company string, names ...string) {
	f.t.Helper()
	co, err := f.st.EnsureCompany(f.ctx, company)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, n := range names {
		if _, err := f.st.EnsurePerson(f.ctx, &co.ID, n); err != nil {
			f.t.Fatal(err)
		}
	}
}

// The page offers what conversation.Can allows and nothing else, and a
// post of what it does not offer is refused: by the roles (403) or by the
// status table (400, with its reason).
func TestConversationPageAsksCan(t *testing.T) {
	f := setup(t)
	f.people("Globex Oy", "Gunnar Globex")
	f.people("Acme Oy", "Pirjo Palkansaaja")
	conv := f.open("cara.customer@acme.example", "payroll", "Salary for November")
	path := fmt.Sprintf("/conversations/%d", conv.ID)
	forms := func(body string) map[string]bool {
		got := map[string]bool{}
		for _, a := range []string{"take", "assign", "reply", "note", "receivers", "describe", "solve", "reopen", "hold"} {
			got[a] = strings.Contains(body, `action="`+path+`/`+a+`"`)
		}
		return got
	}
	want := func(who, body string, offered ...string) {
		t.Helper()
		got := forms(body)
		for a, on := range got {
			if on != (strings.Contains(" "+strings.Join(offered, " ")+" ", " "+a+" ")) {
				t.Errorf("%s: the form %s is offered: %v", who, a, on)
			}
		}
	}

	ben := f.login("ben.payroll@example.com") // payroll staff: change_receivers, set_company
	_, body := ben.get(path)
	want("staff", body, "take", "reply", "note", "receivers", "describe", "solve")
	if !strings.Contains(body, `data-conversation-id="`+fmt.Sprint(conv.ID)+`"`) {
		t.Error("no data-conversation-id on the conversation")
	}
	for _, pick := range []string{`<option selected>Acme Oy</option>`, `<option>Globex Oy</option>`, `value="Gunnar Globex"`,
		`value="otto.other@globex.example"`} {
		if !strings.Contains(body, pick) {
			t.Errorf("staff's pick-lists lack %s", pick)
		}
	}
	res, body := ben.post(path+"/hold", url.Values{"hold": {"1"}})
	wantStatus(t, "hold without legal_hold", res, body, http.StatusForbidden)
	res, body = ben.post(path+"/assign", url.Values{"user": {"aino.handler@example.com"}})
	wantStatus(t, "assign without assign", res, body, http.StatusForbidden)
	res, body = ben.post(path+"/reopen", nil)
	wantStatus(t, "reopen a new conversation", res, body, http.StatusBadRequest)
	if !strings.Contains(body, "Only a solved conversation can be reopened.") {
		t.Errorf("the refusal does not say why:\n%s", body)
	}

	cara := f.login("cara.customer@acme.example")
	_, body = cara.get(path)
	want("customer", body, "reply")
	res, body = cara.post(path+"/solve", nil)
	wantStatus(t, "the customer solves", res, body, http.StatusForbidden)

	mika := f.login("mika.manager@acme.example")
	_, body = mika.get(path)
	want("manager", body, "reply", "describe")
	for _, absent := range []string{"Globex", "otto.other@globex.example", "Gunnar"} {
		if strings.Contains(body, absent) {
			t.Errorf("the manager's pick-lists hold %q", absent)
		}
	}
	for _, own := range []string{`value="Pirjo Palkansaaja"`, `value="olga.other@acme.example"`, `name="company" value="Acme Oy" readonly`} {
		if !strings.Contains(body, own) {
			t.Errorf("the manager's pick-lists lack %s", own)
		}
	}
	res, body = mika.post(path+"/describe", url.Values{"company": {"Globex Oy"}})
	wantStatus(t, "the manager moves the company", res, body, http.StatusForbidden)

	hilla := f.login("hilla.hr@example.com") // staff of another role: sees nothing
	res, body = hilla.get(path + "/export")
	wantStatus(t, "another role exports", res, body, http.StatusNotFound)

	// Solved: Reopen offered, Mark Solved not, and solving again refused.
	lea := f.login("lea.lead@example.com")
	res, _ = lea.post(path+"/solve", nil)
	wantStatus(t, "solve", res, "", http.StatusSeeOther)
	_, body = lea.get(path)
	want("lead, solved", body, "assign", "reply", "note", "receivers", "describe", "reopen", "hold")
	res, body = lea.post(path+"/solve", nil)
	wantStatus(t, "solve twice", res, body, http.StatusBadRequest)
	if !strings.Contains(body, "The conversation is solved already.") {
		t.Errorf("the refusal does not say why:\n%s", body)
	}

	var api struct {
		Can map[string]bool `json:"can"`
	}
	res, raw := f.api("lea.lead@example.com").call("GET", fmt.Sprintf("/conversations/%d", conv.ID), nil, &api)
	wantStatus(t, "API", res, raw, http.StatusOK)
	if !api.Can["reopen"] || api.Can["solve"] || !api.Can["legal_hold"] {
		t.Errorf("the API's can: %v", api.Can)
	}
}

// customerReply is a customer's Gmail answer in Finnish, text and HTML, to
// a mail of postdesk's, with the history Gmail quotes under it.
func customerReply(t *testing.T, subject string) string {
	t.Helper()
	txt, err := os.ReadFile("../quote/testdata/gmail-fi.txt")
	if err != nil {
		t.Fatal(err)
	}
	htm, err := os.ReadFile("../quote/testdata/gmail-fi.html")
	if err != nil {
		t.Fatal(err)
	}
	crlf := func(b []byte) string {
		return strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n", "\r\n")
	}
	return "From: Cara Customer <cara.customer@acme.example>\r\nTo: payroll@example.com\r\nSubject: " + subject + "\r\n" +
		"Message-ID: <gmail-fi-1@acme.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n" + crlf(txt) + "\r\n--b\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n" +
		crlf(htm) + "\r\n--b--\r\n"
}

// A customer's mail shows its new text; the history their client quoted is
// kept behind "Show quoted text", on the page, in the API and in the export;
// the export is one standalone file without scripts, and a read.
func TestQuotedCustomerMailAndExport(t *testing.T) {
	f := setup(t)
	r, err := f.svc.Receive(f.ctx, conversation.Inbound{Raw: []byte(customerReply(t, "Verokortti")), DefaultCategory: "payroll"})
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/conversations/%d", r.ConversationID)
	aino := f.login("aino.handler@example.com")
	_, body := aino.get(path)
	fresh, quoted := strings.Index(body, "Verokortti on nyt liitteenä"), strings.Index(body, "tarvitsemme uuden verokorttisi")
	details := strings.Index(body, `<details class="quoted">`)
	if fresh < 0 || quoted < 0 || details < 0 || !(fresh < details && details < quoted) {
		t.Fatalf("the quoted history is not behind Show quoted text (fresh %d, details %d, quoted %d):\n%s", fresh, details, quoted, body)
	}

	var one struct {
		Quoted map[string]string `json:"quoted"`
	}
	res, raw := f.api("aino.handler@example.com").call("GET", fmt.Sprintf("/conversations/%d", r.ConversationID), nil, &one)
	wantStatus(t, "API", res, raw, http.StatusOK)
	found := false
	for _, q := range one.Quoted {
		found = found || strings.Contains(q, "tarvitsemme uuden verokorttisi")
	}
	if !found {
		t.Errorf("the API's quoted %v", one.Quoted)
	}

	f.st.Pool().Exec(f.ctx, `DELETE FROM access_log`) //nolint:errcheck
	res, body = aino.get(path + "/export")
	wantStatus(t, "export", res, body, http.StatusOK)
	if cd := res.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".html") {
		t.Errorf("Content-Disposition %q", cd)
	}
	for _, want := range []string{"<style>", "Verokortti on nyt liitteenä", "tarvitsemme uuden verokorttisi", "Routed to Payroll team"} {
		if !strings.Contains(body, want) {
			t.Errorf("the export lacks %q", want)
		}
	}
	for _, absent := range []string{"<script", "<link", `src="/static`, `action="`} {
		if strings.Contains(body, absent) {
			t.Errorf("the export holds %q", absent)
		}
	}
	var n int
	if err := f.st.Pool().QueryRow(f.ctx, `SELECT count(*) FROM access_log WHERE conversation_id = $1 AND via = 'web' AND email = 'aino.handler@example.com'`,
		r.ConversationID).Scan(&n); err != nil || n != 1 {
		t.Errorf("the export is in the access log %d times (%v), want once", n, err)
	}
}

// In Chromium, in Finnish, at desktop and phone widths: Lea Lead works the
// side panel (Handler, receivers, company, person and assignee from the
// pick-lists, legal hold, status), every change a line in the timeline and
// Reopen only once it is solved; the quoted history opens on request; on a
// phone the panel is below the thread. Mika Manager's pick-lists hold only
// Acme Oy's people.
func TestBrowserConversationPanel(t *testing.T) {
	f := setupOrg(t, convOrg())
	f.people("Acme Oy", "Pirjo Palkansaaja", "Aapo Asiakas")
	f.people("Globex Oy", "Gunnar Globex")
	f.setPassword("lea.lead@example.com")
	f.setPassword("mika.manager@acme.example")
	dir := artifacts(t)
	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1366, 900, false}, {"phone", 390, 844, true}} {
		r, err := f.svc.Receive(f.ctx, conversation.Inbound{Raw: []byte(strings.Replace(customerReply(t, "Verokortti "+size.name),
			"gmail-fi-1@", "gmail-fi-"+size.name+"@", 1)), DefaultCategory: "payroll"})
		if err != nil {
			t.Fatal(err)
		}
		path := fmt.Sprintf("/conversations/%d", r.ConversationID)
		p := newPage(t, f, dir, size.width, size.height, size.mobile)
		p.login("lea.lead@example.com")
		p.open(path)
		p.wantText("the conversation in Finnish", "Verokortti on nyt liitteenä", "Näytä lainattu teksti", "Lisää minut käsittelijäksi",
			"Merkitse ratkaistuksi", "poistetaan")
		if txt := p.text(); strings.Contains(txt, "tarvitsemme uuden verokorttisi") || strings.Contains(txt, "Avaa uudelleen") {
			t.Fatalf("%s: the quoted history shows, or Reopen is offered on an open conversation:\n%s", size.name, txt)
		}
		if size.mobile {
			below := eval[bool](p, `document.querySelector('aside.side').getBoundingClientRect().top >= document.querySelector('ol.timeline').getBoundingClientRect().bottom`)
			if !below {
				t.Errorf("on a phone the side panel is not below the thread")
			}
		} else {
			beside := eval[bool](p, `document.querySelector('aside.side').getBoundingClientRect().left > document.querySelector('ol.timeline').getBoundingClientRect().right - 1`)
			if !beside {
				t.Errorf("on a desktop the side panel is not beside the thread")
			}
		}
		p.shot(size.name + "-conv-01-panel-fi")
		p.do("show the quoted text", chromedp.Click(chromedp.CSS("details.quoted summary")))
		p.waitFor("the quoted text opens", "document.querySelector('details.quoted').open && document.querySelector('details.quoted').innerText.includes('tarvitsemme uuden verokorttisi')")
		p.shot(size.name + "-conv-02-quoted-fi")

		p.click(".p-handler form[action$='/take'] button", "document.querySelector('.flash')")
		p.wantText("taken", "Lea Lead on nyt käsittelijä", "Lea Lead (sinä)")
		p.do("open the receivers", chromedp.Click(chromedp.CSS(".p-receivers details summary")))
		p.do("add HR", chromedp.Click(chromedp.CSS(".p-receivers input[value=hr-team]")))
		p.click(".p-receivers form button", "document.querySelector('.flash')")
		p.wantText("receivers", "Vastaanottajat vaihdettiin")

		p.do("pick from the lists",
			chromedp.SetValue(chromedp.CSS(".describe select[name=company]"), "Acme Oy"),
			chromedp.SetValue(chromedp.CSS(".describe input[name=person]"), "Pirjo Palkansaaja"),
			chromedp.SetValue(chromedp.CSS(".describe select[name=assignee]"), "olga.other@acme.example"))
		p.shot(size.name + "-conv-03-picklists-fi")
		p.click(".describe button", "document.querySelector('.flash')")
		p.wantText("described", "Henkilöksi asetettiin Pirjo Palkansaaja (Lea Lead)",
			"Asiakkaan vastuuhenkilöksi asetettiin olga.other@acme.example (Lea Lead)")
		p.click(".p-retention form[action$='/hold'] button", "document.querySelector('.flash')")
		p.wantText("held", "Lea Lead asetti oikeudellisen pidon")
		p.click(".p-status form[action$='/solve'] button", "document.querySelector('.flash')")
		p.wantText("solved", "Avaa uudelleen")
		if strings.Contains(p.text(), "Merkitse ratkaistuksi") {
			t.Errorf("%s: Mark Solved is offered on a solved conversation", size.name)
		}
		p.shot(size.name + "-conv-04-solved-fi")
		got := f.conv(r.ConversationID)
		if got.Status != store.StatusSolved || !got.LegalHold || got.AssigneeID == nil || got.PersonID == nil {
			t.Fatalf("%s: after the panel: %+v", size.name, got)
		}

		m := newPage(t, f, dir, size.width, size.height, size.mobile)
		m.login("mika.manager@acme.example")
		m.open(path)
		options := eval[string](m, `Array.from(document.querySelectorAll('.describe select[name=assignee] option, #people-`+
			fmt.Sprint(r.ConversationID)+` option')).map(o => o.value).join(' ')`)
		for _, own := range []string{"olga.other@acme.example", "cara.customer@acme.example", "Pirjo Palkansaaja", "Aapo Asiakas"} {
			if !strings.Contains(options, own) {
				t.Errorf("%s: the manager's pick-lists lack %s: %s", size.name, own, options)
			}
		}
		for _, other := range []string{"globex", "Gunnar"} {
			if strings.Contains(strings.ToLower(options), strings.ToLower(other)) {
				t.Errorf("%s: the manager's pick-lists hold %s: %s", size.name, other, options)
			}
		}
		if ro := eval[bool](m, `document.querySelector('.describe input[name=company]').readOnly`); !ro {
			t.Errorf("%s: the manager may edit the company", size.name)
		}
		if n := eval[int](m, `document.querySelectorAll('.side form[action$="/solve"], .side form[action$="/reopen"], .side form[action$="/hold"], .side form[action$="/take"]').length`); n != 0 {
			t.Errorf("%s: the manager is offered %d staff actions", size.name, n)
		}
		m.shot(size.name + "-conv-05-manager-fi")
	}
}

// A long message folds behind "Show more" and unfolds on a click.
func TestBrowserLongMessageFolds(t *testing.T) {
	f := setupOrg(t, convOrg())
	f.setPassword("lea.lead@example.com")
	long := strings.Repeat("Tämä rivi kertoo lisää palkkalaskelman taustoista.\n", 40)
	c, err := f.svc.Open(f.ctx, f.actor("cara.customer@acme.example"), conversation.NewRequest{Category: "payroll",
		Subject: "Pitkä selvitys", Body: long + "Viimeinen rivi."})
	if err != nil {
		t.Fatal(err)
	}
	p := newPage(t, f, artifacts(t), 1366, 900, false)
	p.login("lea.lead@example.com")
	p.open(fmt.Sprintf("/conversations/%d", c.ID))
	p.waitFor("the long message folds", "document.querySelector('.body.long.folded') && !document.querySelector('button.more').hidden")
	folded := eval[float64](p, "document.querySelector('.body.long').getBoundingClientRect().height")
	p.shot("conv-long-folded")
	p.do("show more", chromedp.Click(chromedp.CSS("button.more")))
	p.waitFor("it unfolds", "!document.querySelector('.body.long').classList.contains('folded') && document.querySelector('button.more').textContent === 'Näytä vähemmän'")
	if open := eval[float64](p, "document.querySelector('.body.long').getBoundingClientRect().height"); open <= folded {
		t.Errorf("unfolded %v px, folded %v px", open, folded)
	}
	p.shot("conv-long-open")
}

// The print view: printed, the page shows the thread and its quoted parts
// and hides the navigation, the forms and the side panel.
func TestBrowserPrintView(t *testing.T) {
	f := setupOrg(t, convOrg())
	f.setPassword("lea.lead@example.com")
	r, err := f.svc.Receive(f.ctx, conversation.Inbound{Raw: []byte(customerReply(t, "Verokortti")), DefaultCategory: "payroll"})
	if err != nil {
		t.Fatal(err)
	}
	p := newPage(t, f, artifacts(t), 1366, 900, false)
	p.login("lea.lead@example.com")
	p.open(fmt.Sprintf("/conversations/%d", r.ConversationID))
	shown := func(sel string) bool {
		return eval[bool](p, `(function(){ var e = document.querySelector('`+sel+`'); return !!e && getComputedStyle(e).display !== 'none'; })()`)
	}
	for _, sel := range []string{"aside.panel", "aside.side", "section.actions"} {
		if !shown(sel) {
			t.Fatalf("%s is hidden on screen", sel)
		}
	}
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatal(err)
	}
	p.waitFor("the print stylesheet applies", "matchMedia('print').matches")
	for _, sel := range []string{"aside.panel", "aside.side", "section.actions", ".conv-tools a"} {
		if shown(sel) {
			t.Errorf("%s is printed", sel)
		}
	}
	for _, sel := range []string{"ol.timeline", ".conv-head h1", "details.quoted"} {
		if !shown(sel) {
			t.Errorf("%s is not printed", sel)
		}
	}
	p.shot("conv-print")
}
