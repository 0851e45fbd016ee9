// Package benchdata makes the database the web benchmark reads: an
// organisation of a payroll and HR service (staff roles, companies with
// their contacts, managers and employees) with n conversations and about 3n
// messages over four years, in Finnish and English.
//
// The rows go in with COPY (pgx CopyFrom), never through the API: the point
// is the size, and a million conversations through the rules would take an
// hour. As pg_restore does, the load skips the foreign key triggers
// (session_replication_role; the rows are consistent by construction) and
// builds the secondary indexes after the rows are in, exactly as the
// migrations define them. The finished database is kept, named for the
// migrations, this generator's version and n, so that the next run reads it
// instead of seeding again; it is renamed into place only once complete, so
// a run stopped halfway leaves nothing that looks usable.
package benchdata

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"postdesk/config"
	"postdesk/store"
)

// version changes whenever the generated rows do, so that a kept database
// of an older generator is not mistaken for the current one.
const version = "2"

// Org is the organisation's configuration: its roles and categories, and
// the staff and the one manager the benchmark signs in as. The bulk of the
// users (contacts, managers and supervisors of every company) are rows.
const Org = `
listen: 127.0.0.1:18080 # never served: the organisation only
database_url: postgres://unused
secret: 0123456789abcdef0123456789abcdef
smtp: {host: 127.0.0.1, port: 10025, tls: none}
categories:
  - {key: payroll, name: Palkat / Payroll, addresses: [palkat@bench.example], roles: [payroll-team]}
  - {key: expenses, name: Matkakulut / Expenses, addresses: [kulut@bench.example], roles: [payroll-team]}
  - {key: sick-leave, name: Sairauslomat / Sick leave, addresses: [sairaus@bench.example], roles: [hr-team, managers, supervisors]}
  - {key: employment, name: Työsuhteet / Employment, addresses: [hr@bench.example], roles: [hr-team, managers]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true, may: [change_receivers, set_company]}
  - {key: hr-team, name: HR team, staff: true}
  - {key: leads, name: Team leads, staff: true, may: [assign, legal_hold]}
  - {key: managers, name: Managers, may: [manager]}
  - {key: supervisors, name: Supervisors}
users:
  - {email: pirjo.palkka@bench.example, name: Pirjo Palkkanen, roles: [payroll-team]}
  - {email: paavo.palkka@bench.example, name: Paavo Palkkala, roles: [payroll-team]}
  - {email: petra.palkka@bench.example, name: Petra Palkkio, roles: [payroll-team]}
  - {email: heli.hr@bench.example, name: Heli Henkilöstö, roles: [hr-team]}
  - {email: harri.hr@bench.example, name: Harri Hallinto, roles: [hr-team]}
  - {email: liisa.lead@bench.example, name: Liisa Liideri, roles: [payroll-team, hr-team, leads]}
`

// The users the benchmark signs in as.
const (
	StaffEmail = "heli.hr@bench.example" // hr-team: sick leave and employment, about a third of all
)

// DB is a seeded database.
type DB struct {
	URL           string
	Name          string
	Cached        bool // an earlier run's database, read as it was
	Conversations int
	Messages      int
	// CustomerEmail is a contact with an ordinary number of conversations,
	// ManagerEmail the manager of that contact's company.
	CustomerEmail, ManagerEmail string
}

// The web figure's size at BENCH_SCALE=1 (four years of a payroll bureau)
// and its least.
const (
	Conversations    = 1_000_000
	MinConversations = 2000
)

// Kept reports whether the database of n conversations is kept from an
// earlier run, so that Open only reads it: `make bench` gives the first
// run, which seeds it, the time that takes on top of the figure's budget.
func Kept(ctx context.Context, serverURL string, n int) (bool, error) {
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return false, fmt.Errorf("benchdata: %w", err)
	}
	defer admin.Close(context.Background())
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, dbName(n)).Scan(&exists); err != nil {
		return false, fmt.Errorf("benchdata: %w", err)
	}
	return exists, nil
}

// dbName is the kept database of n conversations: the code that would
// make it, and its size.
func dbName(n int) string { return fmt.Sprintf("postdesk_bench_web_%s_%d", schemaHash(), n) }

// Open returns the database of n conversations on the server at serverURL
// (an admin connection), seeding it when no complete one is kept.
func Open(ctx context.Context, serverURL string, n int, logf func(string, ...any)) (*DB, error) {
	g := newPlan(n)
	name := dbName(n)
	db := &DB{Name: name, URL: withDatabase(serverURL, name), Conversations: n,
		CustomerEmail: g.customerEmail(g.benchCustomer), ManagerEmail: g.managerEmail(g.customers[g.benchCustomer].company)}
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return nil, fmt.Errorf("benchdata: %w", err)
	}
	defer admin.Close(context.Background())
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return nil, fmt.Errorf("benchdata: %w", err)
	}
	if exists {
		db.Cached = true
		return db, db.count(ctx)
	}
	seeding := name + "_seeding"
	// The names are ours alone (a hash and a number); CREATE DATABASE takes no parameters.
	if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{seeding}.Sanitize()+` WITH (FORCE)`); err != nil {
		return nil, fmt.Errorf("benchdata: %w", err)
	}
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{seeding}.Sanitize()+` TEMPLATE template0`); err != nil {
		return nil, fmt.Errorf("benchdata: %w", err)
	}
	if err := g.seed(ctx, withDatabase(serverURL, seeding), logf); err != nil {
		return nil, err
	}
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{seeding}.Sanitize()+` RENAME TO `+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("benchdata: %w", err)
	}
	return db, db.count(ctx)
}

func (db *DB) count(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		return fmt.Errorf("benchdata: %w", err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)`).Scan(&db.Conversations, &db.Messages); err != nil {
		return fmt.Errorf("benchdata: %w", err)
	}
	return nil
}

// schemaHash names the migrations and this generator: a kept database is
// used only by the code that would make the same one.
func schemaHash() string {
	h := sha256.New()
	h.Write([]byte(version))
	fs.WalkDir(store.Migrations(), ".", func(p string, d fs.DirEntry, err error) error { //nolint:errcheck
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(store.Migrations(), p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}

// seed migrates the fresh database, applies Org and copies in the rest.
func (g *plan) seed(ctx context.Context, dbURL string, logf func(string, ...any)) error {
	start := time.Now()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("benchdata: %w", err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("benchdata: %w", err)
	}
	cfg, _, err := config.Parse("bench.yaml", []byte(Org), func(string) (string, bool) { return "", false })
	if err != nil {
		return fmt.Errorf("benchdata: %w", err)
	}
	if err := st.ApplyConfig(ctx, cfg); err != nil {
		return fmt.Errorf("benchdata: %w", err)
	}
	if err := g.readOrg(ctx, st); err != nil {
		return err
	}

	// The secondary indexes of the bulk tables, built once the rows are in.
	var defs []string
	rows, err := st.Pool().Query(ctx, `SELECT i.indexname, i.indexdef FROM pg_indexes i
		WHERE i.schemaname = current_schema()
			AND i.tablename IN ('conversations', 'messages', 'conversation_roles', 'participants', 'users', 'persons')
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`)
	if err != nil {
		return fmt.Errorf("benchdata: %w", err)
	}
	var names []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return fmt.Errorf("benchdata: %w", err)
		}
		names, defs = append(names, name), append(defs, def)
	}
	rows.Close()
	for _, name := range names {
		if _, err := st.Pool().Exec(ctx, `DROP INDEX `+pgx.Identifier{name}.Sanitize()); err != nil {
			return fmt.Errorf("benchdata: %w", err)
		}
	}

	var mu sync.Mutex
	var took []string
	timed := func(what string, f func(conn *pgx.Conn) error) error {
		t := time.Now()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			return fmt.Errorf("benchdata: %w", err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
			return fmt.Errorf("benchdata: %w", err)
		}
		if _, err := conn.Exec(ctx, `SET maintenance_work_mem = '256MB'`); err != nil {
			return fmt.Errorf("benchdata: %w", err)
		}
		if err := f(conn); err != nil {
			return fmt.Errorf("benchdata: %s: %w", what, err)
		}
		mu.Lock()
		took = append(took, fmt.Sprintf("%s %v", what, time.Since(t).Round(100*time.Millisecond)))
		mu.Unlock()
		return nil
	}
	if err := timed("people", g.copyPeople); err != nil {
		return err
	}
	// Two streams, one per core: conversations and their rows by halves.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for half := range 2 {
		wg.Go(func() {
			from, to := half*g.n/2, (half+1)*g.n/2
			errs[half] = timed(fmt.Sprintf("conversations %d-%d", from+1, to), func(conn *pgx.Conn) error {
				return g.copyConversations(ctx, conn, from, to)
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	work := make(chan string)
	errs = make([]error, len(defs))
	for range 2 {
		wg.Go(func() {
			for def := range work {
				i := indexOf(defs, def)
				errs[i] = timed("index "+names[i], func(conn *pgx.Conn) error {
					_, err := conn.Exec(ctx, def)
					return err
				})
			}
		})
	}
	for _, def := range defs {
		work <- def
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := timed("sequences", func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `SELECT setval('conversations_id_seq', (SELECT max(id) FROM conversations)),
			setval('conversation_number', (SELECT max(number) FROM conversations)),
			setval('messages_id_seq', (SELECT max(id) FROM messages)),
			setval('users_id_seq', (SELECT max(id) FROM users)),
			setval('companies_id_seq', (SELECT max(id) FROM companies)),
			setval('persons_id_seq', (SELECT max(id) FROM persons))`)
		return err
	}); err != nil {
		return err
	}
	// A database that has run for years has its statistics and its
	// visibility map (index-only scans); give the fresh one the same.
	if err := timed("vacuum analyze", func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `VACUUM (ANALYZE)`)
		return err
	}); err != nil {
		return err
	}
	if logf != nil {
		logf("seeded %d conversations in %v: %s", g.n, time.Since(start).Round(time.Second), strings.Join(took, ", "))
	}
	return nil
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// readOrg picks up the ids ApplyConfig gave the roles, categories and staff.
func (g *plan) readOrg(ctx context.Context, st *store.Store) error {
	g.roles, g.cats, g.staff = map[string]int64{}, map[string]int64{}, map[string][]int64{}
	rows, err := st.Pool().Query(ctx, `SELECT key, id FROM roles`)
	if err != nil {
		return fmt.Errorf("benchdata: %w", err)
	}
	for rows.Next() {
		var k string
		var id int64
		if err := rows.Scan(&k, &id); err != nil {
			return fmt.Errorf("benchdata: %w", err)
		}
		g.roles[k] = id
	}
	rows.Close()
	rows, err = st.Pool().Query(ctx, `SELECT key, id FROM categories`)
	if err != nil {
		return fmt.Errorf("benchdata: %w", err)
	}
	for rows.Next() {
		var k string
		var id int64
		if err := rows.Scan(&k, &id); err != nil {
			return fmt.Errorf("benchdata: %w", err)
		}
		g.cats[k] = id
	}
	rows.Close()
	rows, err = st.Pool().Query(ctx, `SELECT r.key, rm.user_id FROM role_members rm JOIN roles r ON r.id = rm.role_id ORDER BY rm.user_id`)
	if err != nil {
		return fmt.Errorf("benchdata: %w", err)
	}
	for rows.Next() {
		var k string
		var id int64
		if err := rows.Scan(&k, &id); err != nil {
			return fmt.Errorf("benchdata: %w", err)
		}
		g.staff[k] = append(g.staff[k], id)
	}
	rows.Close()
	if err := st.Pool().QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM users`).Scan(&g.userBase); err != nil {
		return fmt.Errorf("benchdata: %w", err)
	}
	if err := st.Pool().QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM companies`).Scan(&g.companyBase); err != nil {
		return fmt.Errorf("benchdata: %w", err)
	}
	return nil
}
