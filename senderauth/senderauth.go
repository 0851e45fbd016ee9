// Package senderauth decides whether an inbound mail's From address is
// proven, by reading the Authentication-Results header fields (RFC 8601)
// that the receiving MTA wrote after checking DMARC (RFC 7489) and DKIM
// (RFC 6376). postdesk does no DNS lookups and verifies no signatures
// itself: the MTA in front of the mailbox has done that, and postdesk only
// needs to know which of its headers to believe.
//
// # Which header counts
//
// Anyone can put an Authentication-Results field into a mail they write, so
// only fields the trusted MTA added can count. The fields are walked from
// the top of the header down, the order in which hops prepend them (RFC 5321
// 4.4, RFC 8601 5):
//
//  1. A Received field is a hop. A hop added by a trusted host (its "by"
//     host is one of the trusted authserv-ids, case-insensitively) is our
//     own and the walk goes on; the first hop added by any other host ends
//     the walk: everything below it was written before the mail reached our
//     side, so a trusted-looking Authentication-Results below it is ignored.
//  2. An Authentication-Results field whose authserv-id is not trusted is
//     ignored (it was written by some other host, or forged).
//  3. The first (topmost) Authentication-Results field whose authserv-id is
//     trusted decides; any further one is ignored.
//
// With no such field the sender is not verified. (RFC 8601 5 also requires
// the MTA to remove fields claiming its own authserv-id from arriving mail;
// the rules above do not depend on it being done.) If your delivery agent
// adds a Received field above the MTA's Authentication-Results (Dovecot's
// LMTP does, by default), list that host among the authserv-ids too.
//
// # What proves the sender
//
// The deciding field must say dmarc=pass (with header.from, when present,
// the From domain), or dkim=pass with a signing domain (header.d, else the
// domain of header.i) aligned with the From domain in DMARC's relaxed mode
// (RFC 7489 3.1.1): both have the same organizational domain, found with the
// Public Suffix List (golang.org/x/net/publicsuffix). Parsing is
// github.com/emersion/go-msgauth/authres; only the walk and the alignment
// are written here, because no library offers them over a parsed header.
package senderauth

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"
	"golang.org/x/net/publicsuffix"
)

// Result is what the headers prove about the From address.
type Result struct {
	Pass   bool   // dmarc=pass, or dkim=pass aligned with the From domain
	Method string // "dmarc" or "dkim" when Pass
	Reason string // how it passed, or why not; shown to staff
}

// Evaluate reads h top-down by the rules of the package documentation and
// says whether it proves from (an addr-spec) with a header written by one of
// authservIDs. It is a pure function: no DNS, no clock.
func Evaluate(h textproto.Header, from string, authservIDs []string) Result {
	trusted := map[string]bool{}
	for _, id := range authservIDs {
		if id = strings.ToLower(strings.TrimSpace(id)); id != "" {
			trusted[id] = true
		}
	}
	if len(trusted) == 0 {
		return Result{Reason: "no trusted authserv-id is configured"}
	}
	fields := h.Fields()
	for fields.Next() {
		switch fields.Key() {
		case "Received":
			if by := receivedBy(fields.Value()); !trusted[by] {
				return Result{Reason: fmt.Sprintf("no Authentication-Results from a trusted host above the hop by %q", orUnknown(by))}
			}
		case "Authentication-Results":
			id, results, err := authres.Parse(fields.Value())
			if !trusted[strings.ToLower(id)] {
				continue
			}
			if err != nil {
				return Result{Reason: fmt.Sprintf("the Authentication-Results of %s cannot be read: %v", id, err)}
			}
			return judge(id, results, from)
		}
	}
	return Result{Reason: "no Authentication-Results header from a trusted host"}
}

// judge applies the pass rules to the results of the deciding header.
func judge(id string, results []authres.Result, from string) Result {
	fromDomain := domainOf(from)
	if fromDomain == "" {
		return Result{Reason: "the mail has no From address to verify"}
	}
	var seen []string
	var dkimPass *Result
	for _, r := range results {
		switch r := r.(type) {
		case *authres.DMARCResult:
			if r.Value == authres.ResultPass && (r.From == "" || strings.EqualFold(r.From, fromDomain)) {
				return Result{Pass: true, Method: "dmarc", Reason: fmt.Sprintf("%s: dmarc=pass for %s", id, fromDomain)}
			}
			seen = append(seen, fmt.Sprintf("dmarc=%s", r.Value))
		case *authres.DKIMResult:
			d := strings.ToLower(strings.TrimSpace(r.Domain))
			if d == "" {
				d = domainOf(r.Identifier)
			}
			switch {
			case r.Value == authres.ResultPass && aligned(d, fromDomain):
				if dkimPass == nil {
					dkimPass = &Result{Pass: true, Method: "dkim", Reason: fmt.Sprintf("%s: dkim=pass header.d=%s, aligned with %s", id, d, fromDomain)}
				}
			case r.Value == authres.ResultPass:
				seen = append(seen, fmt.Sprintf("dkim=pass header.d=%s not aligned with %s", orUnknown(d), fromDomain))
			default:
				seen = append(seen, fmt.Sprintf("dkim=%s", r.Value))
			}
		}
	}
	// DMARC, where the MTA evaluated it, is named first; an aligned DKIM
	// signature proves the domain just as well.
	if dkimPass != nil {
		return *dkimPass
	}
	if len(seen) == 0 {
		return Result{Reason: fmt.Sprintf("%s reports no DMARC or DKIM result", id)}
	}
	return Result{Reason: fmt.Sprintf("%s: %s", id, strings.Join(seen, ", "))}
}

// aligned is DMARC's relaxed identifier alignment: the same organizational
// domain. A name the Public Suffix List cannot reduce (a bare suffix) must
// equal the other exactly.
func aligned(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if strings.EqualFold(a, b) {
		return true
	}
	oa, err1 := publicsuffix.EffectiveTLDPlusOne(strings.ToLower(a))
	ob, err2 := publicsuffix.EffectiveTLDPlusOne(strings.ToLower(b))
	return err1 == nil && err2 == nil && oa == ob
}

// receivedBy returns the host of a Received field's "by" clause (RFC 5321
// 4.4), lower-case, or "" when it has none; comments are skipped.
func receivedBy(v string) string {
	depth := 0
	var words []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			words = append(words, cur.String())
			cur.Reset()
		}
	}
	for _, c := range v {
		switch {
		case c == '(':
			flush()
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == ';':
			flush()
			words = append(words, ";")
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			flush()
		default:
			cur.WriteRune(c)
		}
	}
	flush()
	for i := 0; i+1 < len(words); i++ {
		if words[i] == ";" {
			break // the date follows
		}
		if strings.EqualFold(words[i], "by") {
			return strings.ToLower(strings.TrimSuffix(words[i+1], "."))
		}
	}
	return ""
}

// domainOf returns the lower-case domain of an address, "" without one.
func domainOf(addr string) string {
	addr = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(addr), "<"), ">")
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || at == len(addr)-1 {
		return ""
	}
	return strings.ToLower(addr[at+1:])
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed host"
	}
	return s
}

// Policy is the sender_auth configuration: whose headers are trusted, and
// whether staff powers by mail need a pass.
type Policy struct {
	AuthservIDs []string
	RequirePass bool // staff_powers: require_pass
}

// Enabled reports whether any header is trusted at all; without, senders are
// neither verified nor marked.
func (p *Policy) Enabled() bool { return p != nil && len(p.AuthservIDs) > 0 }

// Check evaluates the header of a raw mail. A header that is broken part way
// is read as far as it goes: the fields that count are at its top.
func (p *Policy) Check(raw []byte, from string) Result {
	if !p.Enabled() {
		return Result{Reason: "sender_auth is not configured"}
	}
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	return Evaluate(h, from, p.AuthservIDs)
}
