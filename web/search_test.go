package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"postdesk/conversation"
)

// searchOrg: one staff role and customers with Finnish names.
const searchOrg = `
listen: 127.0.0.1:18080 # never served: the organisation only
database_url: postgres://unused
secret: 0123456789abcdef0123456789abcdef
smtp: {host: 127.0.0.1, port: 10025, tls: none}
categories:
  - {key: payroll, name: Palkat, addresses: [palkat@example.com], roles: [payroll-team]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
users:
  - {email: sini.staff@example.com, name: Sini Staff, roles: [payroll-team]}
  - {email: aino.virtanen@acme.example, name: Aino Virtanen, company: Acme Oy}
  - {email: eero.heikkinen@acme.example, name: Eero Heikkinen, company: Acme Oy}
  - {email: kaisa.makela@acme.example, name: Kaisa Mäkelä, company: Acme Oy}
`

// The search in Finnish (and English), as staff, through the inbox's
// search box. What each kind of match rests on:
//
//   - inflected forms: the finnish Snowball stemmer brings palkka and
//     palkastani to one stem (palk), sairausloma and sairauslomalla, and
//     verokortti and verokortin. It does not do so for the -us nouns: korvaus
//     stays korvaus, korvaukset and korvauksen become korvauks, korvausta
//     korvau. Their shared part (korvau-) is searched as a prefix, and so is
//     the -nen names' (Virtanen: Virtasen);
//   - compounds: the stemmer does not split them, so korvaus is not a word
//     of lomakorvaus to full text. The trigram index finds a word inside the
//     subject (and inside a sender's name or address): korvaus finds
//     "Lomakorvaus puuttuu" and loma "Sairausloma". Inside a body a
//     compound's head is not found (korvaus does not find
//     ylityökorvauksia), only its start (ylityö does);
//   - names: the sender's name and address, by full text as words and by
//     trigram as parts (heikki finds Eero Heikkinen);
//   - partial words: any word of the text that starts with one of three
//     letters or more (lomak finds lomakorvaus); anywhere inside the subject
//     and the sender.
func TestSearchFinnish(t *testing.T) {
	f := setupOrg(t, searchOrg)
	convs := map[string]int64{}
	open := func(name, who, subject, body string) {
		t.Helper()
		c, err := f.svc.Open(f.ctx, f.actor(who), conversation.NewRequest{Category: "payroll", Subject: subject, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		convs[name] = c.ID
	}
	open("loma", "aino.virtanen@acme.example", "Lomakorvaus puuttuu", "Korvaukset puuttuvat kesäkuun palkasta.")
	open("palkka", "eero.heikkinen@acme.example", "Palkka ei tullut tilille", "Palkastani pidätettiin liikaa veroa.")
	open("sairaus", "kaisa.makela@acme.example", "Sairausloma", "Olin sairauslomalla viime viikon, lääkärintodistus liitteenä.")
	open("vero", "eero.heikkinen@acme.example", "Verokortti 2025", "Uuden verokortin muutos. Soitin Virtasen kanssa.")
	open("ylityo", "kaisa.makela@acme.example", "Ylityöt", "Ylityökorvauksia ei maksettu.")
	open("english", "eero.heikkinen@acme.example", "Question about my payslip", "The overtime compensation is missing.")

	page := f.login("sini.staff@example.com")
	for _, tc := range []struct {
		q     string
		finds string
	}{
		// inflected forms
		{"korvaus", "loma"},           // korvaukset (prefix korvau-) and the subject's lomakorvaus (trigram)
		{"korvaukset", "loma"},        // the form itself
		{"korvauksen", "loma"},        // another form: the same stem as korvaukset
		{"palkka", "loma palkka"},     // palkasta, palkastani: stem palk
		{"palkastani", "loma palkka"}, // and back
		{"sairausloma", "sairaus"},    // sairauslomalla
		{"verokortti", "vero"},        // verokortin
		// compounds
		{"loma", "loma sairaus"}, // heads and starts of the subjects' compounds
		{"ylityö", "ylityo"},     // the start of ylityökorvauksia in the body
		{"kesäkuu", "loma"},      // kesäkuun
		// names
		{"virtanen", "loma vero"}, // the sender Aino Virtanen; Virtasen in a body
		{"aino", "loma"},
		{"heikki", "palkka vero english"}, // part of the sender's name
		{"makela@acme", "sairaus ylityo"}, // part of the sender's address
		{"Mäkelä", "sairaus ylityo"},
		// partial words, several words, nothing
		{"lomak", "loma"},
		{"lääkärintod", "sairaus"},
		{"tilille palkka", "palkka"},
		{"overtime compensation", "english"},
		{"payslip", "english"},
		{"zzzz", ""},
	} {
		res, body := page.get("/?q=" + url.QueryEscape(tc.q))
		wantStatus(t, tc.q, res, body, http.StatusOK)
		var got []string
		for name, id := range convs {
			if strings.Contains(body, fmt.Sprintf(`href="/conversations/%d"`, id)) {
				got = append(got, name)
			}
		}
		slices.Sort(got)
		want := strings.Fields(tc.finds)
		slices.Sort(want)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("search %q finds %q, want %q", tc.q, got, want)
		}
	}
}
