package conversation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"strings"
	"time"
	"unicode/utf8"

	"postdesk/ingest/mailparse"
	"postdesk/store"
)

// What Receive does before and around the rules: recognising a mail stored
// already, keeping every value it stores storable, and the go-live archive.

// # Duplicates
//
// A mail is a duplicate only when it is the same mail:
//
//  1. the same IMAP message: (mailbox, UIDVALIDITY, UID) of a stored message
//     or of one of its recorded copies (a refetch after a crash, a cursor
//     moved back);
//  2. the same content: ContentKey of the raw source equals a stored mail's
//     (the same mail delivered to two category mailboxes, or fetched again
//     under a new UIDVALIDITY). A further copy is recorded against the kept
//     message (store.AddCopy), so a refetch of it is case 1 and the
//     retention purge deletes it from its server too.
//
// Nothing else makes two mails one: two mails sharing a Message-ID (and even
// every header) but not their content are both stored, as separate messages
// of whichever conversation threading picks. A mail over the size limit
// (Inbound.TooLarge: only its header was fetched) has no content key, as
// two such mails may differ in the body postdesk never saw; only case 1
// applies to it.

// traceFields are the header fields (lower-case) that the hops of a
// delivery add to a mail: the trace fields of RFC 5321 section 4.4
// (Received, Return-Path), what receiving MTAs and delivery agents prepend
// to record the envelope (Delivered-To, X-Original-To, X-Delivered-To), the
// results of their checks (Authentication-Results, RFC 8601 section 5;
// Received-SPF, RFC 7208 section 9.1; ARC-*, RFC 8617, one set per hop) and
// the hop-by-hop X-Received. They are dropped wherever they stand in the
// header, as an MTA is free to insert them.
//
// DKIM-Signature fields are dropped too, all of them: a receiver may add its
// own (RFC 6376 section 5 lets any hop sign), and a signature only restates
// the content it signs, so dropping it never makes two different mails one.
var traceFields = map[string]bool{
	"received": true, "return-path": true, "delivered-to": true, "x-original-to": true, "x-delivered-to": true,
	"authentication-results": true, "received-spf": true, "x-received": true, "dkim-signature": true,
}

func isTraceField(name string) bool {
	name = strings.ToLower(name)
	return traceFields[name] || strings.HasPrefix(name, "arc-")
}

// ContentKey is the SHA-256 of a raw mail without its trace header fields
// (see traceFields), with line ends normalised to CRLF (servers differ in
// what they keep): two deliveries of one mail have the same key, two
// different mails never. The rest of the header (field order included) and
// the body count byte for byte.
func ContentKey(raw []byte) []byte {
	header, body := splitHeader(raw)
	h := sha256.New()
	for len(header) > 0 {
		field := nextField(header)
		header = header[len(field):]
		name, _, ok := bytes.Cut(field, []byte(":"))
		if ok && isTraceField(string(bytes.TrimRight(name, " \t"))) {
			continue
		}
		writeCRLF(h, field)
	}
	h.Write([]byte("\r\n")) // the blank line, whatever the mail had
	writeCRLF(h, body)
	return h.Sum(nil)
}

// splitHeader cuts a raw mail after its header's blank line (RFC 5322
// section 2.1); a mail without one is all header.
func splitHeader(raw []byte) (header, body []byte) {
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return nil, raw[2:]
	}
	if bytes.HasPrefix(raw, []byte("\n")) {
		return nil, raw[1:]
	}
	crlf := bytes.Index(raw, []byte("\r\n\r\n"))
	lf := bytes.Index(raw, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf+1 <= lf):
		return raw[:crlf+2], raw[crlf+4:]
	case lf >= 0:
		return raw[:lf+1], raw[lf+2:]
	}
	return raw, nil
}

// nextField returns the first field of header: its first line and every
// continuation line (one starting with a space or a tab, RFC 5322 section
// 2.2.3), line ends included.
func nextField(header []byte) []byte {
	end := 0
	for {
		i := bytes.IndexByte(header[end:], '\n')
		if i < 0 {
			return header
		}
		end += i + 1
		if end >= len(header) || (header[end] != ' ' && header[end] != '\t') {
			return header[:end]
		}
	}
}

// writeCRLF writes b with every bare LF written as CRLF.
func writeCRLF(h hash.Hash, b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			h.Write(b)
			return
		}
		if i > 0 && b[i-1] == '\r' {
			h.Write(b[:i+1])
		} else {
			h.Write(b[:i])
			h.Write([]byte("\r\n"))
		}
		b = b[i+1:]
	}
}

// contentKeyOf is the content key of an inbound mail; nil for one of which
// only the header was fetched.
func contentKeyOf(in Inbound) []byte {
	if in.TooLarge {
		return nil
	}
	return ContentKey(in.Raw)
}

// duplicate records a mail found stored already: a further copy of it (the
// same content under another IMAP key) is added to the kept message.
func (s *Service) duplicate(ctx context.Context, tx *store.Tx, in Inbound, dup *store.Stored) (*Received, error) {
	res := &Received{ConversationID: dup.ConversationID, MessageID: dup.MessageID, Duplicate: true, DuplicateBy: DuplicateIMAP}
	if !dup.ByIMAPKey {
		res.DuplicateBy = DuplicateContent
		if in.Mailbox != "" {
			if err := tx.AddCopy(ctx, dup.MessageID, in.Mailbox, in.UIDValidity, in.UID); err != nil {
				return nil, err
			}
		}
	}
	s.log.Info("receive: duplicate mail, not stored again", "mailbox", in.Mailbox, "uidvalidity", in.UIDValidity,
		"uid", in.UID, "by", res.DuplicateBy, "message", dup.MessageID, "conversation", dup.ConversationID)
	return res, nil
}

// How Received.DuplicateBy names the rule that recognised a duplicate.
const (
	DuplicateIMAP    = "imap"    // the same (mailbox, UIDVALIDITY, UID)
	DuplicateContent = "content" // the same ContentKey
)

// # Storable values
//
// Whatever a parser hands on, what Receive stores must be storable:
// PostgreSQL text holds neither NUL nor invalid UTF-8, and a sender address
// becomes a user (a unique btree key). bound makes every string of the
// parsed mail valid UTF-8 without NUL, and drops a From address longer than
// RFC 5321 allows (section 4.5.3.1.3: a path is at most 256 octets, so an
// address at most 254): it could never be written back to, and the mail is
// then one without a readable sender (held for review), with a problem
// noted. Long Message-IDs and references are stored as they are: the store
// indexes them by hash.

// MaxAddress is the longest address used as a sender (RFC 5321 section
// 4.5.3.1.3).
const MaxAddress = 254

func bound(m *mailparse.Message) {
	c := clean
	m.MessageID, m.Subject = c(m.MessageID), c(m.Subject)
	m.Text, m.HTML = c(m.Text), c(m.HTML)
	cleanAll(m.InReplyTo)
	cleanAll(m.References)
	cleanAll(m.DeliveredTo)
	cleanAll(m.Problems)
	m.From = cleanAddress(m.From)
	for _, as := range [][]mailparse.Address{m.To, m.Cc, m.ReplyTo} {
		for i := range as {
			as[i] = cleanAddress(as[i])
		}
	}
	for i := range m.Attachments {
		a := &m.Attachments[i]
		a.Filename, a.ContentType, a.ContentID = c(a.Filename), c(a.ContentType), c(a.ContentID)
	}
	if m.Report != nil {
		r := m.Report
		r.Status, r.Diagnostic, r.OriginalMessageID = c(r.Status), c(r.Diagnostic), c(r.OriginalMessageID)
	}
	if n := len(m.From.Email); n > MaxAddress {
		m.Problems = append(m.Problems, fmt.Sprintf("The sender address is %d bytes long, more than the %d an address may have (RFC 5321): it is not used. It begins %q.",
			n, MaxAddress, truncate(m.From.Email, 60)))
		m.From.Email = ""
	}
}

func cleanAddress(a mailparse.Address) mailparse.Address {
	a.Name, a.Email = clean(a.Name), clean(a.Email)
	return a
}

func cleanAll(ss []string) {
	for i := range ss {
		ss[i] = clean(ss[i])
	}
}

// clean makes s storable as PostgreSQL text: valid UTF-8, no NUL.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// # The go-live archive
//
// Mail that was in a folder when postdesk first connected to it
// (Inbound.Archive) is stored as the archive: threaded and routed like any
// mail, but nobody is mailed (no acknowledgement, no notification, no
// answer: a staff member's years-old reply is stored, never sent again, and
// no command in it is obeyed), and the conversation it went into is solved
// when the mail is older than ArchiveSolvedAfter (solved at the mail's date,
// so the retention counts from then) and new otherwise.

// ArchiveSolvedAfter is the age from which archive mail is filed as solved.
const ArchiveSolvedAfter = 30 * 24 * time.Hour

// archiveDate is when an archive mail was written: its Date, unless missing
// or in the future, else when the server received it, else now.
func archiveDate(m *mailparse.Message, in Inbound, now time.Time) time.Time {
	switch {
	case !m.Date.IsZero() && !m.Date.After(now.Add(24*time.Hour)):
		return m.Date
	case !in.InternalDate.IsZero():
		return in.InternalDate
	}
	return now
}

func (s *Service) fileArchive(ctx context.Context, tx *store.Tx, res *Received, m *mailparse.Message, in Inbound) error {
	if res.Duplicate || res.ConversationID == 0 {
		return nil
	}
	now := time.Now()
	return tx.ArchiveConversation(ctx, res.ConversationID, archiveDate(m, in, now), now.Add(-ArchiveSolvedAfter))
}
