package web

import (
	"net/http"
	"regexp"
	"slices"
	"time"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// webLangs are the web view's languages; the first is the fallback and the
// language of every message key (the keys are the English text).
var webLangs = []string{"en", "fi", "sv"}

var langTags = []language.Tag{language.English, language.Finnish, language.Swedish}

var langMatcher = language.NewMatcher(langTags)

// langCookie holds the language picked with the switch on every page; it is
// a preference, not a credential, so it is neither signed nor HttpOnly.
const langCookie = "postdesk_lang"

// langNames label the switch, each in its own language so that a reader
// who cannot read the current page still finds theirs.
var langNames = map[string]string{"en": "English", "fi": "Suomi", "sv": "Svenska"}

// cat is built once from the tables in i18n_messages.go.
var cat = buildCatalogue()

// known are the message keys, so that a text that is not a key (a domain
// error, a name) is shown as it is instead of being read as a format.
var known = map[string]bool{}

func buildCatalogue() *catalog.Builder {
	b := catalog.NewBuilder(catalog.Fallback(language.English))
	for _, m := range allMessages() {
		known[m[0]] = true
		for i, tag := range langTags {
			b.SetString(tag, m[0], m[i]) //nolint:errcheck // plain strings cannot fail
		}
	}
	for _, m := range allPlurals() {
		known[m.key] = true
		for i, tag := range langTags {
			f := m.forms[i]
			if err := b.Set(tag, m.key, plural.Selectf(1, "%d", plural.One, f[0], plural.Other, f[1])); err != nil {
				panic("web: plural " + m.key + ": " + err.Error())
			}
		}
	}
	return b
}

// allMessages are the catalogue's rows: the shared table and the tables of
// the panel, the conversation page and the composer, kept in files of their
// own so that each part of the view owns its texts.
func allMessages() [][3]string {
	return slices.Concat(messages, panelMessages, convMessages, composeMessages)
}

// allPlurals are the counting messages of every table.
func allPlurals() []pluralMsg {
	return slices.Concat(plurals, panelPlurals, convPlurals, composePlurals)
}

// plural is a message whose first argument is a count: forms hold the
// singular and the plural in en, fi and sv.
type pluralMsg struct {
	key   string
	forms [3][2]string
}

// locale renders text, numbers and times for one language in the
// organisation's zone.
type locale struct {
	lang string
	p    *message.Printer
	zone *time.Location
	now  func() time.Time
}

func newLocale(lang string, zone *time.Location, now func() time.Time) *locale {
	i := max(slices.Index(webLangs, lang), 0)
	return &locale{lang: webLangs[i], p: message.NewPrinter(langTags[i], message.Catalog(cat)), zone: zone, now: now}
}

// T translates key, a message key (English text) with fmt verbs for args.
func (l *locale) T(key string, args ...any) string {
	if len(args) == 0 && !known[key] {
		return key
	}
	return l.p.Sprintf(key, args...)
}

// dateLayouts are the absolute formats: the Finnish 1.2.2026 14.05, the
// Swedish ISO-like 2026-02-01 14:05 and the English 1 Feb 2026 14:05.
var dateLayouts = map[string]string{"en": "2 Jan 2006 15:04", "fi": "2.1.2006 15.04", "sv": "2006-01-02 15:04"}

// When is t as a date and time in the organisation's zone.
func (l *locale) When(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(l.zone).Format(dateLayouts[l.lang])
}

// Ago is t relative to now ("2 h ago"), the date itself after a week.
func (l *locale) Ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := l.now().Sub(t)
	switch {
	case d < time.Minute:
		return l.T("just now")
	case d < time.Hour:
		return l.T("%d min ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return l.T("%d h ago", int(d/time.Hour))
	case d < 7*24*time.Hour:
		return l.T("%d days ago", int(d/(24*time.Hour)))
	}
	return l.When(t)
}

// Wait is how long to wait, in seconds under two minutes, else in minutes.
func (l *locale) Wait(secs int) string {
	if secs < 120 {
		return l.T("%d seconds", secs)
	}
	return l.T("%d minutes", (secs+59)/60)
}

// Size is a byte count in the language's number format.
func (l *locale) Size(n int64) string {
	switch {
	case n < 1000:
		return l.p.Sprintf("%d B", n)
	case n < 1000*1000:
		return l.p.Sprintf("%.0f kB", float64(n)/1e3)
	default:
		return l.p.Sprintf("%.1f MB", float64(n)/1e6)
	}
}

// langOf picks the language of a request: the switch's cookie, else the
// signed-in user's language, else the browser's Accept-Language.
func langOf(r *http.Request, rq *request) string {
	if c, err := r.Cookie(langCookie); err == nil && slices.Contains(webLangs, c.Value) {
		return c.Value
	}
	if rq != nil && slices.Contains(webLangs, rq.actor.User.Language) {
		return rq.actor.User.Language
	}
	_, i := language.MatchStrings(langMatcher, r.Header.Get("Accept-Language"))
	return webLangs[i]
}

// loc is the locale of a request.
func (s *server) loc(r *http.Request, rq *request) *locale {
	return s.locales[langOf(r, rq)]
}

// setLang is the language switch: GET /lang?to=sv&back=/path remembers the
// choice for a year and goes back to the page it was made on.
func (s *server) setLang(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	if slices.Contains(webLangs, to) {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: to, Path: "/", MaxAge: 365 * 24 * 3600,
			Secure: s.secureFor(r), SameSite: http.SameSiteLaxMode})
	}
	http.Redirect(w, r, localPath(r.URL.Query().Get("back")), http.StatusSeeOther)
}

// eventPatterns read the English text the conversation package stores for
// an event, so that the timeline can show it in the page's language; an
// event whose text matches none is shown as stored.
var eventPatterns = []struct {
	kind string
	re   *regexp.Regexp
	key  string
}{
	{"routed", regexp.MustCompile(`^Routed to (.+)$`), msgKey("Routed to %s")},
	{"handler", regexp.MustCompile(`^(.+) is now the Handler$`), msgKey("%s is now the Handler")},
	{"reopened", regexp.MustCompile(`^Reopened by a reply from (.+)$`), msgKey("Reopened by a reply from %s")},
	{"reopened", regexp.MustCompile(`^Reopened by (.+)$`), msgKey("Reopened by %s")},
	{"receivers", regexp.MustCompile(`^Receivers changed to (.+)$`), msgKey("Receivers changed to %s")},
	{"solved", regexp.MustCompile(`^Marked Solved by (.+)$`), msgKey("Marked Solved by %s")},
}

// Event is an event's stored text in the locale's language.
func (l *locale) Event(kind, text string) string {
	for _, p := range eventPatterns {
		if p.kind != kind {
			continue
		}
		if m := p.re.FindStringSubmatch(text); m != nil {
			return l.T(p.key, m[1])
		}
	}
	return text
}

// forbiddenActions are the actions the conversation package names when it
// refuses one (its ErrForbidden wrapped as "take ownership: not allowed"),
// so that fail can say them in the page's language.
var forbiddenActions = []string{msgKey("set company or person"), msgKey("change receivers"),
	msgKey("open a conversation about another company"), msgKey("name a person of another company"),
	msgKey("internal note"), msgKey("take ownership"), msgKey("assign a Handler"), msgKey("change the company"),
	msgKey("set customer assignee"), msgKey("mark solved"), msgKey("reopen"), msgKey("legal hold")}

// invalidReasons are the conversation package's constant reasons for
// refusing a request as invalid, as invalidMessage words them; the pages
// show them through t, so these are translated and any other stays English.
var invalidReasons = []string{msgKey("Subject is empty."), msgKey("Subject holds a line break."),
	msgKey("Message is empty."), msgKey("Note is empty."), msgKey("At least one receiver role is needed."),
	msgKey("Set the company the conversation is about before assigning a customer."),
	msgKey("This reply was sent already."), msgKey("The held reply is empty.")}

// outboxStatuses are the outbox's states, which the page shows beside a
// mail not built yet.
var outboxStatuses = []string{msgKey("pending"), msgKey("sent"), msgKey("failed")}

// msgKey marks a string as a message key translated where it is shown
// (page titles, errors, flashes); TestCatalogueCoversEveryKey finds it.
func msgKey(s string) string { return s }
