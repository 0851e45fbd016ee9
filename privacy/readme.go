package privacy

import (
	"fmt"
	"time"
)

// readme is the export's README.txt in the person's language (Finnish or
// English; Swedish readers get English until the Swedish catalogue lands).
func readme(lang, addr string, at time.Time, r *ExportReport, withNotes bool) string {
	date := at.Format("2006-01-02 15:04 MST")
	if lang == "fi" {
		notes := "Sisäiset muistiinpanot ja toimitusraportit eivät ole mukana."
		if withNotes {
			notes = "Mukana ovat myös henkilökunnan sisäiset muistiinpanot ja toimitusraportit."
		}
		return fmt.Sprintf(`Tiedot, joita postdesk säilyttää osoitteesta %s
Koottu %s.

Keskusteluja: %d, viestejä: %d, liitteitä: %d.
%s

index.json     keskustelut, niiden viestit ja niitä koskevat lokimerkinnät
conversations/ NUMERO/ jokainen viesti .eml-tiedostona (avautuu sähköpostiohjelmassa)
               NUMERO/attachments/ liitteet sellaisinaan

Saapuneet viestit ovat täsmälleen sellaisina kuin ne vastaanotettiin.
Kysymykset tietojen käsittelystä: vastaa mihin tahansa viestiin tai ota
yhteyttä rekisterinpitäjään.
`, addr, date, r.Conversations, r.Messages, r.Attachments, notes)
	}
	notes := "Internal notes and delivery reports are not included."
	if withNotes {
		notes = "The staff's internal notes and delivery reports are included too."
	}
	return fmt.Sprintf(`What postdesk holds about %s
Gathered on %s.

Conversations: %d, messages: %d, attachments: %d.
%s

index.json     the conversations, their messages and the log entries about them
conversations/ NUMBER/ every message as an .eml file (opens in a mail program)
               NUMBER/attachments/ the attachments as they were sent

Mail received is exactly as it arrived. Questions about how this data is
processed: answer any of the messages or contact the controller.
`, addr, date, r.Conversations, r.Messages, r.Attachments, notes)
}
