package mailparse

import (
	"bytes"
	"fmt"
	"net/textproto"
	"strings"

	"github.com/emersion/go-message"
)

// internalProblem opens the sentence Parse notes when it recovers from a
// panic. The recovery keeps one bad mail from taking down ingest; the tests
// and the fuzz target fail on this sentence so that it never hides a bug.
const internalProblem = "Parsing stopped early because of an internal error"

// maxProblems bounds Message.Problems: a mail of ten thousand broken header
// lines needs one screenful of explanation, not ten thousand.
const maxProblems = 40

type parser struct {
	lim   Limits
	m     *Message
	parts int // entities seen so far, the top level included

	texts []string // text/plain body parts in order
	htmls []string // text/html body parts in order
}

// Parse reads the raw source of one email. It never returns nil and never
// panics: what it cannot read is described in Message.Problems and the rest is
// returned. A nil lim means DefaultLimits; a zero field of lim means that
// field's default.
//
// Text and HTML have \n line ends. Attachment data is copied out of raw, so
// raw may be reused once Parse returns.
func Parse(raw []byte, lim *Limits) (m *Message) {
	m = &Message{Header: textproto.MIMEHeader{}, Size: len(raw)}
	p := &parser{lim: limitsOrDefault(lim), m: m}
	defer func() {
		if r := recover(); r != nil {
			p.problem(fmt.Sprintf("%s (%v).", internalProblem, r))
		}
		m.Text = joinParts(p.texts, "\n\n")
		m.HTML = joinParts(p.htmls, "\n")
	}()

	h, body := p.readHeader(raw, true)
	p.envelope(h)
	p.entity(h, body, 0, "text/plain")
	return m
}

// joinParts joins body parts with sep between them, not added to the line
// ends the parts already have.
func joinParts(parts []string, sep string) string {
	for i := 0; i < len(parts)-1; i++ {
		parts[i] = strings.TrimRight(parts[i], "\n")
	}
	return strings.Join(parts, sep)
}

func limitsOrDefault(lim *Limits) Limits {
	l := DefaultLimits
	if lim == nil {
		return l
	}
	if lim.MaxHeaderBytes > 0 {
		l.MaxHeaderBytes = lim.MaxHeaderBytes
	}
	if lim.MaxParts > 0 {
		l.MaxParts = lim.MaxParts
	}
	if lim.MaxDepth > 0 {
		l.MaxDepth = lim.MaxDepth
	}
	return l
}

func (p *parser) problem(s string) {
	ps := p.m.Problems
	for _, have := range ps {
		if have == s {
			return
		}
	}
	switch {
	case len(ps) < maxProblems:
		p.m.Problems = append(ps, s)
	case len(ps) == maxProblems:
		p.m.Problems = append(ps, "More problems were found but not listed.")
	}
}

// entity handles one MIME entity whose header has been read: it is a body
// part, an attachment, a report part or a multipart to descend into.
func (p *parser) entity(h message.Header, body []byte, depth int, defaultType string) {
	p.parts++
	typ, params := p.contentType(h, defaultType)
	switch {
	case strings.HasPrefix(typ, "multipart/"):
		p.multipart(typ, params, body, depth)
	case (typ == "text/plain" || typ == "text/html") && p.isBody(h, params):
		p.bodyText(h, typ, params, body)
	default:
		p.attachment(h, typ, params, body)
	}
}

// isBody tells a text part the sender wrote from a text file attached to the
// mail: an attachment disposition or a file name makes it a file.
func (p *parser) isBody(h message.Header, params map[string]string) bool {
	disp, dparams := p.disposition(h)
	return disp != "attachment" && dparams["filename"] == "" && params["name"] == ""
}

func (p *parser) bodyText(h message.Header, typ string, params map[string]string, body []byte) {
	data, owned := p.transferDecode(h, body)
	if looksBinary(data, params["charset"]) {
		p.problem("A text part holds binary data; it was kept as an attachment.")
		if !owned {
			data = bytes.Clone(data)
		}
		p.m.Attachments = append(p.m.Attachments, Attachment{
			Filename:    defaultFilename("application/octet-stream"),
			ContentType: "application/octet-stream",
			Data:        data,
		})
		return
	}
	s := p.decodeText(params, data)
	if typ == "text/html" {
		p.htmls = append(p.htmls, s)
		return
	}
	if strings.EqualFold(params["format"], "flowed") {
		s = unflow(s, strings.EqualFold(params["delsp"], "yes"))
	}
	p.texts = append(p.texts, s)
}

func (p *parser) multipart(typ string, params map[string]string, body []byte, depth int) {
	if depth >= p.lim.MaxDepth {
		p.problem(fmt.Sprintf("Multipart nesting deeper than %d levels was not read.", p.lim.MaxDepth))
		return
	}
	boundary := params["boundary"]
	if boundary == "" {
		p.problem("A multipart part has no boundary; its body was read as plain text.")
		p.bodyText(message.Header{}, "text/plain", nil, body)
		return
	}
	parts, closed := splitMultipart(body, boundary, p.lim.MaxParts-p.parts+1)
	if len(parts) == 0 && !closed {
		p.problem("The multipart boundary never occurs; the body was read as plain text.")
		p.bodyText(message.Header{}, "text/plain", nil, body)
		return
	}
	if !closed {
		p.problem("A multipart part ends without its closing boundary; the mail may be truncated.")
	}

	childType := "text/plain"
	if typ == "multipart/digest" {
		childType = "message/rfc822" // RFC 2046 section 5.1.5
	}
	report := typ == "multipart/report" && strings.EqualFold(strings.TrimSpace(params["report-type"]), "delivery-status")
	if report && p.m.Report == nil {
		p.m.Report = &DeliveryReport{}
	}
	for i, part := range parts {
		if p.parts >= p.lim.MaxParts {
			p.problem(fmt.Sprintf("The mail has more than %d MIME parts; the rest were not read.", p.lim.MaxParts))
			return
		}
		h, b := p.readHeader(part, false)
		// RFC 6522 section 3: the first part is for people, the second is
		// machine-readable, the third returns the original message.
		if report && i > 0 && p.reportPart(h, b) {
			p.parts++
			continue
		}
		p.entity(h, b, depth+1, childType)
	}
	if report && p.m.Report.Status == "" && len(p.m.Report.Recipients) == 0 {
		p.problem("The delivery report has no readable message/delivery-status part.")
	}
}

func (p *parser) attachment(h message.Header, typ string, params map[string]string, body []byte) {
	data, owned := p.transferDecode(h, body)
	if !owned {
		data = bytes.Clone(data)
	}
	disp, dparams := p.disposition(h)
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	if name == "" && isMessageType(typ) {
		if s := p.embeddedSubject(data); s != "" {
			name = strings.NewReplacer("/", "-", `\`, "-").Replace(s) + ".eml"
		}
	}
	name = cleanFilename(name)
	if name == "" {
		name = defaultFilename(typ)
	}
	cid := strings.TrimSpace(h.Get("Content-Id"))
	cid = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(cid, "<"), ">"))
	p.m.Attachments = append(p.m.Attachments, Attachment{
		Filename:    name,
		ContentType: typ,
		ContentID:   sanitize(cid),
		Inline:      disp == "inline" || (disp == "" && cid != ""),
		Data:        data,
	})
}

func isMessageType(typ string) bool {
	return typ == "message/rfc822" || typ == "message/global"
}

// embeddedSubject returns the decoded Subject of a forwarded message.
func (p *parser) embeddedSubject(raw []byte) string {
	h, _ := p.quiet().readHeader(raw, true)
	s, _ := decodeWords(fixUTF8(h.Get("Subject")))
	return strings.TrimSpace(sanitize(s))
}

// quiet returns a parser for a look into an embedded message: whatever is
// wrong in there is the forwarded mail's problem, not this one's.
func (p *parser) quiet() *parser {
	return &parser{lim: p.lim, m: &Message{}}
}
