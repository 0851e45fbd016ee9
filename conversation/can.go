package conversation

import (
	"context"
	"fmt"

	"postdesk/config"
	"postdesk/store"
)

// Who may do what on one conversation, written once. Can answers it for the
// pages (which offer only what it allows), the API and the mail commands;
// the actions of this package call check, its twin that says why not, in
// the transaction that acts, so that what a page offers and what the rules
// accept cannot drift apart.
//
//	action        who (all of them must see the conversation first)
//	read, export  whoever sees it (visibility.go)
//	reply         whoever sees it: staff answer, the customer side writes
//	note          staff of the conversation
//	take          staff of the conversation who are not its Handler yet
//	assign        staff of the conversation with assign, or its Handler
//	receivers     holders of change_receivers
//	set_company   staff of the conversation whose staff role grants set_company
//	set_person,   those, and managers of the company the conversation is about
//	set_assignee
//	solve         staff of the conversation, while the status allows (transitions)
//	reopen        staff of the conversation, on a Solved one only
//	legal_hold    staff of the conversation with legal_hold

// Action is something a user may do on a conversation.
type Action string

// The actions, as the table above names them.
const (
	ActRead        Action = "read"
	ActExport      Action = "export"
	ActReply       Action = "reply"
	ActNote        Action = "note"
	ActTake        Action = "take"
	ActAssign      Action = "assign"
	ActReceivers   Action = "receivers"
	ActSetCompany  Action = "set_company"
	ActSetPerson   Action = "set_person"
	ActSetAssignee Action = "set_assignee"
	ActSolve       Action = "solve"
	ActReopen      Action = "reopen"
	ActLegalHold   Action = "legal_hold"
)

// Actions are all of them, in the table's order.
var Actions = []Action{ActRead, ActExport, ActReply, ActNote, ActTake, ActAssign, ActReceivers,
	ActSetCompany, ActSetPerson, ActSetAssignee, ActSolve, ActReopen, ActLegalHold}

// refusedAs is how a refusal names the action ("take ownership: not
// allowed"); the web translates these words (its forbiddenActions).
var refusedAs = map[Action]string{
	ActRead: "read", ActExport: "read", ActReply: "reply", ActNote: "internal note", ActTake: "take ownership",
	ActAssign: "assign a Handler", ActReceivers: "change receivers", ActSetCompany: "change the company",
	ActSetPerson: "set company or person", ActSetAssignee: "set customer assignee", ActSolve: "mark solved",
	ActReopen: "reopen", ActLegalHold: "legal hold",
}

// customerWrites is the customer side's message, a move of the status
// table that is no permission of its own (whoever sees may reply).
const customerWrites Action = "customer_reply"

// reopened is the status a reopened conversation goes to: Open with a
// Handler, New without one (it is nobody's work yet).
const reopened = "(reopened)"

// transitions is the status table: from a status, the actions that move it
// and where to. Solve and Reopen are refused in a status without a row for
// them; the other actions are allowed in any status and leave it as it is
// where the table says nothing.
var transitions = map[string]map[Action]string{
	store.StatusNew: {ActTake: store.StatusOpen, ActAssign: store.StatusOpen, ActReply: store.StatusWaiting,
		ActSolve: store.StatusSolved},
	store.StatusOpen:    {ActReply: store.StatusWaiting, ActSolve: store.StatusSolved},
	store.StatusWaiting: {ActReply: store.StatusWaiting, customerWrites: reopened, ActSolve: store.StatusSolved},
	store.StatusSolved:  {ActReply: store.StatusWaiting, customerWrites: reopened, ActReopen: reopened},
}

// Next is the status an action moves a conversation to from status, and
// whether it moves it at all; hasHandler decides where a reopened one goes.
func Next(status string, act Action, hasHandler bool) (string, bool) {
	to, ok := transitions[status][act]
	if to == reopened {
		to = store.StatusNew
		if hasHandler {
			to = store.StatusOpen
		}
	}
	return to, ok && to != status
}

// statusActions are refused where the table has no move for them.
var statusActions = map[Action]bool{ActSolve: true, ActReopen: true}

// Facts are what Can needs to know of one conversation and its viewer,
// besides the viewer's roles.
type Facts struct {
	Sees, Staff bool   // by the visibility rule
	Status      string // the conversation's
	HandlerID   *int64
	About       *int64 // the company it is about (aboutSQL), if any
}

// FactsOf puts together the facts of a conversation as v says the actor
// sees it; about is the company it is about.
func FactsOf(v Visibility, c *store.Conversation, about *int64) Facts {
	return Facts{Sees: v.Sees(), Staff: v.Staff(), Status: c.Status, HandlerID: c.HandlerID, About: about}
}

// handledBy reports whether the actor is the Handler.
func (f Facts) handledBy(a *Actor) bool { return f.HandlerID != nil && *f.HandlerID == a.User.ID }

// Can reports whether the actor may do act on the conversation f describes.
func Can(a *Actor, f Facts, act Action) bool { return check(a, f, act) == nil }

// check is Can with the reason: ErrNotFound for a conversation the actor
// does not see (its existence is not revealed), ErrForbidden for an action
// their roles do not grant, ErrInvalid for one the status does not allow.
func check(a *Actor, f Facts, act Action) error {
	if !f.Sees {
		return fmt.Errorf("conversation: %w", ErrNotFound)
	}
	ok := false
	switch act {
	case ActRead, ActExport, ActReply:
		ok = true
	case ActNote, ActSolve, ActReopen:
		ok = f.Staff
	case ActTake:
		ok = f.Staff && !f.handledBy(a)
	case ActAssign:
		ok = f.Staff && (a.Has(config.MayAssign) || f.handledBy(a))
	case ActReceivers:
		ok = a.Has(config.MayChangeReceivers)
	case ActSetCompany:
		ok = rightsOn(a, f.Staff, f.About).company
	case ActSetPerson, ActSetAssignee:
		ok = rightsOn(a, f.Staff, f.About).other
	case ActLegalHold:
		ok = f.Staff && a.Has(config.MayLegalHold)
	default:
		return invalid("unknown action %q", act)
	}
	if !ok {
		return fmt.Errorf("%s: %w", refusedAs[act], ErrForbidden)
	}
	if statusActions[act] {
		if _, moves := Next(f.Status, act, f.HandlerID != nil); !moves {
			return statusRefusal(act)
		}
	}
	return nil
}

// The refusals of the status table, constant so that the web can translate
// them.
const (
	RefusedSolved = "the conversation is solved already"
	RefusedReopen = "only a solved conversation can be reopened"
)

func statusRefusal(act Action) error {
	if act == ActSolve {
		return invalid(RefusedSolved)
	}
	return invalid(RefusedReopen)
}

// Permissions are Can's answers for every action, for a page or the API to
// offer only what is allowed.
type Permissions struct {
	Read, Export, Reply, Note, Take, Assign, Receivers bool
	SetCompany, SetPerson, SetAssignee                 bool
	Solve, Reopen, LegalHold                           bool
}

// Describe reports whether any of company, person and assignee may be set.
func (p Permissions) Describe() bool { return p.SetCompany || p.SetPerson || p.SetAssignee }

// Map is the answers by action name, for the API.
func (p Permissions) Map() map[string]bool {
	return map[string]bool{string(ActRead): p.Read, string(ActExport): p.Export, string(ActReply): p.Reply,
		string(ActNote): p.Note, string(ActTake): p.Take, string(ActAssign): p.Assign, string(ActReceivers): p.Receivers,
		string(ActSetCompany): p.SetCompany, string(ActSetPerson): p.SetPerson, string(ActSetAssignee): p.SetAssignee,
		string(ActSolve): p.Solve, string(ActReopen): p.Reopen, string(ActLegalHold): p.LegalHold}
}

// PermissionsOf asks Can about every action.
func PermissionsOf(a *Actor, f Facts) Permissions {
	c := func(act Action) bool { return Can(a, f, act) }
	return Permissions{Read: c(ActRead), Export: c(ActExport), Reply: c(ActReply), Note: c(ActNote), Take: c(ActTake),
		Assign: c(ActAssign), Receivers: c(ActReceivers), SetCompany: c(ActSetCompany), SetPerson: c(ActSetPerson),
		SetAssignee: c(ActSetAssignee), Solve: c(ActSolve), Reopen: c(ActReopen), LegalHold: c(ActLegalHold)}
}

// lockFacts locks a conversation for an action and reads its facts;
// ErrNotFound when it does not exist or the actor does not see it.
func (s *Service) lockFacts(ctx context.Context, tx *store.Tx, a *Actor, convID int64) (*store.Conversation, Facts, error) {
	c, acc, err := s.lock(ctx, tx, a, convID)
	if err != nil {
		return nil, Facts{}, err
	}
	about, err := aboutCompany(ctx, tx, c.ID)
	if err != nil {
		return nil, Facts{}, err
	}
	return c, Facts{Sees: acc.see, Staff: acc.staff, Status: c.Status, HandlerID: c.HandlerID, About: about}, nil
}

// mayDo locks a conversation and checks one action on it.
func (s *Service) mayDo(ctx context.Context, tx *store.Tx, a *Actor, convID int64, act Action) (*store.Conversation, Facts, error) {
	c, f, err := s.lockFacts(ctx, tx, a, convID)
	if err != nil {
		return nil, f, err
	}
	if err := check(a, f, act); err != nil {
		return nil, f, err
	}
	return c, f, nil
}
