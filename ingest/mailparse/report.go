package mailparse

import (
	"fmt"
	"strings"

	"github.com/emersion/go-message"
)

// reportPart reads a machine-readable part of a delivery report (RFC 3464,
// RFC 6522) into m.Report and reports whether it did. The delivery-status and
// returned-headers parts are summed up in Report (the raw source keeps them);
// a returned message/rfc822 is kept as an attachment as well.
func (p *parser) reportPart(h message.Header, body []byte) bool {
	typ, params := p.contentType(h, "text/plain")
	r := p.m.Report
	switch typ {
	case "message/delivery-status", "message/global-delivery-status":
		data, _ := p.transferDecode(h, body)
		p.deliveryStatus(data)
		return true
	case "text/rfc822-headers", "message/rfc822-headers", "message/global-headers":
		data, _ := p.transferDecode(h, body)
		if r.OriginalMessageID == "" {
			r.OriginalMessageID = p.capOneID("returned Message-ID", p.embeddedMessageID(data))
		}
		return true
	case "message/rfc822", "message/global":
		p.attachment(h, typ, params, body)
		if r.OriginalMessageID == "" {
			r.OriginalMessageID = p.capOneID("returned Message-ID", p.embeddedMessageID(p.m.Attachments[len(p.m.Attachments)-1].head(p.lim.MaxHeaderBytes)))
		}
		return true
	}
	return false
}

func (p *parser) embeddedMessageID(raw []byte) string {
	h, _ := p.quiet().readHeader(raw, true)
	return firstMessageID(fixUTF8(h.Get("Message-Id")))
}

// deliveryStatus reads the per-recipient fields of a message/delivery-status
// body (RFC 3464 section 2.3): blocks of header fields separated by blank
// lines, the first about the message, the others one per recipient. A field
// repeated within a block also starts a new recipient, for reporters that
// leave out the blank lines.
func (p *parser) deliveryStatus(data []byte) {
	type recipient map[string]string
	var rs []recipient
	q := p.quiet()
	for rest := data; len(rest) > 0; {
		h, body := q.readHeader(rest, false)
		var cur recipient
		for fields := h.Fields(); fields.Next(); {
			k := strings.ToLower(fields.Key())
			switch k {
			case "original-recipient", "final-recipient", "action", "status", "diagnostic-code":
			default:
				continue
			}
			if _, seen := cur[k]; cur == nil || seen {
				cur = recipient{}
				rs = append(rs, cur)
			}
			cur[k] = sanitize(fixUTF8(fields.Value()))
		}
		if len(body) >= len(rest) {
			break
		}
		rest = body
	}
	if len(rs) == 0 {
		return
	}

	r := p.m.Report
	seen := map[string]bool{}
	for _, a := range r.Recipients {
		seen[a] = true
	}
	chosen := rs[0]
	for _, rc := range rs {
		addr := typedValue(rc["final-recipient"])
		if addr == "" {
			addr = typedValue(rc["original-recipient"])
		}
		addr = strings.ToLower(strings.Trim(addr, "<> "))
		if !addressFits(addr) {
			p.problem("The delivery report names a recipient longer than RFC 5321 allows; it was left out.")
			continue
		}
		if len(r.Recipients) >= MaxAddresses {
			p.problem(fmt.Sprintf("The delivery report names more than %d recipients; the rest were left out.", MaxAddresses))
			break
		}
		if addr != "" && !seen[addr] {
			seen[addr] = true
			r.Recipients = append(r.Recipients, addr)
		}
		if firstWord(rc["action"]) == "failed" && firstWord(chosen["action"]) != "failed" {
			chosen = rc
		}
	}
	// Action and Status are short words (RFC 3464 section 2.3.3 and 2.3.4);
	// anything longer is not one.
	r.Action, _ = cutString(firstWord(chosen["action"]), 32)
	r.Status, _ = cutString(firstWord(chosen["status"]), 32)
	var cut bool
	if r.Diagnostic, cut = cutString(typedValue(chosen["diagnostic-code"]), MaxReportFieldBytes); cut {
		p.problem(fmt.Sprintf("The delivery report's diagnostic is longer than %d bytes; it was shortened.", MaxReportFieldBytes))
	}
}

// typedValue drops the type of "rfc822; addr" or "smtp; 550 ..." (RFC 3464
// section 2.3.2 and 2.3.6).
func typedValue(v string) string {
	if _, after, ok := strings.Cut(v, ";"); ok {
		v = after
	}
	return strings.TrimSpace(v)
}

func firstWord(v string) string {
	f := strings.Fields(strings.ToLower(v))
	if len(f) == 0 {
		return ""
	}
	return strings.TrimRight(f[0], ";,")
}
