package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jordan-wright/email"

	"postdesk/conversation"
	"postdesk/store"
	"postdesk/templates"
	"postdesk/threading"
)

// maxReferences caps the References field: the first Message-ID of the
// thread (its root, RFC 5322 3.6.4) and the newest ones up to this many, and
// no more than maxReferencesLen octets, so the unfolded line stays well
// under the 998-octet limit of RFC 5322 2.1.1.
const (
	maxReferences    = 12
	maxReferencesLen = 900
)

// notification reports whether a template is machine-written: every mail but
// the Handler's answer, which is a person's reply.
func notification(template string) bool { return template != store.TemplateAnswer }

// carriesFiles reports whether a template attaches the files of the message it
// carries: the answer (the Handler's files for the customer) and the new
// conversation (the customer's files for the roles). Others list them.
func carriesFiles(template string) bool {
	return template == store.TemplateAnswer || template == store.TemplateNewConversation
}

// outgoing is a built mail and its envelope.
type outgoing struct {
	from, to string // envelope
	raw      []byte
}

// build renders and assembles the mail of one outbox row, reading what it
// needs inside the row's transaction. Problems with the mail itself are
// permanent delivery errors; database errors are returned as they are.
func (w *Worker) build(ctx context.Context, tx *store.Tx, it *store.OutboxItem, now time.Time) (*outgoing, error) {
	if linkMail(it.Template) {
		return w.buildLink(ctx, tx, it, now) // link.go
	}
	if it.ConversationID == nil {
		if it.Template == store.TemplateMailboxAlert && it.CategoryID != nil {
			return w.buildAlert(ctx, tx, it, now)
		}
		return nil, permanentf("the mail belongs to no conversation")
	}
	conv, err := tx.ConversationByID(ctx, *it.ConversationID)
	if err != nil {
		return nil, gone(err)
	}
	cat, err := tx.CategoryByID(ctx, conv.CategoryID)
	if err != nil {
		return nil, gone(err)
	}
	if len(cat.Addresses) == 0 {
		return nil, permanentf("category %s has no address to send from", cat.Key)
	}

	var rcpt *store.User
	if it.RecipientID != nil {
		rcpt, err = tx.UserByID(ctx, *it.RecipientID)
	} else {
		rcpt, err = tx.UserByEmail(ctx, it.Recipient)
	}
	if errors.Is(err, store.ErrNotFound) {
		rcpt, err = nil, nil
	}
	if err != nil {
		return nil, err
	}

	data := &templates.Data{
		Number:   conv.Number,
		Subject:  conv.Subject,
		Category: cat.Name,
		Link:     strings.TrimRight(w.o.PublicURL, "/") + "/conversations/" + strconv.FormatInt(conv.ID, 10),
	}
	data.Recipient = templates.Person{Email: it.Recipient}
	lang := ""
	if rcpt != nil {
		data.Recipient.Name, lang = rcpt.Name, rcpt.Language
	}
	if data.Customer, err = person(ctx, tx, conv.CustomerID); err != nil {
		return nil, err
	}
	if data.Handler, err = person(ctx, tx, conv.HandlerID); err != nil {
		return nil, err
	}

	// The message the mail carries, and the files to attach.
	var msg *store.Message
	var files []store.Attachment
	if it.MessageID != nil {
		if msg, err = tx.MessageByID(ctx, *it.MessageID); err != nil {
			return nil, gone(err)
		}
		if files, err = tx.AttachmentsOf(ctx, msg.ID); err != nil {
			return nil, err
		}
	} else if it.Template == store.TemplateNewConversation {
		// Receivers added later hear what the conversation is about: its
		// first customer message, listed but not attached.
		ms, err := tx.Messages(ctx, conv.ID, false)
		if err != nil {
			return nil, err
		}
		for i := range ms {
			if ms[i].Kind == store.KindCustomer {
				msg = &ms[i]
				break
			}
		}
	}
	if msg != nil && it.Template != store.TemplateDeliveryFailed {
		data.Text = msg.Text
		data.Author = templates.Person{Name: msg.FromName, Email: msg.FromAddr}
		if data.Author.Name == "" && msg.AuthorID != nil {
			if p, err := person(ctx, tx, msg.AuthorID); err == nil {
				data.Author.Name = p.Name
			}
		}
		as := files
		if it.MessageID == nil {
			as = msg.Attachments
		}
		for _, a := range as {
			data.Attachments = append(data.Attachments, templates.File{Name: a.Filename, Size: a.Size})
		}
	}
	if it.Template == store.TemplateDeliveryFailed {
		if data.Failure, err = w.failure(ctx, tx, it, msg); err != nil {
			return nil, err
		}
	}

	if it.Template == store.TemplateReceived {
		// The acknowledgement goes to whatever From the mail had, which a
		// spoofer chooses: it repeats nothing they wrote, only the number
		// and the link.
		data.Subject, data.Text, data.Author, data.Attachments = "", "", templates.Person{}, nil
	}
	// A secure category's mail says who, where and the link, nothing more:
	// the content is blanked here, before any template sees it, and no
	// file is attached. The mode is recorded with the row.
	template, secure := it.Template, cat.Secure
	if secure {
		data = secureData(data, it.Template)
		template = templates.Secure
	}
	if err := tx.SetOutboxBuilt(ctx, it.ID, secure); err != nil {
		return nil, err
	}
	r, err := w.o.Templates.Render(template, lang, data)
	if err != nil {
		return nil, permanent(err)
	}

	e, from, to, err := w.frame(it, cat, data.Recipient.Name, conv.Number, r, now)
	if err != nil {
		return nil, err
	}
	if rcpt != nil {
		tok := w.o.Signer.Sign(threading.Token{Conversation: conv.ID, Recipient: rcpt.ID})
		replyTo, err := threading.PlusAddress(from, tok)
		if err != nil {
			return nil, permanentf("reply address: %v", err)
		}
		e.ReplyTo = []string{replyTo}
	}
	h := e.Headers
	thread, err := tx.MailThread(ctx, it)
	if err != nil {
		return nil, err
	}
	if inReplyTo, refs := references(thread, msg); inReplyTo != "" {
		h.Set("In-Reply-To", "<"+inReplyTo+">")
		h.Set("References", refs)
	}
	if carriesFiles(it.Template) && it.MessageID != nil && !secure {
		for _, a := range files {
			if err := headerSafe(a.Filename); err != nil {
				return nil, permanentf("attachment name %q: %v", a.Filename, err)
			}
			content, err := tx.Blob(ctx, a.SHA256)
			if err != nil {
				return nil, gone(err)
			}
			at, err := e.Attach(bytes.NewReader(content), a.Filename, contentType(a.ContentType))
			if err != nil {
				return nil, err
			}
			// email writes the file name into Content-Disposition raw and
			// quoted; RFC 2231 encoding keeps any name intact and harmless.
			at.Header.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Filename}))
			at.Header.Set("Content-ID", "<"+a.ID+"."+it.MailMessageID+">")
		}
	}
	return w.outgoing(e, it, from, to)
}

// secureData is what a secure category's mail may say: the number, the
// category, the link, the recipient, and who wrote (a name, no address); a
// delivery failure's address and the server's answer. Everything else,
// the subject above all, stays out.
func secureData(d *templates.Data, kind string) *templates.Data {
	return &templates.Data{
		Kind:      kind,
		Number:    d.Number,
		Category:  d.Category,
		Link:      d.Link,
		Recipient: d.Recipient,
		Customer:  templates.Person{Name: d.Customer.Name},
		Handler:   templates.Person{Name: d.Handler.Name},
		Author:    templates.Person{Name: d.Author.Name},
		Failure:   templates.Failure{Address: d.Failure.Address, Reason: d.Failure.Reason, Template: d.Failure.Template},
	}
}

// outgoing serialises a mail with its envelope: the sender is the row's own
// return path (VERP, payroll+b-TOKEN@example.com), so a delivery report
// names exactly this row and nothing a stranger could copy.
func (w *Worker) outgoing(e *email.Email, it *store.OutboxItem, from, to string) (*outgoing, error) {
	envelope, err := w.o.Signer.ReturnPath(from, it.ID)
	if err != nil {
		return nil, permanentf("return path: %v", err)
	}
	raw, err := e.Bytes()
	if err != nil {
		return nil, permanent(err)
	}
	return &outgoing{from: envelope, to: to, raw: raw}, nil
}

// gone makes a missing row (the conversation was purged, a blob is gone) a
// permanent error, and keeps other errors as they are.
func gone(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return permanent(err)
	}
	return err
}

func person(ctx context.Context, tx *store.Tx, id *int64) (templates.Person, error) {
	if id == nil {
		return templates.Person{}, nil
	}
	u, err := tx.UserByID(ctx, *id)
	if errors.Is(err, store.ErrNotFound) {
		return templates.Person{}, nil
	}
	if err != nil {
		return templates.Person{}, err
	}
	return templates.Person{Name: u.Name, Email: u.Email}, nil
}

// failure finds what a delivery_failed notice is about: the row its detail
// names (conversation.DetailFailedOutbox); for a notice queued before rows
// were named, the newest failed mail before it, to the address its event
// names when it carries one.
func (w *Worker) failure(ctx context.Context, tx *store.Tx, it *store.OutboxItem, msg *store.Message) (templates.Failure, error) {
	addr := ""
	if msg != nil && msg.Kind == store.KindEvent && len(msg.To) > 0 {
		addr = msg.To[0]
	}
	var f *store.OutboxItem
	var err error
	if id, perr := strconv.ParseInt(it.Detail[conversation.DetailFailedOutbox], 10, 64); perr == nil {
		f, err = tx.OutboxByID(ctx, id)
	} else {
		f, err = tx.LastOutboxFailure(ctx, *it.ConversationID, it.ID, addr, conversation.NoticeTemplates())
	}
	if errors.Is(err, store.ErrNotFound) {
		return templates.Failure{Address: addr}, nil
	}
	if err != nil {
		return templates.Failure{}, err
	}
	return templates.Failure{Address: f.Recipient, Reason: f.LastError, Template: f.Template}, nil
}

// references returns In-Reply-To and References for a mail: In-Reply-To is
// the message the mail carries when the recipient has it (the customer's
// mail in a notice to staff), else the newest mail of the thread; References
// is the thread's root and its newest IDs, ending with In-Reply-To.
func references(thread []store.ThreadMail, msg *store.Message) (string, string) {
	var ids []string
	seen := map[string]bool{}
	inReplyTo := ""
	for _, t := range thread {
		if messageIDSafe(t.MessageID) != nil || seen[t.MessageID] {
			continue // a broken or repeated ID from an inbound mail
		}
		seen[t.MessageID] = true
		ids = append(ids, t.MessageID)
		if msg != nil && t.Message == msg.ID {
			inReplyTo = t.MessageID
			break // what came later is not what this mail answers
		}
	}
	if len(ids) == 0 {
		return "", ""
	}
	if inReplyTo == "" {
		inReplyTo = ids[len(ids)-1]
	}
	// Keep the root and the newest, within both caps.
	keep := []string{ids[0]}
	size := len(ids[0]) + 2
	var tail []string
	for i := len(ids) - 1; i > 0 && len(tail)+1 < maxReferences; i-- {
		n := len(ids[i]) + 3
		if size+n > maxReferencesLen {
			break
		}
		size += n
		tail = append(tail, ids[i])
	}
	for i := len(tail) - 1; i >= 0; i-- {
		keep = append(keep, tail[i])
	}
	return inReplyTo, "<" + strings.Join(keep, "> <") + ">"
}

// headerSafe refuses what could end a header line or confuse a reader: CR,
// LF and every other control character (C0, DEL, C1), and invalid UTF-8.
func headerSafe(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("invalid UTF-8")
	}
	for _, r := range s {
		if r == '\r' || r == '\n' {
			return errors.New("holds a line break")
		}
		if unicode.IsControl(r) && r != '\t' {
			return fmt.Errorf("holds the control character %U", r)
		}
	}
	return nil
}

// plainAddress checks that s is one bare addr-spec (local@domain), nothing
// more, and returns it.
func plainAddress(s string) (string, error) {
	if err := headerSafe(s); err != nil {
		return "", fmt.Errorf("%q %v", s, err)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || strings.ContainsAny(s, "<> \t,;") {
		return "", fmt.Errorf("%q is not a plain email address", s)
	}
	return s, nil
}

// messageIDSafe checks an ID (without angle brackets) for a msg-id header.
func messageIDSafe(id string) error {
	if id == "" || !strings.Contains(id, "@") {
		return errors.New("not an id-left@id-right")
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return errors.New("holds a space, a control character, an angle bracket or non-ASCII")
		}
	}
	return nil
}

// contentType returns a stored content type cleaned by a parse and format
// round trip (it came from an inbound mail), or application/octet-stream.
func contentType(ct string) string {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || headerSafe(ct) != nil {
		return "application/octet-stream"
	}
	delete(params, "name") // the file name travels in Content-Disposition
	if s := mime.FormatMediaType(mt, params); s != "" {
		return s
	}
	return "application/octet-stream"
}

// buildAlert assembles a mailbox alert, the one mail about no conversation:
// it goes to the category's staff from the category's address, with no
// reply token (there is nothing to reply into) and no thread.
func (w *Worker) buildAlert(ctx context.Context, tx *store.Tx, it *store.OutboxItem, now time.Time) (*outgoing, error) {
	cat, err := tx.CategoryByID(ctx, *it.CategoryID)
	if err != nil {
		return nil, gone(err)
	}
	if len(cat.Addresses) == 0 {
		return nil, permanentf("category %s has no address to send from", cat.Key)
	}
	data := &templates.Data{Category: cat.Name, Link: strings.TrimRight(w.o.PublicURL, "/") + "/",
		Recipient: templates.Person{Email: it.Recipient}, Mailbox: it.Detail["mailbox"], Reason: it.Detail["reason"]}
	lang := ""
	if it.RecipientID != nil {
		u, err := tx.UserByID(ctx, *it.RecipientID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if u != nil {
			data.Recipient.Name, lang = u.Name, u.Language
		}
	}
	r, err := w.o.Templates.Render(it.Template, lang, data)
	if err != nil {
		return nil, permanent(err)
	}
	e, from, to, err := w.frame(it, cat, data.Recipient.Name, 0, r, now)
	if err != nil {
		return nil, err
	}
	return w.outgoing(e, it, from, to)
}

// frame makes the mail both kinds of mail share: checked From, To and
// Subject (tagged [#number] unless number is 0), the bodies, the stored
// Message-ID, the date, and the headers that keep machines from answering
// and recognise the mail when it comes back.
func (w *Worker) frame(it *store.OutboxItem, cat *store.Category, rcptName string, number int64, r templates.Rendered, now time.Time) (*email.Email, string, string, error) {
	// Header values from user input: refuse rather than repair.
	for _, h := range []struct{ what, v string }{
		{"subject", r.Subject}, {"category name", cat.Name}, {"recipient name", rcptName},
	} {
		if err := headerSafe(h.v); err != nil {
			return nil, "", "", permanentf("%s %q: %v", h.what, h.v, err)
		}
	}
	to, err := plainAddress(it.Recipient)
	if err != nil {
		return nil, "", "", permanentf("recipient: %v", err)
	}
	from, err := plainAddress(cat.Addresses[0])
	if err != nil {
		return nil, "", "", permanentf("category address: %v", err)
	}
	if err := messageIDSafe(it.MailMessageID); err != nil {
		return nil, "", "", permanentf("Message-ID %q: %v", it.MailMessageID, err)
	}
	e := email.NewEmail()
	e.From = (&mail.Address{Name: cat.Name, Address: from}).String()
	e.To = []string{(&mail.Address{Name: rcptName, Address: to}).String()}
	// email Q-encodes every other header on its own, in one unfolded line;
	// a B-encoded subject is shorter, so a long non-ASCII subject stays
	// within the line limit. An ASCII subject is left as it is.
	subject := r.Subject
	if number != 0 {
		subject = threading.TaggedSubject(number, subject)
	}
	e.Subject = mime.BEncoding.Encode("UTF-8", subject)
	e.Text = []byte(r.Text)
	e.HTML = []byte(r.HTML)
	h := e.Headers
	h.Set("Message-ID", "<"+it.MailMessageID+">")
	h.Set("Date", now.Format(time.RFC1123Z))
	if notification(it.Template) {
		h.Set("Auto-Submitted", "auto-generated") // RFC 3834 5
	}
	// Ask Exchange not to answer with out-of-office or other automatic
	// replies ([MS-OXCMAIL] 2.2.3.2.14); delivery reports stay on.
	h.Set("X-Auto-Response-Suppress", "OOF, AutoReply")
	loop := w.o.LoopID
	if loop == "" {
		_, loop, _ = strings.Cut(it.MailMessageID, "@")
	}
	h.Set(conversation.LoopHeader, loop)
	return e, from, to, nil
}
