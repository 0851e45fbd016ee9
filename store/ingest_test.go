package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"postdesk/store"
	"postdesk/store/storetest"
)

// manyWords is n distinct words: several MB of lexemes for the search.
func manyWords(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "w%x%d ", i*7919, i)
	}
	return b.String()
}

// Values a mail brings are stored and found again whatever their length:
// no index entry holds them as they are (a btree entry is limited to about
// 2.7 KB).
func TestLongMailValuesAreIndexedByHash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := storetest.Org(t, storetest.TestOrg)
	random := func(n int) string {
		b := make([]byte, n/2)
		rand.Read(b)
		return hex.EncodeToString(b)
	}
	longID, longFrom := random(8000)+"@acme.example", random(6000)+"@acme.example" // hex: over 2.7 KB however compressed
	var msgID, convID int64
	err := st.InTx(ctx, func(tx *store.Tx) error {
		cat, err := tx.CategoryByKey(ctx, "payroll")
		if err != nil {
			return err
		}
		c, err := tx.CreateConversation(ctx, store.NewConversation{Subject: "Long", CategoryID: cat.ID, RoleIDs: cat.RoleIDs})
		if err != nil {
			return err
		}
		m := &store.Message{ConversationID: c.ID, Direction: store.DirIn, Kind: store.KindCustomer, FromAddr: longFrom,
			MessageID: longID, InReplyTo: longID, References: []string{longID, longID}, Text: manyWords(150000),
			Mailbox: "payroll", UIDValidity: 3, UID: 9, RawKey: make([]byte, 32)}
		if err := tx.InsertMessage(ctx, m, nil); err != nil {
			return err
		}
		msgID, convID = m.ID, c.ID
		return nil
	})
	if err != nil {
		t.Fatalf("storing the long values: %v", err)
	}
	if got, member, err := st.ConversationByMessageID(ctx, []string{"other@acme.example", longID}, longFrom); err != nil || got != convID || member {
		t.Fatalf("by Message-ID: %d %v %v, want %d, its sender not a participant", got, member, err, convID)
	}
	if n, err := st.RecentInbound(ctx, longFrom); err != nil || n != 1 {
		t.Fatalf("recent inbound: %d %v, want 1", n, err)
	}
	if s, err := st.InboundStored(ctx, "elsewhere", 1, 1, make([]byte, 32)); err != nil || s.MessageID != msgID || s.ByIMAPKey {
		t.Fatalf("by content key: %+v %v", s, err)
	}
	if err := st.AddCopy(ctx, msgID, "elsewhere", 1, 1); err != nil {
		t.Fatal(err)
	}
	if s, err := st.InboundStored(ctx, "elsewhere", 1, 1, nil); err != nil || s.MessageID != msgID || !s.ByIMAPKey {
		t.Fatalf("by a copy's IMAP key: %+v %v", s, err)
	}
	if _, err := st.InboundStored(ctx, "elsewhere", 1, 2, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unknown mail: %v, want ErrNotFound", err)
	}
	// The content key is unique: a second message with it is a conflict.
	err = st.InTx(ctx, func(tx *store.Tx) error {
		return tx.InsertMessage(ctx, &store.Message{ConversationID: convID, Direction: store.DirIn, Kind: store.KindCustomer,
			Mailbox: "payroll", UIDValidity: 3, UID: 10, RawKey: make([]byte, 32)}, nil)
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second message with the content key: %v, want ErrConflict", err)
	}
}
