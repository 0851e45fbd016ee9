package conversation_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"postdesk/conversation"
	"postdesk/store"
	"postdesk/store/storetest"
)

// cannedOrg is TestOrg with the canned permission on Team leads (Lea Lead,
// also of Payroll team); nobody else holds it.
var cannedOrg = strings.Replace(storetest.TestOrg, "may: [assign, legal_hold]", "may: [assign, legal_hold, canned]", 1)

func setupCanned(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	st, cfg := storetest.Org(t, cannedOrg)
	f := &fixture{t: t, ctx: context.Background(), st: st, cfg: cfg}
	f.svc = conversation.New(f.st, &conversation.Options{MessageIDDomain: "postdesk.example.com"})
	return f
}

func (f *fixture) roleID(key string) int64 {
	f.t.Helper()
	rs, err := f.st.RolesByKeys(f.ctx, []string{key})
	if err != nil {
		f.t.Fatal(err)
	}
	return rs[0].ID
}

// Managing canned answers takes the canned permission; without it
// (a Handler, a manager, a customer) every change is refused and nothing is
// stored. Answers belong to staff roles only.
func TestCannedManagementNeedsPermission(t *testing.T) {
	f := setupCanned(t)
	payroll := f.roleID("payroll-team")
	for _, who := range []string{"aino.handler@example.com", "mika.manager@acme.example", "cara.customer@acme.example"} {
		a := f.actor(who)
		if a.MayManageCanned() {
			t.Errorf("%s may manage canned answers", who)
		}
		c := &store.CannedAnswer{RoleID: payroll, Language: "fi", Title: "Hei", Body: "Hei!"}
		wantErr(t, f.svc.SaveCanned(f.ctx, a, c), conversation.ErrForbidden)
		_, err := f.svc.CannedAll(f.ctx, a)
		wantErr(t, err, conversation.ErrForbidden)
		wantErr(t, f.svc.SetRoleSignature(f.ctx, a, payroll, "fi", "Palkkatiimi"), conversation.ErrForbidden)
		wantErr(t, f.svc.DeleteCanned(f.ctx, a, 1), conversation.ErrForbidden)
	}
	if all, _ := f.st.CannedAnswers(f.ctx, nil); len(all) != 0 {
		t.Fatalf("refused saves stored %+v", all)
	}

	lea := f.actor("lea.lead@example.com")
	if !lea.MayManageCanned() {
		t.Fatal("Lea (leads: canned) may not manage canned answers")
	}
	c := &store.CannedAnswer{RoleID: payroll, Language: "fi", Title: "  ", Body: "x"}
	wantErr(t, f.svc.SaveCanned(f.ctx, lea, c), conversation.ErrInvalid)
	c = &store.CannedAnswer{RoleID: f.roleID("managers"), Language: "fi", Title: "Hei", Body: "x"}
	wantErr(t, f.svc.SaveCanned(f.ctx, lea, c), conversation.ErrInvalid) // not a staff role
	c = &store.CannedAnswer{RoleID: payroll, Language: "de", Title: "Hallo", Body: "x"}
	wantErr(t, f.svc.SaveCanned(f.ctx, lea, c), conversation.ErrInvalid)
	c = &store.CannedAnswer{RoleID: payroll, Language: "fi", Title: "Verokortti", Body: "Hei {customer.name}!"}
	if err := f.svc.SaveCanned(f.ctx, lea, c); err != nil || c.ID == 0 {
		t.Fatalf("save: %v", err)
	}
	if err := f.svc.SetRoleSignature(f.ctx, lea, payroll, "fi", "Palkkatiimi"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteCanned(f.ctx, lea, c.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.svc.DeleteCanned(f.ctx, lea, c.ID), conversation.ErrNotFound)
}

// Canned answers are offered to the members of their role only, on a
// conversation only where they have staff powers: a customer or a manager
// never sees one, nor fills one by its ID. The placeholders are filled for
// the conversation, once (a value holding a placeholder stays as it is).
func TestCannedUseAndPlaceholders(t *testing.T) {
	f := setupCanned(t)
	lea := f.actor("lea.lead@example.com")
	pay := &store.CannedAnswer{RoleID: f.roleID("payroll-team"), Language: "fi", Title: "Korjaus",
		Body: "Hei {customer.name},\nkeskustelu #{conversation.number} on käsittelijällä {handler.name}. Terveisin {my.name} {unknown}"}
	hr := &store.CannedAnswer{RoleID: f.roleID("hr-team"), Language: "fi", Title: "Sairausloma", Body: "Lähetä lääkärintodistus."}
	for _, c := range []*store.CannedAnswer{pay, hr} {
		if err := f.svc.SaveCanned(f.ctx, lea, c); err != nil {
			t.Fatal(err)
		}
	}
	conv := f.open("cara.customer@acme.example", "payroll", "Palkka puuttuu")
	aino := f.actor("aino.handler@example.com")
	if err := f.svc.Take(f.ctx, f.actor("ben.payroll@example.com"), conv.ID); err != nil {
		t.Fatal(err)
	}

	list, err := f.svc.CannedFor(f.ctx, aino, conv.ID)
	if err != nil || len(list) != 1 || list[0].ID != pay.ID {
		t.Fatalf("Aino (payroll) is offered %+v %v, want payroll's answer only", list, err)
	}
	text, err := f.svc.FillCanned(f.ctx, aino, conv.ID, pay.ID)
	want := "Hei Cara Customer,\nkeskustelu #" + strconv.FormatInt(conv.Number, 10) + " on käsittelijällä Ben Payroll. Terveisin Aino Handler {unknown}"
	if err != nil || text != want {
		t.Fatalf("filled:\n%q\nwant\n%q (%v)", text, want, err)
	}
	// A new message: no customer nor number yet, the writer is the Handler.
	text, err = f.svc.FillCanned(f.ctx, aino, 0, pay.ID)
	if err != nil || !strings.Contains(text, "Hei ,") || !strings.Contains(text, "käsittelijällä Aino Handler") {
		t.Fatalf("filled for a new message: %q %v", text, err)
	}
	// Another role's answer is not hers to learn of.
	_, err = f.svc.FillCanned(f.ctx, aino, conv.ID, hr.ID)
	wantErr(t, err, conversation.ErrNotFound)

	// Hilla (HR) has no staff powers on a payroll conversation.
	hilla := f.actor("hilla.hr@example.com")
	if list, err := f.svc.CannedFor(f.ctx, hilla, conv.ID); err != nil || len(list) != 0 {
		t.Fatalf("Hilla is offered %+v on a payroll conversation (%v)", list, err)
	}
	_, err = f.svc.FillCanned(f.ctx, hilla, conv.ID, hr.ID)
	wantErr(t, err, conversation.ErrNotFound)

	for _, who := range []string{"mika.manager@acme.example", "cara.customer@acme.example"} {
		a := f.actor(who)
		for _, id := range []int64{conv.ID, 0} {
			if list, err := f.svc.CannedFor(f.ctx, a, id); err != nil || len(list) != 0 {
				t.Fatalf("%s is offered %+v (%v)", who, list, err)
			}
			for _, c := range []int64{pay.ID, hr.ID} {
				_, err := f.svc.FillCanned(f.ctx, a, id, c)
				wantErr(t, err, conversation.ErrNotFound)
			}
		}
	}
}

// A staff member's signature is their own, then their role's among the
// receivers, in the language asked; a customer has none to set.
func TestSignatures(t *testing.T) {
	f := setupCanned(t)
	lea, aino := f.actor("lea.lead@example.com"), f.actor("aino.handler@example.com")
	payroll := f.roleID("payroll-team")
	if err := f.svc.SetRoleSignature(f.ctx, lea, payroll, "fi", "Palkkatiimi, Esimerkki Oy"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetMySignature(f.ctx, aino, "fi", "Aino Handler\n"); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.SignatureFor(f.ctx, aino, []int64{payroll}, "fi")
	if err != nil || got != "Aino Handler\nPalkkatiimi, Esimerkki Oy" {
		t.Fatalf("signature %q %v", got, err)
	}
	if got, _ := f.svc.SignatureFor(f.ctx, aino, []int64{f.roleID("hr-team")}, "fi"); got != "Aino Handler" {
		t.Fatalf("signature on an HR conversation %q, want hers only", got)
	}
	if got, _ := f.svc.SignatureFor(f.ctx, aino, nil, "sv"); got != "" {
		t.Fatalf("Swedish signature %q, want none", got)
	}
	mine, err := f.svc.MySignatures(f.ctx, aino)
	if err != nil || mine["fi"] != "Aino Handler" || len(mine) != 1 {
		t.Fatalf("own signatures %v %v", mine, err)
	}
	cara := f.actor("cara.customer@acme.example")
	wantErr(t, f.svc.SetMySignature(f.ctx, cara, "fi", "Cara"), conversation.ErrForbidden)
	if got, _ := f.svc.SignatureFor(f.ctx, cara, nil, "fi"); got != "" {
		t.Fatalf("a customer signs with %q", got)
	}
	wantErr(t, f.svc.SetMySignature(f.ctx, aino, "xx", "x"), conversation.ErrInvalid)
}
