package outbound

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"postdesk/signinlink"
	"postdesk/store"
	"postdesk/templates"
)

// linkMail reports whether a template is one of the one-time link mails.
func linkMail(template string) bool {
	return template == store.TemplateSigninLink || template == store.TemplatePasswordReset
}

// buildLink builds a sign-in or password-reset link mail: the token is
// derived here from the row's id and nonce (package signinlink), so it is
// written nowhere but the mail. A link already used or expired is not
// sent: it could not be opened anyway.
func (w *Worker) buildLink(ctx context.Context, tx *store.Tx, it *store.OutboxItem, now time.Time) (*outgoing, error) {
	if w.o.LinkKeys == nil {
		return nil, permanentf("no link keys: Options.LinkKeys is not set")
	}
	if it.CategoryID == nil {
		return nil, permanentf("a link mail needs a category to be sent from")
	}
	id, err := strconv.ParseInt(it.Detail["link"], 10, 64)
	if err != nil {
		return nil, permanentf("link mail without a link id")
	}
	l, err := tx.LinkByID(ctx, id)
	if err != nil {
		return nil, gone(err)
	}
	if l.UsedAt != nil || !now.Before(l.ExpiresAt) {
		return nil, permanentf("the link expired or was used before it could be sent")
	}
	if !strings.EqualFold(l.Email, it.Recipient) {
		return nil, permanentf("the link is bound to another address")
	}
	cat, err := tx.CategoryByID(ctx, *it.CategoryID)
	if err != nil {
		return nil, gone(err)
	}
	if len(cat.Addresses) == 0 {
		return nil, permanentf("category %s has no address to send from", cat.Key)
	}
	path := "/link/"
	if l.Purpose == signinlink.Reset {
		path = "/reset/"
	}
	data := &templates.Data{Category: cat.Name, Recipient: templates.Person{Email: it.Recipient},
		Link: strings.TrimRight(w.o.PublicURL, "/") + path + w.o.LinkKeys.Token(l.ID, l.Nonce)}
	if l.ConversationID != nil {
		conv, err := tx.ConversationByID(ctx, *l.ConversationID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if conv != nil {
			data.Number, data.Subject = conv.Number, conv.Subject
		}
	}
	u, err := tx.UserByID(ctx, l.UserID)
	if err != nil {
		return nil, gone(err)
	}
	data.Recipient.Name = u.Name
	r, err := w.o.Templates.Render(it.Template, u.Language, data)
	if err != nil {
		return nil, permanent(err)
	}
	e, from, to, err := w.frame(it, cat, data.Recipient.Name, 0, r, now)
	if err != nil {
		return nil, err
	}
	return w.outgoing(e, it, from, to)
}
