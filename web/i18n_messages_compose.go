package web

// composeMessages are the texts of the composer: attachments, canned answers, signatures: the key (the English text),
// then Finnish and Swedish, as in messages.
var composeMessages = [][3]string{
	// The composer (compose.html, compose.js).
	{"%s is too large: the files may be at most %d MB in all.", "%s on liian suuri: liitteitä saa olla yhteensä enintään %d Mt.", "%s är för stor: bilagorna får vara högst %d MB sammanlagt."},
	{"Remove the file %s", "Poista liite %s", "Ta bort bilagan %s"},
	{"Attached: %s", "Liitetty: %s", "Bifogad: %s"},
	{"pasted image", "liitetty kuva", "inklistrad bild"},
	{"Insert canned answer", "Lisää valmisvastaus", "Infoga standardsvar"},
	{"Choose an answer…", "Valitse vastaus…", "Välj ett svar…"},
	{"Insert", "Lisää", "Infoga"},
	{"Attach files", "Liitä tiedostoja", "Bifoga filer"},
	{"At most %d MB in all.", "Yhteensä enintään %d Mt.", "Högst %d MB sammanlagt."},
	{"You can also drop or paste files here.", "Voit myös vetää tai liittää tiedostot tähän.", "Du kan också dra hit eller klistra in filer."},

	// Canned answers (canned.html, page_canned.go).
	{"Canned answers", "Valmisvastaukset", "Standardsvar"},
	{"Each staff role's prepared answers, offered to its members in the message form, and the role's signature, added below each member's own.",
		"Kunkin henkilöstöroolin valmiit vastaukset, joita roolin jäsenet voivat käyttää viestilomakkeessa, sekä roolin allekirjoitus, joka lisätään jäsenen oman allekirjoituksen alle.",
		"Varje personalrolls färdiga svar, som rollens medlemmar kan använda i meddelandeformuläret, och rollens signatur, som läggs till under medlemmens egen."},
	{"Edit the answer", "Muokkaa vastausta", "Redigera svaret"},
	{"Delete the answer", "Poista vastaus", "Radera svaret"},
	{"Delete the answer %s", "Poista vastaus %s", "Radera svaret %s"},
	{"No canned answers yet.", "Valmisvastauksia ei ole vielä.", "Inga standardsvar ännu."},
	{"Signature of the role", "Roolin allekirjoitus", "Rollens signatur"},
	{"Save the signatures", "Tallenna allekirjoitukset", "Spara signaturerna"},
	{"Edit the canned answer", "Muokkaa valmisvastausta", "Redigera standardsvaret"},
	{"Add a canned answer", "Lisää valmisvastaus", "Lägg till ett standardsvar"},
	{"Answer title", "Vastauksen otsikko", "Svarets rubrik"},
	{"Answer text", "Vastauksen teksti", "Svarets text"},
	{"Placeholders, filled in for the conversation when the answer is inserted:", "Paikkamerkit, jotka täytetään keskustelun tiedoilla, kun vastaus lisätään:", "Platshållare, som fylls i för konversationen när svaret infogas:"},
	{"the customer's name", "asiakkaan nimi", "kundens namn"},
	{"the conversation's number", "keskustelun numero", "konversationens nummer"},
	{"the Handler's name", "käsittelijän nimi", "handläggarens namn"},
	{"your name", "oma nimesi", "ditt namn"},
	{"The canned answer was saved.", "Valmisvastaus tallennettiin.", "Standardsvaret sparades."},
	{"The canned answer was deleted.", "Valmisvastaus poistettiin.", "Standardsvaret raderades."},
	{"The role's signatures were saved.", "Roolin allekirjoitukset tallennettiin.", "Rollens signaturer sparades."},
	{"The canned answer needs a title.", "Valmisvastaus tarvitsee otsikon.", "Standardsvaret behöver en rubrik."},
	{"The title is too long.", "Otsikko on liian pitkä.", "Rubriken är för lång."},
	{"The canned answer is empty.", "Valmisvastaus on tyhjä.", "Standardsvaret är tomt."},
	{"The canned answer is too long.", "Valmisvastaus on liian pitkä.", "Standardsvaret är för långt."},
	{"Unknown language.", "Tuntematon kieli.", "Okänt språk."},
	{"The signature is too long.", "Allekirjoitus on liian pitkä.", "Signaturen är för lång."},
	{"Canned answers and role signatures belong to a staff role.", "Valmisvastaukset ja roolin allekirjoitukset kuuluvat henkilöstöroolille.", "Standardsvar och rollsignaturer hör till en personalroll."},
	{"manage canned answers", "hallita valmisvastauksia", "hantera standardsvar"},
	{"set a signature", "asettaa allekirjoitusta", "ange en signatur"},

	// Signatures on the settings page.
	{"Your signature", "Oma allekirjoituksesi", "Din signatur"},
	{"Put below your replies and new messages in the message form, where you can still change it; your role's signature follows it. Mail you answer from your own mail client carries that client's signature instead.",
		"Lisätään vastaustesi ja uusien viestiesi alle viestilomakkeessa, jossa voit vielä muuttaa sitä; roolisi allekirjoitus tulee sen perään. Omasta sähköpostiohjelmastasi lähettämissäsi vastauksissa on sen ohjelman allekirjoitus.",
		"Läggs under dina svar och nya meddelanden i meddelandeformuläret, där du ännu kan ändra den; din rolls signatur följer efter. Svar som du skickar från ditt eget e-postprogram har det programmets signatur."},
	{"Canned answers and role signatures", "Valmisvastaukset ja roolien allekirjoitukset", "Standardsvar och rollsignaturer"},
	{"Your signatures were saved.", "Allekirjoituksesi tallennettiin.", "Dina signaturer sparades."},
}

// composePlurals are its counting messages, as in plurals.
var composePlurals = []pluralMsg{}
