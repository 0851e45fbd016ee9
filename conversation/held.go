package conversation

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"postdesk/quote"
	"postdesk/senderauth"
	"postdesk/store"
)

// Trust in inbound mail (issue 10).
//
// With sender_auth configured, every mail from a person is checked against
// the receiving MTA's Authentication-Results (package senderauth) and the
// verdict is stored with it; staff see "sender not verified" on the ones that
// were not. With staff_powers: require_pass, a mail that would act with staff
// powers (a reply sent to the customer, #take, #solved, #note, assignment)
// does so only when its sender is verified. Otherwise it is a held reply:
// stored as an internal note with the reason, sent to nobody, and sent as
// their reply only when the staff member whose address it claims releases it
// in the web view (ReleaseHeld). Without sender_auth nothing is checked and
// staff powers rest on From alone.

// senderCheck evaluates a mail's sender; nil without sender_auth.
func (s *Service) senderCheck(raw []byte, from string) *senderauth.Result {
	if !s.senderAuth.Enabled() {
		return nil
	}
	r := s.senderAuth.Check(raw, from)
	return &r
}

// staffPowersHeld reports why a mail that would use staff powers may not: its
// sender is unproven and sender_auth requires proof. "" means it may.
func (s *Service) staffPowersHeld(check *senderauth.Result) string {
	if check == nil || check.Pass || !s.senderAuth.RequirePass {
		return ""
	}
	return check.Reason
}

// recordSender stores the verdict on a person's mail, for the staff's mark.
func recordSender(ctx context.Context, tx *store.Tx, msg *store.Message, check *senderauth.Result) error {
	if check == nil || msg.ID == 0 {
		return nil
	}
	switch msg.Kind {
	case store.KindCustomer, store.KindStaff, store.KindNote:
		return tx.SetSenderCheck(ctx, msg.ID, store.SenderCheck{Verified: check.Pass, Reason: check.Reason})
	}
	return nil
}

// holdReply keeps a staff reply whose sender is unproven: an internal note
// with the reason, no command obeyed, nothing sent, nobody notified. A #note
// is kept as the (unverified) note it asks to be; anything else may be
// released by the staff member it claims to be from.
func (s *Service) holdReply(ctx context.Context, tx *store.Tx, author *store.User, c *store.Conversation, in *store.Message,
	files []store.NewAttachment, reason string) (*store.Message, error) {
	cmd, text := command(quote.Strip(in.Text))
	in.Kind, in.Direction, in.Text, in.HTML = store.KindNote, store.DirInternal, text, ""
	why := "Sender not verified (" + reason + "): "
	if cmd == CommandNote {
		in.Problems = append(in.Problems, why+"kept as an unverified internal note.")
	} else {
		in.Problems = append(in.Problems, why+"held; nothing was sent to the customer and no command was obeyed. Only "+author.Email+" can send it as their reply.")
	}
	if err := tx.InsertMessage(ctx, in, files); err != nil {
		return nil, err
	}
	if cmd != CommandNote {
		if err := tx.InsertHeldReply(ctx, store.HeldReply{MessageID: in.ID, UserID: author.ID, Reason: reason}); err != nil {
			return nil, err
		}
	}
	if err := tx.UpdateConversation(ctx, c.ID, store.ConversationUpdate{}); err != nil {
		return nil, err
	}
	return in, tx.Audit(ctx, nil, "ingest", "reply_held", &c.ID, map[string]any{"message": in.ID, "claims": author.Email, "reason": reason})
}

// HeldView is a held reply as the page shows it.
type HeldView struct {
	Reason     string
	Claims     string // the staff address it claims to come from
	Released   bool
	CanRelease bool // the viewer is that staff member, and it is not sent yet
}

// Trust is what staff see of the mail trust of a conversation's messages.
type Trust struct {
	Checks map[int64]store.SenderCheck // by message id
	Held   map[int64]HeldView          // by message id of the held note
}

// Trust returns the sender checks and held replies of a conversation for
// staff of it; for anyone else, nothing (they see neither marks nor notes).
func (s *Service) Trust(ctx context.Context, a *Actor, convID int64) (*Trust, error) {
	t := &Trust{Checks: map[int64]store.SenderCheck{}, Held: map[int64]HeldView{}}
	err := s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		acc, err := s.access(ctx, tx, a, convID)
		if err != nil || !acc.staff {
			return err
		}
		if t.Checks, err = tx.SenderChecks(ctx, convID); err != nil {
			return err
		}
		held, err := tx.HeldReplies(ctx, convID)
		if err != nil {
			return err
		}
		for id, h := range held {
			u, err := tx.UserByID(ctx, h.UserID)
			if err != nil {
				return err
			}
			t.Held[id] = HeldView{Reason: h.Reason, Claims: u.Email, Released: h.ReleasedAt != nil,
				CanRelease: h.ReleasedAt == nil && h.UserID == a.User.ID}
		}
		return nil
	})
	return t, err
}

// ReleaseHeld sends a held reply as the actor's reply, through the same path
// as a reply written in the web view. Only the staff member the mail claimed
// to come from may, once, and only while they are staff of the conversation;
// to anyone who cannot see the note it does not exist.
func (s *Service) ReleaseHeld(ctx context.Context, a *Actor, messageID int64) (*store.Message, error) {
	var msg *store.Message
	err := s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		h, convID, err := tx.LockHeldReply(ctx, messageID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("held reply %d: %w", messageID, ErrNotFound)
		} else if err != nil {
			return err
		}
		c, acc, err := s.lock(ctx, tx, a, convID)
		if err != nil {
			return err
		}
		switch {
		case !acc.staff:
			return fmt.Errorf("held reply %d: %w", messageID, ErrNotFound)
		case h.UserID != a.User.ID:
			return fmt.Errorf("%w: only the staff member the mail claims to come from may send it", ErrForbidden)
		case h.ReleasedAt != nil:
			return invalid("this reply was sent already")
		}
		note, err := tx.MessageByID(ctx, messageID)
		if err != nil {
			return err
		}
		files, err := filesOf(ctx, tx, note.ID)
		if err != nil {
			return err
		}
		if strings.TrimSpace(note.Text) == "" && len(files) == 0 {
			return invalid("the held reply is empty")
		}
		if msg, err = s.staffReply(ctx, tx, a, c, note.Text, files, "", nil); err != nil {
			return err
		}
		if err := tx.ReleaseHeldReply(ctx, messageID, msg.ID); err != nil {
			return err
		}
		return audit(ctx, tx, a, "held_reply_released", c.ID, map[string]any{"held": messageID, "message": msg.ID})
	})
	return msg, err
}

// filesOf reads a stored message's attachments back as new ones.
func filesOf(ctx context.Context, tx *store.Tx, messageID int64) ([]store.NewAttachment, error) {
	as, err := tx.AttachmentsOf(ctx, messageID)
	if err != nil {
		return nil, err
	}
	files := make([]store.NewAttachment, 0, len(as))
	for _, a := range as {
		data, err := tx.Blob(ctx, a.SHA256)
		if err != nil {
			return nil, err
		}
		files = append(files, store.NewAttachment{Filename: a.Filename, ContentType: a.ContentType,
			ContentID: a.ContentID, Inline: a.Inline, Data: data})
	}
	return files, nil
}

// acknowledge mails a person who opened a conversation its number, unless
// their domain had DomainLimit acknowledgements within the hour: a spoofer
// can make postdesk write to any address, so what it writes is short (the
// template carries no subject or text of theirs) and how often it writes to
// one domain is bounded. The per-sender bound is SenderLimit's.
//
// In a batch (bs not nil) the domains' counts are read once, for every
// sender of the batch, and counted on as the batch queues receipts: what
// one query per mail would have seen in the same transaction.
func (s *Service) acknowledge(ctx context.Context, tx *store.Tx, convID, msgID int64, author store.User, bs *batchState) error {
	domain := strings.ToLower(author.Email[strings.LastIndexByte(author.Email, '@')+1:])
	n, err := bs.recentReceipts(ctx, tx, domain, s.domainLimit)
	if err != nil {
		return err
	}
	if n >= s.domainLimit {
		s.log.Warn("acknowledgement limit reached", "domain", domain, "count", n, "conversation", convID)
		return event(ctx, tx, convID, nil, "receipt_limited",
			"No acknowledgement was sent: too many went to "+domain+" within the hour.")
	}
	if bs != nil {
		bs.receipts[domain]++
	}
	return s.notify(ctx, tx, convID, &msgID, store.TemplateReceived, 0, author)
}
