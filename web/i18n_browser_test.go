package web_test

import (
	"fmt"
	"testing"
)

// In a browser, at desktop and phone widths: the switch on the sign-in page
// changes the language of every page after it, signed in too, and <html
// lang> follows.
func TestBrowserLanguages(t *testing.T) {
	f := setupOrg(t, langOrg())
	conv := f.open("cara.customer@acme.example", "payroll", "Salary for October")
	f.setPassword("ben.payroll@example.com")
	dir := artifacts(t)
	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1366, 900, false}, {"phone", 390, 844, true}} {
		p := newPage(t, f, dir, size.width, size.height, size.mobile)
		p.open("/login")
		p.click(`nav.langs a[lang="sv"]`, "document.documentElement.lang === 'sv'")
		p.wantText("login in Swedish", "Logga in", "Glömt lösenordet?")
		p.shot(size.name + "-01-login-sv")
		p.click(`nav.langs a[lang="fi"]`, "document.documentElement.lang === 'fi'")
		p.wantText("login in Finnish", "Kirjaudu sisään", "Unohditko salasanasi?")
		p.shot(size.name + "-02-login-fi")

		p.login("ben.payroll@example.com")
		p.wantText("inbox in Finnish", "Saapuneet", "Salary for October", "juuri nyt")
		p.shot(size.name + "-03-inbox-fi")
		p.open(fmt.Sprintf("/conversations/%d", conv.ID))
		p.wantText("conversation in Finnish", "Lisää minut käsittelijäksi", "Ohjattu: Payroll team")
		p.shot(size.name + "-04-conversation-fi")
		p.click(`nav.langs a[lang="en"]`, "document.documentElement.lang === 'en'")
		if got := eval[string](p, "location.pathname"); got != fmt.Sprintf("/conversations/%d", conv.ID) {
			t.Errorf("%s: the switch went to %s, not back to the conversation", size.name, got)
		}
		p.wantText("conversation in English", "Add myself as Handler", "Routed to Payroll team")
		p.shot(size.name + "-05-conversation-en")
	}
}
