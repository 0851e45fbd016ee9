package web_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// finnishOrg is the test organisation with Aino Handler and Cara Customer
// reading Finnish, as their language in the file says (no switch used).
var finnishOrg = strings.NewReplacer(
	"{email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team]}",
	"{email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team], language: fi}",
	"{email: cara.customer@acme.example, name: Cara Customer, company: Acme Oy}",
	"{email: cara.customer@acme.example, name: Cara Customer, company: Acme Oy, language: fi}",
).Replace(testConfig)

// The product sheet's flow, in Finnish, without a reload: a customer on her
// phone sends a new message with an attachment; it appears in the staff
// member's open inbox by itself; she takes it as Handler and answers; the
// answer appears on the customer's open page by itself, and her thanks on
// the Handler's; the Handler marks it Solved and finds it in the archive.
// The pages that wait for news are never touched by the test meanwhile (a
// mark set in the page would be gone after a reload).
func TestBrowserFinnishFlow(t *testing.T) {
	if strings.Count(finnishOrg, "language: fi") != 2 {
		t.Fatal("the organisation's edit went wrong")
	}
	f := setupOrg(t, finnishOrg, withLive(t))
	f.setPassword("aino.handler@example.com")
	f.setPassword("cara.customer@acme.example")
	dir := artifacts(t)
	untouched := func(p *page, what string) {
		t.Helper()
		if !eval[bool](p, "window.__untouched === true") {
			t.Fatalf("%s: the page was reloaded", what)
		}
	}

	aino := newPage(t, f, dir, 1366, 900, false)
	aino.login("aino.handler@example.com")
	if lang := eval[string](aino, "document.documentElement.lang"); lang != "fi" {
		t.Fatalf("Aino's inbox is in %q", lang)
	}
	aino.wantText("Aino's inbox", "Saapuneet", "Avoimet")
	aino.waitFor("Aino's stream", "document.documentElement.dataset.liveOpen === '1'")
	eval[bool](aino, "window.__untouched = true")
	aino.shot("01-aino-inbox")

	cara := newPage(t, f, dir, 390, 844, true)
	cara.login("cara.customer@acme.example")
	cara.open("/new")
	cara.wantText("the new message form", "Lähetä uusi viesti", "Lyhyt kuvaus", "Liitteet")
	file := filepath.Join(t.TempDir(), "palkkalaskelma-lokakuu.pdf")
	if err := os.WriteFile(file, []byte("%PDF-1.4\n% palkkalaskelma\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cara.do("write the message",
		chromedp.SetValue(chromedp.CSS("#new-form input[name=subject]"), "Lomakorvaus puuttuu"),
		chromedp.SendKeys(chromedp.CSS("#new-form textarea[name=body]"), "Hei, lokakuun palkasta puuttuu lomakorvaus."),
		chromedp.SetUploadFiles(chromedp.CSS("#new-form input[type=file]"), []string{file}))
	cara.waitFor("the file is listed", "document.querySelector('.file-list').innerText.indexOf('palkkalaskelma-lokakuu.pdf') >= 0")
	cara.shot("02-cara-new-message")
	cara.click("#new-form button.primary[type=submit]", "location.pathname.indexOf('/conversations/') === 0")
	cara.wantText("Cara's conversation", "Lomakorvaus puuttuu", "palkkalaskelma-lokakuu.pdf")
	cara.waitFor("Cara's stream", "document.documentElement.dataset.liveOpen === '1'")
	eval[bool](cara, "window.__untouched = true")
	cara.shot("03-cara-sent")
	path := eval[string](cara, "location.pathname")

	aino.waitFor("the new conversation in Aino's inbox", "document.querySelector('#live-list').innerText.indexOf('Lomakorvaus puuttuu') >= 0")
	untouched(aino, "Aino's inbox")
	aino.shot("04-aino-inbox-live")

	aino.click(fmt.Sprintf("#live-list a[href='%s']", path), "location.pathname === '"+path+"'")
	aino.wantText("the conversation", "Hei, lokakuun palkasta puuttuu lomakorvaus.", "Lisää minut käsittelijäksi")
	aino.click("form[action$='/take'] button", "document.querySelector('.flash')")
	aino.wantText("taken", "Aino Handler on nyt käsittelijä")
	aino.do("answer", chromedp.SendKeys(chromedp.CSS("form[action$='/reply'] textarea"),
		"Hei Cara, lomakorvaus maksetaan marraskuun palkan mukana."))
	aino.click("form[action$='/reply'] button[type=submit]", "document.querySelector('.flash')")
	aino.wantText("answered", "Odottaa asiakasta", "lomakorvaus maksetaan marraskuun palkan mukana")
	aino.waitFor("Aino's stream", "document.documentElement.dataset.liveOpen === '1'")
	eval[bool](aino, "window.__untouched = true")
	aino.shot("05-aino-answered")

	cara.waitFor("the answer on Cara's page", "document.querySelector('.timeline').innerText.indexOf('lomakorvaus maksetaan marraskuun palkan mukana') >= 0")
	untouched(cara, "Cara's conversation")
	cara.waitFor("the status and the Handler follow", "document.querySelector('aside.side').innerText.indexOf('Aino Handler') >= 0 && document.querySelector('.conv-head').innerText.indexOf('Odottaa asiakasta') >= 0")
	cara.shot("06-cara-answer-live")
	cara.do("thank", chromedp.SendKeys(chromedp.CSS("form[action$='/reply'] textarea"), "Kiitos nopeasta vastauksesta!"))
	cara.click("form[action$='/reply'] button[type=submit]", "document.querySelector('.flash')")

	aino.waitFor("Cara's thanks on Aino's page", "document.querySelector('.timeline').innerText.indexOf('Kiitos nopeasta vastauksesta!') >= 0")
	untouched(aino, "Aino's conversation")
	aino.shot("07-aino-thanks-live")
	aino.click("form[action$='/solve'] button", "document.querySelector('.flash')")
	aino.wantText("solved", "Ratkaistu")
	aino.click("#panel-views a[data-view=solved]", "location.search.indexOf('view=solved') >= 0")
	aino.wantText("the archive", "Ratkaistut / arkisto", "Lomakorvaus puuttuu")
	aino.shot("08-aino-archive")
}
