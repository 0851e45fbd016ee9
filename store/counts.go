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
// the branches of the rule (each an index's walk, like a list's, with the
// status beside it), with the viewer's facts read first and bound as
// values, as a list's are (viewerFacts): planned on subqueries it cannot
// see into, the archive's count of a manager's company walked the whole
// receiver-role index once for each contact of the company (330 ms of a
// 430 ms count at 200,000 conversations, on every page they open).
//
// The open conversations are grouped once, by their receivers, status and
// Handler, and the views are summed from the groups here: a staff member
// at a million conversations sees thousands of open ones, and reading them
// once is what the count costs (migration 019 keeps their news on the row
// and indexes them apart from the archive).
func (db *DB) CountViews(ctx context.Context, rule Rule, viewerID int64) (*Counts, error) {
	sql, args, err := db.countQuery(ctx, rule, viewerID)
	if err != nil {
		return nil, err
	}
	// Planned for its values every time, as a list is (listQuery.mode).
	rows, err := db.q.Query(ctx, sql, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("count views: %w", err)
	}
	defer rows.Close()
	c := &Counts{Roles: map[int64]ViewCount{}}
	add := func(v *ViewCount, n, u int) { v.Total, v.Unread = v.Total+n, v.Unread+u }
	for rows.Next() {
		var archive, unassigned, mine bool
		var roles []int64
		var status string
		var n, u int
		if err := rows.Scan(&archive, &roles, &status, &unassigned, &mine, &n, &u); err != nil {
			return nil, fmt.Errorf("count views: %w", err)
		}
		if archive {
			c.Solved.Total = n
			continue
		}
		add(&c.Open, n, u)
		if mine {
			add(&c.Mine, n, u)
		}
		if unassigned {
			add(&c.Unassigned, n, u)
		}
		if status == StatusWaiting {
			add(&c.Waiting, n, u)
		}
		for _, id := range roles {
			v := c.Roles[id]
			add(&v, n, u)
			c.Roles[id] = v
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count views: %w", err)
	}
	if c.Solved.Total > archiveCap {
		c.Solved.Total, c.SolvedMore = archiveCap, true
	}
	return c, nil
}

// countQuery is CountViews' statement and its arguments, the viewer's facts
// read and bound. The row marked archive is the archive's count; each other a
// group of open conversations.
func (db *DB) countQuery(ctx context.Context, rule Rule, viewerID int64) (string, []any, error) {
	if len(rule.Branches) == 0 || len(rule.Facts) == 0 {
		return "", nil, fmt.Errorf("count views: no visibility rule")
	}
	facts, _, err := db.viewerFacts(ctx, rule, viewerID, nil)
	if err != nil {
		return "", nil, fmt.Errorf("count views: %w", err)
	}
	args := []any{viewerID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	bound := map[int]string{}
	// Open work is counted in full (each view filters it); the archive up
	// to archiveCap, each branch cut there in the order of its list, from
	// the index the list walks: a bitmap of a receiver role holds a third
	// of a million conversations, and and-ing it with a company's cost a
	// manager 36 ms of a 56 ms count.
	open := `c.status IN ('` + strings.Join(OpenStatuses, "', '") + `')`
	var openBranches, solvedBranches, before []string
	for _, b := range rule.Branches {
		if !holds(b, facts) {
			continue
		}
		sees := bindSees(b, facts, bound, arg)
		// Each open conversation is counted once, in the first branch
		// that sees it, rather than the union deduplicated, which hashed
		// every row with its receivers (10 ms of 54 for staff). The mark
		// is a column counted by, not a condition: as a condition it
		// quartered the planner's estimate of the rows, and it read the
		// viewer's read positions in a nested loop (175 ms).
		first := "true"
		for _, p := range before {
			first += ` AND NOT coalesce(` + p + `, false)`
		}
		before = append(before, sees)
		openBranches = append(openBranches, `SELECT c.id, c.status, c.handler_id, c.role_ids, c.news_id, c.news_author_id, c.staff_news_id, c.staff_news_author_id,
			`+first+` AS first
			FROM conversations c WHERE `+sees+` AND `+open)
		solvedBranches = append(solvedBranches, `(SELECT c.id FROM conversations c WHERE `+sees+` AND c.status = '`+StatusSolved+
			`' ORDER BY c.updated_at DESC, c.id DESC LIMIT `+fmt.Sprint(archiveCap+1)+`)`)
	}
	sql := `SELECT true, '{}'::bigint[], '', false, false, (SELECT count(*) FROM (` + strings.Join(solvedBranches, "\n\tUNION ") + `) s), 0
	UNION ALL
	SELECT false, c.role_ids, c.status, c.handler_id IS NULL, c.handler_id IS NOT DISTINCT FROM $1,
		count(*) FILTER (WHERE c.first), count(*) FILTER (WHERE c.first AND ` + unreadSQL(rule.Staff) + `)
	FROM (` + strings.Join(openBranches, "\n\tUNION ALL ") + `) c` + readJoin + `
	GROUP BY 2, 3, 4, 5 HAVING count(*) FILTER (WHERE c.first) > 0`
	return sql, args, nil
}

// ExplainCounts is EXPLAIN (ANALYZE, BUFFERS) of CountViews' statement, as
// ExplainConversations is of a list's. It runs the statement.
func (db *DB) ExplainCounts(ctx context.Context, rule Rule, viewerID int64) (string, error) {
	sql, args, err := db.countQuery(ctx, rule, viewerID)
	if err != nil {
		return "", err
	}
	return db.explain(ctx, "explain counts", sql, args)
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
