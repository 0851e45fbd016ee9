package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// RemovedText replaces the text of a message its author had erased.
const RemovedText = "[removed at the request of the data subject]"

// ErasedDomain is the domain of the pseudonyms that replace an erased
// person's address (RFC 2606: it can never receive mail).
const ErasedDomain = "erased.invalid"

// EraseRequest is one data subject's erasure (GDPR Article 17).
type EraseRequest struct {
	Email  string // the person's address
	Actor  string // who asked, for the audit record ("cli", a user's email)
	DryRun bool   // count what would go and change nothing (the audit record is written)
	Now    time.Time
}

// EraseReport is what an erasure did (or, dry, would do). It names no
// content, and the person only by Pseudonym.
type EraseReport struct {
	Pseudonym string
	// Deleted are the conversations the person was the customer of, gone
	// with everything that belongs to them only (Counts).
	Deleted []int64 // conversation numbers
	Counts  PurgeCounts
	// Anonymised counts the person's messages in other conversations whose
	// text, subject, attachments and raw source were removed and address
	// replaced; Attachments and Copies what went with them.
	Anonymised, Attachments, Copies int64
	// Participations are the other conversations the person is in
	// (participant, assignee, recipient), where their messages were
	// emptied and their address replaced; OutboxRows the mails to them
	// that were not kept (pending or sent).
	Participations, OutboxRows int64
	// Held are the conversations a legal hold keeps: nothing in them was
	// changed (numbers).
	Held []int64
	// UserErased: the person's user row now carries the pseudonym, no name,
	// password, sessions, tokens or roles (false when there was none, or a
	// held conversation still needs it).
	UserErased bool
}

// eraseLockTimeout bounds how long the erasure waits for a row in use
// (a mail being stored into one of the conversations): it fails, saying
// so, rather than queueing behind ingest.
const eraseLockTimeout = "5s"

// Erase deletes or anonymises everything about one person, in one
// transaction, and writes one audit record (counts and pseudonym, never the
// address or content). Conversations whose customer the person is are
// deleted as the purge deletes (server copies queued for deletion); in the
// others the person's messages lose their text, subject, attachments and
// raw source and their address becomes the pseudonym, wherever it appears
// (sender, recipients, participants); the mails to them in the outbox are
// deleted. A conversation under legal hold is left exactly as it is and
// listed in Held. A repeat finds nothing left and changes nothing.
func (s *Store) Erase(ctx context.Context, req EraseRequest) (*EraseReport, error) {
	addr := strings.ToLower(strings.TrimSpace(req.Email))
	if addr == "" || !strings.Contains(addr, "@") || req.Actor == "" {
		return nil, fmt.Errorf("erase: want an address and an actor: %w", ErrInvalidInput)
	}
	if req.Now.IsZero() {
		req.Now = time.Now()
	}
	var r *EraseReport
	errDry := errors.New("dry run")
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		if r, err = tx.erase(ctx, addr, req.Now); err != nil {
			return err
		}
		if req.DryRun {
			return errDry // roll everything back
		}
		return tx.Audit(ctx, nil, req.Actor, "erase", nil, r.auditDetail(false))
	})
	if errors.Is(err, errDry) {
		err = s.Audit(ctx, nil, req.Actor, "erase", nil, r.auditDetail(true))
	}
	if err != nil {
		return nil, fmt.Errorf("erase: %w", err)
	}
	return r, nil
}

func (r *EraseReport) auditDetail(dry bool) map[string]any {
	return map[string]any{
		"dry_run": dry, "pseudonym": r.Pseudonym, "deleted": r.Deleted, "held": r.Held,
		"conversations": r.Counts.Conversations, "messages": r.Counts.Messages, "attachments": r.Counts.Attachments + r.Attachments,
		"imap_copies": r.Counts.IMAPCopies + r.Copies, "anonymised": r.Anonymised, "participations": r.Participations,
		"outbox_rows": r.OutboxRows, "user_erased": r.UserErased,
	}
}

func (tx *Tx) erase(ctx context.Context, addr string, now time.Time) (*EraseReport, error) {
	tok := make([]byte, 8)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	r := &EraseReport{Pseudonym: "erased-" + hex.EncodeToString(tok) + "@" + ErasedDomain, Deleted: []int64{}, Held: []int64{}}
	if _, err := tx.q.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, eraseLockTimeout); err != nil {
		return nil, err
	}
	var uid *int64
	if err := tx.q.QueryRow(ctx, `SELECT id FROM users WHERE email = $1`, addr).Scan(&uid); err != nil && !isNoRows(err) {
		return nil, fmt.Errorf("user: %w", err)
	}

	// Every conversation the person is in, locked: as customer, assignee,
	// participant, sender or recipient of a message.
	rows, err := tx.q.Query(ctx, `SELECT c.id, c.number, c.legal_hold, c.customer_id IS NOT DISTINCT FROM $2 AND $2 IS NOT NULL
		FROM conversations c WHERE `+personIn+`
		ORDER BY c.id
		FOR UPDATE OF c`, addr, uid)
	if err != nil {
		return nil, fmt.Errorf("conversations: %w", err)
	}
	var deleteIDs, otherIDs []int64
	for rows.Next() {
		var id, number int64
		var held, customer bool
		if err := rows.Scan(&id, &number, &held, &customer); err != nil {
			rows.Close()
			return nil, err
		}
		switch {
		case held:
			r.Held = append(r.Held, number)
		case customer:
			deleteIDs = append(deleteIDs, id)
			r.Deleted = append(r.Deleted, number)
		default:
			otherIDs = append(otherIDs, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("conversations: %w", err)
	}

	if len(deleteIDs) > 0 {
		if r.Counts, err = tx.deleteConversations(ctx, deleteIDs, now); err != nil {
			return nil, err
		}
	}
	if len(otherIDs) > 0 {
		if err := tx.anonymise(ctx, r, addr, uid, otherIDs, now); err != nil {
			return nil, err
		}
	}
	// A mail to them about no conversation (none today) or in a deleted one
	// (gone by the cascade) leaves nothing; one in a held conversation stays.
	tag, err := tx.q.Exec(ctx, `DELETE FROM outbox o WHERE o.recipient = $1
		AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = o.conversation_id AND c.legal_hold)`, addr)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	r.OutboxRows += tag.RowsAffected()

	// The user row goes last, and only when no held conversation still
	// needs to say who they were.
	if uid != nil && len(r.Held) == 0 {
		if _, err := tx.q.Exec(ctx, `UPDATE users SET email = $2, name = '', password_hash = NULL, company_id = NULL WHERE id = $1`, *uid, r.Pseudonym); err != nil {
			return nil, fmt.Errorf("user: %w", err)
		}
		for _, q := range []string{`DELETE FROM sessions WHERE user_id = $1`, `DELETE FROM api_tokens WHERE user_id = $1`, `DELETE FROM role_members WHERE user_id = $1`,
			`DELETE FROM signatures WHERE user_id = $1`} { // a signature holds their name, often their phone
			if _, err := tx.q.Exec(ctx, q, *uid); err != nil {
				return nil, fmt.Errorf("user: %w", err)
			}
		}
		r.UserErased = true
	}
	if r.Counts.IMAPCopies+r.Copies > 0 {
		if err := tx.Notify(ctx, ChannelDeletions); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// anonymise empties the person's messages in the conversations ids and
// replaces their address there.
func (tx *Tx) anonymise(ctx context.Context, r *EraseReport, addr string, uid *int64, ids []int64, now time.Time) error {
	rows, err := tx.q.Query(ctx, `SELECT m.id FROM messages m WHERE m.conversation_id = ANY($1)
		AND m.kind <> 'event' AND (m.from_addr = $2 OR ($3::bigint IS NOT NULL AND m.author_id = $3 AND m.direction = 'in'))`, ids, addr, uid)
	if err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	var msgs []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		msgs = append(msgs, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	if len(msgs) > 0 {
		// The server copies first: the queue needs the raw source's hash
		// and size, which go next.
		if r.Copies, err = tx.queueDeletions(ctx, deletionsOfMessages, msgs, now); err != nil {
			return err
		}
		var shas [][]byte
		rows, err := tx.q.Query(ctx, `SELECT raw_sha256 FROM messages WHERE id = ANY($1) AND raw_sha256 IS NOT NULL
			UNION SELECT sha256 FROM attachments WHERE message_id = ANY($1)`, msgs)
		if err != nil {
			return fmt.Errorf("contents: %w", err)
		}
		for rows.Next() {
			var sha []byte
			if err := rows.Scan(&sha); err != nil {
				rows.Close()
				return err
			}
			shas = append(shas, sha)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("contents: %w", err)
		}
		tag, err := tx.q.Exec(ctx, `DELETE FROM attachments WHERE message_id = ANY($1)`, msgs)
		if err != nil {
			return fmt.Errorf("attachments: %w", err)
		}
		r.Attachments = tag.RowsAffected()
		if _, err := tx.q.Exec(ctx, `DELETE FROM message_copies WHERE message_id = ANY($1)`, msgs); err != nil {
			return fmt.Errorf("copies: %w", err)
		}
		tag, err = tx.q.Exec(ctx, `UPDATE messages SET from_addr = $2, from_name = '', subject = '', text_body = $3, html_body = '',
			raw_sha256 = NULL, problems = '{}', author_id = NULL
			WHERE id = ANY($1)`, msgs, r.Pseudonym, RemovedText)
		if err != nil {
			return fmt.Errorf("messages: %w", err)
		}
		r.Anonymised = tag.RowsAffected()
		if _, err := tx.q.Exec(ctx, `DELETE FROM sender_checks WHERE message_id = ANY($1)`, msgs); err != nil {
			return fmt.Errorf("sender checks: %w", err)
		}
		if len(shas) > 0 {
			if _, _, err := tx.deleteBlobs(ctx, shas); err != nil {
				return err
			}
		}
	}
	// Their address wherever else it stands in these conversations.
	if _, err := tx.q.Exec(ctx, `UPDATE messages SET to_addrs = array_replace(to_addrs, $2, $3), cc_addrs = array_replace(cc_addrs, $2, $3)
		WHERE conversation_id = ANY($1) AND ($2 = ANY(to_addrs) OR $2 = ANY(cc_addrs))`, ids, addr, r.Pseudonym); err != nil {
		return fmt.Errorf("recipients: %w", err)
	}
	if _, err := tx.q.Exec(ctx, `UPDATE participants SET email = $3, user_id = NULL WHERE conversation_id = ANY($1) AND email = $2`, ids, addr, r.Pseudonym); err != nil {
		return fmt.Errorf("participants: %w", err)
	}
	r.Participations = int64(len(ids))
	return nil
}
