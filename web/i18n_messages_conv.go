package web

// convMessages are the texts of the conversation page and its side panel: the key (the English text),
// then Finnish and Swedish, as in messages.
var convMessages = [][3]string{
	{"(none)",
		"(ei mitään)",
		"(ingen)"},
	{"Company cleared by %s",
		"%s poisti yrityksen",
		"%s tog bort företaget"},
	{"Company set to %s by %s",
		"Yritykseksi asetettiin %s (%s)",
		"Företaget ändrades till %s (%s)"},
	{"Customer assignee removed by %s",
		"%s poisti asiakkaan vastuuhenkilön",
		"%s tog bort kundens ansvariga"},
	{"Customer assignee set to %s by %s",
		"Asiakkaan vastuuhenkilöksi asetettiin %s (%s)",
		"Kundens ansvariga ändrades till %s (%s)"},
	{"Details and actions",
		"Tiedot ja toiminnot",
		"Uppgifter och åtgärder"},
	{"Export as HTML",
		"Vie HTML-tiedostona",
		"Exportera som HTML"},
	{"Exported on %s by %s",
		"Viety %s, viejä %s",
		"Exporterad %s av %s"},
	{"Legal hold released by %s",
		"%s poisti oikeudellisen pidon",
		"%s upphävde det rättsliga kvarhållandet"},
	{"Legal hold set by %s",
		"%s asetti oikeudellisen pidon",
		"%s satte rättsligt kvarhållande"},
	{"Only a solved conversation can be reopened.",
		"Vain ratkaistun keskustelun voi avata uudelleen.",
		"Bara en löst konversation kan öppnas igen."},
	{"Person cleared by %s",
		"%s poisti henkilön",
		"%s tog bort personen"},
	{"Person set to %s by %s",
		"Henkilöksi asetettiin %s (%s)",
		"Personen ändrades till %s (%s)"},
	{"Print",
		"Tulosta",
		"Skriv ut"},
	{"Reply",
		"Vastaa",
		"Svara"},
	{"Show less",
		"Näytä vähemmän",
		"Visa mindre"},
	{"Show more",
		"Näytä lisää",
		"Visa mer"},
	{"Show quoted text",
		"Näytä lainattu teksti",
		"Visa citerad text"},
	{"The conversation is solved already.",
		"Keskustelu on jo ratkaistu.",
		"Konversationen är redan löst."},
	{"read",
		"lukeminen",
		"läsa"},
	{"reply",
		"vastaaminen",
		"svara"},
}

// convPlurals are its counting messages, as in plurals.
var convPlurals = []pluralMsg{}

// convRefusals are the conversation package's refusals of the status table
// and its names of refused actions, as the pages show them: through t, so
// the catalogue test finds them here.
var convRefusals = []string{msgKey("The conversation is solved already."), msgKey("Only a solved conversation can be reopened."),
	msgKey("read"), msgKey("reply")}

func init() {
	forbiddenActions = append(forbiddenActions, convRefusals[2:]...)
}
