package store_test

import (
	"context"
	"slices"
	"testing"

	"postdesk/store"
	"postdesk/store/storetest"
)

// The receiver roles' mirror (conversations.role_ids, which the visibility
// rule reads) follows every change of conversation_roles, and a new
// conversation is written once: created with its roles, its row is not
// updated again by the mirror's trigger (an update there is never HOT, as
// role_ids is in a GIN index). Deleting a conversation takes its roles.
func TestRoleMirror(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := storetest.Org(t, storetest.TestOrg)
	roles, err := st.RolesByKeys(ctx, []string{"payroll-team", "hr-team", "leads"})
	if err != nil || len(roles) != 3 {
		t.Fatalf("roles: %v %v", roles, err)
	}
	id := map[string]int64{}
	for _, r := range roles {
		id[r.Key] = r.ID
	}
	cat, err := st.CategoryByKey(ctx, "payroll")
	if err != nil {
		t.Fatal(err)
	}
	mirror := func(tx *store.Tx, conv int64) []int64 {
		t.Helper()
		var ids []int64
		if err := tx.QueryRowForTest(ctx, `SELECT role_ids FROM conversations WHERE id = $1`, conv).Scan(&ids); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	updates := func(tx *store.Tx) int64 {
		t.Helper()
		var n int64
		if err := tx.QueryRowForTest(ctx, `SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_xact_user_tables WHERE relname = 'conversations'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	sorted := func(ids ...int64) []int64 { slices.Sort(ids); return ids }
	var conv int64
	err = st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, err := tx.CreateConversation(ctx, store.NewConversation{Subject: "Salary", CategoryID: cat.ID,
			RoleIDs: []int64{id["leads"], id["payroll-team"], id["leads"]}})
		if err != nil {
			return err
		}
		conv = c.ID
		want := sorted(id["leads"], id["payroll-team"])
		if !slices.Equal(c.RoleIDs, want) || !slices.Equal(mirror(tx, c.ID), want) {
			t.Errorf("created with roles %v, mirror %v; want %v", c.RoleIDs, mirror(tx, c.ID), want)
		}
		if n := updates(tx); n != 0 {
			t.Errorf("creating a conversation updated its row %d times, want 0", n)
		}
		if err := tx.SetConversationRoles(ctx, c.ID, want); err != nil {
			return err
		}
		if n := updates(tx); n != 0 {
			t.Errorf("setting the same receivers updated the row %d times, want 0", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range [][]int64{{id["hr-team"], id["leads"]}, {id["payroll-team"]}, {}} {
		err := st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.SetConversationRoles(ctx, conv, set); err != nil {
				return err
			}
			if got, want := mirror(tx, conv), sorted(slices.Clone(set)...); !slices.Equal(got, want) {
				t.Errorf("receivers set to %v: mirror %v", want, got)
			}
			c, err := tx.ConversationByID(ctx, conv)
			if err != nil {
				return err
			}
			if want := sorted(slices.Clone(set)...); !slices.Equal(c.RoleIDs, want) && len(c.RoleIDs)+len(want) > 0 {
				t.Errorf("receivers set to %v: read back %v", want, c.RoleIDs)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err = st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := tx.SetConversationRoles(ctx, conv, []int64{id["hr-team"]}); err != nil {
			return err
		}
		_, err := tx.ExecForTest(ctx, `DELETE FROM conversations WHERE id = $1`, conv)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var left int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM conversation_roles WHERE conversation_id = $1`, conv).Scan(&left); err != nil || left != 0 {
		t.Fatalf("a deleted conversation's roles: %d left (%v)", left, err)
	}
}
