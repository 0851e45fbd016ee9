package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// History is everything the checker judges: what the generator appended,
// what the sink saw, which faults ran, and what the database and the IMAP
// server held at each checkpoint and at the end. It is plain data so that
// check_test.go can plant violations without running a soak.
type History struct {
	Appended []Appended
	Received []Received
	Refused  []Refused // recipients the sink refused with a 5xx at RCPT
	Faults   []Fault

	// Config the run was given: category -> its roles, role -> members,
	// mailbox -> category, the category whose conversations are purged.
	CategoryRoles map[string][]string
	RoleMembers   map[string][]string
	MailboxCat    map[string]string
	PurgeCategory string

	// Seen* are every row seen at any checkpoint (the latest state of
	// each); End* what the database holds at the end.
	SeenConvs map[int64]Conv
	SeenMsgs  map[int64]Msg
	SeenRows  map[int64]Row
	EndConvs  map[int64]Conv
	EndMsgs   map[int64]Msg
	EndRows   map[int64]Row
	// EndDeletions counts the imap_deletions still queued at the end.
	EndDeletions int
	// EndIMAP is mailbox -> Message-IDs of the mails still in it at the end.
	EndIMAP map[string][]string
	End     time.Time
}

// Appended is one mail the generator put into a mailbox.
type Appended struct {
	At        time.Time
	Mailbox   string
	Kind      string // customer, staff, auto_reply, bounce
	MessageID string
	From      string
	SHA256    string // hex, of the raw mail as appended
	// ReplyTo is the Message-ID of the mail (from the sink) this one
	// answers: its conversation is where this one belongs.
	ReplyTo string
}

// Received is one mail the sink took (Cut: read in full and never answered).
type Received struct {
	At        time.Time
	MessageID string
	From      string // envelope sender
	Rcpts     []string
	Cut       bool
}

// Refused is a recipient the sink refused for good.
type Refused struct {
	At   time.Time
	Rcpt string
	Code int
}

// Fault is one injected fault.
type Fault struct {
	At   time.Time
	End  time.Time
	Name string
}

// Conv is a conversation as the checker needs it.
type Conv struct {
	ID           int64
	Subject      string
	Category     string
	Roles        []string
	Participants []string
	Handler      string
}

// Msg is a stored message.
type Msg struct {
	ID        int64
	Conv      int64
	Direction string
	Kind      string
	MessageID string
	Mailbox   string
	UIDValid  int64
	UID       int64
	RawSHA256 string // hex; "" when no raw source is kept
}

// Row is an outbox row.
type Row struct {
	ID            int64
	Conv          int64
	Template      string
	Recipient     string
	MailMessageID string
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
}

// Violation is one broken guarantee, with the fault that preceded it.
type Violation struct {
	Kind   string
	Detail string
	At     time.Time
	After  string // the last fault before At ("" when none)
}

func (v Violation) String() string {
	after := v.After
	if after == "" {
		after = "no fault"
	}
	return fmt.Sprintf("%s: %s (after %s)", v.Kind, v.Detail, after)
}

// The kinds of violation, one per guarantee.
const (
	VLost        = "lost"               // an appended mail neither stored nor purged
	VDoubled     = "stored twice"       // an appended mail stored more than once
	VContent     = "content differs"    // stored raw source is not what was appended
	VMisrouted   = "misrouted"          // wrong category, roles or conversation
	VUndelivered = "undelivered"        // an outbox row sent (or due) that the sink never got
	VResent      = "resent without cut" // received twice without a crash or cut send between
	VStranger    = "mail to a stranger" // a recipient outside the conversation
	VPurgeLeft   = "purge left a copy"  // a purged conversation's mail still in IMAP
	VResurrected = "purged mail back"   // a purged mail stored again
	VStuck       = "stuck past lease"   // a pending row overdue while everything ran
	VFailed      = "failed without cause"
	VQuarantine  = "quarantine without record"
)

// Check judges h. final is false at the minute checkpoints, where mail may
// still be on its way: only what can never be transient is judged then.
func Check(h *History, final bool) []Violation {
	vs, _ := CheckStats(h, final)
	return vs
}

// CheckStats is Check that also counts what was judged, so that a summary
// shows the checks had something to check.
func CheckStats(h *History, final bool) ([]Violation, map[string]int) {
	c := &checker{h: h, stats: map[string]int{}}
	c.index()
	c.stored(final)
	c.delivered(final)
	c.strangers()
	c.quarantine()
	if final {
		c.purged()
	}
	sort.SliceStable(c.out, func(i, j int) bool { return c.out[i].Kind < c.out[j].Kind })
	return c.out, c.stats
}

type checker struct {
	h          *History
	out        []Violation
	stats      map[string]int
	rowByMID   map[string]Row
	endByMID   map[string][]Msg
	seenByMID  map[string][]Msg
	recvByMID  map[string][]Received
	inIMAP     map[string]map[string]bool // mailbox -> Message-ID
	bouncedMID map[string]bool
}

func (c *checker) add(kind string, at time.Time, format string, args ...any) {
	c.out = append(c.out, Violation{Kind: kind, Detail: fmt.Sprintf(format, args...), At: at, After: c.faultBefore(at)})
}

// faultBefore names the last fault that started at or before t.
func (c *checker) faultBefore(t time.Time) string {
	name := ""
	var at time.Time
	for _, f := range c.h.Faults {
		if !f.At.After(t) && !f.At.Before(at) {
			name, at = f.Name, f.At
		}
	}
	if name == "" {
		return ""
	}
	return fmt.Sprintf("%s at %s", name, at.Format("15:04:05"))
}

func (c *checker) index() {
	h := c.h
	c.rowByMID = map[string]Row{}
	for _, m := range []map[int64]Row{h.SeenRows, h.EndRows} {
		for _, r := range m {
			c.rowByMID[r.MailMessageID] = r
		}
	}
	for _, r := range h.EndRows { // the end state wins
		c.rowByMID[r.MailMessageID] = r
	}
	// Every direction: a staff member's answer by mail is stored as the
	// outgoing message it becomes.
	c.endByMID = map[string][]Msg{}
	for _, m := range h.EndMsgs {
		if m.MessageID != "" && m.Mailbox != "" {
			c.endByMID[m.MessageID] = append(c.endByMID[m.MessageID], m)
		}
	}
	c.seenByMID = map[string][]Msg{}
	for _, m := range h.SeenMsgs {
		if m.MessageID != "" && m.Mailbox != "" {
			c.seenByMID[m.MessageID] = append(c.seenByMID[m.MessageID], m)
		}
	}
	c.recvByMID = map[string][]Received{}
	for _, r := range h.Received {
		c.recvByMID[r.MessageID] = append(c.recvByMID[r.MessageID], r)
	}
	c.inIMAP = map[string]map[string]bool{}
	for mb, ids := range h.EndIMAP {
		c.inIMAP[mb] = map[string]bool{}
		for _, id := range ids {
			c.inIMAP[mb][id] = true
		}
	}
	c.bouncedMID = map[string]bool{}
	for _, a := range h.Appended {
		if a.Kind == "bounce" {
			c.bouncedMID[a.ReplyTo] = true
		}
	}
}

func (c *checker) conv(id int64) (Conv, bool) {
	if cv, ok := c.h.EndConvs[id]; ok {
		return cv, true
	}
	cv, ok := c.h.SeenConvs[id]
	return cv, ok
}

// stored: every appended mail is stored once, with its content, in the
// conversation it belongs to, routed to its category's roles.
func (c *checker) stored(final bool) {
	h := c.h
	for _, a := range h.Appended {
		msgs := c.endByMID[a.MessageID]
		if len(msgs) > 1 {
			var keys []string
			for _, m := range msgs {
				keys = append(keys, fmt.Sprintf("%s/%d/%d in #%d", m.Mailbox, m.UIDValid, m.UID, m.Conv))
			}
			c.add(VDoubled, a.At, "%s mail <%s> stored %d times: %s", a.Kind, a.MessageID, len(msgs), strings.Join(keys, ", "))
		}
		if len(msgs) == 0 {
			if !final {
				continue
			}
			seen := c.seenByMID[a.MessageID]
			stillThere := c.inIMAP[a.Mailbox][a.MessageID]
			switch {
			case len(seen) > 0 && !stillThere:
				// stored, then purged with its IMAP copy: as it must be
				c.stats["appended mails purged with their IMAP copy"]++
			case len(seen) > 0 && stillThere:
				// purged() names the copy left behind
			case stillThere:
				c.add(VLost, a.At, "%s mail <%s> in %s was never stored", a.Kind, a.MessageID, a.Mailbox)
			default:
				c.add(VLost, a.At, "%s mail <%s> in %s was never seen stored and is gone from IMAP", a.Kind, a.MessageID, a.Mailbox)
			}
			continue
		}
		m := msgs[0]
		c.stats["appended mails stored once"]++
		if m.RawSHA256 == a.SHA256 {
			c.stats["of them with the same raw SHA-256"]++
		}
		if m.RawSHA256 != "" && a.SHA256 != "" && m.RawSHA256 != a.SHA256 {
			c.add(VContent, a.At, "<%s>: stored raw sha256 %s, appended %s", a.MessageID, short(m.RawSHA256), short(a.SHA256))
		}
		if m.Mailbox != a.Mailbox {
			c.add(VMisrouted, a.At, "<%s> appended to %s, stored as from %s", a.MessageID, a.Mailbox, m.Mailbox)
		}
		cv, ok := c.conv(m.Conv)
		if !ok {
			continue
		}
		if seen := c.seenByMID[a.MessageID]; len(seen) > 0 && seen[0].Conv != m.Conv {
			if _, still := h.EndConvs[seen[0].Conv]; !still {
				c.add(VResurrected, a.At, "<%s> was in #%d, which was purged, and is stored again in #%d", a.MessageID, seen[0].Conv, m.Conv)
			}
		}
		switch a.Kind {
		case "customer":
			want := h.MailboxCat[a.Mailbox]
			if cv.Category != want {
				c.add(VMisrouted, a.At, "<%s> from %s in conversation %d of category %s, want %s", a.MessageID, a.From, cv.ID, cv.Category, want)
			}
			if wantRoles := sorted(h.CategoryRoles[want]); !slices.Equal(sorted(cv.Roles), wantRoles) {
				c.add(VMisrouted, a.At, "<%s>: conversation %d routed to %v, want %v", a.MessageID, cv.ID, sorted(cv.Roles), wantRoles)
			}
		default:
			r, ok := c.rowByMID[a.ReplyTo]
			if !ok || r.Conv == 0 {
				continue
			}
			if _, alive := h.EndConvs[r.Conv]; alive && r.Conv != m.Conv {
				c.add(VMisrouted, a.At, "%s <%s> answers <%s> of conversation %d but is stored in %d", a.Kind, a.MessageID, a.ReplyTo, r.Conv, m.Conv)
			}
		}
	}
}

// delivered: every row sent reached the sink, twice only across a cut;
// nothing pending is overdue; nothing failed without a reason the harness
// gave.
func (c *checker) delivered(final bool) {
	h := c.h
	cuts := []string{"kill", "pg-restart"}
	for mid, rs := range c.recvByMID {
		for i := 1; i < len(rs); i++ {
			prev, cur := rs[i-1], rs[i]
			if prev.Cut {
				c.stats["Message-IDs received again after a cut send"]++
				continue
			}
			cut := false
			for _, f := range h.Faults {
				if slices.Contains(cuts, strings.Fields(f.Name)[0]) && !f.At.Before(prev.At.Add(-2*time.Second)) && !f.At.After(cur.At) {
					cut = true
				}
			}
			if cut {
				c.stats["Message-IDs received again across a kill or crash"]++
			} else {
				c.add(VResent, cur.At, "<%s> received %d times, again at %s with no crash or cut send after %s",
					mid, len(rs), cur.At.Format("15:04:05"), prev.At.Format("15:04:05"))
			}
		}
	}
	refused := map[string]bool{}
	for _, r := range h.Refused {
		if r.Code >= 500 {
			refused[r.Rcpt] = true
		}
	}
	rows := h.EndRows
	if !final {
		return
	}
	for _, r := range rows {
		got := len(c.recvByMID[r.MailMessageID])
		switch r.Status {
		case "sent":
			if got > 0 {
				c.stats["outbox rows sent and received"]++
			}
			if got == 0 {
				c.add(VUndelivered, h.End, "outbox %d (%s to %s, <%s>) is sent but the sink never got it", r.ID, r.Template, r.Recipient, r.MailMessageID)
			}
		case "failed":
			if !(refused[r.Recipient] && strings.Contains(r.LastError, "550")) && !c.bouncedMID[r.MailMessageID] {
				c.add(VFailed, h.End, "outbox %d (%s to %s) failed: %s", r.ID, r.Template, r.Recipient, r.LastError)
			}
		case "pending":
			if r.NextAttemptAt.Before(h.End.Add(-time.Minute)) {
				c.add(VStuck, h.End, "outbox %d (%s to %s) pending, due since %s, %d attempts: %s", r.ID, r.Template, r.Recipient,
					r.NextAttemptAt.Format("15:04:05"), r.Attempts, r.LastError)
			} else {
				c.add(VUndelivered, h.End, "outbox %d (%s to %s) still pending at the end, due %s, %d attempts: %s", r.ID, r.Template, r.Recipient,
					r.NextAttemptAt.Format("15:04:05"), r.Attempts, r.LastError)
			}
		}
	}
	// A row seen sent at a checkpoint and purged since must have arrived too.
	for id, r := range h.SeenRows {
		if _, still := rows[id]; !still && r.Status == "sent" && len(c.recvByMID[r.MailMessageID]) == 0 {
			c.add(VUndelivered, h.End, "outbox %d (%s to %s, <%s>) was sent (since purged) but the sink never got it", r.ID, r.Template, r.Recipient, r.MailMessageID)
		}
	}
}

// strangers: every recipient of every mail the sink took is its row's
// recipient and belongs to the row's conversation (a participant, the
// Handler, or a member of one of its roles).
func (c *checker) strangers() {
	h := c.h
	for _, rc := range h.Received {
		r, ok := c.rowByMID[rc.MessageID]
		if !ok {
			continue
		}
		for _, to := range rc.Rcpts {
			if !strings.EqualFold(to, r.Recipient) {
				c.add(VStranger, rc.At, "<%s> (%s, outbox %d for %s) went to %s", rc.MessageID, r.Template, r.ID, r.Recipient, to)
				continue
			}
			cv, ok := c.conv(r.Conv)
			if !ok || r.Conv == 0 {
				continue
			}
			c.stats["receptions checked against the conversation"]++
			if !c.belongs(cv, to) {
				c.add(VStranger, rc.At, "<%s> (%s of conversation %d) went to %s, who is not in it", rc.MessageID, r.Template, cv.ID, to)
			}
		}
	}
}

func (c *checker) belongs(cv Conv, addr string) bool {
	addr = strings.ToLower(addr)
	if slices.Contains(cv.Participants, addr) || cv.Handler == addr {
		return true
	}
	for _, role := range cv.Roles {
		if slices.Contains(c.h.RoleMembers[role], addr) {
			return true
		}
	}
	return false
}

// purged: a conversation seen at a checkpoint and gone at the end took its
// IMAP copies with it.
func (c *checker) purged() {
	h := c.h
	for _, m := range h.SeenMsgs {
		if m.Mailbox == "" || m.MessageID == "" {
			continue
		}
		if _, alive := h.EndConvs[m.Conv]; alive {
			continue
		}
		if len(c.endByMID[m.MessageID]) > 0 {
			continue // stored again: stored() judges it
		}
		if c.inIMAP[m.Mailbox][m.MessageID] {
			c.add(VPurgeLeft, h.End, "conversation %d was purged but <%s> is still in %s (%d deletions queued)", m.Conv, m.MessageID, m.Mailbox, h.EndDeletions)
		}
	}
}

// quarantine: a "could not be processed" conversation keeps the raw mail and
// where it came from.
func (c *checker) quarantine() {
	h := c.h
	for _, cv := range h.EndConvs {
		if !strings.HasPrefix(cv.Subject, "Mail could not be processed") {
			continue
		}
		ok := false
		for _, m := range h.EndMsgs {
			if m.Conv == cv.ID && m.RawSHA256 != "" && m.Mailbox != "" {
				ok = true
			}
		}
		if !ok {
			c.add(VQuarantine, h.End, "conversation %d %q holds no raw mail with its IMAP position", cv.ID, cv.Subject)
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
