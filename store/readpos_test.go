package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"postdesk/store"
	"postdesk/store/storetest"
)

// unreadByProbe is what unread means, said the slow way: a message after
// the viewer's read position that someone else wrote and the viewer may
// read, or an event someone else caused. The conversation's kept news
// (migration 019) must always agree with it.
const unreadByProbe = `EXISTS (SELECT 1 FROM messages um
	WHERE um.conversation_id = c.id AND um.id > coalesce(rp.message_id, 0)
	AND um.author_id IS DISTINCT FROM $1
	AND (um.kind IN ('customer', 'staff') OR (um.kind = 'event' AND um.author_id IS NOT NULL)
		OR (um.kind IN ('note', 'bounce') AND $2)))`

// Random timelines of every kind of message by every kind of author, some
// committed out of the order of their ids, and random read positions: for
// every viewer, with and without staff powers, the unread mark the list and
// the panel count from the kept news equals the probe of the messages.
func TestUnreadFollowsNews(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	users := timelines(t, st.Pool())
	unreadAgrees(t, st.Pool(), users)
}

// A database that had messages before migration 019 gets their news kept
// by the migration itself: the unread marks of the timelines written
// before it agree with the messages as those written after do.
func TestNewsBackfilled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db := st.Pool()
	// Migrations from 019 on are marked applied, so that the first Migrate
	// stops before them; unmarked, the second applies them to the rows.
	if _, err := db.Exec(ctx, `CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO schema_migrations (version, name) SELECT v, 'later' FROM generate_series(19, `+fmt.Sprint(store.LatestVersion())+`) v`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var news bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'conversations' AND column_name = 'news_id')`).Scan(&news); err != nil || news {
		t.Fatalf("before migration 019 the news is kept already (%v, %v)", news, err)
	}
	users := timelines(t, db)
	if _, err := db.Exec(ctx, `DELETE FROM schema_migrations WHERE version >= 19`); err != nil {
		t.Fatal(err)
	}
	if applied, err := st.Migrate(ctx); err != nil || len(applied) == 0 || applied[0] != "019_news_on_conversation.sql" {
		t.Fatalf("migrate from 019: %v, %v", applied, err)
	}
	unreadAgrees(t, db, users)
}

// timelines writes 300 conversations of random messages and read
// positions, for three users, and returns the users.
func timelines(t *testing.T, db *pgxpool.Pool) []int64 {
	t.Helper()
	ctx := context.Background()
	var cat int64
	if err := db.QueryRow(ctx, `INSERT INTO categories (key, name) VALUES ('payroll', 'Payroll') RETURNING id`).Scan(&cat); err != nil {
		t.Fatal(err)
	}
	var users []int64
	for _, e := range []string{"cara.customer@acme.example", "aino.handler@example.com", "ben.payroll@example.com"} {
		var id int64
		if err := db.QueryRow(ctx, `INSERT INTO users (email) VALUES ($1) RETURNING id`, e).Scan(&id); err != nil {
			t.Fatal(err)
		}
		users = append(users, id)
	}
	r := rand.New(rand.NewPCG(13, 19))
	kinds := []string{store.KindCustomer, store.KindStaff, store.KindNote, store.KindAutoReply, store.KindBounce, store.KindEvent}
	insert := func(id, conv int64) {
		t.Helper()
		var author *int64
		if k := r.IntN(len(users) + 1); k < len(users) {
			author = &users[k]
		}
		if _, err := db.Exec(ctx, `INSERT INTO messages (id, conversation_id, direction, kind, author_id) VALUES ($1, $2, 'internal', $3, $4)`,
			id, conv, kinds[r.IntN(len(kinds))], author); err != nil {
			t.Fatal(err)
		}
	}
	nextID := func() int64 {
		t.Helper()
		var id int64
		if err := db.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('messages', 'id'))`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	for range 300 {
		var conv int64
		if err := db.QueryRow(ctx, `INSERT INTO conversations (subject, category_id, customer_id) VALUES ('Palkka', $1, $2) RETURNING id`,
			cat, users[0]).Scan(&conv); err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for range r.IntN(7) {
			a := nextID()
			if r.IntN(4) == 0 {
				// Two writers: the later id commits first.
				b := nextID()
				insert(b, conv)
				insert(a, conv)
				ids = append(ids, a, b)
				continue
			}
			insert(a, conv)
			ids = append(ids, a)
		}
		for _, u := range users {
			if len(ids) == 0 || r.IntN(3) == 0 {
				continue
			}
			if _, err := db.Exec(ctx, `INSERT INTO read_positions (user_id, conversation_id, message_id) VALUES ($1, $2, $3)`,
				u, conv, ids[r.IntN(len(ids))]); err != nil {
				t.Fatal(err)
			}
		}
	}
	return users
}

// unreadAgrees checks, for every conversation and each of users with and
// without staff powers, that the unread mark from the kept news is the
// probe's, and that the timelines took every path: news, none, and news
// under the viewer's own.
func unreadAgrees(t *testing.T, db *pgxpool.Pool, users []int64) {
	t.Helper()
	ctx := context.Background()
	var unread, read, byViewer int
	for _, u := range users {
		for _, staff := range []bool{false, true} {
			rows, err := db.Query(ctx, fmt.Sprintf(`SELECT c.id, %s, %s,
					CASE WHEN $2 THEN c.staff_news_author_id ELSE c.news_author_id END IS NOT DISTINCT FROM $1
				FROM conversations c %s ORDER BY c.id`, store.UnreadForTest("$2"), unreadByProbe, store.ReadJoinForTest), u, staff)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id int64
				var got, want, own bool
				if err := rows.Scan(&id, &got, &want, &own); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("conversation %d, viewer %d, staff %v: unread %v, the messages say %v", id, u, staff, got, want)
				}
				switch {
				case want && own:
					byViewer++
					unread++
				case want:
					unread++
				default:
					read++
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if unread == 0 || read == 0 || byViewer == 0 {
		t.Errorf("the timelines did not cover the cases: %d unread (%d under the viewer's own news), %d read", unread, byViewer, read)
	}
}

// A read position commits without waiting for the WAL's flush, and only its
// own transaction does: moved says whether it moved, and a position never
// goes back.
func TestMarkReadLazyCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	users := timelines(t, st.Pool())
	var conv, newest int64
	if err := st.Pool().QueryRow(ctx, `SELECT conversation_id, max(id) FROM messages GROUP BY 1 ORDER BY 1 LIMIT 1`).Scan(&conv, &newest); err != nil {
		t.Fatal(err)
	}
	everyone := store.Rule{Sees: "true"}
	user := users[0]
	if _, err := st.Pool().Exec(ctx, `DELETE FROM read_positions WHERE user_id = $1`, user); err != nil {
		t.Fatal(err)
	}
	for i, step := range []struct {
		at    int64
		moved bool
	}{{newest - 1, true}, {newest - 1, false}, {newest, true}, {newest - 1, false}} {
		err := st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
			moved, err := tx.MarkRead(ctx, everyone, user, conv, step.at)
			if err != nil {
				return err
			}
			if moved != step.moved {
				t.Errorf("step %d: moved %v, want %v", i, moved, step.moved)
			}
			var sc string
			if err := tx.QueryRowForTest(ctx, `SHOW synchronous_commit`).Scan(&sc); err != nil {
				return err
			}
			if sc != "off" {
				t.Errorf("step %d: synchronous_commit %q in its transaction", i, sc)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var sc string
	var at int64
	if err := st.Pool().QueryRow(ctx, `SELECT current_setting('synchronous_commit'), (SELECT message_id FROM read_positions WHERE user_id = $1 AND conversation_id = $2)`, user, conv).Scan(&sc, &at); err != nil {
		t.Fatal(err)
	}
	if sc != "on" || at != newest {
		t.Fatalf("after: synchronous_commit %q, position %d; want on and %d", sc, at, newest)
	}
}
