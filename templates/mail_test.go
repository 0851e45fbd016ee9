package templates_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postdesk/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// golden is the fixed data every mail is rendered with: an invented
// organisation, with text that needs escaping in HTML and a name with
// non-ASCII letters.
func golden(name string) *templates.Data {
	d := &templates.Data{
		Number:    1042,
		Subject:   "Salary for October & tax card",
		Category:  "Payroll",
		Link:      "https://desk.example.com/conversations/77",
		Recipient: templates.Person{Name: "Aino Handler", Email: "aino.handler@example.com"},
		Customer:  templates.Person{Name: "Cara Customer", Email: "cara.customer@acme.example"},
		Handler:   templates.Person{Name: "Aino Handler", Email: "aino.handler@example.com"},
		Author:    templates.Person{Name: "Cara Customer", Email: "cara.customer@acme.example"},
		Text:      "Hello,\n\nmy October salary was 200 € short. Is the <new> tax card in use?\n\nCara",
		Attachments: []templates.File{
			{Name: "verokortti 2025.pdf", Size: 48213},
			{Name: "palkkalaskelma.png", Size: 1_534_000},
		},
	}
	switch name {
	case "answer":
		d.Recipient, d.Author = d.Customer, d.Handler
		d.Text = "Hi Cara,\n\nthe new tax card is in use from November; the difference is paid on the 15th.\n\nAino"
		d.Attachments = []templates.File{{Name: "correction.pdf", Size: 900}}
	case "solved", "received", "too_large", "signin_link":
		d.Recipient = d.Customer
		if name == "signin_link" {
			d.Link = "https://desk.example.com/link/pdl_sample-token"
		}
	case "password_reset":
		d.Link = "https://desk.example.com/reset/pdl_sample-token"
		d.Number, d.Subject = 0, ""
	case "delivery_failed":
		d.Failure = templates.Failure{Address: "cara.customer@acme.example", Reason: "SMTP error 550: 5.1.1 no such user", Template: "answer"}
	case "quarantined":
		d.Subject = "Mail could not be processed"
		d.Text = "postdesk could not process this mail (mailbox payroll, UIDVALIDITY 1, UID 7, 6210 bytes) and kept it unread by the rules: panic: boom"
	case templates.Secure:
		// As outbound builds it: the kind, who, where; nothing of the content.
		d.Kind, d.Subject, d.Text, d.Attachments = "new_conversation", "", "", nil
	case "mailbox_alert":
		d.Link = "https://desk.example.com/"
		d.Mailbox, d.Reason = "payroll", "no successful connection for 1h5m0s (last error: login: NO [AUTHENTICATIONFAILED] Authentication failed.)"
	}
	return d
}

func TestGolden(t *testing.T) {
	set, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range templates.Names {
		for _, lang := range templates.Languages {
			t.Run(name+"."+lang, func(t *testing.T) {
				r, err := set.Render(name, lang, golden(name))
				if err != nil {
					t.Fatal(err)
				}
				compareGolden(t, name+"."+lang, r)
			})
		}
	}
}

// compareGolden compares a rendered mail with its golden files (or, with
// -update, writes them).
func compareGolden(t *testing.T, base string, r templates.Rendered) {
	t.Helper()
	for _, part := range []struct{ ext, got string }{{"subject", r.Subject + "\n"}, {"txt", r.Text}, {"html", r.HTML}} {
		file := filepath.Join("testdata", "golden", base+"."+part.ext)
		if *update {
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(part.got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (run go test ./templates -update to write it)", err)
		}
		if part.got != string(want) {
			t.Errorf("%s differs from the golden file (go test ./templates -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", file, part.got, want)
		}
	}
}

// The secure mail, for every kind of mail it stands for, in every
// language: golden files, and not a word of the conversation even when
// the data it is given holds some (outbound blanks it; this is the second
// wall).
func TestSecureMailCarriesNoContent(t *testing.T) {
	set, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range templates.SecureKinds {
		for _, lang := range templates.Languages {
			t.Run(kind+"."+lang, func(t *testing.T) {
				d := golden(templates.Secure)
				d.Kind = kind
				if kind == "answer" {
					d.Recipient, d.Author = d.Customer, d.Handler
				}
				if kind == "delivery_failed" {
					d.Failure = templates.Failure{Address: "cara.customer@acme.example", Reason: "SMTP error 550: 5.1.1 no such user", Template: "answer"}
				}
				r, err := set.Render(templates.Secure, lang, d)
				if err != nil {
					t.Fatal(err)
				}
				compareGolden(t, "secure-"+kind+"."+lang, r)
				if !strings.Contains(r.Text, d.Link) || !strings.Contains(r.HTML, d.Link) || !strings.Contains(r.Text, "#1042") {
					t.Errorf("no number or link:\n%s", r.Text)
				}
				leaky := *d
				leaky.Subject, leaky.Text = "Sairausloma diagnoosi", "palkka 4321 euroa"
				leaky.Attachments = []templates.File{{Name: "lääkärintodistus.pdf", Size: 10}}
				r, err = set.Render(templates.Secure, lang, &leaky)
				if err != nil {
					t.Fatal(err)
				}
				for _, word := range []string{"Sairausloma", "diagnoosi", "4321", "lääkärintodistus"} {
					if strings.Contains(r.Subject+r.Text+r.HTML, word) {
						t.Errorf("the secure mail shows %q", word)
					}
				}
			})
		}
	}
}

// Every mail, in every language, has a one-line subject naming the
// conversation's subject (a mailbox alert, which has no conversation, names
// the mailbox), a text body and an HTML document with the link.
func TestEveryMailRenders(t *testing.T) {
	set, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range templates.Names {
		for _, lang := range templates.Languages {
			d := golden(name)
			r, err := set.Render(name, lang, d)
			if err != nil {
				t.Fatalf("%s.%s: %v", name, lang, err)
			}
			want := d.Subject
			switch name {
			case "mailbox_alert":
				want = d.Mailbox
			case "received", "signin_link", "password_reset":
				want = "" // carries no word of the sender's: see TestReceiptRepeatsNothing
			case templates.Secure:
				want = "" // carries no content: see TestSecureMailCarriesNoContent
			}
			if !strings.Contains(r.Subject, want) || strings.ContainsAny(r.Subject, "\r\n") {
				t.Errorf("%s.%s: subject %q", name, lang, r.Subject)
			}
			if !strings.Contains(r.Text, d.Link) || !strings.HasPrefix(r.HTML, "<!DOCTYPE html>") || !strings.Contains(r.HTML, `lang="`+lang+`"`) {
				t.Errorf("%s.%s: text or HTML lacks the link or the document frame:\n%s\n%s", name, lang, r.Text, r.HTML)
			}
		}
	}
}

// The acknowledgement goes to whatever From a new mail had, which anyone can
// forge: it carries the number and the link, never the subject or the text
// the sender chose, so it cannot carry a spoofer's message to a victim.
func TestReceiptRepeatsNothing(t *testing.T) {
	set, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range templates.Languages {
		d := golden("received")
		d.Subject, d.Text = "Your account is locked: log in at evil.example", "Call +358 40 000 0000 now"
		d.Author = templates.Person{Name: "Attacker", Email: "evil@evil.example"}
		r, err := set.Render("received", lang, d)
		if err != nil {
			t.Fatal(err)
		}
		// The HTML's <title> shows Data.Subject, which outbound leaves empty
		// for this template; the body must not need it.
		_, body, _ := strings.Cut(r.HTML, "</head>")
		for _, part := range []string{r.Subject, r.Text, body} {
			if strings.Contains(part, "evil.example") || strings.Contains(part, "+358") {
				t.Errorf("received.%s repeats the sender's words:\n%s", lang, part)
			}
		}
		if !strings.Contains(r.Text, "#1") || !strings.Contains(r.Text, d.Link) {
			t.Errorf("received.%s lacks the number or the link:\n%s", lang, r.Text)
		}
	}
}

// A display name posing as another address is shown as the real address,
// with the name marked.
func TestNotificationShowsRealAddress(t *testing.T) {
	set, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	d := golden("customer_reply")
	d.Author = templates.Person{Name: "aino@example.com", Email: "evil@x.example"}
	r, err := set.Render("customer_reply", "en", d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, `evil@x.example (display name "aino@example.com" is not this address) wrote`) {
		t.Errorf("the sender is not shown by the real address:\n%s", r.Text)
	}
	r, err = set.Render("customer_reply", "sv", d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, `evil@x.example (visningsnamnet "aino@example.com" är inte den här adressen) skrev`) {
		t.Errorf("the sender is not shown by the real address in Swedish:\n%s", r.Text)
	}
}

func TestLanguageFallsBackToEnglish(t *testing.T) {
	set, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	de, err := set.Render("solved", "de", golden("solved"))
	if err != nil {
		t.Fatal(err)
	}
	en, err := set.Render("solved", "en", golden("solved"))
	if err != nil {
		t.Fatal(err)
	}
	if de != en {
		t.Errorf("an unknown language should render English:\n%s\n%s", de.Text, en.Text)
	}
	if _, err := set.Render("no_such_mail", "en", golden("solved")); err == nil {
		t.Error("an unknown template rendered")
	}
}

// Customer text, subjects and names reach the HTML only escaped; the text
// body keeps them as written.
func TestHTMLEscapesUserInput(t *testing.T) {
	set, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range templates.Names {
		for _, lang := range templates.Languages {
			d := golden(name)
			d.Subject = `Salary <script>alert("subject")</script>`
			d.Text = `Hi <script>alert("text")</script> <img src=x onerror=alert(1)>`
			d.Customer.Name = `<b>Cara</b>`
			d.Recipient.Name = `<b>Cara</b>`
			d.Author.Name = `<b>Cara</b>`
			d.Attachments = []templates.File{{Name: `<svg onload=alert(2)>.pdf`, Size: 1}}
			d.Link = `javascript:alert(3)`
			// A mailbox alert quotes the server's error, which is outside input too.
			d.Mailbox, d.Reason = `<script>alert("subject")</script>`, `<script>alert("reason")</script>`
			r, err := set.Render(name, lang, d)
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"<script", "<img", "<b>", "<svg", `href="javascript:`} {
				if strings.Contains(r.HTML, bad) {
					t.Errorf("%s.%s: HTML holds %q:\n%s", name, lang, bad, r.HTML)
				}
			}
			// received and the link mails never repeat what a sender wrote.
			quiet := name == "received" || name == "signin_link" || name == "password_reset" || name == templates.Secure
			if !strings.Contains(r.HTML, "&lt;script&gt;") && !quiet {
				t.Errorf("%s.%s: the subject or text is not shown escaped:\n%s", name, lang, r.HTML)
			}
			if !strings.Contains(r.Subject, `<script>alert("subject")</script>`) && !quiet {
				t.Errorf("%s.%s: the subject is plain text and must not be escaped: %q", name, lang, r.Subject)
			}
		}
	}
}

func TestOverrideReplacesOneFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "mail"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A folder also holding the web view's overrides, which are not ours.
	if err := os.MkdirAll(filepath.Join(dir, "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web", "layout.html"), []byte("{{nope"), 0o644); err != nil {
		t.Fatal(err)
	}
	override := "{{define \"subject\"}}Ratkaistu ✔ {{.Subject}}{{end -}}\nHei {{.Recipient.Name}}, asia on hoidettu.\n{{template \"footer\" .}}"
	if err := os.WriteFile(filepath.Join(dir, "mail", "solved.fi.txt"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	d := golden("solved")
	got, err := set.Render("solved", "fi", d)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "Ratkaistu ✔ "+d.Subject || !strings.HasPrefix(got.Text, "Hei Cara Customer, asia on hoidettu.\n-- \nPayroll") {
		t.Errorf("override not used: %q\n%s", got.Subject, got.Text)
	}
	want, _ := embedded.Render("solved", "fi", d)
	if got.HTML != want.HTML {
		t.Error("the HTML of the overridden mail changed, though only its text file was replaced")
	}
	// Every other file is still the embedded one.
	for _, c := range []struct{ name, lang string }{{"solved", "en"}, {"answer", "fi"}, {"new_conversation", "fi"}} {
		a, _ := set.Render(c.name, c.lang, golden(c.name))
		b, _ := embedded.Render(c.name, c.lang, golden(c.name))
		if a != b {
			t.Errorf("%s.%s changed though it was not overridden", c.name, c.lang)
		}
	}
}

// A broken override stops Load with an error naming the file.
func TestBrokenOverrideNamesTheFile(t *testing.T) {
	cases := []struct {
		file, body, want string
	}{
		{"answer.en.txt", "{{define \"subject\"}}Re: {{.Subject}{{end}}", "bad character"},
		{"answer.en.txt", "{{define \"subject\"}}Re: {{.Subjekt}}{{end}}{{.Text}}", "Subjekt"},
		{"answer.fi.txt", "no subject here {{.Text}}", "subject"},
		{"solved.en.html", "{{define \"content\"}}<p>{{.Subject}}</p>", "unexpected EOF"},
		{"layout.html", "{{define \"layout\"}}<p>{{template \"content\" .}}{{.Nope}}</p>{{end}}", "Nope"},
		{"answr.en.txt", "typo", "no embedded template"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "mail"), 0o755); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "mail", c.file)
		if err := os.WriteFile(file, []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := templates.Load(dir)
		if err == nil {
			t.Errorf("%s: broken override loaded", c.file)
			continue
		}
		if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q should name %s and say %q", c.file, err, file, c.want)
		}
	}
}

func TestOverrideInTheWrongPlace(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "answer.en.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := templates.Load(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "mail", "answer.en.txt")) {
		t.Errorf("a mail template at the top of templates_dir: %v", err)
	}
	if _, err := templates.Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing templates_dir loaded")
	}
}
