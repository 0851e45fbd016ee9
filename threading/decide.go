package threading

import (
	"errors"
	"fmt"
	"strings"

	"postdesk/ingest/mailparse"
)

// Index answers the facts threading needs; the store implements it inside the
// ingest transaction. Emails are passed lower-cased.
type Index interface {
	ConversationByMessageID(ids []string) (conv int64, ok bool, err error) // the newest conversation holding any of these stored Message-IDs
	ConversationByNumber(n int64) (conv int64, ok bool, err error)
	IsParticipant(conv int64, email string) (bool, error)
	UserEmail(userID int64) (email string, ok bool, err error)
	IsStaffOf(conv int64, email string) (bool, error) // member of a receiver role of conv
	// OutboxConversation is the conversation of an outbox row; ok is false
	// when the row is gone or belongs to no conversation.
	OutboxConversation(outboxID int64) (conv int64, ok bool, err error)
}

// maxLookupIDs caps the Message-IDs of one header passed to the Index, so a
// mail with a huge References field costs one bounded query.
const maxLookupIDs = 64

// Values of Decision.By.
const (
	ByToken      = "token"
	ByReturnPath = "return-path"
	ByMessageID  = "message-id"
	BySubjectTag = "subject-tag"
	ByNew        = "new"
)

// Decision is where an inbound mail goes and what it is.
type Decision struct {
	Conversation int64  // 0: open a new conversation
	By           string // "token", "message-id", "subject-tag", "new"
	Kind         Kind
	Token        *Token // the verified token, when one was used
	// Bounce is the outbox row a delivery report names through a verified
	// return path (VERP); 0 for every other mail, including a report that
	// came any other way, which must change no delivery state.
	Bounce int64
	Staff  bool   // sender has staff powers on this conversation
	Note   string // why something was refused, e.g. "token from a different sender", shown to staff
}

// Decide returns the conversation m belongs to. recipients are all envelope and
// header recipient addresses (To, Cc, Delivered-To, X-Original-To).
//
// In order, the first that applies wins:
//
//  0. for a bounce, a return path (payroll+b-TOKEN@, see SignBounce) among
//     the recipients whose token verifies: the report is about that outbox
//     row and no other (Bounce), and belongs to the row's conversation; when
//     the row or its conversation is gone, to none (a new, held one). Only
//     this makes a report count; a bounce found by the rules below is
//     stored for staff and changes nothing.
//  1. a reply token in the plus-address of any recipient that verifies. A
//     token proves its bearer got our mail, so it attaches whoever the sender
//     is; staff powers (Staff, KindStaff) need more: From is the email of the
//     user the token was issued to, that user is staff of the conversation,
//     and the mail is not an auto-reply, bounce or loop (an out-of-office
//     notice must never be sent to the customer as a staff reply). A token
//     that does not verify is ignored and noted.
//  2. for a bounce, the conversation holding the Message-ID of the returned
//     mail (m.Report.OriginalMessageID), with no sender check, but only when
//     that ID has own.MessageIDDomain: it must be ours, and ours are known
//     only to those we sent them to. This only keeps the report with its
//     conversation for staff: it proves nothing (Bounce stays 0), since
//     everyone who got the mail has the ID. A bounce goes no further.
//  3. In-Reply-To, then References (RFC 5322 3.6.4; all of them, since Apple
//     Mail rewrites References and Outlook often sends only In-Reply-To)
//     naming a stored Message-ID, when From is a participant of that
//     conversation. Message-IDs are no secret (anyone Cc'd has them), so a
//     match from a non-participant is refused and noted: copying References
//     must not let a stranger into a conversation. Of a very long References
//     field, the first and the last 63 IDs are looked up.
//  4. a [#n] subject tag, when From is a participant of conversation n;
//     numbers are guessable, so a tag from anyone else is ignored and noted.
//  5. otherwise a new conversation (Conversation 0, By "new").
//
// Kind is Classify's, except KindStaff as above; auto-replies and loops thread
// like any mail and keep their kind. Errors are the Index's.
func Decide(m *mailparse.Message, recipients []string, s *Signer, idx Index, own OwnMail) (Decision, error) {
	if m == nil {
		return Decision{}, errors.New("threading: nil message")
	}
	if idx == nil {
		return Decision{}, errors.New("threading: nil index")
	}
	d := Decision{By: ByNew, Kind: Classify(m, own)}
	from := strings.ToLower(strings.TrimSpace(m.From.Email))
	var notes []string
	finish := func() (Decision, error) {
		d.Note = strings.Join(notes, "; ")
		return d, nil
	}

	// 0. Return path of a bounce.
	if d.Kind == KindBounce {
		found, note, err := returnPath(&d, recipients, s, idx)
		if err != nil {
			return Decision{}, err
		}
		if note != "" {
			notes = append(notes, note)
		}
		if found {
			return finish()
		}
	}

	// 1. Reply token.
	if s != nil {
		tok, owner, badNote, err := pickToken(recipients, from, s, idx)
		if err != nil {
			return Decision{}, err
		}
		if badNote != "" {
			notes = append(notes, badNote)
		}
		if tok != nil {
			d.Conversation, d.By, d.Token = tok.Conversation, ByToken, tok
			switch {
			case d.Kind == KindBounce:
				// A report at a reply address, not at a return path: it
				// is kept with the conversation but proves nothing
				// (Bounce stays 0), and no one's powers are in question.
			case owner == "":
				notes = append(notes, fmt.Sprintf("reply token names unknown user %d: no staff powers", tok.Recipient))
			case owner != from:
				notes = append(notes, fmt.Sprintf("reply token issued to %s used by %s: no staff powers", owner, senderText(from)))
			case d.Kind == KindCustomer:
				staff, err := idx.IsStaffOf(tok.Conversation, from)
				if err != nil {
					return Decision{}, fmt.Errorf("threading: staff check: %w", err)
				}
				if staff {
					d.Staff, d.Kind = true, KindStaff
				}
			}
			return finish()
		}
	}

	// 2. Bounce of our own mail.
	if d.Kind == KindBounce {
		if m.Report != nil {
			id := cleanID(m.Report.OriginalMessageID)
			switch {
			case id == "":
			case !isOwnID(id, own):
				notes = append(notes, fmt.Sprintf("bounce of <%s>, which postdesk did not send", id))
			default:
				conv, ok, err := idx.ConversationByMessageID([]string{id})
				if err != nil {
					return Decision{}, fmt.Errorf("threading: bounce lookup: %w", err)
				}
				if ok {
					d.Conversation, d.By = conv, ByMessageID
				}
			}
		}
		return finish()
	}

	// 3. In-Reply-To, then References.
	seen := map[string]bool{}
	refused := map[int64]bool{}
	for _, list := range [][]string{m.InReplyTo, m.References} {
		ids := make([]string, 0, len(list))
		for _, id := range list {
			if id = cleanID(id); id != "" && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		if len(ids) > maxLookupIDs {
			// Keep the thread root and the most recent ones.
			ids = append(ids[:1], ids[len(ids)-maxLookupIDs+1:]...)
		}
		conv, ok, err := idx.ConversationByMessageID(ids)
		if err != nil {
			return Decision{}, fmt.Errorf("threading: message-id lookup: %w", err)
		}
		if !ok || refused[conv] {
			continue
		}
		member, err := isParticipant(idx, conv, from)
		if err != nil {
			return Decision{}, err
		}
		if member {
			d.Conversation, d.By = conv, ByMessageID
			return finish()
		}
		refused[conv] = true
		notes = append(notes, fmt.Sprintf("references a message of conversation %d, but %s is not a participant", conv, senderText(from)))
	}

	// 4. Subject tag.
	if n, ok := Tag(m.Subject); ok {
		conv, ok, err := idx.ConversationByNumber(n)
		if err != nil {
			return Decision{}, fmt.Errorf("threading: number lookup: %w", err)
		}
		if ok {
			member, err := isParticipant(idx, conv, from)
			if err != nil {
				return Decision{}, err
			}
			if member {
				d.Conversation, d.By = conv, BySubjectTag
				return finish()
			}
			if !refused[conv] {
				notes = append(notes, fmt.Sprintf("subject tag [#%d] from %s, who is not a participant", n, senderText(from)))
			}
		}
	}

	// 5. New conversation.
	return finish()
}

// returnPath applies rule 0 of Decide to a bounce: found reports a verified
// return path (d is then decided), note what staff should know.
func returnPath(d *Decision, recipients []string, s *Signer, idx Index) (found bool, note string, err error) {
	row, ok, bad := BounceRow(recipients, s)
	if !ok {
		if bad {
			note = "a return path token did not verify: the report is not trusted"
		}
		return false, note, nil
	}
	d.By, d.Bounce = ByReturnPath, row
	conv, exists, err := idx.OutboxConversation(row)
	if err != nil {
		return false, "", fmt.Errorf("threading: return path lookup: %w", err)
	}
	if !exists {
		return true, fmt.Sprintf("delivery report for outbox row %d, whose conversation no longer exists", row), nil
	}
	d.Conversation = conv
	return true, "", nil
}

// pickToken verifies the plus-address tag of every recipient and returns the
// token to use: the first one issued to the sender, else the first valid one.
// owner is the email of the token's user ("" when unknown); badNote says when
// something shaped like a token failed to verify.
func pickToken(recipients []string, from string, s *Signer, idx Index) (tok *Token, owner string, badNote string, err error) {
	var valid []Token
	bad := 0
	for _, r := range recipients {
		_, tag := SplitPlus(r)
		if tag == "" {
			continue
		}
		t, verr := s.Verify(tag)
		if verr != nil {
			if looksLikeToken(tag) {
				bad++
			}
			continue
		}
		if t.Conversation <= 0 || t.Recipient <= 0 {
			continue // signed by us, but names nothing we store
		}
		dup := false
		for _, v := range valid {
			dup = dup || v == t
		}
		if !dup {
			valid = append(valid, t)
		}
	}
	if bad > 0 {
		badNote = "a reply token did not verify and was ignored"
	}
	for i := range valid {
		email, ok, err := idx.UserEmail(valid[i].Recipient)
		if err != nil {
			return nil, "", "", fmt.Errorf("threading: token user: %w", err)
		}
		email = strings.ToLower(strings.TrimSpace(email))
		if !ok {
			email = ""
		}
		if i == 0 {
			tok, owner = &valid[0], email
		}
		if email != "" && email == from {
			return &valid[i], email, badNote, nil
		}
	}
	return tok, owner, badNote, nil
}

// isParticipant is idx.IsParticipant, false for a mail without a sender.
func isParticipant(idx Index, conv int64, from string) (bool, error) {
	if from == "" {
		return false, nil
	}
	ok, err := idx.IsParticipant(conv, from)
	if err != nil {
		return false, fmt.Errorf("threading: participant check: %w", err)
	}
	return ok, nil
}

// cleanID strips white space and angle brackets from a Message-ID.
func cleanID(id string) string {
	id = strings.TrimSpace(id)
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">"))
}

// isOwnID reports whether id was generated by postdesk, by its domain.
func isOwnID(id string, own OwnMail) bool {
	d := strings.Trim(strings.TrimSpace(own.MessageIDDomain), "@")
	return d != "" && strings.EqualFold(idDomain(id), d)
}

func senderText(from string) string {
	if from == "" {
		return "a mail without sender"
	}
	return from
}
