package web

import (
	"net/http"

	"postdesk/store"
)

func init() { pageNames = append(pageNames, "categories") }

type categoryView struct {
	Key, Name, Retention string
	Addresses, Roles     []string
	Secure               bool
}

type categoriesData struct {
	page
	Categories []categoryView
}

// categoriesPage lists the categories with their addresses, receiver
// roles, retention and mode, for staff: what the config says, as the
// database holds it.
func (s *server) categoriesPage(w http.ResponseWriter, r *http.Request, rq *request) {
	if !rq.actor.IsStaff() {
		s.errorPage(w, r, rq, http.StatusNotFound, "")
		return
	}
	cats, err := s.st.Categories(r.Context())
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	l := newLookup(r.Context(), s.st)
	d := categoriesData{page: s.base(w, r, rq, msgKey("Categories"), "categories")}
	for _, c := range cats {
		v := categoryView{Key: c.Key, Name: c.Name, Addresses: c.Addresses, Secure: c.Secure,
			Retention: store.RetentionOf(c.Retention).String()}
		for _, ro := range l.rolesOf(c.RoleIDs) {
			v.Roles = append(v.Roles, ro.Name)
		}
		d.Categories = append(d.Categories, v)
	}
	if l.err != nil {
		s.fail(w, r, rq, l.err)
		return
	}
	s.render(w, http.StatusOK, "categories", d)
}
