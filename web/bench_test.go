package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"postdesk/conversation"
	"postdesk/internal/benchdata"
	"postdesk/internal/benchscale"
	"postdesk/store"
	"postdesk/store/storetest"
	"postdesk/web"
)

// Figure 5 of `make bench`.
const (
	benchClients    = 50          // at once
	benchPerClient  = 5           // requests each, per figure: 250 calls, p99 the third slowest
	benchSearchNone = "zyxwvutsr" // matches nothing: the search that reads the most
)

// The searches the clients take turns at: a base form whose inflections are
// in the text (korvaus: korvaukset, korvauksen), a base form with a
// consonant gradation (palkka: palkastani), a compound's head, a surname, a
// partial word and nothing at all.
var benchSearches = []string{"korvaus", "palkka", "verokortti", "Virtanen", "lomak", benchSearchNone}

// BenchmarkWeb is the web side at the size of four years of a payroll
// bureau: benchscale.N(1,000,000, 2000) conversations and about three times
// as many messages (internal/benchdata; a kept database is reused), the
// real handler over httptest, and 50 clients at once asking for the inbox,
// a search and a conversation page, as a member of a staff role, as a
// customer and as a manager. The floor, in the same run: 50 clients at once
// reading one page of conversations by primary key on the same pool.
//
//	BENCH_SCALE=0.2 go test -run '^$' -bench Web -benchtime 1x ./web
func BenchmarkWeb(b *testing.B) {
	ctx := context.Background()
	n := benchscale.N(benchdata.Conversations, benchdata.MinConversations)
	t0 := time.Now()
	db, err := benchdata.Open(ctx, storetest.ServerURL(), n, b.Logf)
	if err != nil {
		b.Fatal(err)
	}
	if db.Cached {
		b.Logf("reusing the kept database %s (%d conversations, %d messages)", db.Name, db.Conversations, db.Messages)
	} else {
		b.Logf("seeded %s (%d conversations, %d messages) in %v", db.Name, db.Conversations, db.Messages, time.Since(t0).Round(time.Second))
	}
	st, err := store.Open(ctx, db.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: "postdesk.example.com"})
	// The live view's listener, as `postdesk serve` runs it: the panel's
	// numbers are kept between the changes it hears.
	opts := &web.Options{Store: st, Service: svc, Secret: testSecret, Logger: slog.New(slog.DiscardHandler)}
	withLive(b)(opts)
	h, err := web.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients}
	defer tr.CloseIdleConnections()

	viewers := []struct{ name, email string }{
		{"staff", benchdata.StaffEmail}, {"customer", db.CustomerEmail}, {"manager", db.ManagerEmail},
	}
	type viewer struct {
		hc  *http.Client
		ids []int64 // conversations they may see, for the page figure
	}
	vs := map[string]viewer{}
	for _, v := range viewers {
		if err := web.SetPassword(ctx, st, v.email, password); err != nil {
			b.Fatal(err)
		}
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar, Transport: tr, Timeout: time.Minute,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := hc.PostForm(srv.URL+"/login", url.Values{"email": {v.email}, "password": {password}})
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			b.Fatalf("sign in as %s: %d", v.email, res.StatusCode)
		}
		a, err := svc.ActorByEmail(ctx, v.email)
		if err != nil {
			b.Fatal(err)
		}
		p, err := svc.List(ctx, a, conversation.Filter{Limit: 200})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Conversations) == 0 {
			b.Fatalf("%s sees nothing", v.email)
		}
		var ids []int64
		for _, c := range p.Conversations {
			ids = append(ids, c.ID)
		}
		vs[v.name] = viewer{hc: hc, ids: ids}
	}

	get := func(hc *http.Client, path, want string) error {
		res, err := hc.Get(srv.URL + path)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			return fmt.Errorf("GET %s: %d, no %q in the page", path, res.StatusCode, want)
		}
		return nil
	}
	figures := map[string]func(v viewer, client, i int) error{
		"list": func(v viewer, _, _ int) error { return get(v.hc, "/", `class="convs"`) },
		"search": func(v viewer, client, i int) error {
			// What a search finds is for the tests (search_test.go); here
			// any answered inbox counts, in whatever language the viewer reads.
			q := benchSearches[(client+i)%len(benchSearches)]
			return get(v.hc, "/?q="+url.QueryEscape(q), `name="q"`)
		},
		"page": func(v viewer, client, i int) error {
			return get(v.hc, fmt.Sprintf("/conversations/%d", v.ids[(client*benchPerClient+i)%len(v.ids)]), `class="timeline"`)
		},
	}
	// The floor: what one page costs the database at the least.
	var maxID int64
	if err := st.Pool().QueryRow(ctx, `SELECT max(id) FROM conversations`).Scan(&maxID); err != nil {
		b.Fatal(err)
	}
	floor := func(client, i int) error {
		r := rand.New(rand.NewPCG(uint64(client), uint64(i)))
		ids := make([]int64, 50)
		for k := range ids {
			ids[k] = 1 + r.Int64N(maxID)
		}
		rows, err := st.Pool().Query(ctx, `SELECT id, number, subject, status, customer_id, updated_at FROM conversations WHERE id = ANY($1)`, ids)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		rows.Close()
		return rows.Err()
	}

	for b.Loop() {
		lat, cost := map[string][]time.Duration{}, map[string]float64{}
		lat["floor"], cost["floor"] = benchRun(b, floor)
		for _, fig := range []string{"list", "search", "page"} {
			for _, v := range viewers {
				vw := vs[v.name]
				lat[fig+"-"+v.name], cost[fig+"-"+v.name] = benchRun(b, func(client, i int) error { return figures[fig](vw, client, i) })
			}
		}
		for _, name := range []string{"list-staff", "list-customer", "list-manager", "search-staff", "search-customer",
			"search-manager", "page-staff", "page-customer", "page-manager", "floor"} {
			d := lat[name]
			b.ReportMetric(benchMS(d, 50), name+"-p50-ms")
			b.ReportMetric(benchMS(d, 99), name+"-p99-ms")
			// With every client waiting its turn at the processors, a call
			// takes at least clients × its cost / cores: the latency this
			// machine allows the figure at this cost, whatever the queries.
			b.ReportMetric(cost[name], name+"-core-ms")
			b.Logf("%s: %.2f core-ms a call, so at %d clients on %d cores at least %.0f ms each", name, cost[name],
				benchClients, runtime.NumCPU(), cost[name]*benchClients/float64(runtime.NumCPU()))
		}
	}
	b.Logf("%d conversations, %d messages; %d clients, %d requests each per figure", db.Conversations, db.Messages, benchClients, benchPerClient)
	if path := os.Getenv("POSTDESK_BENCH_EXPLAIN"); path != "" {
		benchExplain(b, svc, path, db, viewers)
	}
}

// benchExplain writes the plans of the panel's counts, the list and the
// searches, for each viewer, to path (POSTDESK_BENCH_EXPLAIN). The plans are of one run each,
// after the figures: on a busy machine compare their execution times, not
// the figures.
func benchExplain(b *testing.B, svc *conversation.Service, path string, db *benchdata.DB, viewers []struct{ name, email string }) {
	var out strings.Builder
	fmt.Fprintf(&out, "EXPLAIN (ANALYZE, BUFFERS) of the panel's and the inbox's queries at %d conversations, %d messages (%s)\n",
		db.Conversations, db.Messages, db.Name)
	for _, v := range viewers {
		a, err := svc.ActorByEmail(context.Background(), v.email)
		if err != nil {
			b.Fatal(err)
		}
		// The panel's counts on every page, the list, a view of it, and
		// every search the clients make.
		plan, err := svc.ExplainCounts(context.Background(), a)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&out, "\n=== %s (%s), the panel's counts\n%s\n", v.name, v.email, plan)
		fs := []conversation.Filter{{}, {Status: store.StatusOpen}}
		for _, q := range benchSearches {
			fs = append(fs, conversation.Filter{Query: q})
		}
		for _, f := range fs {
			plan, err := svc.ExplainList(context.Background(), a, f)
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(&out, "\n=== %s (%s), status=%q q=%q\n%s\n", v.name, v.email, f.Status, f.Query, plan)
		}
	}
	if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("plans written to %s", path)
}

// benchRun runs do from benchClients clients at once, benchPerClient times
// each (after one unmeasured round that warms the caches), and returns each
// call's latency and what a call cost the machine in processor time, in
// milliseconds of one core (server, client and PostgreSQL together).
func benchRun(b *testing.B, do func(client, i int) error) (lat []time.Duration, coreMS float64) {
	b.Helper()
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for c := range benchClients {
		wg.Go(func() {
			if err := do(c, -1+benchPerClient); err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
				return
			}
		})
	}
	wg.Wait()
	cpu0, err := benchscale.ReadCPU()
	if err != nil {
		b.Fatal(err)
	}
	for c := range benchClients {
		wg.Go(func() {
			mine := make([]time.Duration, 0, benchPerClient)
			for i := range benchPerClient {
				t := time.Now()
				err := do(c, i)
				mine = append(mine, time.Since(t))
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	cpu1, err := benchscale.ReadCPU()
	if err != nil {
		b.Fatal(err)
	}
	if first != nil {
		b.Fatal(first)
	}
	return lat, 1000 * cpu1.CoreSecondsSince(cpu0) / float64(len(lat))
}

// benchMS is the p-th percentile in milliseconds.
func benchMS(d []time.Duration, p int) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[min(len(s)-1, len(s)*p/100)]) / float64(time.Millisecond)
}
