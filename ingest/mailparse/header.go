package mailparse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	netmail "net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
)

// readHeader splits an entity into its header and its body.
//
// It does the job of go-message's textproto.ReadHeader, leniently: that
// function stops at the first line without a colon and returns the header so
// far, losing the rest of the header and the start of the body. Here a bad line
// costs only itself. Fields go in through Header.AddRaw, so values are unfolded
// exactly as go-message unfolds them. The body is a sub-slice of b.
func (p *parser) readHeader(b []byte, top bool) (message.Header, []byte) {
	var fields [][]byte
	over := false
	for pos := 0; pos < len(b); {
		line, next := cutLine(b, pos)
		if len(line) == 0 {
			return buildHeader(fields), b[next:]
		}
		end := next
		for end < len(b) && (b[end] == ' ' || b[end] == '\t') {
			_, end = cutLine(b, end)
		}
		field := b[pos:end]
		if end > p.lim.MaxHeaderBytes && !over {
			over = true
			p.problem(fmt.Sprintf("A header block is larger than %d bytes; the fields beyond that were not read.", p.lim.MaxHeaderBytes))
		}
		switch {
		case isField(field):
			if !over {
				fields = append(fields, field)
			}
		case p.bodyStartsAt(b, end, len(fields) == 0):
			switch {
			case len(fields) > 0:
				p.problem("The header does not end with a blank line; the body was taken to start at the first line that is not a header field.")
			case !top:
				p.problem("A MIME part has no header; it was read as plain text.")
			}
			return buildHeader(fields), b[pos:]
		default:
			if !over {
				p.problem(fmt.Sprintf("The malformed header line %q was skipped.", short(string(bytes.TrimRight(field, "\r\n")))))
			}
		}
		pos = end
	}
	return buildHeader(fields), nil
}

// bodyStartsAt decides, at a line that is no header field, whether the header
// is over (the sender left out the blank line, or there is no header at all) or
// the line is one broken field among good ones. next is where the line after
// it starts.
func (p *parser) bodyStartsAt(b []byte, next int, noFields bool) bool {
	if next >= len(b) {
		return true
	}
	line, _ := cutLine(b, next)
	if len(line) == 0 {
		return noFields
	}
	end := next + len(line)
	return !isField(b[next:end])
}

// cutLine returns the line starting at pos without its line end, and where
// the next line starts.
func cutLine(b []byte, pos int) (line []byte, next int) {
	i := bytes.IndexByte(b[pos:], '\n')
	if i < 0 {
		line, next = b[pos:], len(b)
	} else {
		line, next = b[pos:pos+i], pos+i+1
	}
	return bytes.TrimSuffix(line, []byte("\r")), next
}

// isField reports whether a line starts with a field name and a colon
// (RFC 5322 section 2.2; trailing space before the colon is tolerated).
func isField(line []byte) bool {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	name := bytes.TrimRight(line[:colon], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

func buildHeader(fields [][]byte) message.Header {
	var h message.Header
	// AddRaw puts a field on top of the header, so the last comes first.
	for i := len(fields) - 1; i >= 0; i-- {
		h.AddRaw(fields[i])
	}
	return h
}

// envelope fills the Message fields that come from the top-level header.
func (p *parser) envelope(h message.Header) {
	m := p.m
	if h.Len() == 0 {
		p.problem("The mail has no header fields.")
		return
	}
	eightBit := false
	for fields := h.Fields(); fields.Next(); {
		v := fields.Value()
		if !utf8.ValidString(v) {
			eightBit = true
		}
		m.Header[fields.Key()] = append(m.Header[fields.Key()], sanitize(fixUTF8(v)))
	}
	if eightBit {
		p.problem("The header has 8-bit characters that are not UTF-8; they were read as Windows-1252.")
	}
	hv := m.Header

	// The Subject and the address headers are decoded from the raw value:
	// an encoded word may hold raw 8-bit octets in its own charset.
	if v := h.Get("Subject"); v != "" {
		s, err := decodeWords(v)
		if err != nil {
			p.problem(fmt.Sprintf("The Subject has an encoded word in an unknown charset (%v).", err))
		}
		s, cut := cutString(strings.TrimSpace(sanitize(s)), MaxSubjectBytes)
		if cut {
			p.problem(fmt.Sprintf("The Subject is longer than %d bytes; it was shortened.", MaxSubjectBytes))
		}
		m.Subject = strings.TrimSpace(s)
	}
	if id := firstMessageID(hv.Get("Message-Id")); id != "" {
		m.MessageID = p.capOneID("Message-ID", id)
	}
	m.InReplyTo = p.capIDs("In-Reply-To", messageIDs(strings.Join(hv.Values("In-Reply-To"), " ")))
	if len(m.InReplyTo) > MaxInReplyTo {
		p.problem(fmt.Sprintf("The In-Reply-To header lists more than %d IDs; the first were kept.", MaxInReplyTo))
		m.InReplyTo = m.InReplyTo[:MaxInReplyTo]
	}
	m.References = p.capReferences(p.capIDs("References", messageIDs(strings.Join(hv.Values("References"), " "))))
	if v := hv.Get("Date"); v != "" {
		t, err := parseDate(v)
		if err != nil {
			p.problem(fmt.Sprintf("The Date header %q could not be read.", short(v)))
		}
		m.Date = t
	}

	list := func(key string) []Address {
		return p.capAddresses(key, p.addressList(key, h.Values(key)))
	}
	if from := list("From"); len(from) > 0 {
		m.From = from[0]
	}
	if sender := list("Sender"); len(sender) > 0 {
		m.Sender = &sender[0]
	}
	m.ReplyTo = list("Reply-To")
	m.To = list("To")
	m.Cc = list("Cc")
	p.deliveredTo(h)

	if vs := hv.Values("Return-Path"); len(vs) > 0 {
		rp, cut := cutString(returnPath(vs[0]), MaxAddressBytes)
		if cut {
			p.problem(fmt.Sprintf("The Return-Path is longer than %d bytes; it was shortened.", MaxAddressBytes))
		}
		m.ReturnPath = &rp
	}
}

// deliveredTo collects the addresses the mail was delivered to, which
// routing reads; a broken one is not the sender's problem to hear about,
// so only the caps are noted.
func (p *parser) deliveredTo(h message.Header) {
	m := p.m
	var all []Address
	for _, k := range []string{"Delivered-To", "X-Original-To"} {
		for _, v := range h.Values(k) {
			for _, a := range p.quiet().addressList(k, []string{v}) {
				if a.Email != "" && !contains(m.DeliveredTo, a.Email) {
					m.DeliveredTo = append(m.DeliveredTo, a.Email)
					all = append(all, Address{Email: a.Email})
				}
			}
		}
	}
	if len(all) == 0 {
		return
	}
	m.DeliveredTo = m.DeliveredTo[:0]
	for _, a := range p.capAddresses("Delivered-To", all) {
		m.DeliveredTo = append(m.DeliveredTo, a.Email)
	}
}

// returnPath reads the reverse-path an MTA recorded (RFC 5321 section 4.4);
// "<>" is the null reverse-path of bounces and auto-replies.
func returnPath(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// addressList parses the raw values of an address header. When net/mail's
// parser rejects the list, each comma-separated piece is tried alone, and
// what still fails is searched for anything@thing, so one broken entry costs
// at most a display name. Encoded words are decoded with every charset
// decodeCharset knows; one in an unknown charset is read as UTF-8 or
// Windows-1252 and noted, instead of failing the whole list as go-message's
// mail.ParseAddressList does.
func (p *parser) addressList(key string, values []string) []Address {
	v := strings.TrimSpace(normalizeWords(strings.Join(values, ", ")))
	if v == "" {
		return nil
	}
	unknown := false
	parser := netmail.AddressParser{WordDecoder: &mime.WordDecoder{
		CharsetReader: func(label string, r io.Reader) (io.Reader, error) {
			b, err := io.ReadAll(r)
			if err != nil {
				return nil, fmt.Errorf("encoded word: %w", err)
			}
			s, err := decodeCharset(label, b)
			unknown = unknown || errors.Is(err, errUnknownCharset)
			return strings.NewReader(s), nil
		},
	}}
	defer func() {
		if unknown {
			p.problem(fmt.Sprintf("The %s header has an encoded word in an unknown charset; it was read as UTF-8 or Windows-1252.", key))
		}
	}()
	if list, err := parser.ParseList(v); err == nil {
		out := make([]Address, 0, len(list))
		for _, a := range list {
			out = append(out, address(a))
		}
		return out
	}
	p.problem(fmt.Sprintf("The %s header could not be parsed; the addresses were picked out of it one by one.", key))
	var out []Address
	for _, piece := range splitAddressList(v) {
		if strings.TrimSpace(piece) == "" {
			continue
		}
		if a, err := parser.Parse(piece); err == nil {
			out = append(out, address(a))
			continue
		}
		found := bareAddresses(piece)
		name := ""
		if len(found) == 1 {
			// What is left around the address is most likely the name.
			if lower := strings.ToLower(piece); len(lower) == len(piece) {
				if i := strings.Index(lower, found[0]); i >= 0 {
					name = piece[:i] + piece[i+len(found[0]):]
					name = cleanName(strings.Trim(name, " \t<>\"'"))
				}
			}
		}
		for _, e := range found {
			out = append(out, Address{Name: name, Email: e})
		}
	}
	return out
}

func address(a *netmail.Address) Address {
	return Address{Name: cleanName(a.Name), Email: sanitize(strings.ToLower(strings.TrimSpace(a.Address)))}
}

// cleanName finishes a display name: net/mail leaves encoded words inside
// quoted strings alone (RFC 2047 section 5 forbids them there), but Outlook
// and others put them there anyway.
func cleanName(s string) string {
	if strings.Contains(s, "=?") {
		s, _ = decodeWords(s)
	}
	s = strings.TrimSpace(sanitize(s))
	if len(s) >= 2 && (s[0] == '\'' && s[len(s)-1] == '\'' || s[0] == '"' && s[len(s)-1] == '"') {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

// splitAddressList cuts an address list at the commas that separate
// addresses, not those inside quoted strings, comments or angle brackets.
func splitAddressList(s string) []string {
	var out []string
	quoted, angle, comment := false, false, 0
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\':
			i++
		case c == '"' && comment == 0:
			quoted = !quoted
		case quoted:
		case c == '(':
			comment++
		case c == ')' && comment > 0:
			comment--
		case comment > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case c == ',' && !angle:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// bareAddresses returns every anything@thing in s, lower-cased.
func bareAddresses(s string) []string {
	stop := func(c byte) bool {
		return c <= ' ' || c == 0x7f || strings.IndexByte(`<>,;:"()[]@`, c) >= 0
	}
	var out []string
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		l := i
		for l > 0 && !stop(s[l-1]) {
			l--
		}
		r := i + 1
		for r < len(s) && !stop(s[r]) {
			r++
		}
		local, domain := s[l:i], strings.TrimRight(s[i+1:r], ".")
		if local != "" && domain != "" {
			out = append(out, sanitize(strings.ToLower(local+"@"+domain)))
		}
		i = r - 1
	}
	return out
}

// messageIDs returns the message IDs of a Message-ID, In-Reply-To or
// References value (RFC 5322 section 3.6.4) in order, without angle brackets
// and duplicates. It is lenient the way mail in the wild needs: whitespace
// folded into an ID is dropped, text between IDs ("Your message of ...") is
// ignored, and a value with no angle brackets at all is read as IDs separated
// by whitespace or commas.
func messageIDs(v string) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.Join(strings.Fields(id), "")
		id = sanitize(strings.Trim(id, `"'<>,;`))
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	rest := v
	bracketed := false
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		bracketed = true
		rest = rest[i+1:]
		j := strings.IndexByte(rest, '>')
		if j < 0 {
			// Cut short: take what looks like the ID.
			if f := strings.Fields(rest); len(f) > 0 {
				add(f[0])
			}
			break
		}
		add(rest[:j])
		rest = rest[j+1:]
	}
	if bracketed {
		return ids
	}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if strings.Contains(f, "@") {
			add(f)
		}
	}
	return ids
}

// firstMessageID returns the Message-ID, accepting even an ID without '@' or
// brackets: a broken ID still tells duplicates apart.
func firstMessageID(v string) string {
	if ids := messageIDs(v); len(ids) > 0 {
		return ids[0]
	}
	if f := strings.Fields(v); len(f) > 0 {
		return sanitize(strings.Trim(f[0], "<>"))
	}
	return ""
}

// dateLayouts are what non-RFC 5322 senders (scripts, old gateways) write.
var dateLayouts = []string{
	time.ANSIC,
	time.UnixDate,
	time.RFC3339,
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
	"Mon, 2 Jan 2006 15:04:05",
	"2 Jan 2006 15:04:05",
}

func parseDate(v string) (time.Time, error) {
	t, err := netmail.ParseDate(v)
	if err == nil {
		return t, nil
	}
	s := strings.TrimSpace(v)
	for _, layout := range dateLayouts {
		if t, err2 := time.Parse(layout, s); err2 == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("date %q: %w", v, err)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// short quotes at most 60 characters of s in a problem sentence.
func short(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= 60 {
		return s
	}
	r := []rune(s)
	return string(r[:60]) + "…"
}
