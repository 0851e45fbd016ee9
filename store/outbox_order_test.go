package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"postdesk/store"
	"postdesk/store/storetest"
)

// One person hears of one conversation in the order its mail was queued,
// however many workers claim at once: a later row to the same recipient
// waits while an earlier one is due or in flight, and never behind one
// that waits for its next try. Rows to other people, or about another
// conversation, never wait.
func TestClaimKeepsEachRecipientsOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := storetest.Org(t, storetest.TestOrg)
	var conv [2]int64
	ids := map[string]int64{}
	err := st.InTx(ctx, func(tx *store.Tx) error {
		cat, err := tx.CategoryByKey(ctx, "payroll")
		if err != nil {
			return err
		}
		for i := range conv {
			c, err := tx.CreateConversation(ctx, store.NewConversation{Subject: fmt.Sprintf("Salary %d", i), CategoryID: cat.ID, RoleIDs: cat.RoleIDs})
			if err != nil {
				return err
			}
			conv[i] = c.ID
		}
		// In queue order: the answer and then the solved notice to the
		// customer, a notice to a member of the same conversation, and an
		// answer to the same customer in another conversation.
		for _, r := range []struct {
			name string
			conv int64
			to   string
		}{
			{"answer", conv[0], "Cara.Customer@acme.example"},
			{"solved", conv[0], "cara.customer@acme.example"},
			{"member", conv[0], "aino.handler@example.com"},
			{"other", conv[1], "cara.customer@acme.example"},
		} {
			it := &store.OutboxItem{ConversationID: &r.conv, Template: store.TemplateAnswer, Recipient: r.to, MailMessageID: store.NewID() + "@postdesk.test"}
			if err := tx.Enqueue(ctx, it); err != nil {
				return err
			}
			ids[r.name] = it.ID
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	now, err := st.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lease := 7 * time.Minute
	claim := func(limit int) (got []string, items map[string]store.OutboxItem) {
		t.Helper()
		its, err := st.ClaimOutbox(ctx, now, limit, lease)
		if err != nil {
			t.Fatal(err)
		}
		items = map[string]store.OutboxItem{}
		for _, it := range its {
			for name, id := range ids {
				if id == it.ID {
					got, items[name] = append(got, name), it
				}
			}
		}
		slices.Sort(got)
		return got, items
	}
	want := func(what string, got []string, names ...string) {
		t.Helper()
		slices.Sort(names)
		if !slices.Equal(got, names) {
			t.Errorf("%s: claimed %v, want %v", what, got, names)
		}
	}

	// One statement claiming all it may: the solved notice waits for the
	// answer, which is due.
	got, first := claim(10)
	want("first claim", got, "answer", "member", "other")
	// The answer in flight: the notice still waits.
	got, _ = claim(10)
	want("with the answer in flight", got)

	// The answer fails for now and waits an hour for its next try: the
	// notice goes meanwhile, as it would with one session.
	if err := st.OutboxRetry(ctx, ids["answer"], first["answer"].Attempts, now.Add(time.Hour), "451 try later"); err != nil {
		t.Fatal(err)
	}
	got, second := claim(10)
	want("with the answer waiting for its next try", got, "solved")

	// A lease that ran out (the claimer died): the row is due again and
	// goes before the rows behind it.
	if err := st.OutboxSent(ctx, ids["solved"], second["solved"].Attempts, now); err != nil {
		t.Fatal(err)
	}
	it := &store.OutboxItem{ConversationID: &conv[1], Template: store.TemplateAnswer, Recipient: "cara.customer@acme.example", MailMessageID: store.NewID() + "@postdesk.test"}
	if err := st.Enqueue(ctx, it); err != nil {
		t.Fatal(err)
	}
	ids["after other"] = it.ID
	now = now.Add(lease + time.Second)
	got, _ = claim(1)
	want("after the lease ran out", got, "member")
	got, _ = claim(1)
	want("then", got, "other")
	got, _ = claim(10)
	want("with the rerun of other in flight", got)
}
