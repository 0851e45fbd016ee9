package benchdata

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The shape of the organisation, per company.
const (
	conversationsPerCompany = 5000 // 200 companies at a million conversations
	contactsPerCompany      = 20
	personsPerCompany       = 50
	noCompanyPercent        = 5 // contacts who wrote in from a private address
)

// plan is everything the rows are made from; the same n gives the same rows.
type plan struct {
	n             int
	companies     int
	customers     []customer
	benchCustomer int
	end           time.Time // the newest activity

	// From the applied Org.
	roles, cats           map[string]int64
	staff                 map[string][]int64 // members by role key
	userBase, companyBase int64
}

type customer struct {
	company     int // -1: none
	first, last int
}

func newPlan(n int) *plan {
	g := &plan{n: n, companies: max(2, n/conversationsPerCompany), end: time.Now().UTC().Truncate(time.Hour)}
	r := rand.New(rand.NewPCG(1, 2))
	for c := range g.companies {
		for range contactsPerCompany {
			cu := customer{company: c, first: r.IntN(len(firstNames)), last: r.IntN(len(lastNames))}
			if r.IntN(100) < noCompanyPercent {
				cu.company = -1
			}
			g.customers = append(g.customers, cu)
		}
	}
	// pickCustomer favours the low indexes (density 1/sqrt): at a sixteenth
	// of the way a contact has about twice the average, an ordinary busy one.
	g.benchCustomer = len(g.customers) / 16
	for g.customers[g.benchCustomer].company < 0 {
		g.benchCustomer++
	}
	return g
}

func (g *plan) pickCustomer(r *rand.Rand) int {
	u := r.Float64()
	return min(len(g.customers)-1, int(u*u*float64(len(g.customers))))
}

func (g *plan) companyID(c int) int64  { return g.companyBase + 1 + int64(c) }
func (g *plan) customerID(i int) int64 { return g.userBase + 1 + int64(i) }
func (g *plan) managerID(c int) int64  { return g.userBase + 1 + int64(len(g.customers)+c) }
func (g *plan) supervisorID(c int) int64 {
	return g.userBase + 1 + int64(len(g.customers)+g.companies+c)
}
func (g *plan) personID(c, k int) int64  { return 1 + int64(c*personsPerCompany+k) }
func (g *plan) companyName(c int) string { return companyName(c) }
func (g *plan) companySlug(c int) string { return slug(companyName(c)) }
func (g *plan) managerEmail(c int) string {
	return fmt.Sprintf("esimies%d@%s.example", c, g.companySlug(c))
}

func (g *plan) customerName(i int) string {
	cu := g.customers[i]
	return firstNames[cu.first] + " " + lastNames[cu.last]
}

func (g *plan) customerEmail(i int) string {
	cu := g.customers[i]
	local := slug(firstNames[cu.first]) + "." + slug(lastNames[cu.last]) + fmt.Sprint(i)
	if cu.company < 0 {
		return local + "@posti.example"
	}
	return local + "@" + g.companySlug(cu.company) + ".example"
}

// copyPeople copies companies, their contacts, managers, supervisors and
// employees, and the managers' and supervisors' role memberships.
func (g *plan) copyPeople(conn *pgx.Conn) error {
	ctx := context.Background()
	created := g.end.AddDate(-4, 0, 0)
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"companies"}, []string{"id", "name", "created_at"},
		pgx.CopyFromSlice(g.companies, func(c int) ([]any, error) {
			return []any{g.companyID(c), g.companyName(c), created}, nil
		})); err != nil {
		return err
	}
	var users [][]any
	for i, cu := range g.customers {
		var company *int64
		if cu.company >= 0 {
			id := g.companyID(cu.company)
			company = &id
		}
		lang := "fi"
		if i%3 == 0 {
			lang = "en"
		}
		users = append(users, []any{g.customerID(i), g.customerEmail(i), g.customerName(i), lang, company, created})
	}
	for c := range g.companies {
		id := g.companyID(c)
		users = append(users,
			[]any{g.managerID(c), g.managerEmail(c), "Esimies " + companyName(c), "fi", &id, created},
			[]any{g.supervisorID(c), fmt.Sprintf("tiiminvetaja%d@%s.example", c, g.companySlug(c)), "Tiiminvetäjä " + companyName(c), "fi", &id, created})
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"id", "email", "name", "language", "company_id", "created_at"},
		pgx.CopyFromRows(users)); err != nil {
		return err
	}
	var members [][]any
	for c := range g.companies {
		members = append(members, []any{g.roles["managers"], g.managerID(c)}, []any{g.roles["supervisors"], g.supervisorID(c)})
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"role_members"}, []string{"role_id", "user_id"}, pgx.CopyFromRows(members)); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(3, 4))
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"persons"}, []string{"id", "company_id", "name", "created_at"},
		pgx.CopyFromSlice(g.companies*personsPerCompany, func(i int) ([]any, error) {
			c, k := i/personsPerCompany, i%personsPerCompany
			// Unique per company: the name carries its number when drawn twice.
			name := firstNames[r.IntN(len(firstNames))] + " " + lastNames[(k+c)%len(lastNames)] + fmt.Sprintf(" %d", k)
			return []any{g.personID(c, k), g.companyID(c), name, created}, nil
		}))
	return err
}

// The categories: their share of the conversations, the roles that receive
// them and which of those hold the staff who handle them.
var categories = []struct {
	key    string
	share  int // percent
	roles  []string
	staff  string
	fi, en []string // subjects
}{
	{"payroll", 45, []string{"payroll-team"}, "payroll-team", payrollFi, payrollEn},
	{"expenses", 20, []string{"payroll-team"}, "payroll-team", expensesFi, expensesEn},
	{"sick-leave", 25, []string{"hr-team", "managers", "supervisors"}, "hr-team", sickFi, sickEn},
	{"employment", 10, []string{"hr-team", "managers"}, "hr-team", employmentFi, employmentEn},
}

// copyConversations copies conversations from..to (0-based) with their
// receiver roles, participants and messages, in one stream per table.
func (g *plan) copyConversations(ctx context.Context, conn *pgx.Conn, from, to int) error {
	// Each conversation draws from its own generator, so that the rows do not
	// depend on how the work is split.
	span := g.end.Sub(g.end.AddDate(-4, 0, 0))
	conv := func(i int) (*rand.Rand, []any, []message, [][]any, [][]any) {
		r := rand.New(rand.NewPCG(uint64(i), 5))
		id := int64(i + 1)
		created := g.end.Add(-span + time.Duration(float64(span)*float64(i)/float64(g.n)) + time.Duration(r.IntN(3600))*time.Second)
		age := g.end.Sub(created)
		status := "solved"
		switch p := r.IntN(100); {
		case age < 30*24*time.Hour && p < 20:
			status = "new"
		case age < 30*24*time.Hour && p < 45:
			status = "open"
		case age < 30*24*time.Hour && p < 60:
			status = "waiting"
		case age >= 30*24*time.Hour && p < 1:
			status = "waiting"
		}
		cat := categories[len(categories)-1]
		for p, c := r.IntN(100), 0; c < len(categories); c++ {
			if p < categories[c].share {
				cat = categories[c]
				break
			}
			p -= categories[c].share
		}
		ci := g.pickCustomer(r)
		cu := g.customers[ci]
		customerID := g.customerID(ci)
		var company, person, assignee, handler *int64
		if cu.company >= 0 && r.IntN(100) >= 3 {
			v := g.companyID(cu.company)
			company = &v
		}
		if cu.company >= 0 && r.IntN(100) < 60 {
			v := g.personID(cu.company, r.IntN(personsPerCompany))
			person = &v
		}
		if cu.company >= 0 && r.IntN(100) < 1 {
			v := g.customerID(cu.company*contactsPerCompany + r.IntN(contactsPerCompany))
			assignee = &v
		}
		staff := g.staff[cat.staff]
		if status != "new" {
			v := staff[r.IntN(len(staff))]
			handler = &v
		}
		fi := g.customers[ci].first%10 < 7
		subjects := cat.en
		if fi {
			subjects = cat.fi
		}
		subject := fill(r, subjects[r.IntN(len(subjects))], g, cu)
		var solved *time.Time
		updated := created.Add(time.Duration(r.ExpFloat64()*float64(3*24*time.Hour)) + time.Minute)
		if updated.After(g.end) {
			updated = g.end.Add(-time.Duration(r.IntN(3600)) * time.Second)
		}
		if status == "solved" {
			solved = &updated
		}
		var roles [][]any
		var roleIDs []int64
		for _, k := range cat.roles {
			roles = append(roles, []any{id, g.roles[k]})
			roleIDs = append(roleIDs, g.roles[k])
		}
		// The load skips triggers: the mirror of the receivers is written here.
		slices.Sort(roleIDs)
		row := []any{id, int64(1000 + i), subject, g.cats[cat.key], status, handler, customerID, assignee, company, person,
			created, updated, solved, roleIDs}
		parts := [][]any{{id, g.customerEmail(ci), customerID}}
		k := 1 + r.IntN(5)
		msgs := make([]message, k)
		for j := range msgs {
			at := created
			if k > 1 {
				at = created.Add(updated.Sub(created) * time.Duration(j) / time.Duration(k-1))
			}
			m := message{conv: id, at: at, subject: subject}
			switch {
			case j == 0 || j%2 == 0:
				m.dir, m.kind, m.fromAddr, m.fromName = "in", "customer", g.customerEmail(ci), g.customerName(ci)
				m.body = body(r, fi, customerLines(fi), 3+r.IntN(4), g, cu)
				m.mailbox = cat.key
			case r.IntN(10) == 0:
				a := staff[r.IntN(len(staff))]
				m.dir, m.kind, m.author = "internal", "note", &a
				m.body = body(r, fi, noteLines(fi), 1+r.IntN(2), g, cu)
			default:
				a := staff[r.IntN(len(staff))]
				if handler != nil {
					a = *handler
				}
				m.dir, m.kind, m.author = "out", "staff", &a
				m.body = body(r, fi, staffLines(fi), 2+r.IntN(3), g, cu)
				m.to = []string{g.customerEmail(ci)}
			}
			if j > 0 {
				m.subject = "Re: " + subject
			}
			msgs[j] = m
		}
		return r, row, msgs, roles, parts
	}

	var convRows, roleRows, partRows [][]any
	var msgs []message
	flush := func() error {
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"conversations"}, []string{"id", "number", "subject", "category_id", "status",
			"handler_id", "customer_id", "assignee_id", "company_id", "person_id", "created_at", "updated_at", "solved_at", "role_ids",
			"news_id", "news_author_id", "staff_news_id", "staff_news_author_id"},
			pgx.CopyFromRows(convRows)); err != nil {
			return err
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"conversation_roles"}, []string{"conversation_id", "role_id"}, pgx.CopyFromRows(roleRows)); err != nil {
			return err
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"participants"}, []string{"conversation_id", "email", "user_id"}, pgx.CopyFromRows(partRows)); err != nil {
			return err
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"messages"}, []string{"id", "conversation_id", "direction", "kind", "author_id",
			"from_addr", "from_name", "to_addrs", "subject", "message_id", "text_body", "mailbox", "uid_validity", "uid", "created_at"},
			pgx.CopyFromSlice(len(msgs), func(i int) ([]any, error) {
				m := msgs[i]
				var mailbox *string
				var uidValidity, uid *int64
				if m.mailbox != "" {
					one := int64(1)
					mailbox, uidValidity, uid = &m.mailbox, &one, &m.id
				}
				to := m.to
				if to == nil {
					to = []string{}
				}
				return []any{m.id, m.conv, m.dir, m.kind, m.author, m.fromAddr, m.fromName, to, m.subject,
					fmt.Sprintf("<m%d@bench.example>", m.id), m.body, mailbox, uidValidity, uid, m.at}, nil
			})); err != nil {
			return err
		}
		convRows, roleRows, partRows, msgs = convRows[:0], roleRows[:0], partRows[:0], msgs[:0]
		return nil
	}
	for i := from; i < to; i++ {
		_, row, ms, roles, parts := conv(i)
		// Eight message ids are kept for each conversation (it has at most
		// five), so that its ids do not depend on the others'.
		// The load skips triggers: the newest news is written here
		// (migration 019).
		var news, staffNews int64
		var newsBy, staffNewsBy *int64
		for j := range ms {
			ms[j].id = int64(i)*8 + int64(j) + 1
			if ms[j].kind != "note" {
				news, newsBy = ms[j].id, ms[j].author
			}
			staffNews, staffNewsBy = ms[j].id, ms[j].author
		}
		convRows = append(convRows, append(row, news, newsBy, staffNews, staffNewsBy))
		roleRows = append(roleRows, roles...)
		partRows = append(partRows, parts...)
		msgs = append(msgs, ms...)
		if len(convRows) == 20000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

type message struct {
	id, conv           int64
	at                 time.Time
	dir, kind          string
	author             *int64
	fromAddr, fromName string
	to                 []string
	subject, body      string
	mailbox            string
}

// fill replaces the placeholders of a line.
func fill(r *rand.Rand, s string, g *plan, cu customer) string {
	if !strings.Contains(s, "{") {
		return s
	}
	month := r.IntN(12)
	day := 1 + r.IntN(28)
	person := firstNames[r.IntN(len(firstNames))] + " " + lastNames[r.IntN(len(lastNames))]
	return strings.NewReplacer(
		"{mon_gen}", monthsGenFi[month],
		"{mon}", monthsEn[month],
		"{date}", fmt.Sprintf("%d.%d.", day, month+1),
		"{year}", fmt.Sprint(2023+r.IntN(4)),
		"{person}", person,
		"{first}", firstNames[cu.first],
		"{hours}", fmt.Sprint(2+r.IntN(30)),
		"{euros}", fmt.Sprintf("%d,%02d", 20+r.IntN(900), r.IntN(100)),
		"{staff}", staffNames[r.IntN(len(staffNames))],
	).Replace(s)
}

func body(r *rand.Rand, fi bool, lines []string, k int, g *plan, cu customer) string {
	var b strings.Builder
	if fi {
		b.WriteString("Hei,\n\n")
	} else {
		b.WriteString("Hello,\n\n")
	}
	for range k {
		b.WriteString(fill(r, lines[r.IntN(len(lines))], g, cu))
		b.WriteString(" ")
	}
	return b.String()
}

func slug(s string) string {
	s = strings.ToLower(s)
	s = strings.NewReplacer("ä", "a", "ö", "o", "å", "a", " ", "-").Replace(s)
	return strings.Trim(s, "-")
}

func companyName(c int) string {
	return lastNames[c%len(lastNames)] + " " + companyKinds[(c/len(lastNames))%len(companyKinds)] +
		[]string{" Oy", " Ab", " Oyj", " ky"}[(c/(len(lastNames)*len(companyKinds)))%4] + suffix(c/(len(lastNames)*len(companyKinds)*4))
}

func suffix(k int) string {
	if k == 0 {
		return ""
	}
	return fmt.Sprintf(" %d", k+1)
}
