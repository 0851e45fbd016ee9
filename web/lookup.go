package web

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"

	"postdesk/conversation"
	"postdesk/senderauth"
	"postdesk/store"
)

// lookup resolves the ids a conversation holds (users, roles, companies,
// persons, categories) to names, each once per request. The first error is
// kept in err; the handler checks it before answering.
type lookup struct {
	ctx        context.Context
	st         *store.Store
	err        error
	users      map[int64]*store.User
	roles      map[int64]store.Role
	companies  map[int64]string
	persons    map[int64]string
	categories []store.Category // active ones, by name
	catByID    map[int64]store.Category
}

func newLookup(ctx context.Context, st *store.Store) *lookup {
	return &lookup{ctx: ctx, st: st, users: map[int64]*store.User{}, roles: map[int64]store.Role{},
		companies: map[int64]string{}, persons: map[int64]string{}}
}

func (l *lookup) keep(err error) {
	if l.err == nil && err != nil {
		l.err = err
	}
}

// usersOf reads the users of a conversation's page at once (its Handler,
// customer, assignee and every author) rather than one query each as the
// page names them.
func (l *lookup) usersOf(v *conversation.View) {
	c := v.Conversation
	var ids []int64
	for _, id := range []*int64{c.HandlerID, c.CustomerID, c.AssigneeID} {
		if id != nil {
			ids = append(ids, *id)
		}
	}
	for _, m := range v.Messages {
		if m.AuthorID != nil {
			ids = append(ids, *m.AuthorID)
		}
	}
	ids = slices.DeleteFunc(ids, func(id int64) bool { _, ok := l.users[id]; return ok })
	if len(ids) == 0 {
		return
	}
	us, err := l.st.UsersByID(l.ctx, ids)
	if err != nil {
		l.keep(err)
		return
	}
	maps.Copy(l.users, us)
}

// user returns a user, or nil for a nil id.
func (l *lookup) user(id *int64) *store.User {
	if id == nil {
		return nil
	}
	if u, ok := l.users[*id]; ok {
		return u
	}
	u, err := l.st.UserByID(l.ctx, *id)
	if err != nil {
		l.keep(err)
		return nil
	}
	l.users[*id] = u
	return u
}

func (l *lookup) email(id *int64) string {
	if u := l.user(id); u != nil {
		return u.Email
	}
	return ""
}

func (l *lookup) name(id *int64) string {
	u := l.user(id)
	switch {
	case u == nil:
		return ""
	case u.Name != "":
		return u.Name
	}
	return u.Email
}

// sender is how to show a user who wrote in: their name, or, when the name
// poses as another address ("aino@example.com" <evil@x.example>), their real
// address with warn set to the quoted name (the page words the warning).
func (l *lookup) sender(id *int64) (label, warn string) {
	return senderLabel(l.name(id), l.email(id))
}

// senderLabel is sender for a name and address at hand (a list's row).
func senderLabel(name, email string) (label, warn string) {
	name = cmp.Or(name, email)
	if senderauth.MisleadingName(name, email) {
		return email, strconv.Quote(name)
	}
	return name, ""
}

// rolesOf returns roles by id, ordered by name.
func (l *lookup) rolesOf(ids []int64) []store.Role {
	var missing []int64
	for _, id := range ids {
		if _, ok := l.roles[id]; !ok && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		rs, err := l.st.RolesByIDs(l.ctx, missing)
		l.keep(err)
		for _, r := range rs {
			l.roles[r.ID] = r
		}
	}
	out := make([]store.Role, 0, len(ids))
	for _, id := range ids {
		if r, ok := l.roles[id]; ok && !slices.ContainsFunc(out, func(x store.Role) bool { return x.ID == id }) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b store.Role) int { return compareFold(a.Name, b.Name) })
	return out
}

func (l *lookup) company(id *int64) string {
	if id == nil {
		return ""
	}
	if n, ok := l.companies[*id]; ok {
		return n
	}
	c, err := l.st.CompanyByID(l.ctx, *id)
	if err != nil {
		l.keep(err)
		return ""
	}
	l.companies[*id] = c.Name
	return c.Name
}

func (l *lookup) person(id *int64) string {
	if id == nil {
		return ""
	}
	if n, ok := l.persons[*id]; ok {
		return n
	}
	p, err := l.st.PersonByID(l.ctx, *id)
	if err != nil {
		l.keep(err)
		return ""
	}
	l.persons[*id] = p.Name
	return p.Name
}

// activeCategories lists the categories one may open a conversation in.
func (l *lookup) activeCategories() []store.Category {
	if l.categories == nil {
		cs, err := l.st.Categories(l.ctx)
		l.keep(err)
		l.categories = cs
		if l.categories == nil {
			l.categories = []store.Category{}
		}
	}
	return l.categories
}

// category finds a category by id, active or not.
func (l *lookup) category(id int64) store.Category {
	if l.catByID == nil {
		l.catByID = map[int64]store.Category{}
		for _, c := range l.activeCategories() {
			l.catByID[c.ID] = c
		}
	}
	if c, ok := l.catByID[id]; ok {
		return c
	}
	c, err := l.st.CategoryByID(l.ctx, id)
	if err != nil {
		l.keep(err)
		return store.Category{ID: id}
	}
	l.catByID[id] = *c
	return *c
}

// knownRoles is the roles a form can offer: every category's preset
// receivers, the actor's own roles and any extra ids (a conversation's
// receivers). The store has no list of every role; a role that is no one's
// preset and not the actor's can still be named through the API.
func (l *lookup) knownRoles(a *conversation.Actor, extra []int64) []store.Role {
	var ids []int64
	for _, c := range l.activeCategories() {
		ids = append(ids, c.RoleIDs...)
	}
	for _, r := range a.Roles {
		ids = append(ids, r.ID)
	}
	ids = append(ids, extra...)
	rs := l.rolesOf(ids)
	return slices.DeleteFunc(rs, func(r store.Role) bool { return !r.Active && !slices.Contains(extra, r.ID) })
}

func compareFold(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) }
