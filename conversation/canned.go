package conversation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"postdesk/config"
	"postdesk/store"
)

// Canned answers and signatures. A canned answer belongs to one staff role
// and is offered to that role's members only, on a conversation only where
// they have staff powers: a customer or a manager never sees one. Managing
// them, and the roles' signatures, takes the canned permission of a staff
// role; it reaches every staff role, like audit. A user's own signature is
// theirs to edit. The placeholders below are filled per conversation by
// FillCanned; single braces were chosen because {{...}} reads as a Go
// template, and an unknown {word} is left as written.
const (
	PlaceCustomer = "{customer.name}"       // the conversation's customer, name or else address
	PlaceNumber   = "{conversation.number}" // the conversation's number, without '#'
	PlaceHandler  = "{handler.name}"        // the Handler; on a new message, the writer
	PlaceMe       = "{my.name}"             // the user inserting the answer
)

// Limits of a canned answer, checked before the database sees one.
const (
	maxCannedTitle = 200
	maxCannedBody  = 20000
)

// ownStaffRoles are the IDs of the actor's active staff roles.
func (a *Actor) ownStaffRoles() []int64 {
	var ids []int64
	for _, r := range a.Roles {
		if r.Staff && r.Active {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// CannedFor lists the canned answers the actor may insert, their bodies
// filled for the conversation (convID > 0) or for a new message (0): those
// of their own staff roles, on a conversation only if they have staff
// powers there. Anyone else gets none and no error, so that a page simply
// offers no pick-list.
func (s *Service) CannedFor(ctx context.Context, a *Actor, convID int64) (out []store.CannedAnswer, err error) {
	roles := a.ownStaffRoles()
	if len(roles) == 0 {
		return nil, nil
	}
	err = s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		vals, err := s.placeValues(ctx, tx, a, convID)
		if errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if out, err = tx.CannedAnswers(ctx, roles); err != nil {
			return err
		}
		for i := range out {
			out[i].Body = fillPlaceholders(out[i].Body, vals)
		}
		return nil
	})
	return out, err
}

// FillCanned is one canned answer's text with its placeholders filled for a
// conversation, or for a new message when convID is 0. An answer of a role
// the actor is not in, and a conversation they have no staff powers on, is
// ErrNotFound: the answer's existence is not theirs to learn.
func (s *Service) FillCanned(ctx context.Context, a *Actor, convID, cannedID int64) (text string, err error) {
	err = s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, err := tx.CannedAnswer(ctx, cannedID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !slices.Contains(a.ownStaffRoles(), c.RoleID)) {
			return fmt.Errorf("canned answer %d: %w", cannedID, ErrNotFound)
		} else if err != nil {
			return err
		}
		vals, err := s.placeValues(ctx, tx, a, convID)
		if err != nil {
			return err
		}
		text = fillPlaceholders(c.Body, vals)
		return nil
	})
	return text, err
}

// placeValues are the placeholders' values on a conversation the actor has
// staff powers on (else ErrNotFound), or on a new message (convID 0).
func (s *Service) placeValues(ctx context.Context, tx *store.Tx, a *Actor, convID int64) (map[string]string, error) {
	me := displayName(a.User)
	vals := map[string]string{PlaceMe: me, PlaceHandler: me, PlaceCustomer: "", PlaceNumber: ""}
	if convID == 0 {
		return vals, nil
	}
	conv, err := tx.ConversationByID(ctx, convID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("conversation %d: %w", convID, ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	acc, err := s.access(ctx, tx, a, convID)
	if err != nil {
		return nil, err
	}
	if !acc.staff {
		return nil, fmt.Errorf("conversation %d: %w", convID, ErrNotFound)
	}
	vals[PlaceNumber] = strconv.FormatInt(conv.Number, 10)
	vals[PlaceHandler] = ""
	for id, place := range map[*int64]string{conv.CustomerID: PlaceCustomer, conv.HandlerID: PlaceHandler} {
		if id == nil {
			continue
		}
		u, err := tx.UserByID(ctx, *id)
		if err != nil {
			return nil, err
		}
		vals[place] = displayName(*u)
	}
	return vals, nil
}

// fillPlaceholders replaces each known placeholder in one pass, so that a
// value holding a placeholder's text (a customer named "{my.name}") is not
// filled again.
func fillPlaceholders(body string, vals map[string]string) string {
	pairs := make([]string, 0, 2*len(vals))
	for k, v := range vals {
		pairs = append(pairs, k, v)
	}
	return strings.NewReplacer(pairs...).Replace(body)
}

func displayName(u store.User) string {
	if strings.TrimSpace(u.Name) != "" {
		return u.Name
	}
	return u.Email
}

// mayManageCanned refuses an actor without the canned permission of a
// staff role.
func (a *Actor) mayManageCanned() error {
	if !a.StaffMay(config.MayCanned) {
		return fmt.Errorf("manage canned answers: %w", ErrForbidden)
	}
	return nil
}

// MayManageCanned reports whether the actor may manage canned answers and
// role signatures (the canned permission of a staff role).
func (a *Actor) MayManageCanned() bool { return a.mayManageCanned() == nil }

// CannedAll lists every role's canned answers, for managing them.
func (s *Service) CannedAll(ctx context.Context, a *Actor) (out []store.CannedAnswer, err error) {
	if err := a.mayManageCanned(); err != nil {
		return nil, err
	}
	err = s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) error {
		out, err = tx.CannedAnswers(ctx, nil)
		return err
	})
	return out, err
}

// SaveCanned adds (ID 0) or changes a canned answer of a staff role.
func (s *Service) SaveCanned(ctx context.Context, a *Actor, c *store.CannedAnswer) error {
	if err := a.mayManageCanned(); err != nil {
		return err
	}
	c.Title, c.Body = trim(c.Title), strings.TrimRight(c.Body, " \t\r\n")
	switch {
	case c.Title == "":
		return invalid("the canned answer needs a title")
	case utf8.RuneCountInString(c.Title) > maxCannedTitle:
		return invalid("the title is too long")
	case trim(c.Body) == "":
		return invalid("the canned answer is empty")
	case utf8.RuneCountInString(c.Body) > maxCannedBody:
		return invalid("the canned answer is too long")
	case !slices.Contains(config.Languages, c.Language):
		return invalid("unknown language")
	}
	return s.st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := staffRole(ctx, tx, c.RoleID); err != nil {
			return err
		}
		if c.ID != 0 {
			if _, err := tx.CannedAnswer(ctx, c.ID); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("canned answer %d: %w", c.ID, ErrNotFound)
			} else if err != nil {
				return err
			}
		}
		if err := tx.SaveCannedAnswer(ctx, c); err != nil {
			return err
		}
		return tx.Audit(ctx, a.id(), a.User.Email, "canned.save", nil, map[string]any{"canned": c.ID, "role": c.RoleID})
	})
}

// DeleteCanned removes a canned answer.
func (s *Service) DeleteCanned(ctx context.Context, a *Actor, id int64) error {
	if err := a.mayManageCanned(); err != nil {
		return err
	}
	return s.st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := tx.DeleteCannedAnswer(ctx, id); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("canned answer %d: %w", id, ErrNotFound)
		} else if err != nil {
			return err
		}
		return tx.Audit(ctx, a.id(), a.User.Email, "canned.delete", nil, map[string]any{"canned": id})
	})
}

// staffRole refuses a role that is not an active staff role: canned
// answers reach customers through staff only.
func staffRole(ctx context.Context, tx *store.Tx, roleID int64) error {
	rs, err := tx.RolesByIDs(ctx, []int64{roleID})
	if err != nil {
		return err
	}
	if len(rs) != 1 || !rs[0].Staff || !rs[0].Active {
		return invalid("canned answers and role signatures belong to a staff role")
	}
	return nil
}

// Signatures of one user: Own by language, and their staff roles' by role
// ID, then language.
type Signatures struct {
	Own   map[string]string
	Roles map[int64]map[string]string
}

func signatures(ctx context.Context, tx *store.Tx, roleIDs []int64, userID int64) (Signatures, error) {
	list, err := tx.Signatures(ctx, roleIDs, userID)
	if err != nil {
		return Signatures{}, err
	}
	out := Signatures{Own: map[string]string{}, Roles: map[int64]map[string]string{}}
	for _, sg := range list {
		if sg.UserID != nil {
			out.Own[sg.Language] = sg.Body
			continue
		}
		if out.Roles[*sg.RoleID] == nil {
			out.Roles[*sg.RoleID] = map[string]string{}
		}
		out.Roles[*sg.RoleID][sg.Language] = sg.Body
	}
	return out, nil
}

// MySignatures are the actor's own signatures by language.
func (s *Service) MySignatures(ctx context.Context, a *Actor) (map[string]string, error) {
	var sg Signatures
	err := s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) (err error) {
		sg, err = signatures(ctx, tx, nil, a.User.ID)
		return err
	})
	return sg.Own, err
}

// SetMySignature sets the actor's own signature in a language (empty
// removes it). Only staff sign replies, so only staff have one.
func (s *Service) SetMySignature(ctx context.Context, a *Actor, lang, body string) error {
	if !a.IsStaff() {
		return fmt.Errorf("set a signature: %w", ErrForbidden)
	}
	return s.setSignature(ctx, store.Signature{UserID: a.id(), Language: lang, Body: body})
}

// RoleSignatures are every staff role's signatures, for managing them.
func (s *Service) RoleSignatures(ctx context.Context, a *Actor, roleIDs []int64) (map[int64]map[string]string, error) {
	if err := a.mayManageCanned(); err != nil {
		return nil, err
	}
	var sg Signatures
	err := s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) (err error) {
		sg, err = signatures(ctx, tx, roleIDs, 0)
		return err
	})
	return sg.Roles, err
}

// SetRoleSignature sets a staff role's signature in a language (empty
// removes it).
func (s *Service) SetRoleSignature(ctx context.Context, a *Actor, roleID int64, lang, body string) error {
	if err := a.mayManageCanned(); err != nil {
		return err
	}
	return s.setSignature(ctx, store.Signature{RoleID: &roleID, Language: lang, Body: body})
}

func (s *Service) setSignature(ctx context.Context, sg store.Signature) error {
	sg.Body = strings.TrimRight(sg.Body, " \t\r\n")
	if !slices.Contains(config.Languages, sg.Language) {
		return invalid("unknown language")
	}
	if utf8.RuneCountInString(sg.Body) > 2000 {
		return invalid("the signature is too long")
	}
	return s.st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		if sg.RoleID != nil {
			if err := staffRole(ctx, tx, *sg.RoleID); err != nil {
				return err
			}
		}
		return tx.SetSignature(ctx, sg)
	})
}

// SignatureFor is what a staff reply or new message by the actor is signed
// with, in a language: their own signature, then that of the first of their
// staff roles among roleIDs (the conversation's receivers; nil: any of
// theirs) that has one. Non-staff sign nothing.
func (s *Service) SignatureFor(ctx context.Context, a *Actor, roleIDs []int64, lang string) (string, error) {
	own := a.ownStaffRoles()
	if len(own) == 0 {
		return "", nil
	}
	var sg Signatures
	err := s.st.Read(ctx, func(ctx context.Context, tx *store.Tx) (err error) {
		sg, err = signatures(ctx, tx, own, a.User.ID)
		return err
	})
	if err != nil {
		return "", err
	}
	var parts []string
	if b := sg.Own[lang]; b != "" {
		parts = append(parts, b)
	}
	for _, id := range own {
		if roleIDs != nil && !slices.Contains(roleIDs, id) {
			continue
		}
		if b := sg.Roles[id][lang]; b != "" {
			parts = append(parts, b)
			break
		}
	}
	return strings.Join(parts, "\n"), nil
}
