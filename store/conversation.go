package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Conversation statuses.
const (
	StatusNew     = "new"
	StatusOpen    = "open"
	StatusWaiting = "waiting"
	StatusSolved  = "solved"
)

// Conversation is a dialogue routed to roles.
type Conversation struct {
	ID            int64
	Number        int64
	Subject       string
	CategoryID    int64
	CategoryKey   string
	Status        string
	HandlerID     *int64
	CustomerID    *int64
	AssigneeID    *int64
	CompanyID     *int64
	PersonID      *int64
	LegalHold     bool
	HeldForReview bool
	RoleIDs       []int64 // receivers
	CreatedAt     time.Time
	UpdatedAt     time.Time
	SolvedAt      *time.Time
}

const conversationColumns = `c.id, c.number, c.subject, c.category_id, cat.key, c.status, c.handler_id, c.customer_id,
	c.assignee_id, c.company_id, c.person_id, c.legal_hold, c.held_for_review,
	coalesce((SELECT array_agg(role_id ORDER BY role_id) FROM conversation_roles WHERE conversation_id = c.id), '{}'),
	c.created_at, c.updated_at, c.solved_at`

const conversationFrom = ` FROM conversations c JOIN categories cat ON cat.id = c.category_id `

func scanConversation(row interface{ Scan(...any) error }) (*Conversation, error) {
	var c Conversation
	err := row.Scan(&c.ID, &c.Number, &c.Subject, &c.CategoryID, &c.CategoryKey, &c.Status, &c.HandlerID, &c.CustomerID,
		&c.AssigneeID, &c.CompanyID, &c.PersonID, &c.LegalHold, &c.HeldForReview, &c.RoleIDs,
		&c.CreatedAt, &c.UpdatedAt, &c.SolvedAt)
	return &c, err
}

// NewConversation is what opening a conversation needs.
type NewConversation struct {
	Subject       string
	CategoryID    int64
	CustomerID    *int64
	CompanyID     *int64
	PersonID      *int64
	RoleIDs       []int64
	HeldForReview bool
	// CategoryKey is the key of CategoryID, when the caller knows it: a
	// conversation created with an id reserved (Tx.ReserveIDs) is then
	// written behind, and the Conversation returned is made of what is
	// known without reading the row back: its Number is 0.
	CategoryKey string
}

// CreateConversation inserts a conversation with its receiver roles, in
// one statement: the row is written with its role_ids mirror already set,
// so the mirror's trigger has nothing to change (migration 015).
func (db *DB) CreateConversation(ctx context.Context, n NewConversation) (*Conversation, error) {
	roles := slices.Clone(n.RoleIDs)
	slices.Sort(roles)
	roles = slices.Compact(roles)
	if roles == nil {
		roles = []int64{}
	}
	if n.CategoryKey != "" {
		if id, now, ok := db.reservedConversation(); ok {
			err := db.later(ctx, "create conversation", `WITH c AS (
					INSERT INTO conversations (subject, category_id, customer_id, company_id, person_id, held_for_review, role_ids, id)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id)
				INSERT INTO conversation_roles (conversation_id, role_id) SELECT c.id, unnest($7::bigint[]) FROM c`,
				n.Subject, n.CategoryID, n.CustomerID, n.CompanyID, n.PersonID, n.HeldForReview, roles, id)
			if err != nil {
				return nil, err
			}
			return &Conversation{ID: id, Subject: n.Subject, CategoryID: n.CategoryID, CategoryKey: n.CategoryKey,
				Status: StatusNew, CustomerID: n.CustomerID, CompanyID: n.CompanyID, PersonID: n.PersonID,
				HeldForReview: n.HeldForReview, RoleIDs: roles, CreatedAt: now, UpdatedAt: now}, nil
		}
	}
	c, err := scanConversation(db.q.QueryRow(ctx, `WITH c AS (
			INSERT INTO conversations (subject, category_id, customer_id, company_id, person_id, held_for_review, role_ids)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *),
		r AS (INSERT INTO conversation_roles (conversation_id, role_id) SELECT c.id, unnest($7::bigint[]) FROM c)
		SELECT c.id, c.number, c.subject, c.category_id, cat.key, c.status, c.handler_id, c.customer_id,
			c.assignee_id, c.company_id, c.person_id, c.legal_hold, c.held_for_review, c.role_ids,
			c.created_at, c.updated_at, c.solved_at
		FROM c JOIN categories cat ON cat.id = c.category_id`,
		n.Subject, n.CategoryID, n.CustomerID, n.CompanyID, n.PersonID, n.HeldForReview, roles))
	if err != nil {
		return nil, fmt.Errorf("create conversation: %w", err)
	}
	db.createdConversation(c.ID)
	return c, nil
}

// ConversationByID finds a conversation.
func (db *DB) ConversationByID(ctx context.Context, id int64) (*Conversation, error) {
	c, err := scanConversation(db.q.QueryRow(ctx, `SELECT `+conversationColumns+conversationFrom+`WHERE c.id = $1`, id))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("conversation %d", id))
	}
	return c, nil
}

// ConversationByNumber finds a conversation by its public number.
func (db *DB) ConversationByNumber(ctx context.Context, number int64) (*Conversation, error) {
	c, err := scanConversation(db.q.QueryRow(ctx, `SELECT `+conversationColumns+conversationFrom+`WHERE c.number = $1`, number))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("conversation #%d", number))
	}
	return c, nil
}

// LockConversation reads a conversation and locks its row until the
// transaction ends, so two actions on it run one after the other.
func (tx *Tx) LockConversation(ctx context.Context, id int64) (*Conversation, error) {
	c, err := scanConversation(tx.q.QueryRow(ctx, `SELECT `+conversationColumns+conversationFrom+`WHERE c.id = $1 FOR UPDATE OF c`, id))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("conversation %d", id))
	}
	return c, nil
}

// SetConversationRoles replaces the receiver roles.
func (db *DB) SetConversationRoles(ctx context.Context, id int64, roleIDs []int64) error {
	if _, err := db.q.Exec(ctx, `DELETE FROM conversation_roles WHERE conversation_id = $1 AND NOT role_id = ANY($2)`, id, roleIDs); err != nil {
		return fmt.Errorf("set receivers: %w", err)
	}
	if _, err := db.q.Exec(ctx, `INSERT INTO conversation_roles (conversation_id, role_id)
		SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`, id, roleIDs); err != nil {
		return fmt.Errorf("set receivers: %w", err)
	}
	return nil
}

// ConversationUpdate names the fields to change; nil leaves one alone.
type ConversationUpdate struct {
	Status     *string
	HandlerID  **int64
	AssigneeID **int64
	CompanyID  **int64
	PersonID   **int64
	LegalHold  *bool
}

// UpdateConversation changes the given fields and marks activity.
func (db *DB) UpdateConversation(ctx context.Context, id int64, u ConversationUpdate) error {
	sql, args := updateConversation(id, u)
	tag, err := db.q.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("update conversation: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update conversation %d: %w", id, ErrNotFound)
	}
	return nil
}

// UpdateLocked is UpdateConversation of a conversation the transaction
// holds locked (LockConversation), which cannot be gone: under
// write-behind the update travels with the next read.
func (tx *Tx) UpdateLocked(ctx context.Context, id int64, u ConversationUpdate) error {
	sql, args := updateConversation(id, u)
	return tx.later(ctx, "update conversation", sql, args...)
}

// updateConversation is the statement of an update.
func updateConversation(id int64, u ConversationUpdate) (string, []any) {
	// Each field is a fixed SQL fragment with its own parameter: nothing from
	// the caller is spliced into the statement.
	sets := []string{"updated_at = now()"}
	args := []any{id}
	add := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	if u.Status != nil {
		add("status", *u.Status)
		if *u.Status == StatusSolved {
			sets = append(sets, "solved_at = now()")
		} else {
			sets = append(sets, "solved_at = NULL")
		}
	}
	if u.HandlerID != nil {
		add("handler_id", *u.HandlerID)
	}
	if u.AssigneeID != nil {
		add("assignee_id", *u.AssigneeID)
	}
	if u.CompanyID != nil {
		add("company_id", *u.CompanyID)
	}
	if u.PersonID != nil {
		add("person_id", *u.PersonID)
	}
	if u.LegalHold != nil {
		add("legal_hold", *u.LegalHold)
	}
	return `UPDATE conversations SET ` + strings.Join(sets, ", ") + ` WHERE id = $1`, args
}

// AddParticipant records an address taking part in a conversation.
func (db *DB) AddParticipant(ctx context.Context, conversationID int64, email string, userID *int64) error {
	return db.later(ctx, "add participant", `INSERT INTO participants (conversation_id, email, user_id) VALUES ($1, lower($2), $3)
		ON CONFLICT (conversation_id, email) DO UPDATE SET user_id = coalesce(participants.user_id, EXCLUDED.user_id)`,
		conversationID, email, userID)
}

// IsParticipant reports whether an address takes part in a conversation.
func (db *DB) IsParticipant(ctx context.Context, conversationID int64, email string) (bool, error) {
	var ok bool
	err := db.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM participants WHERE conversation_id = $1 AND email = lower($2))`,
		conversationID, email).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("is participant: %w", err)
	}
	return ok, nil
}

// Participants lists a conversation's addresses.
func (db *DB) Participants(ctx context.Context, conversationID int64) ([]string, error) {
	rows, err := db.q.Query(ctx, `SELECT email FROM participants WHERE conversation_id = $1 ORDER BY email`, conversationID)
	if err != nil {
		return nil, fmt.Errorf("participants: %w", err)
	}
	es, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("participants: %w", err)
	}
	return es, nil
}

// Rule is the visibility rule in SQL. The conversation package writes it
// (the store keeps no domain rules, it only runs them); every text is a
// constant of the program, never user data. Each is an expression over the
// conversation row c: in Sees, Staff, Reasons and About the viewer is the
// user $1, in SeesRow the row v of users.
type Rule struct {
	Sees    string // boolean: the viewer may see c
	Staff   string // boolean: the viewer has staff powers on c
	Reasons string // text[]: why the viewer may see c; empty: they may not
	SeesRow string // boolean: the user v may see c
	About   string // bigint: the company c is about, or NULL

	// For lists, the same rule split so that an index serves each part:
	// Facts are what it asks of the viewer alone (each a bigint[] over $1,
	// read once per list), and Sees is the OR of the Branches, in which the
	// viewer is $1 and the fact i is written {i} (the list binds it).
	Facts    []string
	Branches []Branch
}

// Branch is one alternative of the rule: a condition on c alone once the
// viewer's facts are known.
type Branch struct {
	Reason string
	Sees   string // boolean over c, $1 and the facts
	// Needs are the facts the branch reads: when one of them is empty, it
	// holds for no conversation and the list leaves it out.
	Needs []int
	Staff bool // the branch gives staff powers (and with them the notes)
}

// ViewReasons lists why a user may see a conversation: none means they may
// not, or that it does not exist.
func (db *DB) ViewReasons(ctx context.Context, rule Rule, userID, conversationID int64) ([]string, error) {
	var rs []string
	err := db.q.QueryRow(ctx, `SELECT `+rule.Reasons+` FROM conversations c WHERE c.id = $2`, userID, conversationID).Scan(&rs)
	if isNoRows(err) {
		return []string{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("view reasons: %w", err)
	}
	return rs, nil
}

// IsStaffOf reports whether a user has staff powers on a conversation: the
// one who may handle it.
func (db *DB) IsStaffOf(ctx context.Context, rule Rule, userID, conversationID int64) (bool, error) {
	var ok bool
	err := db.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM conversations c WHERE c.id = $2 AND `+rule.Staff+`)`,
		userID, conversationID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("is staff of: %w", err)
	}
	return ok, nil
}

// RoleAudience lists the members of the given roles who may see the
// conversation, each once, by email: who is told of its news.
func (db *DB) RoleAudience(ctx context.Context, rule Rule, conversationID int64, roleIDs []int64) ([]User, error) {
	rows, err := db.q.Query(ctx, `SELECT `+userColumns+` FROM users v
		WHERE v.id IN (SELECT user_id FROM role_members WHERE role_id = ANY($2))
		AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = $1 AND `+rule.SeesRow+`)
		ORDER BY v.email`, conversationID, roleIDs)
	if err != nil {
		return nil, fmt.Errorf("role audience: %w", err)
	}
	us, err := collectUsers(rows)
	if err != nil {
		return nil, fmt.Errorf("role audience: %w", err)
	}
	return us, nil
}

// AboutCompany is the company a conversation is about, by the rule; nil
// when it is about none.
func (db *DB) AboutCompany(ctx context.Context, rule Rule, conversationID int64) (*int64, error) {
	var id *int64
	err := db.q.QueryRow(ctx, `SELECT `+rule.About+` FROM conversations c WHERE c.id = $1`, conversationID).Scan(&id)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("conversation %d", conversationID))
	}
	return id, nil
}
