// Package templates holds the mail postdesk sends: one template per outbox
// template name (store.Template*), in every language of config.Languages,
// each with a subject line, a plain-text body and an HTML body.
//
// The files are embedded (mail/ in this folder) and can be replaced one by one
// from a folder, the config's templates_dir, which mirrors the embedded tree:
// templates_dir/mail/answer.fi.txt replaces mail/answer.fi.txt and nothing
// else. The files of one mail:
//
//	mail/NAME.LANG.txt    text/template: {{define "subject"}} and the text body
//	mail/NAME.LANG.html   html/template: {{define "content"}}, the HTML body
//	mail/footer.LANG.txt  {{define "footer"}} shared by the text bodies
//	mail/footer.LANG.html {{define "footer"}} shared by the HTML bodies
//	mail/layout.html      the HTML frame around "content" and "footer"
//
// Everything is parsed and rendered once with sample Data at Load, so a broken
// override (a syntax error, an unknown field, a missing subject) stops the
// program at start-up with an error naming the file, not at the first mail.
// HTML bodies go through html/template, so customer text, subjects and names
// are escaped; subjects and text bodies are plain text and are never HTML.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"

	"postdesk/senderauth"
)

//go:embed mail
var embedded embed.FS

// Names are the mail templates, one per outbox template value.
var Names = []string{"new_conversation", "answer", "customer_reply", "assigned", "solved", "received", "delivery_failed", "too_large", "mailbox_alert", "quarantined",
	"signin_link", "password_reset", Secure}

// Secure is the mail of a secure category (config's categories[].secure),
// one template for every kind of mail about its conversations (Data.Kind):
// it names who wrote, the number and the link, and nothing of the content.
const Secure = "secure"

// SecureKinds are the kinds of mail Secure has words for; any other kind
// gets its generic "new message" wording.
var SecureKinds = []string{"new_conversation", "customer_reply", "answer", "received", "solved", "assigned", "delivery_failed", "too_large", "quarantined"}

// Languages are the languages every template exists in; the first is the
// fallback for a recipient whose language has none.
var Languages = []string{"en", "fi", "sv"}

// Data is what every mail template is rendered with. The outbox worker fills
// it from the conversation; a field a mail has nothing for stays empty and
// the templates leave it out.
type Data struct {
	// Lang is the language rendered; Render sets it.
	Lang string
	// Number is the conversation's public number (shown as #1000).
	Number int64
	// Subject is the conversation's subject.
	Subject string
	// Category is the category's name ("Payroll").
	Category string
	// Link is the conversation in the web view: PUBLIC_URL/conversations/ID.
	Link string
	// Recipient is who the mail goes to.
	Recipient Person
	// Customer is who opened the conversation.
	Customer Person
	// Handler is the conversation's Handler now (empty when none); for
	// "assigned" it is the recipient.
	Handler Person
	// Author wrote Text: the customer for new_conversation and
	// customer_reply, the Handler for answer.
	Author Person
	// Text is the message the mail carries (customer text or the Handler's
	// answer), as plain text.
	Text string
	// Attachments are the files of that message.
	Attachments []File
	// Kind is, for Secure, which mail it stands for (a value of Names).
	Kind string
	// Failure is, for delivery_failed, the mail that could not be delivered.
	Failure Failure
	// Mailbox and Reason are, for mailbox_alert, the mailbox in trouble and
	// what is wrong with it.
	Mailbox, Reason string
}

// Person is a user as mail shows them.
type Person struct {
	Name  string
	Email string
}

// File is an attachment as mail lists it.
type File struct {
	Name string
	Size int64 // bytes
}

// Failure describes an undeliverable mail.
type Failure struct {
	Address  string // the recipient that failed
	Reason   string // the server's answer or the error, e.g. "550 5.1.1 no such user"
	Template string // which mail it was (a value of Names), "" when unknown
}

// Rendered is one mail's content.
type Rendered struct {
	Subject string // one line; the caller adds the [#n] tag
	Text    string
	HTML    string
}

// Set is the loaded templates.
type Set struct {
	mails map[string]*mail // by NAME.LANG
}

type mail struct {
	text *texttemplate.Template // "subject" and the body (named textName)
	html *htmltemplate.Template // "layout" with "content" and "footer"

	textName string
}

// source is one template file and where it came from.
type source struct {
	name   string // the embedded name, e.g. "mail/answer.fi.txt"
	origin string // what errors call it: the embedded name or the override's path
	body   string
}

// Load reads the embedded templates, replaces those that dir overrides (none
// when dir is ""), and parses and test-renders every mail. An error names the
// file at fault.
func Load(dir string) (*Set, error) {
	files := map[string]source{}
	err := fs.WalkDir(embedded, "mail", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := embedded.ReadFile(p)
		if err != nil {
			return err
		}
		files[p] = source{name: p, origin: p, body: string(b)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("templates: embedded: %w", err)
	}
	if dir != "" {
		if err := override(files, dir); err != nil {
			return nil, err
		}
	}
	s := &Set{mails: map[string]*mail{}}
	for _, name := range Names {
		for _, lang := range Languages {
			m, err := build(files, name, lang)
			if err != nil {
				return nil, err
			}
			s.mails[name+"."+lang] = m
		}
	}
	return s, nil
}

// override replaces embedded files with the folder's. Files under dir/mail
// must have the name of an embedded one (a typo would otherwise be ignored
// silently); a mail template at the top of dir is an error too, since it
// belongs in dir/mail.
func override(files map[string]source, dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("templates_dir: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("templates_dir: %s is not a folder", dir)
	}
	top, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("templates_dir: %w", err)
	}
	for _, e := range top {
		if _, ok := files["mail/"+e.Name()]; ok && !e.IsDir() {
			return fmt.Errorf("templates_dir: %s: mail templates go in %s",
				filepath.Join(dir, e.Name()), filepath.Join(dir, "mail", e.Name()))
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, "mail"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("templates_dir: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, "mail", e.Name())
		name := path.Join("mail", e.Name())
		if _, ok := files[name]; !ok || e.IsDir() {
			return fmt.Errorf("templates_dir: %s: no embedded template of that name (want one of %s)", p, strings.Join(known(files), ", "))
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("templates_dir: %w", err)
		}
		files[name] = source{name: name, origin: p, body: string(b)}
	}
	return nil
}

func known(files map[string]source) []string {
	var ns []string
	for n := range files {
		ns = append(ns, path.Base(n))
	}
	slices.Sort(ns)
	return ns
}

// build parses one mail in one language and renders it once with sample data.
func build(files map[string]source, name, lang string) (*mail, error) {
	get := func(n string) (source, error) {
		f, ok := files["mail/"+n]
		if !ok {
			return source{}, fmt.Errorf("templates: mail/%s is missing", n)
		}
		return f, nil
	}
	funcs := funcMap(lang)

	txt, err := get(name + "." + lang + ".txt")
	if err != nil {
		return nil, err
	}
	footTxt, err := get("footer." + lang + ".txt")
	if err != nil {
		return nil, err
	}
	tt := texttemplate.New("mail").Funcs(funcs)
	if _, err := tt.New(txt.origin).Parse(txt.body); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if _, err := tt.New(footTxt.origin).Parse(footTxt.body); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if tt.Lookup("subject") == nil {
		return nil, fmt.Errorf("templates: %s: no {{define \"subject\"}}", txt.origin)
	}

	layout, err := get("layout.html")
	if err != nil {
		return nil, err
	}
	body, err := get(name + "." + lang + ".html")
	if err != nil {
		return nil, err
	}
	footHTML, err := get("footer." + lang + ".html")
	if err != nil {
		return nil, err
	}
	ht := htmltemplate.New("mail").Funcs(htmltemplate.FuncMap(funcs))
	for _, f := range []source{layout, body, footHTML} {
		if _, err := ht.New(f.origin).Parse(f.body); err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
	}
	for _, def := range []struct{ name, file string }{{"layout", layout.origin}, {"content", body.origin}, {"footer", footHTML.origin}} {
		if ht.Lookup(def.name) == nil {
			return nil, fmt.Errorf("templates: %s: no {{define %q}}", def.file, def.name)
		}
	}

	m := &mail{text: tt, html: ht, textName: txt.origin}
	r, err := m.render(Sample(lang))
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(r.Subject) == "" {
		return nil, fmt.Errorf("templates: %s: the subject renders empty", txt.origin)
	}
	return m, nil
}

// Render renders a mail for a recipient's language, falling back to the first
// of Languages when there is none in that language. data is not changed.
func (s *Set) Render(name, lang string, data *Data) (Rendered, error) {
	if !slices.Contains(Languages, lang) {
		lang = Languages[0]
	}
	m, ok := s.mails[name+"."+lang]
	if !ok {
		return Rendered{}, fmt.Errorf("templates: no mail template %q", name)
	}
	d := Data{}
	if data != nil {
		d = *data
	}
	d.Lang = lang
	return m.render(&d)
}

func (m *mail) render(d *Data) (Rendered, error) {
	var subj, text, html bytes.Buffer
	if err := m.text.ExecuteTemplate(&subj, "subject", d); err != nil {
		return Rendered{}, fmt.Errorf("templates: %w", err)
	}
	if err := m.text.ExecuteTemplate(&text, m.textName, d); err != nil {
		return Rendered{}, fmt.Errorf("templates: %w", err)
	}
	if err := m.html.ExecuteTemplate(&html, "layout", d); err != nil {
		return Rendered{}, fmt.Errorf("templates: %w", err)
	}
	return Rendered{
		Subject: strings.TrimSpace(subj.String()),
		Text:    strings.Trim(text.String(), "\n") + "\n",
		HTML:    html.String(),
	}, nil
}

// funcMap is the functions templates may call, in the conventions of lang.
func funcMap(lang string) texttemplate.FuncMap {
	return texttemplate.FuncMap{
		// size formats a byte count: 512 B, 14 kB, 2.4 MB (fi: 2,4 Mt; sv: 2,4 MB).
		"size": func(n int64) string { return formatSize(n, lang) },
		// name is a person as a line shows them: the name, or the address.
		"name": func(p Person) string {
			if p.Name != "" {
				return p.Name
			}
			return p.Email
		},
		// who is a person with their address: "Name <address>".
		"who": func(p Person) string {
			switch {
			case senderauth.MisleadingName(p.Name, p.Email):
				// The name poses as another address: the real one, marked.
				return p.Email + " (" + fmt.Sprintf(misleadingName[lang], strconv.Quote(p.Name)) + ")"
			case p.Name == "":
				return p.Email
			case p.Email == "":
				return p.Name
			}
			return p.Name + " <" + p.Email + ">"
		},
	}
}

// misleadingName marks a display name posing as another address, in each
// of Languages (Render has fallen back to the first for any other).
var misleadingName = map[string]string{
	"en": "display name %s is not this address",
	"fi": "näyttönimi %s ei ole tämä osoite",
	"sv": "visningsnamnet %s är inte den här adressen",
}

func formatSize(n int64, lang string) string {
	units := []string{"B", "kB", "MB", "GB"}
	if lang == "fi" {
		units = []string{"t", "kt", "Mt", "Gt"}
	}
	if n < 1000 {
		return fmt.Sprintf("%d %s", n, units[0])
	}
	v, u := float64(n), 0
	for v >= 1000 && u < len(units)-1 {
		v /= 1000
		u++
	}
	s := fmt.Sprintf("%.1f", v)
	if v >= 10 {
		s = fmt.Sprintf("%.0f", v)
	}
	if lang == "fi" || lang == "sv" {
		s = strings.ReplaceAll(s, ".", ",")
	}
	return s + " " + units[u]
}

// Sample is data with every field set, for trying templates out: Load
// renders each mail with it to find templates that fail.
func Sample(lang string) *Data {
	return &Data{
		Lang:      lang,
		Number:    1000,
		Subject:   "Sample subject",
		Category:  "Sample category",
		Link:      "https://postdesk.example/conversations/1",
		Recipient: Person{Name: "Sample Recipient", Email: "recipient@example.com"},
		Customer:  Person{Name: "Sample Customer", Email: "customer@example.com"},
		Handler:   Person{Name: "Sample Handler", Email: "handler@example.com"},
		Author:    Person{Name: "Sample Author", Email: "author@example.com"},
		Text:      "Sample text.",
		Attachments: []File{
			{Name: "sample.pdf", Size: 12345},
		},
		Failure: Failure{Address: "customer@example.com", Reason: "550 5.1.1 sample", Template: "answer"},
		Mailbox: "sample-mailbox",
		Reason:  "no successful connection for 1h0m0s (last error: sample)",
	}
}
