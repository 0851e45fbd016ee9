package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"postdesk/web"
)

// getLang is a GET with the browser's Accept-Language.
func (c *client) getLang(path, accept string) (*http.Response, string) {
	c.f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.f.srv.URL+path, nil)
	if err != nil {
		c.f.t.Fatal(err)
	}
	req.Header.Set("Accept-Language", accept)
	return c.do(req)
}

var htmlLang = regexp.MustCompile(`<html lang="([a-z]+)">`)

// wantLang checks the page's <html lang> and that it carries a text of
// that language.
func wantLang(t *testing.T, what, body, lang, text string) {
	t.Helper()
	m := htmlLang.FindStringSubmatch(body)
	if m == nil || m[1] != lang {
		t.Errorf("%s: <html lang> %v, want %q", what, m, lang)
	}
	if !strings.Contains(body, text) {
		t.Errorf("%s: no %q on the page", what, text)
	}
}

// langOrg gives Ben Finnish, Hilla and Cara Swedish and Aino English;
// everyone else has no language of their own.
func langOrg() string {
	return strings.NewReplacer(
		"{email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team]}",
		"{email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team], language: en}",
		"{email: ben.payroll@example.com, name: Ben Payroll, roles: [payroll-team]}",
		"{email: ben.payroll@example.com, name: Ben Payroll, roles: [payroll-team], language: fi}",
		"{email: hilla.hr@example.com, name: Hilla HR, roles: [hr-team]}",
		"{email: hilla.hr@example.com, name: Hilla HR, roles: [hr-team], language: sv}",
		"{email: cara.customer@acme.example, name: Cara Customer, company: Acme Oy}",
		"{email: cara.customer@acme.example, name: Cara Customer, company: Acme Oy, language: sv}",
	).Replace(testConfig)
}

// A signed-out page follows the browser's Accept-Language over fi, sv and
// en, English for any other language, and so do its form errors.
func TestPagesFollowAcceptLanguage(t *testing.T) {
	f := setupOrg(t, langOrg())
	c := f.anonymous()
	for _, tc := range []struct{ accept, lang, text string }{
		{"fi-FI,fi;q=0.9,en;q=0.5", "fi", "Kirjaudu sisään"},
		{"sv-FI,sv;q=0.9", "sv", "Logga in"},
		{"en-GB", "en", "Sign in"},
		{"de-DE,de;q=0.9", "en", "Sign in"},
		{"", "en", "Forgot your password?"},
	} {
		res, body := c.getLang("/login", tc.accept)
		wantStatus(t, "login "+tc.accept, res, body, http.StatusOK)
		wantLang(t, "login "+tc.accept, body, tc.lang, tc.text)
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/login", strings.NewReader(url.Values{"email": {"nobody@example.com"}, "password": {"wrong"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "sv")
	res, body := c.do(req)
	wantStatus(t, "wrong password", res, body, http.StatusUnauthorized)
	wantLang(t, "wrong password", body, "sv", "Fel e-postadress eller lösenord.")
	res, body = c.getLang("/reset/pdl_no-such-token", "fi")
	wantStatus(t, "a dead link", res, body, http.StatusGone)
	wantLang(t, "a dead link", body, "fi", "Tämä linkki ei enää kelpaa")
}

// A signed-in user's language wins over the browser's; the flash after an
// action is in it too.
func TestPagesInTheUsersLanguage(t *testing.T) {
	f := setupOrg(t, langOrg())
	conv := f.open("cara.customer@acme.example", "payroll", "Salary for October")
	ben := f.login("ben.payroll@example.com")
	res, body := ben.getLang("/", "en-US")
	wantStatus(t, "ben's inbox", res, body, http.StatusOK)
	wantLang(t, "ben's inbox", body, "fi", "Saapuneet")
	if !strings.Contains(body, "Lähetä uusi viesti") || !strings.Contains(body, "Odottaa asiakasta") {
		t.Error("ben's inbox: navigation or status labels not in Finnish")
	}
	path := "/conversations/" + strconv.FormatInt(conv.ID, 10)
	res, body = ben.post(path+"/take", nil)
	wantStatus(t, "take", res, body, http.StatusSeeOther)
	_, body = ben.follow(res)
	wantLang(t, "after take", body, "fi", "Olet nyt käsittelijä.")
	for _, want := range []string{"Ohjattu: Payroll team", "Ben Payroll on nyt käsittelijä", "Ben Payroll (sinä)"} {
		if !strings.Contains(body, want) {
			t.Errorf("the conversation lacks %q", want)
		}
	}
	if !strings.Contains(body, "juuri nyt") {
		t.Error("the conversation's times are not relative, in Finnish")
	}

	hilla := f.login("hilla.hr@example.com")
	res, body = hilla.getLang("/settings", "fi")
	wantStatus(t, "hilla's settings", res, body, http.StatusOK)
	wantLang(t, "hilla's settings", body, "sv", "Inställningar")

	// A refused action names what was refused, in the user's language.
	cara := f.login("cara.customer@acme.example")
	res, body = cara.post(path+"/take", nil)
	wantStatus(t, "cara takes", res, body, http.StatusForbidden)
	wantLang(t, "cara takes", body, "sv", "Inte tillåtet: ta ansvar.")

	// Without a language of her own, Lea's pages follow her browser;
	// Aino's English wins over hers.
	lea := f.login("lea.lead@example.com")
	_, body = lea.getLang("/", "fi-FI,fi;q=0.9")
	wantLang(t, "lea's inbox", body, "fi", "Lähetä uusi viesti")
	_, body = lea.getLang("/", "sv")
	wantLang(t, "lea's inbox", body, "sv", "Skicka nytt meddelande")
	aino := f.login("aino.handler@example.com")
	_, body = aino.getLang("/", "fi")
	wantLang(t, "aino's inbox", body, "en", "Send new message")
}

// The switch on every page sets the language for the pages that follow,
// signed in or not, and goes back only to a page of this site.
func TestLanguageSwitch(t *testing.T) {
	f := setupOrg(t, langOrg())
	c := f.anonymous()
	_, body := c.getLang("/login", "en")
	for _, code := range []string{"fi", "sv", "en"} {
		if !strings.Contains(body, `href="/lang?to=`+code+`&amp;back=%2flogin"`) {
			t.Errorf("the login page has no switch to %s", code)
		}
	}
	res, body := c.get("/lang?to=sv&back=/login")
	wantStatus(t, "switch", res, body, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/login" {
		t.Errorf("switch went to %q, want /login", loc)
	}
	_, body = c.getLang("/login", "fi")
	wantLang(t, "login after the switch", body, "sv", "Logga in")

	res, _ = c.get("/lang?to=fi&back=//evil.example/")
	if loc := res.Header.Get("Location"); loc != "/" {
		t.Errorf("switch went to %q, want /", loc)
	}
	res, _ = c.get("/lang?to=xx&back=/login")
	wantStatus(t, "unknown language", res, "", http.StatusSeeOther)
	_, body = c.get("/login")
	wantLang(t, "after an unknown language", body, "fi", "Kirjaudu sisään")

	ben := f.login("ben.payroll@example.com") // fi
	res, _ = ben.get("/lang?to=en&back=/settings")
	wantStatus(t, "ben's switch", res, "", http.StatusSeeOther)
	_, body = ben.get("/settings")
	wantLang(t, "ben after the switch", body, "en", "Settings")
}

// Times are shown in the organisation's time_zone, in the language's
// format, the absolute time on hover.
func TestTimesInTheOrganisationsZone(t *testing.T) {
	zone, err := time.LoadLocation("Asia/Kathmandu") // +05:45: no server runs in it by chance
	if err != nil {
		t.Fatal(err)
	}
	f := setupOrg(t, langOrg(), func(o *web.Options) { o.Location = zone })
	conv := f.open("cara.customer@acme.example", "payroll", "Salary for October")
	updated := f.conv(conv.ID).UpdatedAt
	for _, tc := range []struct{ who, layout, ago string }{
		{"ben.payroll@example.com", "2.1.2006 15.04", "juuri nyt"},
		{"aino.handler@example.com", "2 Jan 2006 15:04", "just now"},
	} {
		_, body := f.login(tc.who).get("/")
		want := `title="` + updated.In(zone).Format(tc.layout) + `">` + tc.ago + `</time>`
		if !strings.Contains(body, want) {
			t.Errorf("%s: inbox lacks %s", tc.who, want)
		}
	}
	f.advance(3 * time.Hour)
	_, body := f.login("ben.payroll@example.com").get("/")
	if !strings.Contains(body, ">3 h sitten</time>") {
		t.Error("three hours later the inbox does not say 3 h sitten")
	}
}
