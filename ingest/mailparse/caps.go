package mailparse

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The caps on what one mail hands on. Every value Parse returns from a header
// is at most this long, so that no mail can make the store exceed an index or
// column limit (a btree row holds about 2.7 KB); the store hashes long keys as
// a second defence. Each cut is noted in Message.Problems.
const (
	// MaxIDBytes caps a Message-ID, each In-Reply-To and References ID, a
	// report's original Message-ID and a Content-ID. A longer ID keeps its
	// first MaxIDBytes bytes: the cut is the same in the mail and in a reply
	// that quotes it, so threading still finds it, and the cut ID is a
	// substring of the header, so IMAP SEARCH HEADER Message-ID (which
	// matches substrings, RFC 3501 section 6.4.4) still finds the server
	// copies the retention purge removes. A hash in place of the tail would
	// keep two long IDs with one head apart, but no real mail has them, and
	// a sender can as well reuse a short ID.
	MaxIDBytes = 250
	// MaxReferences caps References: the first ID (the thread's root) and
	// the newest MaxReferences-1 are kept, as RFC 5322 section 3.6.4 asks
	// of a writer that trims the field.
	MaxReferences = 50
	// MaxInReplyTo caps the IDs of In-Reply-To; the first are kept.
	MaxInReplyTo = 10
	// MaxLocalPartBytes, MaxDomainBytes and MaxAddressBytes are RFC 5321
	// section 4.5.3.1: no mail system delivers to a longer address, so one
	// is dropped from its list rather than cut into another address.
	MaxLocalPartBytes = 64
	MaxDomainBytes    = 255
	MaxAddressBytes   = 254
	// MaxAddresses caps the addresses read from one header (From, To, Cc,
	// Reply-To, Delivered-To, a report's recipients); the first are kept.
	MaxAddresses = 200
	// MaxNameBytes caps a display name, cut at a character boundary.
	MaxNameBytes = 200
	// MaxSubjectBytes caps the Subject, cut at a character boundary.
	MaxSubjectBytes = 1000
	// MaxFilenameBytes caps an attachment's file name; the extension is
	// kept, so the file still opens with the right program.
	MaxFilenameBytes = 200
	// MaxContentTypeBytes caps a media type (RFC 6838 section 4.2 allows
	// 127 characters on either side of the slash); a longer one is read as
	// the part's default type.
	MaxContentTypeBytes = 255
	// MaxReportFieldBytes caps a delivery report's diagnostic text.
	MaxReportFieldBytes = 1000
)

// cutString returns at most max bytes of s, cut at a character boundary, and
// whether it cut.
func cutString(s string, max int) (string, bool) {
	if len(s) <= max {
		return s, false
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s, true
}

// capID applies MaxIDBytes to one ID.
func capID(id string) (string, bool) {
	if len(id) <= MaxIDBytes {
		return id, false
	}
	return cutString(id, MaxIDBytes)
}

// capIDs applies MaxIDBytes to each ID of a list, keeping the list free of
// duplicates, and notes one problem naming the header.
func (p *parser) capIDs(key string, ids []string) []string {
	cut := false
	out := ids[:0]
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		c, was := capID(id)
		cut = cut || was
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	if cut {
		p.problem(fmt.Sprintf("The %s header has an ID longer than %d bytes; it was shortened.", key, MaxIDBytes))
	}
	return out
}

func (p *parser) capOneID(key, id string) string {
	c, cut := capID(id)
	if cut {
		p.problem(fmt.Sprintf("The %s is longer than %d bytes; it was shortened.", key, MaxIDBytes))
	}
	return c
}

// capReferences keeps the root and the newest IDs of References.
func (p *parser) capReferences(ids []string) []string {
	if len(ids) <= MaxReferences {
		return ids
	}
	p.problem(fmt.Sprintf("The References header lists %d IDs; the first and the last %d were kept.", len(ids), MaxReferences-1))
	out := make([]string, 0, MaxReferences)
	out = append(out, ids[0])
	return append(out, ids[len(ids)-(MaxReferences-1):]...)
}

// addressFits tells an address a mail system could deliver to by its length
// (RFC 5321 section 4.5.3.1).
func addressFits(email string) bool {
	if len(email) > MaxAddressBytes {
		return false
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return len(email) <= MaxLocalPartBytes
	}
	return at <= MaxLocalPartBytes && len(email)-at-1 <= MaxDomainBytes
}

// capAddresses drops addresses that are too long, cuts long display names
// and keeps at most MaxAddresses.
func (p *parser) capAddresses(key string, list []Address) []Address {
	out := list[:0]
	dropped, named := 0, false
	for _, a := range list {
		if !addressFits(a.Email) {
			dropped++
			continue
		}
		var cut bool
		if a.Name, cut = cutString(a.Name, MaxNameBytes); cut {
			named = true
		}
		out = append(out, a)
	}
	if dropped > 0 {
		p.problem(fmt.Sprintf("The %s header has an address longer than RFC 5321 allows; it was left out.", key))
	}
	if named {
		p.problem(fmt.Sprintf("The %s header has a display name longer than %d bytes; it was shortened.", key, MaxNameBytes))
	}
	if len(out) > MaxAddresses {
		p.problem(fmt.Sprintf("The %s header has more than %d addresses; the rest were left out.", key, MaxAddresses))
		out = out[:MaxAddresses]
	}
	return out
}
