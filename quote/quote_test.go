package quote

import (
	"strings"
	"testing"
)

// The history most cases quote: a customer's question, as Gmail and
// Thunderbird quote it in plain text.
const quotedQuestion = `> Hello,
>
> my November payslip shows the old tax rate. Could you check it?
>
> Best regards,
> Cara Customer`

const answer = `Hi Cara,

thanks, the new tax card is now in use and the difference will be paid
with the December salary.

Best regards,
Harri Handler
Payroll, Example Oy`

// outlookOriginal is the unmarked original Outlook puts under its header
// block.
const outlookOriginal = `
Hello,

my November payslip shows the old tax rate. Could you check it?

Best regards,
Cara Customer`

func TestStripClients(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// Gmail and Apple Mail: attribution, then "> " quoting.
		{"gmail en",
			answer + "\n\nOn Mon, 2 Nov 2026 at 09:00, Cara Customer <cara@example.com> wrote:\n\n" + quotedQuestion + "\n",
			answer},
		{"gmail en attribution wrapped",
			answer + "\n\nOn Mon, 2 Nov 2026 at 09:00, Cara Customer-Longname <cara.customer-longname@example.com>\nwrote:\n\n" + quotedQuestion + "\n",
			answer},
		{"apple mail en",
			answer + "\n\n> On 2 Nov 2026, at 09:00, Cara Customer <cara@example.com> wrote:\n> \n" + quotedQuestion,
			answer},
		{"apple mail en attribution unquoted",
			answer + "\n\nOn 2 Nov 2026, at 09:00, Cara Customer <cara@example.com> wrote:\n\n" + quotedQuestion,
			answer},
		{"thunderbird en",
			answer + "\n\nOn 02/11/2026 09.00, Cara Customer wrote:\n" + quotedQuestion + "\n",
			answer},
		{"gmail de",
			"Hallo Cara,\n\ndie neue Steuerkarte ist eingetragen.\n\nViele Grüße\nHarri\n\nAm Mo., 2. Nov. 2026 um 09:00 Uhr schrieb Cara Customer <cara@example.com>:\n\n" + quotedQuestion,
			"Hallo Cara,\n\ndie neue Steuerkarte ist eingetragen.\n\nViele Grüße\nHarri"},
		{"thunderbird de",
			"Hallo Cara,\n\nerledigt.\n\nAm 02.11.2026 um 09:00 schrieb Cara Customer:\n" + quotedQuestion,
			"Hallo Cara,\n\nerledigt."},
		{"gmail fr, no-break space before colon",
			"Bonjour Cara,\n\nc'est corrigé.\n\nLe lun. 2 nov. 2026 à 09:00, Cara Customer <cara@example.com> a écrit\u00a0:\n\n" + quotedQuestion,
			"Bonjour Cara,\n\nc'est corrigé."},
		{"thunderbird fr",
			"Bonjour,\n\nc'est corrigé.\n\nLe 02/11/2026 à 09:00, Cara Customer a écrit :\n" + quotedQuestion,
			"Bonjour,\n\nc'est corrigé."},
		{"gmail fi",
			"Hei Cara,\n\nuusi verokortti on nyt käytössä.\n\nTerveisin\nHarri\n\nma 2.11.2026 klo 9.00 Cara Customer (cara@example.com) kirjoitti:\n\n" + quotedQuestion,
			"Hei Cara,\n\nuusi verokortti on nyt käytössä.\n\nTerveisin\nHarri"},
		{"thunderbird fi",
			"Hei,\n\nkorjattu.\n\nCara Customer kirjoitti 2.11.2026 kello 9.00:\n" + quotedQuestion,
			"Hei,\n\nkorjattu."},
		{"gmail sv",
			"Hej Cara,\n\ndet nya skattekortet används nu.\n\nDen mån 2 nov. 2026 kl 09:00 skrev Cara Customer <cara@example.com>:\n\n" + quotedQuestion,
			"Hej Cara,\n\ndet nya skattekortet används nu."},
		{"thunderbird sv",
			"Hej,\n\nåtgärdat.\n\nDen 2026-11-02 kl. 09:00, skrev Cara Customer:\n" + quotedQuestion,
			"Hej,\n\nåtgärdat."},
		{"sv address before verb",
			"Hej,\n\nåtgärdat.\n\nCara Customer <cara@example.com> skrev:\n" + quotedQuestion,
			"Hej,\n\nåtgärdat."},
		{"gmail da",
			"Hej Cara,\n\ndet er rettet.\n\nDen man. 2. nov. 2026 kl. 09.00 skrev Cara Customer <cara@example.com>:\n\n" + quotedQuestion,
			"Hej Cara,\n\ndet er rettet."},
		{"gmail nb",
			"Hei Cara,\n\ndet er rettet.\n\nman. 2. nov. 2026 kl. 09:00 skrev Cara Customer <cara@example.com>:\n\n" + quotedQuestion,
			"Hei Cara,\n\ndet er rettet."},
		{"gmail nl",
			"Hoi Cara,\n\nhet is aangepast.\n\nOp ma 2 nov 2026 om 09:00 schreef Cara Customer <cara@example.com>:\n\n" + quotedQuestion,
			"Hoi Cara,\n\nhet is aangepast."},
		{"gmail es",
			"Hola Cara,\n\nya está corregido.\n\nEl lun, 2 nov 2026 a las 9:00, Cara Customer (<cara@example.com>) escribió:\n\n" + quotedQuestion,
			"Hola Cara,\n\nya está corregido."},

		// Outlook: a header block copied from the original, no "> ".
		{"outlook desktop en, underscore line",
			answer + "\n\n________________________________\nFrom: Cara Customer <cara@example.com>\nSent: Monday, November 2, 2026 9:00 AM\nTo: Payroll <payroll@example.com>\nSubject: Payslip\n" + outlookOriginal,
			answer},
		{"outlook desktop en, no underscore line",
			answer + "\n\nFrom: Cara Customer <cara@example.com>\nSent: Monday, November 2, 2026 9:00 AM\nTo: Payroll <payroll@example.com>\nCc: Mia Manager <mia@example.com>\nSubject: Payslip\n" + outlookOriginal,
			answer},
		{"outlook web en, bold labels",
			answer + "\n\n________________________________\n*From:* Cara Customer <cara@example.com>\n*Sent:* Monday, November 2, 2026 09:00\n*To:* Payroll <payroll@example.com>\n*Subject:* Payslip\n" + outlookOriginal,
			answer},
		{"outlook en, Date label",
			answer + "\n\nFrom: Cara Customer <cara@example.com>\nDate: Monday, 2 November 2026 at 9.00\nTo: Payroll <payroll@example.com>\nSubject: Payslip\n" + outlookOriginal,
			answer},
		{"outlook fi",
			"Hei,\n\nkorjattu.\n\nHarri\n\n________________________________\nLähettäjä: Cara Customer <cara@example.com>\nLähetetty: maanantai 2. marraskuuta 2026 9.00\nVastaanottaja: Palkat <payroll@example.com>\nAihe: Palkkalaskelma\n" + outlookOriginal,
			"Hei,\n\nkorjattu.\n\nHarri"},
		{"outlook sv",
			"Hej,\n\nåtgärdat.\n\nFrån: Cara Customer <cara@example.com>\nSkickat: den 2 november 2026 09:00\nTill: Lön <payroll@example.com>\nÄmne: Lönebesked\n" + outlookOriginal,
			"Hej,\n\nåtgärdat."},
		{"outlook de",
			"Hallo,\n\nerledigt.\n\nVon: Cara Customer <cara@example.com>\nGesendet: Montag, 2. November 2026 09:00\nAn: Lohn <payroll@example.com>\nBetreff: Lohnabrechnung\n" + outlookOriginal,
			"Hallo,\n\nerledigt."},
		{"outlook fr",
			"Bonjour,\n\nc'est corrigé.\n\nDe : Cara Customer <cara@example.com>\nEnvoyé : lundi 2 novembre 2026 09:00\nÀ : Paie <payroll@example.com>\nObjet : Bulletin de paie\n" + outlookOriginal,
			"Bonjour,\n\nc'est corrigé."},
		{"outlook da/nb",
			"Hej,\n\ndet er rettet.\n\nFra: Cara Customer <cara@example.com>\nSendt: 2. november 2026 09:00\nTil: Løn <payroll@example.com>\nEmne: Lønseddel\n" + outlookOriginal,
			"Hej,\n\ndet er rettet."},
		{"outlook nl",
			"Hoi,\n\naangepast.\n\nVan: Cara Customer <cara@example.com>\nVerzonden: maandag 2 november 2026 09:00\nAan: Salaris <payroll@example.com>\nOnderwerp: Loonstrook\n" + outlookOriginal,
			"Hoi,\n\naangepast."},
		{"outlook es",
			"Hola,\n\ncorregido.\n\nDe: Cara Customer <cara@example.com>\nEnviado: lunes, 2 de noviembre de 2026 9:00\nPara: Nóminas <payroll@example.com>\nAsunto: Nómina\n" + outlookOriginal,
			"Hola,\n\ncorregido."},
		{"outlook original message en",
			answer + "\n\n-----Original Message-----\nFrom: Cara Customer <cara@example.com>\nSent: Monday, November 2, 2026 9:00 AM\nTo: Payroll <payroll@example.com>\nSubject: Payslip\n" + outlookOriginal,
			answer},
		{"outlook original message fi",
			"Hei,\n\nkorjattu.\n\n-----Alkuperäinen viesti-----\nLähettäjä: Cara Customer <cara@example.com>\n" + outlookOriginal,
			"Hei,\n\nkorjattu."},
		{"outlook original message sv",
			"Hej,\n\nåtgärdat.\n\n-----Ursprungligt meddelande-----\nFrån: Cara Customer <cara@example.com>\n" + outlookOriginal,
			"Hej,\n\nåtgärdat."},
		{"outlook original message de",
			"Hallo,\n\nerledigt.\n\n-----Ursprüngliche Nachricht-----\nVon: Cara Customer <cara@example.com>\n" + outlookOriginal,
			"Hallo,\n\nerledigt."},
		{"outlook original message fr, typographic apostrophe",
			"Bonjour,\n\nc'est corrigé.\n\n-----Message d\u2019origine-----\nDe : Cara Customer <cara@example.com>\n" + outlookOriginal,
			"Bonjour,\n\nc'est corrigé."},
		{"thunderbird original message",
			answer + "\n\n-------- Original Message --------\nSubject: Payslip\nDate: Mon, 2 Nov 2026 09:00:00 +0200\nFrom: Cara Customer <cara@example.com>\nTo: payroll@example.com\n" + outlookOriginal,
			answer},

		// "> " quoting without an attribution.
		{"trailing quoted run with blank lines",
			"Hi Cara,\n\nfixed.\n\n> Hello,\n\n> my payslip is wrong.\n>\n\n> Cara\n",
			"Hi Cara,\n\nfixed."},
		{"interleaved",
			"Hi Cara,\n\nOn Mon, 2 Nov 2026 at 09:00, Cara Customer <cara@example.com> wrote:\n> Is the new tax card in use?\n\nYes, since 1 November.\n\n> And will the difference be paid back?\n\nYes, with the December salary.\n\nHarri\n",
			"Hi Cara,\n\nYes, since 1 November.\n\nYes, with the December salary.\n\nHarri"},
		{"interleaved, no blank lines",
			"> Is the new tax card in use?\nYes.\n> And the difference?\nPaid in December.",
			"Yes.\nPaid in December."},
		{"bottom-posting with attribution",
			"On Mon, 2 Nov 2026 at 09:00, Cara Customer <cara@example.com> wrote:\n" + quotedQuestion + "\n\nHi Cara,\n\nfixed.\n\nHarri\n",
			"Hi Cara,\n\nfixed.\n\nHarri"},
		{"bottom-posting without attribution",
			quotedQuestion + "\nFixed, Harri.",
			"Fixed, Harri."},

		// Signatures and line ends.
		{"signature before history",
			"Hi Cara,\n\nfixed.\n\n-- \nHarri Handler\nPayroll, Example Oy\n+358 40 000 0000\n\nOn Mon, 2 Nov 2026 at 09:00, Cara Customer <cara@example.com> wrote:\n" + quotedQuestion,
			"Hi Cara,\n\nfixed."},
		{"signature after interleaved answers",
			"> Is it fixed?\nYes.\n\n-- \nHarri",
			"Yes."},
		{"-- without the space is not a signature separator",
			"Hi Cara,\n\nfixed.\n\n--\nHarri",
			"Hi Cara,\n\nfixed.\n\n--\nHarri"},
		{"crlf",
			strings.ReplaceAll(answer+"\n\nOn Mon, 2 Nov 2026 at 09:00, Cara Customer <cara@example.com> wrote:\n"+quotedQuestion+"\n", "\n", "\r\n"),
			answer},
		{"crlf signature",
			"Hi Cara,\r\n\r\nfixed.\r\n-- \r\nHarri\r\n",
			"Hi Cara,\n\nfixed."},
		{"trailing blank lines",
			"Fixed.\n\n \n\t\n",
			"Fixed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Strip(tt.in); got != tt.want {
				t.Errorf("Strip:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestStripKeeps: text that only looks like history, and forwarded messages,
// stay.
func TestStripKeeps(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"wrote: in the middle of a sentence",
			"Hi,\n\nas the tax office wrote: the new card applies from 1.11.2026.\nOn Monday I will check it.",
			"Hi,\n\nas the tax office wrote: the new card applies from 1.11.2026.\nOn Monday I will check it."},
		{"sentence ending in wrote: without a date or address",
			"Hi,\n\nhere is what the tax office wrote:\n\nThe card applies from November.",
			"Hi,\n\nhere is what the tax office wrote:\n\nThe card applies from November."},
		{"From: line without the other header lines",
			"Hi,\n\nFrom: the payroll team, a reminder.\nThe December salary is paid on 18.12.2026.\nTo: all staff\n\nHarri",
			"Hi,\n\nFrom: the payroll team, a reminder.\nThe December salary is paid on 18.12.2026.\nTo: all staff\n\nHarri"},
		{"From: with a date line too far away",
			"From: the payroll team\na\nb\nc\nd\ne\nf\nDate: 2.11.2026\nSubject: salaries",
			"From: the payroll team\na\nb\nc\nd\ne\nf\nDate: 2.11.2026\nSubject: salaries"},
		{"underscore line alone",
			"Fixed.\n________________________________\nHarri Handler",
			"Fixed.\n________________________________\nHarri Handler"},
		{"attribution wrapped without quoted lines is not trusted",
			"Hi,\n\nOn Monday, 2 Nov 2026 at 09:00 the payroll team\nwrote:\n\nNew cards are in use.",
			"Hi,\n\nOn Monday, 2 Nov 2026 at 09:00 the payroll team\nwrote:\n\nNew cards are in use."},
		{"gmail forward",
			"Please see below.\n\n---------- Forwarded message ---------\nFrom: Tax Office <tax@example.com>\nDate: Mon, 2 Nov 2026 at 09:00\nSubject: Tax card\nTo: <cara@example.com>\n\nYour new tax card applies from 1 November.\n",
			"Please see below.\n\n---------- Forwarded message ---------\nFrom: Tax Office <tax@example.com>\nDate: Mon, 2 Nov 2026 at 09:00\nSubject: Tax card\nTo: <cara@example.com>\n\nYour new tax card applies from 1 November."},
		{"thunderbird forward, quoted thread inside is kept",
			"FYI\n\n-------- Forwarded Message --------\nSubject: Tax card\nDate: Mon, 2 Nov 2026 09:00:00 +0200\nFrom: Tax Office <tax@example.com>\nTo: cara@example.com\n\nYes.\n\nOn 01/11/2026 10.00, Cara Customer wrote:\n> Is it valid?",
			"FYI\n\n-------- Forwarded Message --------\nSubject: Tax card\nDate: Mon, 2 Nov 2026 09:00:00 +0200\nFrom: Tax Office <tax@example.com>\nTo: cara@example.com\n\nYes.\n\nOn 01/11/2026 10.00, Cara Customer wrote:\n> Is it valid?"},
		{"apple mail forward",
			"FYI\n\nBegin forwarded message:\n\nFrom: Tax Office <tax@example.com>\nDate: 2 November 2026 at 9.00\nTo: cara@example.com\nSubject: Tax card\n\nValid from November.",
			"FYI\n\nBegin forwarded message:\n\nFrom: Tax Office <tax@example.com>\nDate: 2 November 2026 at 9.00\nTo: cara@example.com\nSubject: Tax card\n\nValid from November."},
		{"reply above a forward keeps the reply and cuts the forward with the history",
			"Done.\n\nOn Mon, 2 Nov 2026 at 09:00, Cara Customer <cara@example.com> wrote:\n\n> ---------- Forwarded message ---------\n> From: Tax Office <tax@example.com>",
			"Done."},
		{"all quoted: returned unchanged",
			"> Hello,\n>\n> my payslip is wrong.\r\n",
			"> Hello,\n>\n> my payslip is wrong.\r\n"},
		{"only an Outlook header block: returned unchanged",
			"From: Cara Customer <cara@example.com>\nSent: Monday, November 2, 2026 9:00 AM\nTo: Payroll <payroll@example.com>\nSubject: Payslip\n\nHello,",
			"From: Cara Customer <cara@example.com>\nSent: Monday, November 2, 2026 9:00 AM\nTo: Payroll <payroll@example.com>\nSubject: Payslip\n\nHello,"},
		{"only a signature: returned unchanged",
			"-- \nHarri", "-- \nHarri"},
		{"empty", "", ""},
		{"blank", "\n\n", "\n\n"},
		{"no history", "Thanks!", "Thanks!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Strip(tt.in); got != tt.want {
				t.Errorf("Strip:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name, in, fresh, quoted string
	}{
		{"top-post",
			"Fixed.\n\nOn Mon, 2 Nov 2026 at 09:00, Cara Customer <cara@example.com> wrote:\n> Is it fixed?\n",
			"Fixed.",
			"On Mon, 2 Nov 2026 at 09:00, Cara Customer <cara@example.com> wrote:\n> Is it fixed?"},
		{"outlook with underscore line and signature",
			"Fixed.\n-- \nHarri\n\n________________________________\nFrom: Cara Customer <cara@example.com>\nSent: Monday, November 2, 2026 9:00 AM\nTo: Payroll <payroll@example.com>\nSubject: Payslip\n\nIs it fixed?",
			"Fixed.",
			"________________________________\nFrom: Cara Customer <cara@example.com>\nSent: Monday, November 2, 2026 9:00 AM\nTo: Payroll <payroll@example.com>\nSubject: Payslip\n\nIs it fixed?"},
		{"interleaved",
			"> One?\n\nYes.\n\n> Two?\n\nNo.",
			"Yes.\n\nNo.",
			"> One?\n> Two?"},
		{"nothing fresh",
			"> One?",
			"> One?",
			""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fresh, quoted := Split(tt.in)
			if fresh != tt.fresh || quoted != tt.quoted {
				t.Errorf("Split:\n got %q, %q\nwant %q, %q", fresh, quoted, tt.fresh, tt.quoted)
			}
			if s := Strip(tt.in); s != fresh {
				t.Errorf("Strip = %q, Split fresh = %q", s, fresh)
			}
		})
	}
}
