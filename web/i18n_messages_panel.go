package web

// panelMessages are the texts of the control panel, the views and the live list: the key (the English text),
// then Finnish and Swedish, as in messages.
var panelMessages = [][3]string{}

// panelPlurals are its counting messages, as in plurals.
var panelPlurals = []pluralMsg{}
