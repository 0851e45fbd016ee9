package web

// composeMessages are the texts of the composer: attachments, canned answers, signatures: the key (the English text),
// then Finnish and Swedish, as in messages.
var composeMessages = [][3]string{}

// composePlurals are its counting messages, as in plurals.
var composePlurals = []pluralMsg{}
