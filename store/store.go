// Package store keeps postdesk's state in PostgreSQL through pgx/v5. The
// queries are methods of DB, split into files by entity; SQL sits next to the
// method that runs it and takes its values only as parameters. Writes that
// belong together run in one transaction, so a crash at any point leaves
// either all of a change or none of it.
//
// Two handles run the queries: *Store on the pool (each query on whatever
// connection is free) and *Tx inside one transaction. The rule: code inside
// a transaction uses only its *Tx. A second pool connection taken while a
// transaction holds one is how concurrent callers stall a small pool, each
// holding a connection and waiting for another. Domain rules (package
// conversation) therefore get only a Transactor, which hands out a *Tx and
// nothing else; *Store is for callers outside any transaction (web lookups,
// commands, workers). Write and Read also pass their function a context
// that carries the open transaction: a pool query or a new transaction of
// the same Store started with that context fails with ErrNestedTx at once,
// so a rule that reaches past its *Tx is found by the first test that runs
// it, not by a stall in production.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned for a row that does not exist; never (nil, nil).
var ErrNotFound = errors.New("not found")

// ErrInvalidInput is returned for a value the database cannot use, such as a bad cursor.
var ErrInvalidInput = errors.New("invalid input")

// ErrConflict is returned when a unique value is taken.
var ErrConflict = errors.New("already exists")

// ErrNestedTx is returned for a pool query or a new transaction started
// with the context of a transaction of the same Store still open: it would
// take a second connection while the first is held (see the package doc).
var ErrNestedTx = errors.New("a transaction of this store is open in this context: use its Tx")

type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DB holds the queries; Store runs them on the pool, Tx inside a transaction.
type DB struct {
	q     querier
	hints *hintCache // searchhints.go; shared by the Store and its transactions
}

// Store is the database; its queries run on the pool.
type Store struct {
	DB
	pool *pgxpool.Pool
}

// Transactor runs transactions and gives out nothing else: a holder can
// read and write only through the *Tx its function is handed. *Store is one.
type Transactor interface {
	// Write runs fn in a read-write transaction (see Store.Write).
	Write(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error
	// Read runs fn in a read-only transaction (see Store.Read).
	Read(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error
	// ReadSnapshot is Read with one snapshot for all of fn's statements
	// (see Store.ReadSnapshot).
	ReadSnapshot(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error
}

var _ Transactor = (*Store)(nil)

// Tx is a transaction in progress.
type Tx struct {
	DB
	tx pgx.Tx
}

// Open connects to the database; it does not migrate.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	s := &Store{pool: pool}
	s.DB = DB{q: poolQuerier{pool: pool, st: s}, hints: newHintCache()}
	return s, nil
}

// Close closes every connection.
func (s *Store) Close() { s.pool.Close() }

// Pool is the connection pool, for the few callers (locks, listeners) that need
// a connection of their own.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// InTx runs fn in a read-write transaction, committing when it returns nil
// and rolling back otherwise (also on panic, through the deferred rollback).
// It is Write for a function that needs no context of its own.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	return s.Write(ctx, func(_ context.Context, tx *Tx) error { return fn(tx) })
}

// Write runs fn in a read-write transaction, committing when it returns nil
// and rolling back otherwise (also on panic, through the deferred rollback).
// fn's context carries the transaction: queries of s on the pool and new
// transactions of s started with it fail with ErrNestedTx.
func (s *Store) Write(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return s.run(ctx, pgx.TxOptions{}, fn)
}

// Read is Write for a transaction that only reads (BEGIN READ ONLY): a
// write in it fails, and the reads see one snapshot per statement as usual.
func (s *Store) Read(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return s.run(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly}, fn)
}

// ReadSnapshot is Read with one snapshot for all its statements
// (REPEATABLE READ): what one statement chose, the next reads as it was
// chosen. Read-only, it never fails on a concurrent change.
func (s *Store) ReadSnapshot(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return s.run(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, fn)
}

// openTx marks a context as inside a transaction of a Store.
type openTx struct{}

func (s *Store) inTx(ctx context.Context) bool {
	open, _ := ctx.Value(openTx{}).(*Store)
	return open == s
}

func (s *Store) run(ctx context.Context, opts pgx.TxOptions, fn func(ctx context.Context, tx *Tx) error) error {
	if s.inTx(ctx) {
		return fmt.Errorf("begin: %w", ErrNestedTx)
	}
	tx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	t := &Tx{DB: DB{q: tx, hints: s.hints}, tx: tx}
	if err := fn(context.WithValue(ctx, openTx{}, s), t); err != nil {
		return err
	}
	if p, ok := t.q.(*pipeQuerier); ok {
		if err := p.flush(ctx); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// poolQuerier runs the Store's queries on the pool, refusing a context that
// carries one of its transactions (ErrNestedTx).
type poolQuerier struct {
	pool *pgxpool.Pool
	st   *Store
}

func (p poolQuerier) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if p.st.inTx(ctx) {
		return pgconn.CommandTag{}, ErrNestedTx
	}
	return p.pool.Exec(ctx, sql, args...)
}

func (p poolQuerier) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if p.st.inTx(ctx) {
		return nil, ErrNestedTx
	}
	return p.pool.Query(ctx, sql, args...)
}

func (p poolQuerier) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if p.st.inTx(ctx) {
		return errRow{ErrNestedTx}
	}
	return p.pool.QueryRow(ctx, sql, args...)
}

// errRow is a pgx.Row whose Scan fails.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// notFound maps pgx's no-rows error to ErrNotFound, keeping other errors.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// uniqueViolation reports a unique-constraint error.
func uniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
