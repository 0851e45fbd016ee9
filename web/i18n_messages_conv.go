package web

// convMessages are the texts of the conversation page and its side panel: the key (the English text),
// then Finnish and Swedish, as in messages.
var convMessages = [][3]string{}

// convPlurals are its counting messages, as in plurals.
var convPlurals = []pluralMsg{}
