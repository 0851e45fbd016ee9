package mailparse

import (
	"errors"
	"fmt"
	"strings"

	"postdesk/ingest/mailparse/tnef"
)

// isTNEF tells a winmail.dat part: the media type Outlook gives it, or its
// name when a gateway relabelled it application/octet-stream.
func isTNEF(typ, name string) bool {
	return typ == "application/ms-tnef" || typ == "application/vnd.ms-tnef" ||
		strings.EqualFold(name, "winmail.dat")
}

// tnef adds the files of a winmail.dat after it (the winmail.dat itself is
// kept) and keeps its body for a mail whose MIME parts have none. The files'
// Data are parts of data, which the parser owns: each is held once.
func (p *parser) tnef(data []byte) {
	t, err := tnef.Decode(data, &tnef.Limits{MaxAttachments: max(p.lim.MaxParts-p.parts, 1)})
	switch {
	case errors.Is(err, tnef.ErrNotTNEF):
		p.problem("A winmail.dat attachment is not TNEF; it was kept as it is.")
		return
	case err != nil:
		p.problem(fmt.Sprintf("A winmail.dat attachment is damaged (%v); what could be read was extracted and the file kept as it is.", err))
	}
	for _, a := range t.Attachments {
		typ := strings.ToLower(a.MIMEType)
		if len(typ) > MaxContentTypeBytes || !validMediaType(typ) {
			typ = typeByName(a.Name)
		}
		p.parts++
		f := held(a.Data)
		f.Filename, f.ContentType = p.filename(a.Name, typ), typ
		f.ContentID = p.capOneID("Content-ID", sanitize(a.ContentID))
		p.m.Attachments = append(p.m.Attachments, f)
	}
	if p.tnefText == "" && p.tnefHTML == "" && p.tnefRTF == nil {
		p.tnefText = strings.TrimSpace(p.decodeTNEFText(t.Body))
		if !blankHTML(t.BodyHTML) {
			p.tnefHTML = sanitize(t.BodyHTML)
		}
		p.tnefRTF = t.BodyRTF
	}
}

func (p *parser) decodeTNEFText(s string) string {
	s = sanitize(s)
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// typeByName guesses the media type of a file from its extension with the
// built-in table defaultFilename uses, never the host's mime.types.
func typeByName(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		if typ, ok := byExtension[strings.ToLower(name[i:])]; ok {
			return typ
		}
	}
	return "application/octet-stream"
}

// byExtension inverts extensions; where two types share an extension the
// first in sort order wins (application/xml, image/jpeg, text/vcard), so the
// guess does not depend on map order.
var byExtension = func() map[string]string {
	m := map[string]string{}
	for typ, ext := range extensions {
		if have, ok := m[ext]; !ok || typ < have {
			m[ext] = typ
		}
	}
	return m
}()

// rtfBody gives a mail whose only body is a winmail.dat's RTF the text (or
// the HTML Outlook encapsulated in it) read out of the RTF, and keeps the
// RTF itself as message.rtf: the reader keeps words, not tables or pictures,
// and every word processor opens the file.
func (p *parser) rtfBody() {
	m := p.m
	if p.tnefRTF == nil || m.Text != "" || m.HTML != "" {
		return
	}
	body, html := tnef.RTFBody(p.tnefRTF)
	if html {
		m.HTML = sanitize(body)
	} else {
		m.Text = strings.TrimSpace(p.decodeTNEFText(body))
	}
	a := held(p.tnefRTF)
	a.Filename, a.ContentType = "message.rtf", "application/rtf"
	m.Attachments = append(m.Attachments, a)
}
