package threading

import (
	"mime"
	"net/textproto"
	"strings"

	"postdesk/ingest/mailparse"
)

// Kind is what an inbound mail is, as far as threading can tell.
type Kind string

const (
	KindCustomer  Kind = "customer"   // written by a person; the default
	KindStaff     Kind = "staff"      // a staff reply with staff powers; only Decide returns it
	KindAutoReply Kind = "auto_reply" // machine-written: vacation notice, list mail, read receipt
	KindBounce    Kind = "bounce"     // a delivery status notification
	KindLoop      Kind = "loop"       // our own mail come back to us
)

// OwnMail says how to recognise mail postdesk itself sent.
type OwnMail struct {
	MessageIDDomain string // the domain part of the Message-IDs postdesk generates
	LoopHeader      string // a header postdesk puts on all its mail, e.g. "X-Postdesk-Loop"
}

// Classify returns KindBounce, KindLoop, KindAutoReply or KindCustomer for m;
// whether a person is staff depends on the conversation, so Decide settles it.
//
// The checks run in this order:
//
//  1. bounce: a delivery status notification, RFC 3464: m.Report is set or the
//     top-level type is multipart/report; report-type=delivery-status (RFC 6522),
//     or From is MAILER-DAEMON or postmaster with a null reverse-path (RFC 5321
//     4.5.5: "<>"). This comes before the loop check because the MTA reporting
//     a failure of our own mail may be ours and use our Message-ID domain, and
//     a report is never answered, so it cannot loop.
//  2. loop: the loop header is present, or the Message-ID's domain is
//     own.MessageIDDomain.
//  3. auto-reply, per RFC 3834: Auto-Submitted other than "no" (section 5);
//     Precedence bulk, junk, list or auto_reply (section 3.1.8, RFC 2076);
//     X-Autoreply or X-Autorespond; X-Auto-Response-Suppress naming All, OOF or
//     AutoReply ([MS-OXCMAIL] 2.2.3.2.14); List-Id (RFC 2919) or
//     List-Unsubscribe (RFC 2369); a null Return-Path (RFC 3834 3.3, RFC 5321
//     4.5.5); any other multipart/report, such as a read receipt (RFC 8098).
//  4. otherwise customer.
func Classify(m *mailparse.Message, own OwnMail) Kind {
	if m == nil {
		return KindCustomer
	}
	h := m.Header
	nullReturnPath := m.ReturnPath != nil && strings.TrimSpace(*m.ReturnPath) == ""

	reportType, isReport := reportType(h.Get("Content-Type"))
	if m.Report != nil || (isReport && reportType == "delivery-status") {
		return KindBounce
	}
	if nullReturnPath && isMailerDaemon(m.From.Email) {
		return KindBounce
	}

	if own.LoopHeader != "" && len(h.Values(own.LoopHeader)) > 0 {
		return KindLoop
	}
	if isOwnID(m.MessageID, own) {
		return KindLoop
	}

	if isAutoReply(h) || nullReturnPath || isReport {
		return KindAutoReply
	}
	return KindCustomer
}

// reportType returns the report-type of a multipart/report Content-Type, and
// whether the type is multipart/report at all.
func reportType(contentType string) (string, bool) {
	if contentType == "" {
		return "", false
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil && err != mime.ErrInvalidMediaParameter {
		return "", false
	}
	if mt != "multipart/report" {
		return "", false
	}
	return strings.ToLower(strings.TrimSpace(params["report-type"])), true
}

// isMailerDaemon reports whether addr's local part names the mail system
// itself (RFC 5321 4.5.1 postmaster; the customary MAILER-DAEMON).
func isMailerDaemon(addr string) bool {
	local := strings.ToLower(strings.TrimSpace(addr))
	if at := strings.LastIndexByte(local, '@'); at >= 0 {
		local = local[:at]
	}
	return local == "mailer-daemon" || local == "postmaster"
}

// idDomain returns the part of a Message-ID after its last '@', without any
// angle bracket.
func idDomain(id string) string {
	id = strings.TrimSpace(id)
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	at := strings.LastIndexByte(id, '@')
	if at < 0 {
		return ""
	}
	return id[at+1:]
}

// isAutoReply applies the header rules of step 3 of Classify.
func isAutoReply(h textproto.MIMEHeader) bool {
	get := h.Values
	for _, v := range get("Auto-Submitted") {
		kw, _, _ := strings.Cut(v, ";")
		kw = strings.ToLower(strings.TrimSpace(kw))
		if kw != "" && kw != "no" {
			return true
		}
	}
	for _, v := range get("Precedence") {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "bulk", "junk", "list", "auto_reply":
			return true
		}
	}
	for _, v := range get("X-Auto-Response-Suppress") {
		for _, f := range strings.Split(v, ",") {
			switch strings.ToLower(strings.TrimSpace(f)) {
			case "all", "oof", "autoreply":
				return true
			}
		}
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond", "List-Id", "List-Unsubscribe"} {
		if len(get(k)) > 0 {
			return true
		}
	}
	return false
}
