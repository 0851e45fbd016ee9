package web

// panelMessages are the texts of the control panel, the views and the live list: the key (the English text),
// then Finnish and Swedish, as in messages.
var panelMessages = [][3]string{
	{"Open conversations",
		"Avoimet",
		"Öppna"},
	{"Skip to content", "Siirry sisältöön", "Hoppa till innehållet"},
	{"Control panel", "Ohjauspaneeli", "Kontrollpanel"},
	{"Menu", "Valikko", "Meny"},
	{"Messages", "Viestit", "Meddelanden"},
	{"Mine", "Omat", "Mina"},
	{"Unassigned", "Ei käsittelijää", "Utan handläggare"},
	{"Solved / archive", "Ratkaistut / arkisto", "Lösta / arkiv"},
	{"New activity", "Uutta toimintaa", "Ny aktivitet"},
	{"No conversations in this view.", "Tässä näkymässä ei ole keskusteluja.", "Inga konversationer i den här vyn."},
	{"Keyboard shortcuts", "Pikanäppäimet", "Kortkommandon"},
	{"Write a reply", "Kirjoita vastaus", "Skriv ett svar"},
	{"Write an internal note", "Kirjoita sisäinen muistiinpano", "Skriv en intern anteckning"},
	{"Next conversation", "Seuraava keskustelu", "Nästa konversation"},
	{"Previous conversation", "Edellinen keskustelu", "Föregående konversation"},
	{"Search conversations", "Hae keskusteluista", "Sök i konversationerna"},
	{"Show these shortcuts", "Näytä nämä pikanäppäimet", "Visa de här kortkommandona"},
	{"Close shortcuts", "Sulje pikanäppäimet", "Stäng kortkommandona"},
	{"More than %d conversations", "Yli %d keskustelua", "Fler än %d konversationer"},
	{"%s is replying…", "%s kirjoittaa vastausta…", "%s skriver ett svar…"},
}

// panelPlurals are its counting messages, as in plurals.
var panelPlurals = []pluralMsg{
	{"%d unread", [3][2]string{{"%d unread", "%d unread"}, {"%d lukematon", "%d lukematonta"}, {"%d oläst", "%d olästa"}}},
	{"%d conversations", [3][2]string{{"%d conversation", "%d conversations"}, {"%d keskustelu", "%d keskustelua"}, {"%d konversation", "%d konversationer"}}},
}
