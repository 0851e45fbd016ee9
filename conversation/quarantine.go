package conversation

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"postdesk/ingest/mailparse"
	"postdesk/store"
)

// Quarantine: the record of a mail that could not be stored.
//
// When storing a mail fails for good (ingest decides which errors those are,
// see its package documentation), Quarantine keeps it in one transaction:
// its raw source as the attachment message.eml of an internal note in a new
// conversation "Mail could not be processed" of the mailbox's default
// category, routed to that category's staff roles only and held for review
// (no customer, no participants, no company: nobody but those staff can see
// it, and nobody is answered), an event naming the error and the mail's
// IMAP position, the mailbox cursor moved past it, and, at most once per
// QuarantineNoticeInterval per category, a notice to the category's staff.
//
// Nothing of the mail's header goes into an indexed column, so the record
// can be written whatever the mail holds.

// QuarantineSubject is the subject of a quarantine conversation.
const QuarantineSubject = "Mail could not be processed"

// QuarantineNoticeInterval is how often at most a category's staff are told
// of quarantined mail.
const QuarantineNoticeInterval = time.Hour

// maxReason caps the error text kept with a quarantined mail.
const maxReason = 1000

// PanicError is a panic while receiving a mail: a bug that this mail
// triggers, so trying again cannot help. It is permanent (see ingest).
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Permanent marks the error as one that retrying cannot cure.
func (e *PanicError) Permanent() bool { return true }

// parseMail parses raw with the service's parser, turning a panic into a
// *PanicError.
func (s *Service) parseMail(raw []byte) (m *mailparse.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	if s.parse != nil {
		return s.parse(raw), nil
	}
	return mailparse.Parse(raw, nil), nil
}

// Quarantine records an inbound mail that could not be stored because of
// cause, and moves the mailbox cursor past it, in one transaction. A mail
// stored already (see Duplicates in import.go; a quarantine whose commit
// was not seen, or the same mail quarantined from another mailbox) only
// records its copy and moves the cursor.
func (s *Service) Quarantine(ctx context.Context, in Inbound, cause error) (*Received, error) {
	reason := quarantineReason(cause)
	var res *Received
	err := s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		var err error
		if res, err = s.quarantine(ctx, tx, in, reason); err != nil {
			return err
		}
		if in.Mailbox != "" {
			return tx.AdvanceCursor(ctx, in.Mailbox, in.UIDValidity, in.UID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("quarantine %s uid %d: %w", in.Mailbox, in.UID, err)
	}
	if !res.Duplicate {
		s.log.Warn("receive: mail quarantined: stored raw for staff to review", "mailbox", in.Mailbox,
			"uidvalidity", in.UIDValidity, "uid", in.UID, "conversation", res.ConversationID, "err", reason)
	}
	return res, nil
}

func (s *Service) quarantine(ctx context.Context, tx *store.Tx, in Inbound, reason string) (*Received, error) {
	// Stored already: under this IMAP key (a quarantine whose commit was not
	// seen), or the same mail from another mailbox (quarantined or stored
	// there): recorded as its copy.
	if dup, err := tx.InboundStored(ctx, in.Mailbox, in.UIDValidity, in.UID, contentKeyOf(in)); err == nil {
		return s.duplicate(ctx, tx, in, dup)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	cat, err := tx.CategoryByKey(ctx, in.DefaultCategory)
	if err != nil {
		return nil, fmt.Errorf("default category %q: %w", in.DefaultCategory, err)
	}
	staffRoles, err := s.staffRoles(ctx, tx, cat)
	if err != nil {
		return nil, err
	}
	conv, err := tx.CreateConversation(ctx, store.NewConversation{Subject: QuarantineSubject, CategoryID: cat.ID,
		RoleIDs: staffRoles, HeldForReview: true})
	if err != nil {
		return nil, err
	}
	where := "a mail not from a mailbox"
	if in.Mailbox != "" {
		where = fmt.Sprintf("mailbox %s, UIDVALIDITY %d, UID %d", in.Mailbox, in.UIDValidity, in.UID)
	}
	if err := event(ctx, tx, conv.ID, nil, "quarantined", "Mail could not be processed: "+reason); err != nil {
		return nil, err
	}
	sha, err := tx.PutBlob(ctx, in.Raw)
	if err != nil {
		return nil, err
	}
	text := fmt.Sprintf("postdesk could not process this mail (%s, %d bytes) and kept it unread by the rules: %s\n\n"+
		"The mail as it arrived is attached as message.eml. Nobody was answered or notified of it but the staff of this category.",
		where, len(in.Raw), reason)
	if in.TooLarge {
		text += " Only its header was fetched: the mail is over the size limit."
	}
	msg := &store.Message{ConversationID: conv.ID, Direction: store.DirIn, Kind: store.KindNote, Subject: QuarantineSubject,
		Text: text, RawSHA256: sha, Problems: []string{"Not processed: " + reason}, RawKey: contentKeyOf(in),
		Mailbox: in.Mailbox, UIDValidity: in.UIDValidity, UID: in.UID}
	files := []store.NewAttachment{{Filename: "message.eml", ContentType: "message/rfc822", Data: in.Raw}}
	if err := tx.InsertMessage(ctx, msg, files); err != nil {
		return nil, err
	}
	if err := s.quarantineNotice(ctx, tx, cat, staffRoles, conv.ID, msg.ID); err != nil {
		return nil, err
	}
	return &Received{ConversationID: conv.ID, MessageID: msg.ID, Kind: msg.Kind, Held: true, Quarantined: true},
		tx.Audit(ctx, nil, "ingest", "quarantined", &conv.ID, map[string]any{
			"mailbox": in.Mailbox, "uidvalidity": in.UIDValidity, "uid": in.UID, "message": msg.ID, "size": len(in.Raw)})
}

// staffRoles are a category's receiver roles that are staff.
func (s *Service) staffRoles(ctx context.Context, tx *store.Tx, cat *store.Category) ([]int64, error) {
	roles, err := tx.RolesByIDs(ctx, cat.RoleIDs)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, r := range roles {
		if r.Staff {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

// quarantineNotice tells the category's staff of a quarantined mail, unless
// they were told of one within QuarantineNoticeInterval.
func (s *Service) quarantineNotice(ctx context.Context, tx *store.Tx, cat *store.Category, staffRoles []int64, convID, msgID int64) error {
	due, err := tx.QuarantineNoticeDue(ctx, cat.ID, store.TemplateQuarantined, QuarantineNoticeInterval)
	if err != nil || !due {
		return err
	}
	members, err := tx.RoleMembers(ctx, staffRoles)
	if err != nil {
		return err
	}
	for _, u := range members {
		uid := u.ID
		if err := tx.Enqueue(ctx, &store.OutboxItem{ConversationID: &convID, MessageID: &msgID, CategoryID: &cat.ID,
			Template: store.TemplateQuarantined, Recipient: u.Email, RecipientID: &uid, MailMessageID: s.NewMessageID()}); err != nil {
			return err
		}
	}
	return nil
}

// quarantineReason is the error as kept with the mail: valid UTF-8 without
// NUL, on one line, at most maxReason bytes.
func quarantineReason(err error) string {
	if err == nil {
		return "unknown error"
	}
	r := strings.Join(strings.Fields(clean(err.Error())), " ")
	return truncate(r, maxReason)
}
