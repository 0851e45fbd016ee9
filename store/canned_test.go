package store_test

import (
	"context"
	"errors"
	"testing"

	"postdesk/store"
	"postdesk/store/storetest"
)

// Canned answers are listed per role, changed and deleted by ID; a
// signature is one per owner and language, replaced when set again and
// removed when set empty, and a role's never mixes with a user's.
func TestCannedAnswersAndSignatures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := storetest.Org(t, storetest.TestOrg)
	roles, err := st.RolesByKeys(ctx, []string{"payroll-team", "hr-team"})
	if err != nil {
		t.Fatal(err)
	}
	payroll, hr := roles[0].ID, roles[1].ID

	a := store.CannedAnswer{RoleID: payroll, Language: "fi", Title: "Verokortti", Body: "Hei {customer.name}, uusi verokortti on käytössä."}
	if err := st.SaveCannedAnswer(ctx, &a); err != nil || a.ID == 0 {
		t.Fatalf("insert: %v (id %d)", err, a.ID)
	}
	b := store.CannedAnswer{RoleID: hr, Language: "en", Title: "Sick note", Body: "Please send the sick note."}
	if err := st.SaveCannedAnswer(ctx, &b); err != nil {
		t.Fatal(err)
	}
	got, err := st.CannedAnswers(ctx, []int64{payroll})
	if err != nil || len(got) != 1 || got[0].ID != a.ID || got[0].Body != a.Body {
		t.Fatalf("payroll's answers: %+v %v", got, err)
	}
	if all, err := st.CannedAnswers(ctx, nil); err != nil || len(all) != 2 {
		t.Fatalf("every answer: %+v %v", all, err)
	}
	if none, err := st.CannedAnswers(ctx, []int64{}); err != nil || len(none) != 0 {
		t.Fatalf("no roles, yet answers: %+v %v", none, err)
	}

	a.Title, a.Body = "Verokortti 2026", "Uusi teksti"
	if err := st.SaveCannedAnswer(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if c, err := st.CannedAnswer(ctx, a.ID); err != nil || c.Title != "Verokortti 2026" || c.Body != "Uusi teksti" {
		t.Fatalf("after update: %+v %v", c, err)
	}
	if err := st.SaveCannedAnswer(ctx, &store.CannedAnswer{ID: 999999, RoleID: payroll, Language: "fi", Title: "x", Body: "y"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing answer: %v", err)
	}
	if err := st.DeleteCannedAnswer(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CannedAnswer(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted answer still there: %v", err)
	}
	if err := st.DeleteCannedAnswer(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}

	aino, err := st.UserByEmail(ctx, "aino.handler@example.com")
	if err != nil {
		t.Fatal(err)
	}
	set := func(sg store.Signature) {
		t.Helper()
		if err := st.SetSignature(ctx, sg); err != nil {
			t.Fatal(err)
		}
	}
	set(store.Signature{UserID: &aino.ID, Language: "fi", Body: "Aino"})
	set(store.Signature{UserID: &aino.ID, Language: "fi", Body: "Aino Handler, palkanlaskenta"})
	set(store.Signature{UserID: &aino.ID, Language: "sv", Body: "Aino på svenska"})
	set(store.Signature{RoleID: &payroll, Language: "fi", Body: "Palkkatiimi"})
	set(store.Signature{RoleID: &hr, Language: "fi", Body: "HR-tiimi"})
	set(store.Signature{UserID: &aino.ID, Language: "sv", Body: "  "}) // removes

	sigs, err := st.Signatures(ctx, []int64{payroll}, aino.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 2 || sigs[0].UserID == nil || sigs[0].Body != "Aino Handler, palkanlaskenta" ||
		sigs[1].RoleID == nil || *sigs[1].RoleID != payroll || sigs[1].Body != "Palkkatiimi" {
		t.Fatalf("signatures of Aino and payroll: %+v", sigs)
	}
	if err := st.SetSignature(ctx, store.Signature{RoleID: &payroll, UserID: &aino.ID, Language: "fi", Body: "x"}); !errors.Is(err, store.ErrInvalidInput) {
		t.Fatalf("a signature of both a role and a user: %v", err)
	}

	// Erasing the person takes their signatures with them; the role's stays.
	if _, err := st.Erase(ctx, store.EraseRequest{Email: aino.Email, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	sigs, err = st.Signatures(ctx, []int64{payroll}, aino.ID)
	if err != nil || len(sigs) != 1 || sigs[0].RoleID == nil {
		t.Fatalf("after erasing Aino: %+v %v", sigs, err)
	}
}
