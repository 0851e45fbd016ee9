package conversation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"postdesk/store"
)

// View is one conversation as the actor may see it.
type View struct {
	Conversation store.Conversation
	Messages     []store.Message // internal notes only for staff of the conversation
	Staff        bool            // the actor has staff powers here
	// Can is what the actor may do here (can.go); a page or the API offers
	// only these.
	Can Permissions
	// MayDescribe: the actor may set person and customer assignee;
	// MayChangeCompany: and the company too (Can's answers, by their old
	// names).
	MayDescribe, MayChangeCompany bool
	// About is the company the conversation is about: its own, else its
	// customer's.
	About *int64
	// PurgeAfter is when the retention purge deletes the conversation if
	// nothing happens before; nil while a legal hold keeps it.
	PurgeAfter *time.Time
}

// Get returns a conversation the actor may see, or ErrNotFound.
func (s *Service) Get(ctx context.Context, a *Actor, convID int64) (*View, error) {
	var v *View
	var acc access
	err := s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, err := tx.ConversationByID(ctx, convID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("conversation %d: %w", convID, ErrNotFound)
		} else if err != nil {
			return err
		}
		var err2 error
		if acc, err2 = s.access(ctx, tx, a, convID); err2 != nil {
			return err2
		}
		if !acc.see {
			return fmt.Errorf("conversation %d: %w", convID, ErrNotFound)
		}
		msgs, err := tx.Messages(ctx, convID, acc.staff)
		if err != nil {
			return err
		}
		about, err := aboutCompany(ctx, tx, convID)
		if err != nil {
			return err
		}
		can := PermissionsOf(a, Facts{Sees: acc.see, Staff: acc.staff, Status: c.Status, HandlerID: c.HandlerID, About: about})
		purge, err := tx.PurgeAfter(ctx, convID)
		if err != nil {
			return err
		}
		v = &View{Conversation: *c, Messages: msgs, Staff: acc.staff, Can: can, MayDescribe: can.SetPerson,
			MayChangeCompany: can.SetCompany, About: about, PurgeAfter: purge}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.logAccess(ctx, a, convID, "", acc); err != nil {
		return nil, err
	}
	return v, nil
}

// Filter narrows a list.
type Filter struct {
	// View is one of the control panel's views (Views): open, mine,
	// unassigned, waiting, solved or role:KEY; "" lists everything.
	View                                  string
	Status, Category, Role, Query, Cursor string
	HandledByMe                           bool
	Limit                                 int
}

// List returns the conversations the actor may see, newest activity first
// (see store.ListConversations for how the rule, the filters and the
// search are read).
func (s *Service) List(ctx context.Context, a *Actor, f Filter) (*store.Page, error) {
	lf, err := listFilter(a, f)
	if err != nil {
		return nil, err
	}
	var p *store.Page
	// One snapshot: the page's rows are read by key as the visibility rule
	// chose them (store.ListConversations).
	err = s.st.ReadSnapshot(ctx, func(ctx context.Context, tx *store.Tx) (err error) {
		p, err = tx.ListConversations(ctx, rule, lf)
		return err
	})
	if errors.Is(err, store.ErrInvalidInput) {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return p, err
}

// ExplainList is the query plan of List, run (EXPLAIN ANALYZE): for the
// benchmarks and for an operator looking into a slow inbox.
func (s *Service) ExplainList(ctx context.Context, a *Actor, f Filter) (plan string, err error) {
	lf, err := listFilter(a, f)
	if err != nil {
		return "", err
	}
	err = s.st.ReadSnapshot(ctx, func(ctx context.Context, tx *store.Tx) (err error) {
		plan, err = tx.ExplainConversations(ctx, rule, lf)
		return err
	})
	return plan, err
}

func listFilter(a *Actor, f Filter) (store.ListFilter, error) {
	lf := store.ListFilter{ViewerID: a.User.ID, Status: f.Status, Category: f.Category, Role: f.Role,
		Query: f.Query, Cursor: f.Cursor, Limit: f.Limit}
	if f.HandledByMe {
		lf.HandlerID = a.id()
	}
	switch f.Status {
	case "", store.StatusNew, store.StatusOpen, store.StatusWaiting, store.StatusSolved:
	default:
		return lf, invalid("unknown status %q", f.Status)
	}
	// Every view but the archive is work not done: a solved conversation
	// is in Solved only.
	switch view, role, _ := strings.Cut(f.View, ":"); view {
	case "":
	case ViewOpen:
		lf.Statuses = store.OpenStatuses
	case ViewMine:
		lf.Statuses, lf.HandlerID = store.OpenStatuses, a.id()
	case ViewUnassigned:
		lf.Statuses, lf.Unhandled = store.OpenStatuses, true
	case ViewWaiting:
		lf.Statuses = []string{store.StatusWaiting}
	case ViewSolved:
		lf.Statuses = []string{store.StatusSolved}
	case ViewRole:
		if role == "" || (f.Role != "" && f.Role != role) {
			return lf, invalid("unknown view %q", f.View)
		}
		lf.Statuses, lf.Role = store.OpenStatuses, role
	default:
		return lf, invalid("unknown view %q", f.View)
	}
	return lf, nil
}

// Attachment returns a file's metadata and content when the actor may see
// its conversation (and, for a note's file, is staff there); else ErrNotFound.
func (s *Service) Attachment(ctx context.Context, a *Actor, id string) (*store.Attachment, []byte, error) {
	var att *store.Attachment
	var data []byte
	var acc access
	var conv int64
	err := s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		at, convID, kind, err := tx.AttachmentByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("attachment: %w", ErrNotFound)
		} else if err != nil {
			return err
		}
		if acc, err = s.access(ctx, tx, a, convID); err != nil {
			return err
		}
		if !acc.see || (store.StaffOnlyKind(kind) && !acc.staff) {
			return fmt.Errorf("attachment: %w", ErrNotFound)
		}
		data, err = tx.Blob(ctx, at.SHA256)
		att, conv = at, convID
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if err := s.logAccess(ctx, a, conv, id, acc); err != nil {
		return nil, nil, err
	}
	return att, data, nil
}
