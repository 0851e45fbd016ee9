package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Write-behind: a transaction that writes many rows whose results nobody
// reads (the audit trail, participants, outbox rows, blobs of a batch of
// mail) sends them with the next statement that is read, as one pipeline
// (pgx.Batch), and the rest before COMMIT. Each statement still runs in
// order, in the same transaction, so every read sees the writes before it;
// what changes is that a write's error surfaces at the next read (or the
// commit), which fails the transaction as it would have. Ingest's batch
// measured about a dozen round trips per new conversation, most of them
// such writes, and a round trip cost more than the statement.

// pending is one queued write.
type pending struct {
	what string // for its error: "audit received"
	sql  string
	args []any
}

// pipeQuerier is a transaction's querier with write-behind on.
type pipeQuerier struct {
	tx     pgx.Tx
	queued []pending
	ids    reserved
}

// reserved are ids taken from their sequences up front (Tx.ReserveIDs) for
// the rows a transaction is about to insert: an insert that knows its id
// needs not return it, and so travels behind like any other write. Ingest's
// batch spent a round trip on each mail's message and each new
// conversation only to learn the id the next statement names.
//
// A message takes a reserved id only in a conversation this transaction
// created (fresh): nobody else can write there before the commit. In any
// other conversation its id is taken at the insert, after the row lock
// that orders the writers of that conversation: a reserved id, taken
// earlier, could be smaller than a message another transaction committed
// there meanwhile, and a reader's position past that one (read positions
// are message ids) would take the new message for read.
type reserved struct {
	now           time.Time // the transaction's now(): every row's created_at
	messages      []int64
	conversations []int64
	fresh         map[int64]bool // conversations created by this transaction
}

// take returns the next id of ids, or false when none is left.
func take(ids *[]int64) (int64, bool) {
	if len(*ids) == 0 {
		return 0, false
	}
	id := (*ids)[0]
	*ids = (*ids)[1:]
	return id, true
}

// ReserveIDs takes ids for the next messages and conversations the
// transaction inserts, in one round trip, and turns write-behind on: until
// they are used up, CreateConversation, and InsertMessage and InsertEvent
// in the conversations it created, queue their rows instead of waiting for
// them. Ids are taken in order, so
// the rows of the transaction are numbered in the order it writes them
// (once the reserve is used up, the sequences' next are larger still); an
// id left over is a gap, like a rolled-back one. Conversation numbers, the
// public ones, are never reserved: they are taken when a row is written,
// so that a batch of replies leaves no gaps in them.
func (t *Tx) ReserveIDs(ctx context.Context, messages, conversations int) error {
	t.WriteBehind()
	p := t.q.(*pipeQuerier)
	err := p.QueryRow(ctx, `SELECT now(),
			ARRAY(SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, $1)),
			ARRAY(SELECT nextval(pg_get_serial_sequence('conversations', 'id')) FROM generate_series(1, $2))`,
		messages, conversations).Scan(&p.ids.now, &p.ids.messages, &p.ids.conversations)
	if err != nil {
		return fmt.Errorf("reserve ids: %w", err)
	}
	slices.Sort(p.ids.messages)
	slices.Sort(p.ids.conversations)
	return nil
}

// reservedConversation takes the next reserved conversation id, and the
// transaction's now(); ok is false without write-behind or reserve left.
func (db *DB) reservedConversation() (id int64, now time.Time, ok bool) {
	p, behind := db.q.(*pipeQuerier)
	if !behind {
		return 0, time.Time{}, false
	}
	if id, ok = take(&p.ids.conversations); ok {
		p.created(id)
	}
	return id, p.ids.now, ok
}

// reservedMessage takes the next reserved message id for a message of
// conversation conv, and the transaction's now(); ok is false without
// write-behind, without reserve left, or when conv is not fresh (see
// reserved).
func (db *DB) reservedMessage(conv int64) (id int64, now time.Time, ok bool) {
	p, behind := db.q.(*pipeQuerier)
	if !behind || !p.ids.fresh[conv] {
		return 0, time.Time{}, false
	}
	id, ok = take(&p.ids.messages)
	return id, p.ids.now, ok
}

// created notes a conversation the transaction created.
func (p *pipeQuerier) created(conv int64) {
	if p.ids.fresh == nil {
		p.ids.fresh = map[int64]bool{}
	}
	p.ids.fresh[conv] = true
}

// createdConversation notes a conversation created with its id returned:
// fresh as well.
func (db *DB) createdConversation(conv int64) {
	if p, behind := db.q.(*pipeQuerier); behind {
		p.created(conv)
	}
}

// WriteBehind turns on write-behind for the rest of the transaction (see
// above): the writes of DB.later are queued instead of sent. For
// transactions that write many rows and read little of what they wrote
// back in Go; the reads in SQL see everything queued before them.
func (t *Tx) WriteBehind() {
	if _, ok := t.q.(*pipeQuerier); !ok {
		t.q = &pipeQuerier{tx: t.tx}
	}
}

// later runs a write whose result is not read: queued under write-behind,
// else at once. what names it in an error.
func (db *DB) later(ctx context.Context, what, sql string, args ...any) error {
	if p, ok := db.q.(*pipeQuerier); ok {
		p.queued = append(p.queued, pending{what: what, sql: sql, args: args})
		return nil
	}
	if _, err := db.q.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// flush sends what is queued; the transaction's end calls it.
func (p *pipeQuerier) flush(ctx context.Context) error {
	if len(p.queued) == 0 {
		return nil
	}
	br, err := p.send(ctx, nil)
	if err != nil {
		return err
	}
	return br.Close()
}

// send sends the queued writes, and then q when not nil, in one pipeline,
// and reads the writes' results: the batch is left at q's.
func (p *pipeQuerier) send(ctx context.Context, q *pgx.QueuedQuery) (pgx.BatchResults, error) {
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(p.queued)+1)}
	for _, w := range p.queued {
		b.Queue(w.sql, w.args...)
	}
	if q != nil {
		b.QueuedQueries = append(b.QueuedQueries, q)
	}
	queued := p.queued
	p.queued = nil
	br := p.tx.SendBatch(ctx, b)
	for _, w := range queued {
		if _, err := br.Exec(); err != nil {
			_ = br.Close() // its error is err or one after it
			return nil, fmt.Errorf("%s: %w", w.what, err)
		}
	}
	return br, nil
}

// direct reports whether a statement goes as it is: nothing queued, or
// arguments naming their own execution mode (which a batch does not take).
func (p *pipeQuerier) direct(ctx context.Context, args []any) (bool, error) {
	if len(p.queued) == 0 {
		return true, nil
	}
	if len(args) > 0 {
		if _, ok := args[0].(pgx.QueryExecMode); ok {
			return true, p.flush(ctx)
		}
	}
	return false, nil
}

func (p *pipeQuerier) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if ok, err := p.direct(ctx, args); err != nil {
		return pgconn.CommandTag{}, err
	} else if ok {
		return p.tx.Exec(ctx, sql, args...)
	}
	br, err := p.send(ctx, &pgx.QueuedQuery{SQL: sql, Arguments: args})
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	return tag, errors.Join(err, closeUnlessFailed(br, err))
}

func (p *pipeQuerier) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if ok, err := p.direct(ctx, args); err != nil {
		return nil, err
	} else if ok {
		return p.tx.Query(ctx, sql, args...)
	}
	br, err := p.send(ctx, &pgx.QueuedQuery{SQL: sql, Arguments: args})
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (p *pipeQuerier) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := p.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return &batchRow{rows: rows}
}

// CopyFrom sends what is queued first: COPY is not part of a pipeline.
func (p *pipeQuerier) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := p.flush(ctx); err != nil {
		return 0, err
	}
	return p.tx.CopyFrom(ctx, table, columns, src)
}

// closeUnlessFailed closes a batch whose last result was read; after a
// failed result, Close would only repeat that error.
func closeUnlessFailed(br pgx.BatchResults, failed error) error {
	err := br.Close()
	if failed != nil {
		return nil
	}
	return err
}

// batchRows are the rows of a pipeline's last statement: closing them ends
// the pipeline.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = closeUnlessFailed(r.br, r.Rows.Err())
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// batchRow is QueryRow's answer from a pipeline: pgx's own rules (the first
// row, ErrNoRows when none), then the pipeline's end.
type batchRow struct{ rows pgx.Rows }

func (r *batchRow) Scan(dst ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dst...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
