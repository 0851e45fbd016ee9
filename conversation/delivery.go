package conversation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"postdesk/store"
)

// DetailFailedOutbox is the key, in a delivery_failed notice's outbox
// detail, of the row whose failure the notice reports.
const DetailFailedOutbox = "failed_outbox"

// noticeTemplates are the mails that are themselves notices about something
// that went wrong: when one of them fails, the failure is recorded and
// nobody is mailed about it, so failures cannot loop.
var noticeTemplates = []string{store.TemplateDeliveryFailed, store.TemplateTooLarge,
	store.TemplateMailboxAlert, store.TemplateQuarantined}

// NoticeTemplates lists the templates whose failure no notice follows.
func NoticeTemplates() []string { return slices.Clone(noticeTemplates) }

// noticeWorthy reports whether the failure of a mail of this template is
// worth a delivery_failed notice: not when it was a notice itself.
func noticeWorthy(template string) bool { return !slices.Contains(noticeTemplates, template) }

// DeliveryFailure says why a mail will never be delivered.
type DeliveryFailure struct {
	// Reason is stored as the row's last_error, which staff see.
	Reason string
	// Timeline is the event's wording; "" means Reason. A delivery
	// report's own diagnostic text (the remote side's words) belongs in
	// Reason only.
	Timeline string
	// Quiet records the failure and tells nobody (the sender limit).
	Quiet bool
}

// DeliveryFailed is the one handling of a mail postdesk gives up on, whoever
// finds out (the outbox worker after a permanent error or 48 hours of
// tries; ingest from a verified delivery report). In the caller's
// transaction it marks the row failed, provided it is still the try row
// describes (row.Attempts) and not failed already; puts a delivery_failed
// event in the conversation's timeline; and queues a delivery_failed notice
// to the Handler or, with none, the receiver roles' audience (the visibility
// rule), never to the address that failed and never about a notice. It
// reports whether the row changed; false (and no error) when it had been
// failed already or claimed again meanwhile.
func (s *Service) DeliveryFailed(ctx context.Context, tx *store.Tx, row *store.OutboxItem, f DeliveryFailure) (bool, error) {
	failed, err := tx.OutboxFailed(ctx, row.ID, row.Attempts, f.Reason)
	if errors.Is(err, store.ErrLeaseLost) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if failed.ConversationID == nil {
		return true, nil // a mailbox alert: there is no timeline to write in
	}
	c, err := tx.ConversationByID(ctx, *failed.ConversationID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	text := f.Timeline
	if text == "" {
		text = f.Reason
	}
	ev := &store.Message{ConversationID: c.ID, Direction: store.DirInternal, Kind: store.KindEvent, Event: "delivery_failed",
		To: []string{failed.Recipient}, Text: fmt.Sprintf("Mail to %s could not be delivered (%s): %s", failed.Recipient, failed.Template, text)}
	if err := tx.InsertMessage(ctx, ev, nil); err != nil {
		return false, err
	}
	if f.Quiet || !noticeWorthy(failed.Template) {
		return true, nil
	}
	to, err := s.handlerOrRoles(ctx, tx, c)
	if err != nil {
		return false, err
	}
	seen := map[int64]bool{}
	for _, u := range to {
		if seen[u.ID] || u.Email == failed.Recipient {
			continue
		}
		seen[u.ID] = true
		uid := u.ID
		if err := tx.Enqueue(ctx, &store.OutboxItem{ConversationID: &c.ID, MessageID: &ev.ID, Template: store.TemplateDeliveryFailed,
			Recipient: u.Email, RecipientID: &uid, MailMessageID: s.NewMessageID(),
			Detail: map[string]string{DetailFailedOutbox: strconv.FormatInt(failed.ID, 10)}}); err != nil {
			return false, err
		}
	}
	return true, nil
}
