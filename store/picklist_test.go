package store_test

import (
	"context"
	"slices"
	"testing"

	"postdesk/store"
	"postdesk/store/storetest"
)

// The pick-lists over the test organisation: the whole organisation, or one
// company only, never a person or user of another company.
func TestPickLists(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := storetest.Org(t, storetest.TestOrg)
	acme, err := st.EnsureCompany(ctx, "Acme Oy")
	if err != nil {
		t.Fatal(err)
	}
	globex, err := st.EnsureCompany(ctx, "Globex Oy")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		company *int64
		name    string
	}{{&acme.ID, "Pirjo Palkansaaja"}, {&globex.ID, "Gunnar Globex"}, {&acme.ID, "Aapo Asiakas"}} {
		if _, err := st.EnsurePerson(ctx, p.company, p.name); err != nil {
			t.Fatal(err)
		}
	}

	all, err := st.Companies(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := companyNames(all); !slices.Equal(got, []string{"Acme Oy", "Globex Oy"}) {
		t.Errorf("all companies %v", got)
	}
	one, err := st.Companies(ctx, &acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := companyNames(one); !slices.Equal(got, []string{"Acme Oy"}) {
		t.Errorf("Acme only: %v", got)
	}

	people, err := st.CompanyPeople(ctx, &acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range people {
		names = append(names, p.Name+"/"+p.Company)
	}
	if !slices.Equal(names, []string{"Aapo Asiakas/Acme Oy", "Pirjo Palkansaaja/Acme Oy"}) {
		t.Errorf("Acme's people %v", names)
	}
	everyone, err := st.CompanyPeople(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(everyone) != 3 {
		t.Errorf("all people: %d, want 3", len(everyone))
	}

	users, err := st.CompanyUsers(ctx, &acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, u := range users {
		emails = append(emails, u.Email)
	}
	if !slices.Equal(emails, []string{"cara.customer@acme.example", "mika.manager@acme.example", "olga.other@acme.example"}) {
		t.Errorf("Acme's users %v", emails)
	}
	allUsers, err := st.CompanyUsers(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(allUsers) != 4 || allUsers[3].Email != "otto.other@globex.example" {
		t.Errorf("all company users %v", allUsers)
	}
}

func companyNames(cs []store.PickCompany) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}
