package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// OpenStatuses are the statuses of work not done: everything but Solved,
// which is the archive.
var OpenStatuses = []string{StatusNew, StatusOpen, StatusWaiting}

// ViewCount is how many conversations a view holds for a viewer, and how
// many of them have news for them.
type ViewCount struct {
	Total, Unread int
}

// Counts are the control panel's numbers for one viewer. Unread is counted
// for open work only: the archive's news would be noise, and counting it
// would probe every message of every solved conversation.
type Counts struct {
	Open, Mine, Unassigned, Waiting, Solved ViewCount
	// SolvedMore: the archive holds more than Solved.Total (archiveCap).
	SolvedMore bool
	Roles      map[int64]ViewCount // open conversations by receiver role id
}

// archiveCap is as far as the archive is counted: past it the panel says
// "1000+", and nobody reads a number of years of work more exactly.
const archiveCap = 1000

// CountViews counts every view of the panel for the viewer in one
// statement. The rows counted are those the rule lets the viewer see, as
// the union of its branches (each an index's walk, like a list's, with the
// status beside it), with the viewer's facts read first and bound as
// values, as a list's are (viewerFacts): planned on subqueries it cannot
// see into, the archive's count of a manager's company walked the whole
// receiver-role index once for each contact of the company (330 ms of a
// 430 ms count at 200,000 conversations, on every page they open).
func (db *DB) CountViews(ctx context.Context, rule Rule, viewerID int64) (*Counts, error) {
	if len(rule.Branches) == 0 || len(rule.Facts) == 0 {
		return nil, fmt.Errorf("count views: no visibility rule")
	}
	facts, _, err := db.viewerFacts(ctx, rule, viewerID, nil)
	if err != nil {
		return nil, fmt.Errorf("count views: %w", err)
	}
	args := []any{viewerID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	bound := map[int]string{}
	// Open work is counted in full (each view filters it); the archive up
	// to archiveCap, each branch cut there, so that years of solved
	// conversations cost what a page does.
	open := `c.status IN ('` + strings.Join(OpenStatuses, "', '") + `')`
	var openBranches, solvedBranches []string
	for _, b := range rule.Branches {
		if !holds(b, facts) {
			continue
		}
		sees := bindSees(b, facts, bound, arg)
		openBranches = append(openBranches, `SELECT c.id, c.status, c.handler_id, c.role_ids FROM conversations c WHERE `+sees+` AND `+open)
		solvedBranches = append(solvedBranches, `(SELECT c.id FROM conversations c WHERE `+sees+` AND c.status = '`+StatusSolved+
			`' LIMIT `+fmt.Sprint(archiveCap+1)+`)`)
	}
	sql := `WITH v AS MATERIALIZED (
		SELECT c.status, c.handler_id, c.role_ids, ` + unreadSQL(rule.Staff) + ` AS unread
		FROM (` + strings.Join(openBranches, "\n\tUNION ") + `) c),
	r AS (SELECT rid, count(*) AS n, count(*) FILTER (WHERE unread) AS u
		FROM v, unnest(v.role_ids) rid GROUP BY rid)
	SELECT
		count(*), count(*) FILTER (WHERE unread),
		count(*) FILTER (WHERE handler_id = $1), count(*) FILTER (WHERE unread AND handler_id = $1),
		count(*) FILTER (WHERE handler_id IS NULL), count(*) FILTER (WHERE unread AND handler_id IS NULL),
		count(*) FILTER (WHERE status = '` + StatusWaiting + `'), count(*) FILTER (WHERE unread AND status = '` + StatusWaiting + `'),
		(SELECT count(*) FROM (` + strings.Join(solvedBranches, "\n\tUNION ") + `) s),
		(SELECT coalesce(array_agg(rid ORDER BY rid), '{}') FROM r),
		(SELECT coalesce(array_agg(n ORDER BY rid), '{}') FROM r),
		(SELECT coalesce(array_agg(u ORDER BY rid), '{}') FROM r)
	FROM v`
	c := &Counts{Roles: map[int64]ViewCount{}}
	var ids, ns, us []int64
	// Planned for its values every time, as a list is (listQuery.mode).
	err = db.q.QueryRow(ctx, sql, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...).Scan(&c.Open.Total, &c.Open.Unread, &c.Mine.Total, &c.Mine.Unread,
		&c.Unassigned.Total, &c.Unassigned.Unread, &c.Waiting.Total, &c.Waiting.Unread, &c.Solved.Total, &ids, &ns, &us)
	if err != nil {
		return nil, fmt.Errorf("count views: %w", err)
	}
	if c.Solved.Total > archiveCap {
		c.Solved.Total, c.SolvedMore = archiveCap, true
	}
	for i, id := range ids {
		c.Roles[id] = ViewCount{Total: int(ns[i]), Unread: int(us[i])}
	}
	return c, nil
}

// Seers are those of users who may see the conversation, by the rule: whom
// the live view tells of its change.
func (db *DB) Seers(ctx context.Context, rule Rule, conversationID int64, users []int64) ([]int64, error) {
	rows, err := db.q.Query(ctx, `SELECT v.id FROM conversations c, users v
		WHERE c.id = $1 AND v.id = ANY ($2) AND `+rule.SeesRow, conversationID, users)
	if err != nil {
		return nil, fmt.Errorf("seers: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("seers: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("seers: %w", err)
	}
	return out, nil
}
