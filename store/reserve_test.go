package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"postdesk/store"
	"postdesk/store/storetest"
)

// Rows written with reserved ids (ingest's batch) are numbered in the order
// they are written, events included, also once the reserve is used up; a
// conversation created behind gets its public number from the sequence at
// the write, and what CreateConversation returns agrees with the row.
func TestReservedIDsKeepTheWriteOrder(t *testing.T) {
	t.Parallel()
	ctx, st, cat := payrollOrg(t)
	var conv *store.Conversation
	var written []int64 // message ids, in the order written
	err := st.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.ReserveIDs(ctx, 3, 1); err != nil {
			return err
		}
		var err error
		if conv, err = tx.CreateConversation(ctx, store.NewConversation{Subject: "Lomaraha", CategoryID: cat.ID,
			CategoryKey: cat.Key, RoleIDs: cat.RoleIDs}); err != nil {
			return err
		}
		insert := func(uid uint32) error {
			m := &store.Message{ConversationID: conv.ID, Direction: store.DirIn, Kind: store.KindCustomer, FromAddr: "cara@acme.example",
				Text: "Milloin lomaraha maksetaan?", Mailbox: "payroll", UIDValidity: 1, UID: uid}
			if err := tx.InsertMessage(ctx, m, nil); err != nil {
				return err
			}
			written = append(written, m.ID)
			return nil
		}
		if err := insert(1); err != nil {
			return err
		}
		if err := tx.InsertEvent(ctx, conv.ID, nil, "routed", "Routed to Payroll"); err != nil {
			return err
		}
		written = append(written, 0) // the event's id, read back below
		if err := insert(2); err != nil {
			return err
		}
		return insert(3) // the reserve is used up: the sequence's next
	})
	if err != nil {
		t.Fatal(err)
	}
	if conv.Number != 0 {
		t.Fatalf("a conversation created behind returned number %d: it was never read", conv.Number)
	}
	got, err := st.ConversationByID(ctx, conv.ID)
	if err != nil {
		t.Fatalf("the conversation created behind: %v", err)
	}
	if got.Number == 0 || got.Subject != "Lomaraha" || got.CategoryKey != "payroll" || got.Status != store.StatusNew ||
		!slices.Equal(got.RoleIDs, conv.RoleIDs) || !got.CreatedAt.Equal(conv.CreatedAt) || !got.UpdatedAt.Equal(conv.UpdatedAt) {
		t.Fatalf("stored %+v, returned %+v", got, conv)
	}
	ms, err := st.Messages(ctx, conv.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	var kinds []string
	for _, m := range ms {
		ids = append(ids, m.ID)
		kinds = append(kinds, m.Kind)
		if !m.CreatedAt.Equal(conv.CreatedAt) {
			t.Fatalf("message %d created at %v, the transaction began at %v", m.ID, m.CreatedAt, conv.CreatedAt)
		}
	}
	if want := []string{store.KindCustomer, store.KindEvent, store.KindCustomer, store.KindCustomer}; !slices.Equal(kinds, want) {
		t.Fatalf("timeline %v, want %v", kinds, want)
	}
	written[1] = ids[1]
	if !slices.Equal(ids, written) || !slices.IsSorted(ids) {
		t.Fatalf("message ids %v, written as %v: want the write order, ascending", ids, written)
	}
}

// A row written behind that the database refuses fails its transaction:
// the error reaches the caller at the commit at the latest, with the
// *pgconn.PgError that names the constraint (ingest's retry rules read it).
func TestReservedInsertRefusedFailsTheTransaction(t *testing.T) {
	t.Parallel()
	ctx, st, cat := payrollOrg(t)
	c, err := st.CreateConversation(ctx, store.NewConversation{Subject: "s", CategoryID: cat.ID, RoleIDs: cat.RoleIDs})
	if err != nil {
		t.Fatal(err)
	}
	mail := func(conv int64, uid uint32) *store.Message {
		return &store.Message{ConversationID: conv, Direction: store.DirIn, Kind: store.KindCustomer, Mailbox: "payroll", UIDValidity: 1, UID: uid}
	}
	if err := st.InsertMessage(ctx, mail(c.ID, 7), nil); err != nil {
		t.Fatal(err)
	}
	var fresh int64
	err = st.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.ReserveIDs(ctx, 2, 1); err != nil {
			return err
		}
		n, err := tx.CreateConversation(ctx, store.NewConversation{Subject: "t", CategoryID: cat.ID, CategoryKey: cat.Key, RoleIDs: cat.RoleIDs})
		if err != nil {
			return err
		}
		fresh = n.ID
		if err := tx.InsertMessage(ctx, mail(n.ID, 8), nil); err != nil {
			return err
		}
		return tx.InsertMessage(ctx, mail(n.ID, 7), nil) // behind, and the IMAP key is taken
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" || pe.ConstraintName != "messages_mailbox_uid_validity_uid_key" {
		t.Fatalf("transaction with a refused row: %v, want the unique violation", err)
	}
	if _, err := st.ConversationByID(ctx, fresh); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the failed transaction's conversation: %v, want none", err)
	}
}

// In a conversation it did not create, a transaction with reserved ids
// takes a message's id at the insert: a message another transaction
// committed there meanwhile has a smaller id, so a reader whose position is
// past that one still finds the new message unread.
func TestReservedIDsOnlyInFreshConversations(t *testing.T) {
	t.Parallel()
	ctx, st, cat := payrollOrg(t)
	c, err := st.CreateConversation(ctx, store.NewConversation{Subject: "s", CategoryID: cat.ID, RoleIDs: cat.RoleIDs})
	if err != nil {
		t.Fatal(err)
	}
	var meanwhile, later store.Message
	err = st.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.ReserveIDs(ctx, 3, 0); err != nil {
			return err
		}
		meanwhile = store.Message{ConversationID: c.ID, Direction: store.DirOut, Kind: store.KindStaff, Text: "Vastaus"}
		if err := st.InsertMessage(ctx, &meanwhile, nil); err != nil { // another transaction, committed at once
			return err
		}
		later = store.Message{ConversationID: c.ID, Direction: store.DirIn, Kind: store.KindCustomer, Text: "Kiitos"}
		if err := tx.InsertMessage(ctx, &later, nil); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, c.ID, nil, "reopened", "Reopened")
	})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := st.Messages(ctx, c.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	var event int64
	for _, m := range ms {
		if m.Kind == store.KindEvent {
			event = m.ID
		}
	}
	if len(ms) != 3 || !(meanwhile.ID < later.ID && later.ID < event) {
		t.Fatalf("ids: committed meanwhile %d, the transaction's message %d and event %d: want them ascending (%d messages)",
			meanwhile.ID, later.ID, event, len(ms))
	}
}

// payrollOrg is the test organisation and its payroll category.
func payrollOrg(t *testing.T) (context.Context, *store.Store, *store.Category) {
	t.Helper()
	ctx := context.Background()
	st, _ := storetest.Org(t, storetest.TestOrg)
	cat, err := st.CategoryByKey(ctx, "payroll")
	if err != nil {
		t.Fatal(err)
	}
	return ctx, st, cat
}
