package quote

import (
	"regexp"
	"strings"
)

// attributionPatterns match the line a client writes above the quoted
// original, after normalize. Each needs the shape the client produces (an
// opening word and a date, or the sender's address in brackets), so a
// sentence that merely ends in "wrote:" is not taken for one. The examples are
// the clients' output for Monday 2 November 2026 09:00.
var attributionPatterns = []*regexp.Regexp{
	// English. Gmail: "On Mon, 2 Nov 2026 at 09:00, Cara Customer
	// <cara@example.com> wrote:"; Apple Mail: "On 2 Nov 2026, at 09:00, Cara
	// Customer <cara@example.com> wrote:"; Thunderbird: "On 02/11/2026 09.00,
	// Cara Customer wrote:".
	regexp.MustCompile(`(?i)^on .*\d.* wrote:$`),
	// German. Gmail: "Am Mo., 2. Nov. 2026 um 09:00 Uhr schrieb Cara Customer
	// <cara@example.com>:"; Thunderbird and Apple Mail: "Am 02.11.2026 um
	// 09:00 schrieb Cara Customer:".
	regexp.MustCompile(`(?i)^am .*\d.* schrieb( .*)?:$`),
	// French. Gmail: "Le lun. 2 nov. 2026 à 09:00, Cara Customer
	// <cara@example.com> a écrit :" (French typography puts a no-break space
	// before the colon; normalize makes it a space).
	regexp.MustCompile(`(?i)^le .*\d.* a écrit ?:$`),
	// Spanish. Gmail: "El lun, 2 nov 2026 a las 9:00, Cara Customer
	// (<cara@example.com>) escribió:".
	regexp.MustCompile(`(?i)^el .*\d.* escribió ?:$`),
	// Dutch. Gmail: "Op ma 2 nov 2026 om 09:00 schreef Cara Customer
	// <cara@example.com>:"; Thunderbird: "Op 02-11-2026 om 09:00 schreef Cara
	// Customer:".
	regexp.MustCompile(`(?i)^op .*\d.* schreef( .*)?:$`),
	// Swedish, Danish, Norwegian: "kl" (klockan, klokken) before the time.
	// Gmail sv: "Den mån 2 nov. 2026 kl 09:00 skrev Cara Customer
	// <cara@example.com>:"; da: "Den man. 2. nov. 2026 kl. 09.00 skrev ...:";
	// nb: "man. 2. nov. 2026 kl. 09:00 skrev ...:"; Thunderbird sv: "Den
	// 2026-11-02 kl. 09:00, skrev Cara Customer:".
	regexp.MustCompile(`(?i)^.*\d.*\bkl\.? ?\d.* skrev( .*)?:$`),
	// Finnish, "klo"/"kello" before the time. Gmail: "ma 2.11.2026 klo 9.00
	// Cara Customer (cara@example.com) kirjoitti:"; Apple Mail: "2.11.2026
	// kello 9.00 Cara Customer <cara@example.com> kirjoitti:".
	regexp.MustCompile(`(?i)^.*\d.*\b(klo|kello) \d.* kirjoitti:$`),
	// Finnish, name first. Thunderbird and Outlook: "Cara Customer kirjoitti
	// 2.11.2026 kello 9.00:".
	regexp.MustCompile(`(?i)^.+ kirjoitti \d{1,2}\.\d{1,2}\.\d{2,4}.*:$`),
	// Any of these languages, the sender's address before the verb, as older
	// clients and some webmails write it: "Cara Customer <cara@example.com>
	// wrote:", "cara@example.com skrev:".
	regexp.MustCompile(`(?i)^(.*[<(\[]\S+@\S+[>)\]].*|\S+@\S+) (wrote|schrieb|a écrit|escribió|schreef|skrev|kirjoitti) ?:$`),
}

// maxAttribution bounds the line length tried against the patterns: a real
// attribution with a long name and address fits easily.
const maxAttribution = 300

func isAttribution(l string) bool {
	s := normalize(l)
	if len(s) > maxAttribution || !strings.HasSuffix(s, ":") {
		return false
	}
	for _, re := range attributionPatterns {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// Outlook's header block labels, by language (Outlook desktop and Outlook on
// the web; Thunderbird's quoted headers use "Date"/"Datum"). "De" is both
// French and Spanish.
var (
	fromLabels = set("from", "lähettäjä", "från", "von", "de", "fra", "van")
	dateLabels = set("sent", "date", "lähetetty", "päivämäärä", "skickat", "datum",
		"gesendet", "envoyé", "sendt", "dato", "verzonden", "enviado", "fecha")
	toLabels = set("to", "subject", "vastaanottaja", "aihe", "till", "ämne", "an",
		"betreff", "à", "objet", "til", "emne", "aan", "onderwerp", "para", "asunto")
)

// headerLabel returns the lower-case label of a "Label: value" line, or "".
// Outlook's HTML bolds the label, which text conversion writes as "*From:*";
// French puts a space before the colon ("De :").
func headerLabel(l string) string {
	s := strings.TrimLeft(normalize(l), "* ")
	c := strings.IndexByte(s, ':')
	if c <= 0 || c > 24 {
		return ""
	}
	return strings.ToLower(strings.Trim(s[:c], "* "))
}

// originalSeparators are the lines, between dashes, that Outlook
// ("-----Original Message-----") and Thunderbird ("-------- Original Message
// --------") put above a quoted original, by language.
var originalSeparators = set("original message", "alkuperäinen viesti",
	"ursprungligt meddelande", "ursprüngliche nachricht", "message d'origine",
	"oprindelig meddelelse", "opprinnelig melding", "oorspronkelijk bericht",
	"mensaje original")

// forwardSeparators are the dashed lines above a forwarded message: Gmail
// ("---------- Forwarded message ---------") and Thunderbird ("--------
// Forwarded Message --------"), by language.
var forwardSeparators = set("forwarded message", "välitetty viesti",
	"vidarebefordrat meddelande", "weitergeleitete nachricht", "message transféré",
	"videresendt meddelelse", "videresendt melding", "doorgestuurd bericht",
	"mensaje reenviado")

// appleForward are Apple Mail's lines above a forwarded message.
var appleForward = set("begin forwarded message:",
	"anfang der weitergeleiteten nachricht:", "début du message réexpédié :")

func isOriginalSeparator(l string) bool { return dashedIn(l, originalSeparators) }

func isForwardMarker(l string) bool {
	return dashedIn(l, forwardSeparators) || appleForward[strings.ToLower(normalize(l))]
}

// dashedIn reports whether l is a phrase of names between runs of at least
// three dashes.
func dashedIn(l string, names map[string]bool) bool {
	s := normalize(l)
	if !strings.HasPrefix(s, "---") || !strings.HasSuffix(s, "---") {
		return false
	}
	return names[strings.ToLower(strings.Trim(s, "- "))]
}

// isUnderscoreLine matches Outlook's separator above a quoted header block,
// 32 underscores in Outlook desktop.
func isUnderscoreLine(l string) bool {
	s := strings.TrimSpace(l)
	return len(s) >= 8 && strings.Trim(s, "_") == ""
}

// normalize makes the spaces clients write alike: no-break spaces (French
// typography, Outlook's HTML), tabs and runs of spaces become one space (all
// are unicode.IsSpace), the ends are trimmed, and a typographic apostrophe
// becomes "'".
func normalize(l string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(l), " "), "\u2019", "'")
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
