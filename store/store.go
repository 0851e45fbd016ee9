// Package store keeps postdesk's state in PostgreSQL through pgx/v5. One Store
// type carries every query, split into files by entity; SQL sits next to the
// method that runs it and takes its values only as parameters. Writes that
// belong together run in one transaction through InTx, so a crash at any point
// leaves either all of a change or none of it.
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

type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DB holds the queries; Store runs them on the pool, Tx inside a transaction.
type DB struct {
	q querier
}

// Store is the database.
type Store struct {
	DB
	pool *pgxpool.Pool
}

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
	return &Store{DB: DB{q: pool}, pool: pool}, nil
}

// Close closes every connection.
func (s *Store) Close() { s.pool.Close() }

// Pool is the connection pool, for the few callers (locks, listeners) that need
// a connection of their own.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// InTx runs fn in a transaction, committing when it returns nil and rolling
// back otherwise (also on panic, through the deferred rollback).
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	if err := fn(&Tx{DB: DB{q: tx}, tx: tx}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

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
