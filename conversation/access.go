package conversation

import (
	"context"
	"fmt"

	"postdesk/store"
)

// Reading says through which door a read reaches the rules, for the access
// log: the web pages or the API, and the client (address, User-Agent).
type Reading struct {
	Via    string // ViaWeb or ViaAPI
	Client string
}

// The doors of Reading.
const (
	ViaWeb = "web"
	ViaAPI = "api"
)

type readingKey struct{}

// WithReading marks ctx as a read through r's door: Get and Attachment
// then record who read (the access log), as the audit permission shows it.
func WithReading(ctx context.Context, r Reading) context.Context {
	return context.WithValue(ctx, readingKey{}, r)
}

// logAccess records a read of conversation convID (or of its file
// attachmentID) by staff, a manager of its company, or an API token; a
// customer reading their own conversation is not logged. It runs after
// the read's transaction, in one of its own; an error fails the read, as
// a read that cannot be accounted for must not be served.
func (s *Service) logAccess(ctx context.Context, a *Actor, convID int64, attachmentID string, acc access) error {
	r, _ := ctx.Value(readingKey{}).(Reading)
	as := ""
	switch {
	case acc.staff:
		as = "staff"
	case acc.manager:
		as = "manager"
	case r.Via == ViaAPI:
		as = "token"
	default:
		return nil
	}
	if r.Via == "" {
		r.Via = "internal"
	}
	e := &store.AccessEvent{UserID: &a.User.ID, Email: a.User.Email, ConversationID: convID, AttachmentID: attachmentID,
		Via: r.Via, As: as, Client: r.Client}
	if err := s.st.Write(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.RecordAccess(ctx, e) }); err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	return nil
}
