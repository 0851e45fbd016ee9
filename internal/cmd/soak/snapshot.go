package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dbState is what the database holds at one moment.
type dbState struct {
	convs     map[int64]Conv
	msgs      map[int64]Msg
	rows      map[int64]Row
	deletions int
	stats     map[string]int
}

// snapshot reads the state in one REPEATABLE READ transaction, so that the
// conversations, messages and rows are of one instant.
func snapshot(ctx context.Context, pool *pgxpool.Pool) (*dbState, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s := &dbState{convs: map[int64]Conv{}, msgs: map[int64]Msg{}, rows: map[int64]Row{}, stats: map[string]int{}}
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT c.id, c.subject, cat.key, coalesce(h.email, ''),
			       coalesce((SELECT array_agg(r.key ORDER BY r.key) FROM conversation_roles cr JOIN roles r ON r.id = cr.role_id WHERE cr.conversation_id = c.id), '{}'),
			       coalesce((SELECT array_agg(p.email ORDER BY p.email) FROM participants p WHERE p.conversation_id = c.id), '{}')
			FROM conversations c JOIN categories cat ON cat.id = c.category_id LEFT JOIN users h ON h.id = c.handler_id`)
		if err != nil {
			return fmt.Errorf("conversations: %w", err)
		}
		for rows.Next() {
			var c Conv
			if err := rows.Scan(&c.ID, &c.Subject, &c.Category, &c.Handler, &c.Roles, &c.Participants); err != nil {
				return err
			}
			s.convs[c.ID] = c
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `
			SELECT id, conversation_id, direction, kind, coalesce(message_id, ''), coalesce(mailbox, ''),
			       coalesce(uid_validity, 0), coalesce(uid, 0), coalesce(encode(raw_sha256, 'hex'), '')
			FROM messages`)
		if err != nil {
			return fmt.Errorf("messages: %w", err)
		}
		for rows.Next() {
			var m Msg
			if err := rows.Scan(&m.ID, &m.Conv, &m.Direction, &m.Kind, &m.MessageID, &m.Mailbox, &m.UIDValid, &m.UID, &m.RawSHA256); err != nil {
				return err
			}
			s.msgs[m.ID] = m
			s.stats["messages "+m.Kind]++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `
			SELECT id, coalesce(conversation_id, 0), template, recipient, mail_message_id, status, attempts, next_attempt_at, last_error
			FROM outbox`)
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		for rows.Next() {
			var r Row
			if err := rows.Scan(&r.ID, &r.Conv, &r.Template, &r.Recipient, &r.MailMessageID, &r.Status, &r.Attempts, &r.NextAttemptAt, &r.LastError); err != nil {
				return err
			}
			s.rows[r.ID] = r
			s.stats["outbox "+r.Status]++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM imap_deletions`).Scan(&s.deletions)
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return s, nil
}
