package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// ListFilter selects conversations for a viewer.
type ListFilter struct {
	ViewerID  int64
	Status    string   // "" for any
	Statuses  []string // any of these; none for any (a view: OpenStatuses)
	Unhandled bool     // without a Handler
	Category  string   // key
	Role      string   // key of a receiver role
	HandlerID *int64   // "handled by me"
	Query     string   // search: see ListConversations
	Cursor    string   // from a previous page's Next
	Limit     int      // default 50
}

// Listed is a conversation as a list shows it, with the names of what it
// refers to, read in the same query.
type Listed struct {
	Conversation
	CategoryName                string
	HandlerName, HandlerEmail   string
	CustomerName, CustomerEmail string
	CompanyName, PersonName     string
	Roles                       []RoleName // the receivers, by name
	Unread                      bool       // news for the viewer since their read position (readpos.go)
}

// RoleName is a receiver role as a list names it.
type RoleName struct {
	ID        int64
	Key, Name string
}

// Page is one page of conversations, newest activity first.
type Page struct {
	Conversations []Listed
	Next          string // "" on the last page
}

// pageCursor is the last row of a page: the next starts below it in the
// order (updated_at, id), which no two rows share, so a row moved by new
// activity while one pages is shown on the first page again, never twice
// on the pages one walks, and no other row is skipped.
type pageCursor struct {
	UpdatedAt time.Time `json:"u"`
	ID        int64     `json:"i"`
}

func (c pageCursor) String() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseCursor accepts only what String makes. A cursor is no secret and
// grants nothing (the rule still decides every row), so it is checked, not
// signed.
func parseCursor(s string) (*pageCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bad cursor: %w", ErrInvalidInput)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var c pageCursor
	if err := d.Decode(&c); err != nil || c.ID <= 0 || c.UpdatedAt.IsZero() || d.More() {
		return nil, fmt.Errorf("bad cursor: %w", ErrInvalidInput)
	}
	return &c, nil
}

// Search limits: words beyond maxSearchWords are ignored; words shorter
// than minPrefix match whole words only, and a search of short words only
// is by full text only (a trigram index cannot look them up).
const (
	maxSearchWords = 8
	minPrefix      = 3
	minTrigramWord = minPrefix
)

// searchWords splits a search into its words: runs of letters and digits,
// lowercased. Everything else (quotes, operators, the @ of an address)
// separates words and is never passed on.
func searchWords(q string) []string {
	ws := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(ws) > maxSearchWords {
		ws = ws[:maxSearchWords]
	}
	return ws
}

// prefixes are what a word is searched by as written, beside its Finnish
// stem: the word itself, and where the Snowball stemmer leaves an
// inflection's stem apart from the base form's, the part they share. The
// -us/-ys nouns (korvaus: korvauksen, korvausta; vähennys: vähennyksen)
// and the -nen names (Virtanen: Virtasen).
func prefixes(w string) []string {
	ps := []string{w}
	r := []rune(w)
	n := len(r)
	switch {
	case n >= 5 && r[n-1] == 's' && strings.ContainsRune("aeiouyäö", r[n-2]):
		ps = append(ps, string(r[:n-1]))
	case n >= 6 && strings.HasSuffix(w, "nen"):
		ps = append(ps, string(r[:n-3]))
	}
	return ps
}

// ListConversations lists what the viewer may see by the rule, newest
// activity first, paged by a keyset cursor so that deep pages cost what the
// first does.
//
// The query is the union of the rule's branches (rule.Branches), each with
// the viewer's facts resolved up front and the filters that are set, read
// newest first and cut at one page; the page is the newest of their rows.
// So each branch walks the index that serves it (a customer's own
// conversations, a company's, a staff role's) and no branch reads more than
// a page's worth of what it contributes.
//
// A search (Query) finds a conversation when every word is in one message
// it may see (full text, the Finnish stem or any word that begins with the
// word as written: "palkka" finds "palkastani", "korvaus" "korvaukset",
// "lomak" "lomakorvaus"), or every word is inside its subject, or inside
// the name and address of one sender of mail in it (trigram: "korvaus"
// finds "Lomakorvaus puuttuu", "virta" "Aino Virtanen"). Internal notes and
// delivery reports are searched only in the branch that gives staff powers.
// In a staff branch each of the three is a branch of its own; the branches
// without staff powers, bounded sets, are searched together (seenSearch).
// Either way the search is restricted to what the viewer may see before
// any row is ordered.
//
// The page is read in two statements: which rows (the branches, planned
// for the viewer's values every time), then those rows by key with the
// names they show (listedSQL, one statement for every viewer, planned once
// per connection). Planning the names' joins and the unread probes with
// the branches took longer than running them (3.6 ms of planning for a
// 2.7 ms staff inbox, make bench's database). Run both in one snapshot
// (Store.ReadSnapshot), so the second reads the rows the first chose as
// they were chosen.
func (db *DB) ListConversations(ctx context.Context, rule Rule, f ListFilter) (*Page, error) {
	q, err := db.listQuery(ctx, rule, &f)
	if err != nil {
		return nil, err
	} else if q == nil {
		return &Page{}, nil
	}
	top, err := db.listTop(ctx, q)
	if err != nil {
		return nil, err
	}
	p := &Page{}
	if len(top) == 0 {
		return p, nil
	}
	if len(top) > f.Limit {
		last := top[f.Limit-1]
		p.Next = last.String()
		top = top[:f.Limit]
	}
	ids := make([]int64, len(top))
	for i, t := range top {
		ids[i] = t.ID
	}
	rows, err := db.q.Query(ctx, listedSQL(rule), f.ViewerID, ids)
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	p.Conversations, err = pgx.CollectRows(rows, scanListed)
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	return p, nil
}

// listTop runs the statement of q: the page's rows, newest activity first,
// and one more when there is a next page.
func (db *DB) listTop(ctx context.Context, q *listQuery) ([]pageCursor, error) {
	rows, err := db.q.Query(ctx, q.sql, append([]any{q.mode}, q.args...)...)
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	top, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (pageCursor, error) {
		var c pageCursor
		err := row.Scan(&c.ID, &c.UpdatedAt)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	return top, nil
}

// listedSQL reads a page's conversations by key ($2, in the page's order)
// with the names a list shows and the viewer's ($1) unread.
func listedSQL(rule Rule) string {
	return `SELECT ` + conversationColumns + listedColumns + `, ` + unreadSQL(rule.Staff) + `
		FROM unnest($2::bigint[]) WITH ORDINALITY top(id, ord)
		JOIN conversations c ON c.id = top.id` + listedJoins + readJoin + `
		ORDER BY top.ord`
}

// ExplainConversations is EXPLAIN (ANALYZE, BUFFERS) of the query
// ListConversations runs for f (after the viewer's facts are read): what
// `make bench` shows of the plans, and what an operator reads when a list
// is slow. It runs the query.
//
// Both of the list's statements are shown, the second with the rows the
// first chose.
func (db *DB) ExplainConversations(ctx context.Context, rule Rule, f ListFilter) (string, error) {
	q, err := db.listQuery(ctx, rule, &f)
	if err != nil || q == nil {
		return "", err
	}
	rows, err := db.explain(ctx, "explain conversations", q.sql, q.args)
	if err != nil {
		return "", err
	}
	top, err := db.listTop(ctx, q)
	if err != nil {
		return "", err
	}
	ids := make([]int64, 0, len(top))
	for _, t := range top[:min(len(top), f.Limit)] {
		ids = append(ids, t.ID)
	}
	names, err := db.explain(ctx, "explain conversations", listedSQL(rule), []any{f.ViewerID, ids})
	if err != nil {
		return "", err
	}
	return "-- the page's rows\n" + rows + "\n-- their names and unread, by key\n" + names, nil
}

// explain runs EXPLAIN (ANALYZE, BUFFERS) of sql and returns the plan.
func (db *DB) explain(ctx context.Context, what, sql string, args []any) (string, error) {
	rows, err := db.q.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS) `+sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return strings.Join(lines, "\n"), nil
}

type listQuery struct {
	sql  string
	args []any
	// mode: planned for its values every time (an unnamed statement). As a
	// prepared statement, PostgreSQL soon plans a list once for all
	// viewers, and a plan without the facts' values walks a company's
	// branch through the whole activity index: 2 ms become 700 under load.
	mode pgx.QueryExecMode
}

// listQuery reads the viewer's facts and builds the list's statement; nil
// for a search of no words, which finds nothing.
func (db *DB) listQuery(ctx context.Context, rule Rule, f *ListFilter) (*listQuery, error) {
	if len(rule.Branches) == 0 || len(rule.Facts) == 0 {
		return nil, errors.New("list conversations: no visibility rule")
	}
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	var cur *pageCursor
	if f.Cursor != "" {
		var err error
		if cur, err = parseCursor(f.Cursor); err != nil {
			return nil, err
		}
	}
	words := searchWords(f.Query)
	if f.Query != "" && len(words) == 0 {
		return nil, nil
	}
	facts, tsquery, err := db.viewerFacts(ctx, rule, f.ViewerID, words)
	if err != nil {
		return nil, err
	}

	// The filters that are set, each a fixed fragment with its own
	// parameter; $1 is the viewer.
	q := &listQuery{args: []any{f.ViewerID}, mode: pgx.QueryExecModeCacheDescribe}
	arg := func(v any) string {
		q.args = append(q.args, v)
		return fmt.Sprintf("$%d", len(q.args))
	}
	var where []string
	if f.Status != "" {
		where = append(where, "c.status = "+arg(f.Status))
	}
	if len(f.Statuses) > 0 {
		where = append(where, "c.status = ANY ("+arg(f.Statuses)+"::text[])")
	}
	if f.Unhandled {
		where = append(where, "c.handler_id IS NULL")
	}
	if f.Category != "" {
		where = append(where, "c.category_id = (SELECT k.id FROM categories k WHERE k.key = "+arg(f.Category)+")")
	}
	if f.Role != "" {
		where = append(where, `EXISTS (SELECT 1 FROM conversation_roles fr JOIN roles r ON r.id = fr.role_id
			WHERE fr.conversation_id = c.id AND r.key = `+arg(f.Role)+`)`)
	}
	if f.HandlerID != nil {
		where = append(where, "c.handler_id = "+arg(*f.HandlerID))
	}
	if cur != nil {
		where = append(where, "(c.updated_at, c.id) < ("+arg(cur.UpdatedAt)+", "+arg(cur.ID)+")")
	}
	search, err := db.searchPaths(ctx, words, tsquery, arg)
	if err != nil {
		return nil, err
	}
	limit := arg(f.Limit + 1)
	var branches []string
	branch := func(hits bool, conds ...string) {
		// Ordered by an expression no index holds, a branch is read in full
		// (from the search's index) and then sorted: see searchPath.
		order := "c.updated_at"
		if hits {
			order = "(c.updated_at + interval '0 s')"
		}
		branches = append(branches, `(SELECT c.id, c.updated_at FROM conversations c WHERE `+strings.Join(conds, " AND ")+`
			ORDER BY `+order+` DESC, c.id DESC LIMIT `+limit+`)`)
	}
	// The facts the branches read, each bound once.
	bound := map[int]string{}
	var seen []string // a search's branches without staff powers: see seenSearch
	for _, b := range rule.Branches {
		if !holds(b, facts) {
			continue
		}
		conds := append([]string{bindSees(b, facts, bound, arg)}, where...)
		switch {
		case len(search) == 0:
			branch(false, conds...)
		case !b.Staff:
			seen = append(seen, `SELECT c.id, c.updated_at FROM conversations c WHERE `+strings.Join(conds, " AND "))
		default:
			if err := db.staffSearch(ctx, f.ViewerID, b, facts, words, search, conds, branch); err != nil {
				return nil, err
			}
		}
	}
	if len(seen) > 0 {
		branches = append(branches, `(SELECT s.id, s.updated_at
			FROM (SELECT DISTINCT c.id, c.updated_at FROM (`+strings.Join(seen, "\n\tUNION ALL ")+`) c
				ORDER BY c.updated_at DESC, c.id DESC) s
			WHERE `+seenSearch(search)+` ORDER BY s.updated_at DESC, s.id DESC LIMIT `+limit+`)`)
	}
	q.sql = `SELECT u.id, u.updated_at FROM (` + strings.Join(branches, "\n\tUNION ") + `) u
		ORDER BY u.updated_at DESC, u.id DESC LIMIT ` + limit
	return q, nil
}

// staffSearch adds a search's branches for the staff branch b (conds: its
// condition and the filters) through branch: each rare path, and the
// subject, from its index, and the frequent paths on messages walked
// together, one probe of a conversation's messages for all of them, not one
// walk each.
func (db *DB) staffSearch(ctx context.Context, viewerID int64, b Branch, facts [][]int64, words []string,
	search []searchPath, conds []string, branch func(hits bool, conds ...string)) error {
	var walk []string
	for _, s := range search {
		hits := s.rare
		if s.trigram && !hits {
			var err error
			if hits, err = db.fewHits(ctx, viewerID, b, facts, words); err != nil {
				return err
			}
		}
		if s.msg != nil && !hits {
			walk = append(walk, "("+s.msg(false)+")")
			continue
		}
		branch(hits, append(conds, s.cond(b.Staff, hits))...)
	}
	if len(walk) > 0 {
		branch(false, append(conds, `EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND (`+
			strings.Join(walk, " OR ")+`)`+visibleKinds(b.Staff)+`)`)...)
	}
	return nil
}

// viewerFacts reads the rule's facts of the viewer and, for a search, its
// words as one tsquery, in one round trip: the list is then planned on
// values, not on parameters it cannot see into.
func (db *DB) viewerFacts(ctx context.Context, rule Rule, viewerID int64, words []string) ([][]int64, string, error) {
	exprs := append([]string(nil), rule.Facts...)
	args := []any{viewerID}
	if len(words) > 0 {
		var ws []string
		for _, w := range words {
			args = append(args, w)
			alts := []string{fmt.Sprintf("plainto_tsquery('finnish', $%d)", len(args))}
			for _, p := range prefixes(w) {
				// p is letters and digits only (searchWords): one lexeme.
				// A word too short to be a useful prefix ("c" would be
				// every word in c) is a whole word.
				if utf8.RuneCountInString(p) < minPrefix {
					p += ":"
				} else {
					p += ":*"
				}
				args = append(args, p)
				alts = append(alts, fmt.Sprintf("to_tsquery('simple', $%d)", len(args)))
			}
			ws = append(ws, "("+strings.Join(alts, " || ")+")")
		}
		exprs = append(exprs, "("+strings.Join(ws, " && ")+")::text")
	}
	// A list of many branches is costed like a report, and PostgreSQL's
	// JIT then compiles it for longer (150 ms) than it runs (a few): off for
	// the rest of the transaction (List runs in one; on the pool it is a
	// no-op).
	exprs = append(exprs, `set_config('jit', 'off', true)`)
	// Nor parallel workers: a branch planned on two waited for them to start
	// (50 ms of a 60 ms search on a busy machine), and the inbox's many
	// clients at once have no cores to lend one query.
	exprs = append(exprs, `set_config('max_parallel_workers_per_gather', '0', true)`)
	facts := make([][]int64, len(rule.Facts))
	var tsquery string
	dst := make([]any, 0, len(exprs))
	for i := range facts {
		dst = append(dst, &facts[i])
	}
	if len(words) > 0 {
		dst = append(dst, &tsquery)
	}
	dst = append(dst, nil, nil) // the settings' values: nobody reads them
	if err := db.q.QueryRow(ctx, `SELECT `+strings.Join(exprs, ", "), args...).Scan(dst...); err != nil {
		return nil, "", fmt.Errorf("list conversations: viewer: %w", err)
	}
	return facts, tsquery, nil
}

// searchPath is one of a search's alternatives (see ListConversations): a
// condition on c, written for a branch with staff powers or without, and
// with its words in a form the search's index serves or in one it does
// not.
//
// Each branch either walks its conversations newest first, testing the
// search on each, or reads the search's hits from its index and orders
// them (hits). Which is quicker depends on how many hits there are, which
// PostgreSQL's estimates get wrong exactly where it matters: a word absent
// from what the viewer may see, or from the whole database, makes the walk
// read every row the viewer may see, while a word in every other message
// makes the hits a million rows. So the hits are counted first, up to
// rareHits: a rare search reads its hits in every branch; a frequent one
// walks. The subject's trigram path in the staff branch (a role's
// conversations, a third of all or more) is counted inside the branch
// (fewHits), because subjects follow the categories: a word frequent in
// all subjects can be absent from the role's, and the walk would then read
// them all. Senders write to every category, and their frequent names are
// walked. The other branches are one person's or one company's
// conversations: walking them is bounded.
//
// A search's branches without staff powers (a customer's, an assignee's, a
// company's: bounded sets, and a manager's company branch repeats most of
// their manager branch) are searched together instead (seenSearch).
type searchPath struct {
	cond    func(staff, indexed bool) string
	msg     func(indexed bool) string // the condition on one message m; nil for the subject
	rare    bool                      // fewer hits than rareHits
	trigram bool                      // on the subject: in the staff branch, counted there (fewHits)
}

// seenSearch is a search's condition on a row s of the conversations of
// every branch without staff powers, read once and newest first: each
// branch's rows come from its own index (a company's, a customer's, by
// index only), never from the activity index, which PostgreSQL otherwise
// walks over all conversations to find a company's newest with a hit, and
// a manager's company branch, mostly the same rows as their manager branch,
// is not searched twice. Each row is tested once for all paths: a rare
// path's hits from its index (hashed), then the subject and the other paths
// each in one probe by the conversation's key, so that a frequent word
// absent from the viewer's conversations costs a probe or two per
// conversation, not one per path and branch. OFFSET 0 keeps a probe a
// probe: PostgreSQL would otherwise hash it, reading the whole table for
// the few rows a page needs.
func seenSearch(paths []searchPath) string {
	var rare, probe, msgs []string
	for _, p := range paths {
		switch {
		case p.msg == nil && p.rare:
			rare = append(rare, `s.id IN (SELECT c.id FROM conversations c WHERE `+p.cond(false, true)+`)`)
		case p.msg == nil:
			probe = append(probe, `EXISTS (SELECT 1 FROM conversations c WHERE c.id = s.id AND `+p.cond(false, false)+` OFFSET 0)`)
		case p.rare:
			rare = append(rare, `s.id IN (SELECT m.conversation_id FROM messages m WHERE `+p.msg(true)+visibleKinds(false)+`)`)
		default:
			msgs = append(msgs, "("+p.msg(false)+")")
		}
	}
	if len(msgs) > 0 {
		probe = append(probe, `EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = s.id AND (`+strings.Join(msgs, " OR ")+`)`+
			visibleKinds(false)+` OFFSET 0)`)
	}
	return "(" + strings.Join(append(rare, probe...), " OR ") + ")"
}

// rareHits is how many hits a search may have to be read from its index in
// every branch.
var rareHits = 2000 // a variable for the tests of both ways (list_search_plan_test.go)

// searchPaths are a search's alternatives; none without words.
func (db *DB) searchPaths(ctx context.Context, words []string, tsquery string, arg func(any) string) ([]searchPath, error) {
	if len(words) == 0 {
		return nil, nil
	}
	// The counts, each up to rareHits, in one round trip.
	countArgs := []any{tsquery}
	cw := trigramConds(words, func(v any) string {
		countArgs = append(countArgs, v)
		return fmt.Sprintf("$%d", len(countArgs))
	})
	upTo := fmt.Sprint(rareHits)
	counts := `SELECT (SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.search @@ $1::tsquery LIMIT ` + upTo + `) h)`
	var n [3]int
	dst := []*int{&n[0]}
	if cw.long {
		counts += `, (SELECT count(*) FROM (SELECT 1 FROM conversations c WHERE ` + strings.Join(cw.subjectIdx, " AND ") + ` LIMIT ` + upTo + `) h)` +
			`, (SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.direction = 'in' AND ` + strings.Join(cw.senderIdx, " AND ") +
			` LIMIT ` + upTo + `) h)`
		dst = append(dst, &n[1], &n[2])
	}
	if err := db.countHits(ctx, counts, append([]any{pgx.QueryExecModeCacheDescribe}, countArgs...), dst); err != nil {
		return nil, fmt.Errorf("list conversations: search: %w", err)
	}

	q := arg(tsquery) + "::tsquery"
	text := func(bool) string { return `m.search @@ ` + q }
	paths := []searchPath{{rare: n[0] < rareHits, msg: text, cond: func(staff, indexed bool) string {
		if indexed {
			return hitsOf(text(true), staff)
		}
		return `EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND ` + text(indexed) + visibleKinds(staff) + `)`
	}}}
	if !cw.long {
		return paths, nil
	}
	w := trigramConds(words, arg)
	pick := func(indexed bool, idx, row []string) string {
		if indexed {
			return strings.Join(idx, " AND ")
		}
		return strings.Join(row, " AND ")
	}
	sender := func(indexed bool) string { return `m.direction = 'in' AND ` + pick(indexed, w.senderIdx, w.senderRow) }
	return append(paths,
		searchPath{trigram: true, rare: n[1] < rareHits, cond: func(_, indexed bool) string { return pick(indexed, w.subjectIdx, w.subjectRow) }},
		searchPath{rare: n[2] < rareHits, msg: sender, cond: func(staff, indexed bool) string {
			if indexed {
				return hitsOf(sender(true), staff)
			}
			return `EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND ` + sender(indexed) + visibleKinds(staff) + `)`
		}}), nil
}

// hitsOf is a rare path's condition on c in its indexed form: the
// conversations of its few hits, read from the path's index first and
// then looked up by key. Written as a semi-join, PostgreSQL guesses a
// full-text match at thousands of rows whatever it is, and hashed the hits
// against the receiver role's third of a million conversations, which it
// read in full first: 25 ms of a staff search for a word found nowhere,
// 0.05 ms this way (make bench's database).
func hitsOf(msg string, staff bool) string {
	return `c.id = ANY (ARRAY(SELECT m.conversation_id FROM messages m WHERE ` + msg + visibleKinds(staff) + `))`
}

// fewHits reports whether the subject's trigram path has fewer than
// rareHits hits inside a branch, counted in the index that holds both (the
// receiver roles and the subject: see migration 006).
func (db *DB) fewHits(ctx context.Context, viewerID int64, b Branch, facts [][]int64, words []string) (bool, error) {
	args := []any{viewerID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	sees := bindSees(b, facts, map[int]string{}, arg)
	w := trigramConds(words, arg)
	// v names the type of $1, the viewer, which a branch may not read.
	var n int
	err := db.countHits(ctx, `SELECT count(*) FROM (SELECT 1 FROM conversations c, (SELECT $1::bigint AS id) v
		WHERE `+sees+` AND `+strings.Join(w.subjectIdx, " AND ")+` LIMIT `+fmt.Sprint(rareHits)+`) h`,
		append([]any{pgx.QueryExecModeCacheDescribe}, args...), []*int{&n})
	if err != nil {
		return false, fmt.Errorf("list conversations: search: %w", err)
	}
	return n < rareHits, nil
}

// wordConds are a search's words as trigram conditions on the subject of c
// and on the sender of a message m: in the form the trigram indexes serve
// (Idx) and in one they do not (Row). long: some word is long enough to be
// looked up by trigram; without one, there are no trigram paths.
type wordConds struct {
	subjectIdx, senderIdx, subjectRow, senderRow []string
	long                                         bool
}

func trigramConds(words []string, arg func(any) string) wordConds {
	const sender = "(left(m.from_name, 200) || ' ' || left(m.from_addr, 200))"
	var c wordConds
	for _, w := range words {
		// A long word anywhere inside; a short one, which has no trigram to
		// look up, as a word of its own (w is lowercase letters and digits,
		// nothing a pattern would read as an operator).
		if utf8.RuneCountInString(w) < minTrigramWord {
			p := arg(`\m` + w + `\M`)
			c.subjectIdx, c.senderIdx = append(c.subjectIdx, "c.subject ~* "+p), append(c.senderIdx, sender+" ~* "+p)
			c.subjectRow, c.senderRow = append(c.subjectRow, "lower(c.subject) ~ "+p), append(c.senderRow, "lower("+sender+") ~ "+p)
			continue
		}
		c.long = true
		lw := arg(w)
		p := "('%' || " + lw + " || '%')"
		c.subjectIdx, c.senderIdx = append(c.subjectIdx, "c.subject ILIKE "+p), append(c.senderIdx, sender+" ILIKE "+p)
		c.subjectRow = append(c.subjectRow, "strpos(lower(c.subject), "+lw+") > 0")
		c.senderRow = append(c.senderRow, "strpos(lower("+sender+"), "+lw+") > 0")
	}
	return c
}

// holds reports whether a branch can hold at all: each fact it reads has
// a value.
func holds(b Branch, facts [][]int64) bool {
	for _, i := range b.Needs {
		if i >= len(facts) || len(facts[i]) == 0 {
			return false
		}
	}
	return true
}

// bindSees is a branch's condition with the viewer's facts it reads as
// parameters: each fact is bound (arg) once per statement, its
// placeholder kept in bound for the statement's other branches.
func bindSees(b Branch, facts [][]int64, bound map[int]string, arg func(any) string) string {
	sees := b.Sees
	for _, i := range b.Needs {
		if _, ok := bound[i]; !ok {
			bound[i] = arg(facts[i]) + "::bigint[]"
		}
		sees = strings.ReplaceAll(sees, fmt.Sprintf("{%d}", i), bound[i])
	}
	return sees
}

// visibleKinds is the condition on a message m of a list's search: without
// staff powers, notes and delivery reports are not searched (StaffOnlyKind).
func visibleKinds(staff bool) string {
	if staff {
		return ""
	}
	return ` AND m.kind NOT IN ('` + KindNote + `', '` + KindBounce + `')`
}

// The names a list shows, beside conversationColumns.
const listedColumns = `, cat.name, coalesce(hu.name, ''), coalesce(hu.email, ''), coalesce(cu.name, ''), coalesce(cu.email, ''),
	coalesce(co.name, ''), coalesce(pe.name, ''), coalesce(rr.ids, '{}'), coalesce(rr.keys, '{}'), coalesce(rr.names, '{}')`

const listedJoins = ` JOIN categories cat ON cat.id = c.category_id
	LEFT JOIN users hu ON hu.id = c.handler_id
	LEFT JOIN users cu ON cu.id = c.customer_id
	LEFT JOIN companies co ON co.id = c.company_id
	LEFT JOIN persons pe ON pe.id = c.person_id
	LEFT JOIN LATERAL (SELECT array_agg(r.id ORDER BY lower(r.name), r.id) AS ids, array_agg(r.key ORDER BY lower(r.name), r.id) AS keys,
			array_agg(r.name ORDER BY lower(r.name), r.id) AS names
		FROM conversation_roles cr JOIN roles r ON r.id = cr.role_id WHERE cr.conversation_id = c.id) rr ON true`

func scanListed(row pgx.CollectableRow) (Listed, error) {
	var l Listed
	c := &l.Conversation
	var ids []int64
	var keys, names []string
	err := row.Scan(&c.ID, &c.Number, &c.Subject, &c.CategoryID, &c.CategoryKey, &c.Status, &c.HandlerID, &c.CustomerID,
		&c.AssigneeID, &c.CompanyID, &c.PersonID, &c.LegalHold, &c.HeldForReview, &c.RoleIDs,
		&c.CreatedAt, &c.UpdatedAt, &c.SolvedAt,
		&l.CategoryName, &l.HandlerName, &l.HandlerEmail, &l.CustomerName, &l.CustomerEmail, &l.CompanyName, &l.PersonName,
		&ids, &keys, &names, &l.Unread)
	for i := range ids {
		l.Roles = append(l.Roles, RoleName{ID: ids[i], Key: keys[i], Name: names[i]})
	}
	return l, err
}
