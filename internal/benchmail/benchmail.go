// Package benchmail writes deterministic mail that looks like what a payroll
// and HR desk receives, for benchmarks: plain text with an HTML alternative,
// Finnish and English, invented senders from many companies, one mail in ten
// with a PDF of about 100 KB, replies that answer an earlier mail of the
// same set (In-Reply-To and References), and a few auto-replies and bounces.
//
// The same (Options, index) always gives the same bytes, so a benchmark's
// figure and its baseline read identical mailboxes, and two runs compare.
// Fill puts a set into a Dovecot mailbox fast: by writing the Maildir files
// directly when the mailbox is local (as internal/dovecottest's are), or by
// APPEND over several connections at once.
package benchmail

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Options shape a set of mails; the zero value is usable.
type Options struct {
	// To is the desk's address every mail is sent to (default
	// "payroll@example.com").
	To string
	// Seed varies the set; the same seed gives the same mails.
	Seed uint64
	// AttachmentEvery: one mail in AttachmentEvery carries the PDF
	// (default 10; negative for none).
	AttachmentEvery int
	// AttachmentSize is the PDF's size before base64 (default 100 KB).
	AttachmentSize int
	// Senders is how many distinct people write (default 1,000): few
	// enough that conversations continue, many enough that no sender hits
	// the desk's per-sender hourly limit in a set of 10,000.
	Senders int
	// Start is the Date of the first mail (default 2026-11-02 08:00 EET);
	// each next one is a minute later.
	Start time.Time
}

func (o *Options) defaults() Options {
	c := Options{}
	if o != nil {
		c = *o
	}
	if c.To == "" {
		c.To = "payroll@example.com"
	}
	if c.AttachmentEvery == 0 {
		c.AttachmentEvery = 10
	}
	if c.AttachmentSize <= 0 {
		c.AttachmentSize = 100 << 10
	}
	if c.Senders <= 0 {
		c.Senders = 1000
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 11, 2, 8, 0, 0, 0, time.FixedZone("EET", 2*3600))
	}
	return c
}

// Kind is what a generated mail is.
type Kind string

// Kinds of generated mail.
const (
	KindRequest   Kind = "request"    // a customer's new question
	KindReply     Kind = "reply"      // a customer's follow-up to an earlier mail of the set
	KindAutoReply Kind = "auto-reply" // an out-of-office answer (Auto-Submitted: auto-replied)
	KindBounce    Kind = "bounce"     // a delivery status notification (multipart/report)
)

// Mail is one generated mail.
type Mail struct {
	Raw       []byte
	Kind      Kind
	MessageID string // without angle brackets
	From      string
	// InReplyTo is the index of the mail a reply answers, -1 for none.
	InReplyTo  int
	Attachment bool

	sender int // index of the person who wrote it
}

// Mails returns n mails, index 0 to n-1.
func Mails(n int, o *Options) []Mail {
	out := make([]Mail, n)
	for i := range out {
		out[i] = Generate(i, o)
	}
	return out
}

// Raws returns the raw sources of n mails.
func Raws(n int, o *Options) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = Generate(i, o).Raw
	}
	return out
}

// Invented people: no name here belongs to anyone in particular.
var (
	firstNames = []string{"Aino", "Eero", "Helmi", "Onni", "Venla", "Leevi", "Iida", "Väinö", "Kerttu", "Toivo",
		"Siiri", "Urho", "Elsa", "Paavo", "Lilja", "Arvo", "Saimi", "Oiva", "Hilja", "Reino",
		"Emma", "Oliver", "Grace", "Henry", "Chloe", "Samuel", "Ruby", "Isaac", "Alice", "Felix"}
	lastNames = []string{"Kivikko", "Järvelä", "Mäntylä", "Rantanen", "Salmikivi", "Korpela", "Haapala", "Lehtovaara",
		"Nurmela", "Peltomäki", "Ahola", "Kuusela", "Vainikka", "Honkala", "Ylitalo", "Pajunen",
		"Brookfield", "Ashcombe", "Fenwick", "Harrowby", "Lindqvist", "Marlowe", "Pennock", "Thistlewood"}
	companies = []string{"kivijalka", "saaristo-logistiikka", "pohjantuuli", "metsakoneet", "lumivaara", "kuparikettu",
		"harbourline", "northwind-care", "tammi-rakennus", "aurora-foods", "sisu-software", "koskivoima",
		"revontuli-hotels", "brightmoor", "viherpiha", "kallio-kuljetus", "meriharju", "silverfern", "tunturi-it", "pihlaja-ravintolat"}

	subjectsFI = []string{"Palkkalaskelma %s", "Lomarahat ja lomakorvaus", "Verokortin muutos", "Ylityökorvaukset kuukaudelta %s",
		"Sairausloman palkka", "Palkkani puuttuu tililtä", "Kilometrikorvaukset %s", "Työsuhteen päättyminen ja lopputili",
		"Palkkakuitti ei aukea", "Vanhempainvapaan palkka"}
	subjectsEN = []string{"Payslip for %s", "Holiday pay question", "Change of tax card", "Overtime for %s missing",
		"Sick leave pay", "Salary not received", "Mileage allowance %s", "Final pay after resignation",
		"Cannot open my payslip", "Parental leave pay"}
	months = []string{"tammikuu", "helmikuu", "maaliskuu", "huhtikuu", "toukokuu", "kesäkuu",
		"heinäkuu", "elokuu", "syyskuu", "lokakuu", "marraskuu", "joulukuu"}

	bodiesFI = []string{
		"Hei,\n\nhuomasin, että %s palkastani puuttuu ylityökorvaukset. Tein yhteensä %d tuntia ylitöitä, ja esimies hyväksyi ne järjestelmässä.\nVoisitteko tarkistaa asian ja kertoa, milloin korvaukset maksetaan?",
		"Hyvä palkkahallinto,\n\nlähetän liitteenä uuden verokorttini, joka on voimassa %s alkaen. Pidätysprosentti on %d,5 %%.\nPyydän, että muutos huomioidaan seuraavassa palkanmaksussa.",
		"Moi,\n\nlomarahani näyttää jääneen maksamatta %s. Olen ollut talossa jo %d vuotta, joten lomarahan pitäisi kuulua minulle työehtosopimuksen mukaan.\nKiitos etukäteen avusta!",
		"Hei,\n\nolin sairauslomalla %s ajan (%d päivää). Lääkärintodistus on toimitettu esimiehelleni. Maksetaanko sairausajan palkka normaalisti seuraavana palkkapäivänä?",
	}
	bodiesEN = []string{
		"Hello,\n\nmy payslip for %s shows %d hours less than I worked. I have attached my own time sheet.\nCould you please check and correct the difference?",
		"Hi,\n\nI changed my bank account in %s but the salary still went to the old account (%d days late now).\nWhat should I do to get it paid to the right one?",
		"Dear payroll team,\n\nI am leaving the company at the end of %s. When will I receive my final pay and the %d days of holiday compensation?",
		"Hello,\n\nI cannot open the payslip PDF for %s; it says the file is damaged. I tried %d times on two computers.",
	}
	followFI = []string{"Hei vielä,\n\nlisätietona: asia koskee myös edellistä kuukautta. Onko tähän tullut jo ratkaisua?",
		"Kiitos vastauksesta! Liitän vielä pyytämänne tositteen. Kertokaa, jos jotain puuttuu."}
	followEN = []string{"Hi again,\n\njust following up on my earlier mail: is there any news on this?",
		"Thanks for the quick answer. Here is the document you asked for; let me know if anything is missing."}
	signatures = []string{"Ystävällisin terveisin", "Terveisin", "Best regards", "Kind regards", "Kiittäen"}
)

// Generate returns mail number i of the set o describes.
func Generate(i int, o *Options) Mail {
	c := o.defaults()
	r := rand.New(rand.NewPCG(c.Seed, uint64(i)*0x9e3779b97f4a7c15+1))
	sender := r.IntN(c.Senders)
	p := person(c, sender)
	date := c.Start.Add(time.Duration(i) * time.Minute)
	id := fmt.Sprintf("%d.%x.%d@%s", date.Unix(), r.Uint32(), i, p.domain)
	m := Mail{MessageID: id, From: p.email, InReplyTo: -1, Kind: KindRequest, sender: sender}

	switch {
	case i%100 == 41:
		return bounce(c, i, r, date, m)
	case i%50 == 17:
		return autoReply(c, i, r, date, m, p)
	case i >= 5 && i%4 == 1:
		m.Kind = KindReply
		m.InReplyTo = i - 1 - r.IntN(min(i-1, 40))
		// A reply comes from the person who wrote the mail it answers.
		orig := Generate(m.InReplyTo, o)
		if orig.Kind == KindRequest || orig.Kind == KindReply {
			p = person(c, orig.sender)
			m.From, m.sender = p.email, orig.sender
			id = fmt.Sprintf("%d.%x.%d@%s", date.Unix(), r.Uint32(), i, p.domain)
			m.MessageID = id
			return customer(c, i, r, date, m, p, &orig)
		}
		m.Kind, m.InReplyTo = KindRequest, -1
	}
	return customer(c, i, r, date, m, p, nil)
}

type who struct {
	name, email, domain string
	finnish             bool
}

func person(c Options, n int) who {
	first := firstNames[n%len(firstNames)]
	last := lastNames[(n/len(firstNames))%len(lastNames)]
	company := companies[(n*7)%len(companies)]
	domain := company + ".example"
	if k := n / (len(firstNames) * len(lastNames)); k > 0 {
		domain = fmt.Sprintf("%s%d.example", company, k)
	}
	local := asciiFold(strings.ToLower(first + "." + last))
	if n >= len(firstNames) {
		local = fmt.Sprintf("%s%d", local, n%97)
	}
	return who{name: first + " " + last, email: local + "@" + domain, domain: domain, finnish: n%len(firstNames) < 20}
}

func asciiFold(s string) string {
	return strings.NewReplacer("ä", "a", "ö", "o", "å", "a", "Ä", "A", "Ö", "O").Replace(s)
}

func customer(c Options, i int, r *rand.Rand, date time.Time, m Mail, p who, orig *Mail) Mail {
	month := months[r.IntN(len(months))]
	var subject, text string
	if p.finnish {
		subject = fmt.Sprintf(subjectsFI[r.IntN(len(subjectsFI))], month)
		text = fmt.Sprintf(bodiesFI[r.IntN(len(bodiesFI))], month, 2+r.IntN(30))
	} else {
		subject = fmt.Sprintf(subjectsEN[r.IntN(len(subjectsEN))], month)
		text = fmt.Sprintf(bodiesEN[r.IntN(len(bodiesEN))], month, 2+r.IntN(30))
	}
	if orig != nil {
		subject = "Re: " + subjectOf(orig.Raw)
		follow := followEN
		if p.finnish {
			follow = followFI
		}
		text = follow[r.IntN(len(follow))] + "\n\n> " + strings.ReplaceAll(firstLine(bodyOf(orig.Raw)), "\n", "\n> ")
	}
	text += "\n\n" + signatures[r.IntN(len(signatures))] + ",\n" + p.name + "\n" + titleOf(p.domain)

	var b bytes.Buffer
	hdr(&b, "From", encodeName(p.name)+" <"+p.email+">")
	hdr(&b, "To", "Palkkahallinto <"+c.To+">")
	hdr(&b, "Subject", encodeWord(subject))
	hdr(&b, "Date", date.Format(time.RFC1123Z))
	hdr(&b, "Message-ID", "<"+m.MessageID+">")
	if orig != nil {
		hdr(&b, "In-Reply-To", "<"+orig.MessageID+">")
		hdr(&b, "References", "<"+orig.MessageID+">")
	}
	hdr(&b, "MIME-Version", "1.0")
	hdr(&b, "X-Mailer", []string{"Microsoft Outlook 16.0", "Apple Mail (2.3774)", "Thunderbird 128.4", "Gmail"}[r.IntN(4)])

	m.Attachment = c.AttachmentEvery > 0 && i%c.AttachmentEvery == c.AttachmentEvery-1
	outer := fmt.Sprintf("=_mixed_%d_%x", i, r.Uint64())
	alt := fmt.Sprintf("=_alt_%d_%x", i, r.Uint64())
	if m.Attachment {
		hdr(&b, "Content-Type", `multipart/mixed; boundary="`+outer+`"`)
		b.WriteString("\r\n--" + outer + "\r\n")
	}
	b.WriteString(`Content-Type: multipart/alternative; boundary="` + alt + "\"\r\n\r\n")
	b.WriteString("--" + alt + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(crlf(text))
	b.WriteString("\r\n--" + alt + "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(crlf(htmlOf(text)))
	b.WriteString("\r\n--" + alt + "--\r\n")
	if m.Attachment {
		name := fmt.Sprintf("palkkalaskelma_%s_%d.pdf", asciiFold(month), i)
		b.WriteString("\r\n--" + outer + "\r\nContent-Type: application/pdf; name=\"" + name + "\"\r\n" +
			"Content-Disposition: attachment; filename=\"" + name + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		writeBase64(&b, pdf(r, c.AttachmentSize))
		b.WriteString("\r\n--" + outer + "--\r\n")
	}
	m.Raw = b.Bytes()
	return m
}

func autoReply(c Options, i int, r *rand.Rand, date time.Time, m Mail, p who) Mail {
	m.Kind = KindAutoReply
	var b bytes.Buffer
	hdr(&b, "From", encodeName(p.name)+" <"+p.email+">")
	hdr(&b, "To", c.To)
	hdr(&b, "Subject", encodeWord("Automaattinen vastaus: Poissa toimistolta / Out of office"))
	hdr(&b, "Date", date.Format(time.RFC1123Z))
	hdr(&b, "Message-ID", "<"+m.MessageID+">")
	hdr(&b, "Auto-Submitted", "auto-replied")
	hdr(&b, "X-Auto-Response-Suppress", "All")
	hdr(&b, "MIME-Version", "1.0")
	hdr(&b, "Content-Type", "text/plain; charset=utf-8")
	hdr(&b, "Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	b.WriteString(crlf(fmt.Sprintf("Olen lomalla %d.%d. asti enkä lue sähköpostia.\nI am on holiday until %d November and not reading mail.\n\n%s",
		1+r.IntN(28), 1+r.IntN(12), 1+r.IntN(28), p.name)))
	m.Raw = b.Bytes()
	return m
}

func bounce(c Options, i int, r *rand.Rand, date time.Time, m Mail) Mail {
	m.Kind = KindBounce
	m.From = "mailer-daemon@mx.example.net"
	m.MessageID = fmt.Sprintf("%d.dsn.%x.%d@mx.example.net", date.Unix(), r.Uint32(), i)
	gone := person(c, r.IntN(c.Senders))
	boundary := fmt.Sprintf("=_dsn_%d_%x", i, r.Uint64())
	var b bytes.Buffer
	hdr(&b, "From", "Mail Delivery System <"+m.From+">")
	hdr(&b, "To", c.To)
	hdr(&b, "Subject", "Undelivered Mail Returned to Sender")
	hdr(&b, "Date", date.Format(time.RFC1123Z))
	hdr(&b, "Message-ID", "<"+m.MessageID+">")
	hdr(&b, "Auto-Submitted", "auto-replied")
	hdr(&b, "MIME-Version", "1.0")
	hdr(&b, "Content-Type", `multipart/report; report-type=delivery-status; boundary="`+boundary+`"`)
	b.WriteString("\r\n--" + boundary + "\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	b.WriteString(crlf("This is the mail system at host mx.example.net.\n\nYour message could not be delivered to " + gone.email + ": the mailbox does not exist.\n"))
	b.WriteString("\r\n--" + boundary + "\r\nContent-Type: message/delivery-status\r\n\r\n")
	b.WriteString(crlf("Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; " + gone.email +
		"\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n"))
	b.WriteString("\r\n--" + boundary + "\r\nContent-Type: text/rfc822-headers\r\n\r\n")
	b.WriteString(crlf(fmt.Sprintf("From: %s\nTo: %s\nSubject: Vastaus kysymykseesi\nMessage-ID: <%x.%d@postdesk.example.com>\n",
		c.To, gone.email, r.Uint64(), i)))
	b.WriteString("\r\n--" + boundary + "--\r\n")
	m.Raw = b.Bytes()
	return m
}

func hdr(b *bytes.Buffer, k, v string) {
	b.WriteString(k)
	b.WriteString(": ")
	b.WriteString(v)
	b.WriteString("\r\n")
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// encodeWord makes a header value ASCII (RFC 2047 B encoding) when it is not.
func encodeWord(s string) string {
	for _, r := range s {
		if r >= 0x80 {
			return "=?utf-8?b?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?="
		}
	}
	return s
}

func encodeName(s string) string {
	if e := encodeWord(s); e != s {
		return e
	}
	return `"` + s + `"`
}

func htmlOf(text string) string {
	var b strings.Builder
	b.WriteString("<html><head><meta charset=\"utf-8\"></head><body style=\"font-family:Calibri,sans-serif\">\n")
	for _, para := range strings.Split(text, "\n\n") {
		b.WriteString("<p>")
		b.WriteString(strings.ReplaceAll(strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(para), "\n", "<br>\n"))
		b.WriteString("</p>\n")
	}
	b.WriteString("</body></html>")
	return b.String()
}

func titleOf(domain string) string {
	name, _, _ := strings.Cut(domain, ".")
	name = strings.ReplaceAll(name, "-", " ")
	return strings.ToUpper(name[:1]) + name[1:] + " Oy"
}

// pdf is a small valid-looking PDF padded with incompressible bytes to size.
func pdf(r *rand.Rand, size int) []byte {
	head := "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n3 0 obj << /Length %d >> stream\n"
	out := make([]byte, 0, size)
	out = fmt.Appendf(out, head, size)
	for len(out) < size-32 {
		out = append(out, byte(r.Uint32()))
	}
	return append(out, "\nendstream endobj\n%%EOF\n"...)
}

func writeBase64(b *bytes.Buffer, data []byte) {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n")
}

func subjectOf(raw []byte) string {
	for _, line := range strings.Split(string(headerOf(raw)), "\r\n") {
		if v, ok := strings.CutPrefix(line, "Subject: "); ok {
			if e, ok := strings.CutPrefix(v, "=?utf-8?b?"); ok {
				if d, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(e, "?=")); err == nil {
					v = string(d)
				}
			}
			return strings.TrimPrefix(v, "Re: ")
		}
	}
	return ""
}

func headerOf(raw []byte) []byte {
	h, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	return h
}

// bodyOf is the first text/plain part's text, for quoting in a reply.
func bodyOf(raw []byte) string {
	_, rest, ok := bytes.Cut(raw, []byte("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"))
	if !ok {
		return ""
	}
	text, _, _ := bytes.Cut(rest, []byte("\r\n--"))
	return strings.ReplaceAll(string(text), "\r\n", "\n")
}

func firstLine(s string) string {
	paras := strings.SplitN(s, "\n\n", 3)
	if len(paras) > 1 {
		return paras[1]
	}
	return s
}
