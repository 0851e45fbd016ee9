package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Statistics for a database that fills from empty.
//
// Every connection keeps its prepared statements' plans (and the plans of
// the triggers' PL/pgSQL) until a table they read is analyzed. Plans made
// while the tables were empty scan them whole: cheap then, and still used
// when they hold thousands of rows. Autovacuum analyzes a table after a
// tenth of it changed, but looks only once a minute (autovacuum_naptime),
// so a new deployment's first import, or a database that grows tenfold in
// its first hour, runs on plans for empty tables for that long: measured
// here, the lookup of a reply's Message-ID took 4 ms instead of 0.05 on a
// table of 5,000 messages, and the batch's sender count 25 ms. AnalyzeGrown
// analyzes the tables that have at least doubled since their statistics
// were taken; a table of steady size is left to autovacuum, so on a
// database past its first days it finds nothing.

// analyzeFloor is how many rows a table must have gained since its last
// analysis before it is analyzed here at all: below that, its plans are
// the same either way.
const analyzeFloor = 1000

// AnalyzeGrown analyzes each table of the schema whose rows changed since
// its last analysis by at least as many as it then had (and at least
// analyzeFloor), and returns their names. One process at a time does it
// (an advisory lock, skipped when taken): others would only repeat it.
func (s *Store) AnalyzeGrown(ctx context.Context) ([]string, error) {
	var done []string
	err := s.InTx(ctx, func(tx *Tx) error {
		var mine bool
		if err := tx.q.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, LockKey("analyze grown")).Scan(&mine); err != nil {
			return err
		}
		if !mine {
			return nil
		}
		rows, err := tx.q.Query(ctx, `SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
			WHERE s.schemaname = current_schema() AND s.n_mod_since_analyze >= greatest($1, c.reltuples)
			ORDER BY s.relname`, analyzeFloor)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, n := range names {
			// A table name from the catalogue, quoted as an identifier.
			if _, err := tx.q.Exec(ctx, `ANALYZE `+pgx.Identifier{n}.Sanitize()); err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			done = append(done, n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("analyze grown tables: %w", err)
	}
	return done, nil
}
