package mailparse

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"fmt"
	"io"
	"net/textproto"
	"slices"
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

	texts []string // text/plain body parts in order, none blank
	htmls []string // text/html body parts in order, none blank

	tnefText, tnefHTML string // the body of the first winmail.dat
	tnefRTF            []byte // and its RTF body
}

// Parse reads the raw source of one email. It never returns nil and never
// panics: what it cannot read is described in Message.Problems and the rest is
// returned. A nil lim means DefaultLimits; a zero field of lim means that
// field's default.
//
// Text and HTML have \n line ends. Bodies and the Data of attachments are
// copied out of raw; a large attachment (see Limits.InMemoryBytes) is read
// from raw by its Open, so raw must stay unchanged until the attachments
// have been read.
func Parse(raw []byte, lim *Limits) (m *Message) {
	m = &Message{Header: textproto.MIMEHeader{}, Size: len(raw)}
	p := &parser{lim: limitsOrDefault(lim), m: m}
	defer func() {
		if r := recover(); r != nil {
			p.problem(fmt.Sprintf("%s (%v).", internalProblem, r))
		}
		p.finish()
	}()

	h, body := p.readHeader(raw, true)
	p.envelope(h)
	p.entity(h, body, 0, "text/plain")
	return m
}

// finish sets the bodies from the parts collected. A mail with HTML but no
// plain text gets a text made from the HTML, so Text always holds what the
// mail says; a winmail.dat body fills what the MIME parts left empty.
func (p *parser) finish() {
	m := p.m
	m.Text = joinParts(p.texts, "\n\n")
	m.HTML = joinParts(p.htmls, "\n")
	if m.HTML == "" && p.tnefHTML != "" {
		m.HTML = p.tnefHTML
	}
	if m.Text == "" && p.tnefText != "" {
		m.Text = p.tnefText
	}
	p.rtfBody()
	if m.Text == "" && m.HTML != "" {
		m.Text = htmlToText(m.HTML)
	}
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
	if lim.InMemoryBytes > 0 {
		l.InMemoryBytes = lim.InMemoryBytes
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
	case isBodyType(typ) && p.isBody(h):
		p.bodyText(h, typ, params, body)
	default:
		p.attachment(h, typ, params, body)
	}
}

func isBodyType(typ string) bool { return typ == "text/plain" || typ == "text/html" }

// isBody tells a text part the sender wrote from a text file attached to the
// mail, as RFC 2183 and mail clients (Thunderbird, enmime) do: only an
// attachment disposition makes it a file. A name= or filename= parameter
// alone does not, since Apple Mail and others name their inline text parts.
func (p *parser) isBody(h message.Header) bool {
	disp, _ := p.disposition(h)
	return disp != "attachment"
}

func (p *parser) bodyText(h message.Header, typ string, params map[string]string, body []byte) {
	data, owned := p.bodyDecode(h, body)
	if looksBinary(data, params["charset"]) {
		p.problem("A text part holds binary data; it was kept as an attachment.")
		if !owned {
			data = bytes.Clone(data)
		}
		a := held(data)
		a.Filename, a.ContentType = defaultFilename("application/octet-stream"), "application/octet-stream"
		p.m.Attachments = append(p.m.Attachments, a)
		return
	}
	label := params["charset"]
	if typ == "text/html" && strings.TrimSpace(label) == "" {
		label = metaCharset(data)
	}
	s := p.decodeText(label, data)
	if typ == "text/html" {
		if !blankHTML(s) {
			p.htmls = append(p.htmls, s)
		}
		return
	}
	if strings.EqualFold(params["format"], "flowed") {
		s = unflow(s, strings.EqualFold(params["delsp"], "yes"))
	}
	if strings.TrimSpace(s) != "" {
		p.texts = append(p.texts, s)
	}
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
	sp := splitMultipart(body, boundary, p.lim.MaxParts-p.parts+1)
	if len(sp.parts) == 0 && !sp.closed {
		p.problem("The multipart boundary never occurs; the body was read as plain text.")
		p.bodyText(message.Header{}, "text/plain", nil, body)
		return
	}
	if !sp.closed {
		p.problem("A multipart part ends without its closing boundary; the mail may be truncated.")
	}
	if sp.padded {
		p.problem("A multipart boundary line has text after the boundary; it was read as the boundary.")
	}
	switch typ {
	case "multipart/alternative":
		p.alternative(sp.parts, depth)
	case "multipart/report":
		p.report(params, sp.parts, depth)
	default:
		childType := "text/plain"
		if typ == "multipart/digest" {
			childType = "message/rfc822" // RFC 2046 section 5.1.5
		}
		for _, part := range sp.parts {
			if !p.room() {
				return
			}
			h, b := p.readHeader(part, false)
			p.entity(h, b, depth+1, childType)
		}
	}
}

// room tells whether another part may be read, and notes when not.
func (p *parser) room() bool {
	if p.parts < p.lim.MaxParts {
		return true
	}
	p.problem(fmt.Sprintf("The mail has more than %d MIME parts; the rest were not read.", p.lim.MaxParts))
	return false
}

// alternative reads the parts of a multipart/alternative (RFC 2046 section
// 5.1.4), which say one thing in ways of rising richness. Each part is read
// on its own; the HTML comes from the last part that has HTML that is not
// blank and the text from the last part whose text is not blank, so a blank
// plain part never hides the HTML. Attachments of every part are kept
// (nothing the sender sent is dropped; the parts a client would not show are
// usually calendar invites, which are wanted as files).
func (p *parser) alternative(parts [][]byte, depth int) {
	type alt struct{ texts, htmls []string }
	var alts []alt
	for _, part := range parts {
		if !p.room() {
			break
		}
		h, b := p.readHeader(part, false)
		t0, h0 := len(p.texts), len(p.htmls)
		p.entity(h, b, depth+1, "text/plain")
		alts = append(alts, alt{slices.Clone(p.texts[t0:]), slices.Clone(p.htmls[h0:])})
		p.texts, p.htmls = p.texts[:t0], p.htmls[:h0]
	}
	text, htm := -1, -1
	for i, a := range alts {
		if len(a.texts) > 0 {
			text = i
		}
		if len(a.htmls) > 0 {
			htm = i
		}
	}
	if text >= 0 {
		p.texts = append(p.texts, alts[text].texts...)
	}
	if htm >= 0 {
		p.htmls = append(p.htmls, alts[htm].htmls...)
	}
}

// report reads a multipart/report (RFC 6522 section 3): the first part is
// for people and is shown as the text whatever its disposition says, the
// second is machine-readable, the third returns the original message. A
// delivery report's machine parts are summed up in Message.Report.
func (p *parser) report(params map[string]string, parts [][]byte, depth int) {
	dsn := strings.EqualFold(strings.TrimSpace(params["report-type"]), "delivery-status")
	if dsn && p.m.Report == nil {
		p.m.Report = &DeliveryReport{}
	}
	for i, part := range parts {
		if !p.room() {
			return
		}
		h, b := p.readHeader(part, false)
		if i == 0 {
			if typ, tparams := p.contentType(h, "text/plain"); isBodyType(typ) {
				p.parts++
				p.bodyText(h, typ, tparams, b)
				continue
			}
		}
		if dsn && i > 0 && p.reportPart(h, b) {
			p.parts++
			continue
		}
		p.entity(h, b, depth+1, "text/plain")
	}
	if dsn && p.m.Report.Status == "" && len(p.m.Report.Recipients) == 0 {
		p.problem("The delivery report has no readable message/delivery-status part.")
	}
}

func (p *parser) attachment(h message.Header, typ string, params map[string]string, body []byte) {
	// A winmail.dat is read by package tnef, which needs it whole; any
	// other part too large to hold decoded is hashed now and decoded again
	// as it is stored. (The look at the name notes nothing: the problems
	// come in the order the part is read.)
	_, qparams := p.quiet().disposition(h)
	tentative, _ := cleanFilename(cmp.Or(qparams["filename"], params["name"]))
	var a Attachment
	if len(body) <= p.lim.InMemoryBytes || isTNEF(typ, tentative) {
		data, owned := p.transferDecode(h, body)
		if !owned {
			data = bytes.Clone(data)
		}
		a = held(data)
	} else {
		a = p.streamed(h, body)
	}
	disp, dparams := p.disposition(h)
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	if name == "" && isMessageType(typ) {
		if s := p.embeddedSubject(a.head(p.lim.MaxHeaderBytes)); s != "" {
			name = strings.NewReplacer("/", "-", `\`, "-").Replace(s) + ".eml"
		}
	}
	name = p.filename(name, typ)
	cid := strings.TrimSpace(h.Get("Content-Id"))
	cid = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(cid, "<"), ">"))
	a.Filename, a.ContentType = name, typ
	a.ContentID = p.capOneID("Content-ID", sanitize(cid))
	a.Inline = disp == "inline" || (disp == "" && cid != "")
	p.m.Attachments = append(p.m.Attachments, a)
	if isTNEF(typ, name) {
		p.tnef(a.Data)
	}
}

// held is an attachment whose decoded content is in memory.
func held(data []byte) Attachment {
	return Attachment{Data: data, Size: int64(len(data)), SHA256: sha256.Sum256(data)}
}

// streamed is a large attachment: one pass over its part decodes it into
// sha256 only, noting what transferDecode would note, and Open decodes it
// again when it is stored. Only a piece of it is ever decoded at a time.
func (p *parser) streamed(h message.Header, body []byte) Attachment {
	enc := transferEncoding(h)
	switch enc {
	case "base64", "quoted-printable":
	case "", "7bit", "8bit", "binary":
		enc = ""
	default:
		p.problem(unknownEncoding(enc))
		enc = ""
	}
	size, sum, ok := hashPart(body, enc)
	if !ok {
		p.problem(damageProblem(enc))
	}
	return Attachment{Size: size, SHA256: sum, src: body, enc: enc}
}

// head returns the start of the attachment's decoded content, for reading
// the header of a forwarded message: a held one's Data, or the first n bytes
// decoded of a large one (the header reader stops at MaxHeaderBytes anyway).
func (a Attachment) head(n int) []byte {
	if a.src == nil {
		return a.Data
	}
	b := make([]byte, min(int64(n), a.Size))
	k, _ := io.ReadFull(a.Open(), b)
	return b[:k]
}

// filename makes a sender's file name safe and at most MaxFilenameBytes
// long, or makes one up from the media type.
func (p *parser) filename(name, typ string) string {
	name, cut := cleanFilename(name)
	if cut {
		p.problem(fmt.Sprintf("An attachment's file name is longer than %d bytes; it was shortened.", MaxFilenameBytes))
	}
	if name == "" {
		name = defaultFilename(typ)
	}
	return name
}

func isMessageType(typ string) bool {
	return typ == "message/rfc822" || typ == "message/global"
}

// embeddedSubject returns the decoded Subject of a forwarded message.
func (p *parser) embeddedSubject(raw []byte) string {
	h, _ := p.quiet().readHeader(raw, true)
	s, _ := decodeWords(h.Get("Subject"))
	return strings.TrimSpace(sanitize(s))
}

// quiet returns a parser for a look into an embedded message: whatever is
// wrong in there is the forwarded mail's problem, not this one's.
func (p *parser) quiet() *parser {
	return &parser{lim: p.lim, m: &Message{}}
}
