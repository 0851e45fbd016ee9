package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// QueryRowForTest and ExecForTest let the tests read and change what no
// method of a transaction does, inside it.
func (tx *Tx) QueryRowForTest(ctx context.Context, sql string, args ...any) pgx.Row {
	return tx.q.QueryRow(ctx, sql, args...)
}

func (tx *Tx) ExecForTest(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return tx.q.Exec(ctx, sql, args...)
}

func (tx *Tx) QueryForTest(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return tx.q.Query(ctx, sql, args...)
}

// UnreadForTest is the unread condition over c, with the viewer's read
// position joined as rp by ReadJoinForTest.
func UnreadForTest(staff string) string { return unreadSQL(staff) }

const ReadJoinForTest = readJoin
