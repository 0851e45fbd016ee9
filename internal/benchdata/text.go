package benchdata

// Invented names and the lines mail is made of. The Finnish lines use the
// inflected forms a search must find from their base forms (korvaukset,
// palkastani, sairauslomalla, verokortin) and the compounds it must split
// (lomakorvaus, ylityökorvaukset, kilometrikorvaus).

var firstNames = []string{"Aino", "Eero", "Helmi", "Juho", "Kaisa", "Lauri", "Mari", "Niko", "Oona", "Pekka",
	"Riikka", "Sami", "Tiina", "Veera", "Ville", "Anni", "Joonas", "Laura", "Matti", "Noora",
	"Emma", "Oskari", "Sanna", "Tuomas", "Elina", "Arttu", "Henna", "Jari", "Katja", "Olli"}

var lastNames = []string{"Aaltonen", "Heikkinen", "Hämäläinen", "Koskinen", "Laine", "Lehtonen", "Mäkelä", "Nieminen",
	"Räsänen", "Salminen", "Toivonen", "Virtanen", "Järvinen", "Karjalainen", "Lindqvist", "Mattila",
	"Ojala", "Peltonen", "Rantanen", "Saarinen", "Tuominen", "Väisänen", "Kallio", "Hiltunen",
	"Leinonen", "Manninen", "Nurmi", "Pesonen", "Seppälä", "Vainio"}

var companyKinds = []string{"Rakennus", "Kuljetus", "Logistiikka", "Konepaja", "Ravintolat", "Tilit", "Sähkö",
	"Metalli", "Puutarha", "Hoiva", "Kiinteistöt", "Paino"}

var staffNames = []string{"Pirjo Palkkanen", "Paavo Palkkala", "Heli Henkilöstö", "Harri Hallinto"}

var monthsGenFi = []string{"tammikuun", "helmikuun", "maaliskuun", "huhtikuun", "toukokuun", "kesäkuun",
	"heinäkuun", "elokuun", "syyskuun", "lokakuun", "marraskuun", "joulukuun"}

var monthsEn = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September",
	"October", "November", "December"}

var (
	payrollFi = []string{"Palkkalaskelma {mon_gen} ajalta", "Palkka ei tullut tilille {date}",
		"Ylityökorvaukset puuttuvat {mon_gen} palkasta", "Lomakorvaus työsuhteen päättyessä", "Verokortti {year}",
		"Palkastani pidätettiin liikaa veroa", "Palkanmaksu: {person}", "Lomarahat {year}", "Iltalisät ja vuorolisät"}
	payrollEn = []string{"Question about my payslip for {mon}", "Salary not received on {date}", "Overtime compensation missing",
		"Holiday compensation at the end of employment", "Tax card {year}", "Too much tax withheld from my salary",
		"Holiday bonus {year}"}
	expensesFi = []string{"Matkalasku {mon_gen} ajalta", "Kilometrikorvaukset {year}", "Päivärahat Tampereen matkalta",
		"Kulukorvaus odottaa hyväksyntää"}
	expensesEn = []string{"Travel expense claim for {mon}", "Mileage allowance {year}", "Per diem for the Tampere trip",
		"Expense reimbursement pending"}
	sickFi = []string{"Sairausloma {date}", "Lääkärintodistus: {person}", "Sairauspoissaolo {date} alkaen",
		"Lapsen sairastuminen {date}"}
	sickEn       = []string{"Sick leave from {date}", "Medical certificate for {person}", "Child's illness on {date}"}
	employmentFi = []string{"Uusi työntekijä {person} aloittaa {date}", "Työsuhteen päättyminen: {person}",
		"Työtodistus: {person}", "Vuosilomat {year}"}
	employmentEn = []string{"New employee {person} starting on {date}", "End of employment: {person}",
		"Employment certificate for {person}", "Annual leave {year}"}
)

func customerLines(fi bool) []string {
	if fi {
		return []string{
			"{mon_gen} palkkalaskelmassa ei näy ylityökorvauksia.",
			"Korvaukset puuttuvat kokonaan, vaikka tunnit on kirjattu järjestelmään.",
			"Palkastani on pidätetty enemmän veroa kuin verokortissa lukee.",
			"{person} oli sairauslomalla {date} alkaen, liitteenä lääkärintodistus.",
			"Voisitteko tarkistaa lomakorvauksen laskennan?",
			"Kilometrikorvaukset ja päivärahat ovat matkalaskussa liitteenä, yhteensä {euros} euroa.",
			"Työntekijämme {person} aloittaa {date}, tarvitsemme palkkatiedot.",
			"Lomarahan maksupäivä kiinnostaa koko henkilöstöä.",
			"Palkan pitäisi tulla tilille {date}, mutta mitään ei näy.",
			"Uusi verokortti on toimitettu verottajalle {date}.",
			"Iltalisät puuttuvat {hours} tunnin osalta.",
			"Kiitos nopeasta vastauksesta.",
			"Terveisin {first}",
		}
	}
	return []string{
		"My payslip for {mon} shows no overtime compensation.",
		"The allowances are missing although the hours are in the system.",
		"More tax was withheld from my salary than my tax card says.",
		"{person} has been on sick leave since {date}; the medical certificate is attached.",
		"Could you check how the holiday compensation was calculated?",
		"The mileage allowance and per diems are in the attached claim, {euros} euros in all.",
		"Our new employee {person} starts on {date}; we need the payroll details.",
		"Everyone is asking when the holiday bonus is paid.",
		"My salary should have arrived on {date} but nothing has come.",
		"Thanks for the quick answer.",
		"Best regards, {first}",
	}
}

func staffLines(fi bool) []string {
	if fi {
		return []string{
			"Kiitos viestistä, {first}. Tarkistamme asian.",
			"Korvaus maksetaan seuraavan palkanmaksun yhteydessä.",
			"Verokortti on päivitetty järjestelmään {date}.",
			"Palkkalaskelma on korjattu ja lähetetty uudelleen.",
			"Lomakorvaus on laskettu työehtosopimuksen mukaan.",
			"Ystävällisin terveisin, {staff}",
		}
	}
	return []string{
		"Thank you for your message, {first}. We are looking into it.",
		"The compensation will be paid with the next salary.",
		"Your tax card was updated in the system on {date}.",
		"The payslip has been corrected and sent again.",
		"Kind regards, {staff}",
	}
}

func noteLines(fi bool) []string {
	if fi {
		return []string{"Tarkistettu työaikakirjanpidosta: {hours} tuntia puuttui.", "Odottaa esimiehen hyväksyntää.",
			"Maksettu erillismaksuna {date}, {euros} euroa."}
	}
	return []string{"Checked against the timesheets: {hours} hours missing.", "Waiting for the manager's approval.",
		"Paid separately on {date}, {euros} euros."}
}
