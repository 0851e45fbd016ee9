// Command soak runs postdesk under many faults at once and checks that
// nothing was lost or doubled: `make soak`.
//
// It builds postdesk, starts a private PostgreSQL cluster, a private Dovecot
// with four category mailboxes, an SMTP sink it controls, and
// SOAK_INSTANCES `postdesk serve` instances; a load generator appends
// customer mail, staff replies, auto-replies and bounces; a fault schedule
// drawn from SOAK_SEED kills instances, crashes the database and the IMAP
// server, makes the sink refuse or stall, changes a mailbox's UIDVALIDITY
// and runs the retention purge. After SOAK_MINUTES the load and the faults
// stop, the queues drain, and the checker (check.go) compares what was sent
// and received with what the database and the IMAP server hold. It prints a
// summary and exits 1 on any violation, naming the fault before it.
//
// The same seed gives the same schedule and load (their timing against the
// servers still varies, as it does in production).
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"postdesk/internal/dovecottest"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s soak: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive whole number", name, v)
	}
	return n, nil
}

func main() {
	code, err := run()
	if err != nil {
		logf("error: %v", err)
		os.Exit(2)
	}
	os.Exit(code)
}

const imapPassword = "soak-imap-password"

// purgeRetention is the retention of the purged category: short enough that
// a 2-minute run purges conversations while mail about others still flows.
const purgeRetention = "30s"

func run() (int, error) {
	minutes, err := envInt("SOAK_MINUTES", 10)
	if err != nil {
		return 0, err
	}
	instances, err := envInt("SOAK_INSTANCES", 2)
	if err != nil {
		return 0, err
	}
	seed := rand.Uint64() >> 1
	if v := os.Getenv("SOAK_SEED"); v != "" {
		if seed, err = strconv.ParseUint(v, 10, 63); err != nil {
			return 0, fmt.Errorf("SOAK_SEED=%q: want a whole number", v)
		}
	}
	logf("SOAK_SEED=%d SOAK_MINUTES=%d SOAK_INSTANCES=%d (replay with these)", seed, minutes, instances)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir, err := os.MkdirTemp("", "postdesk-soak-")
	if err != nil {
		return 0, err
	}
	// Dovecot's and PostgreSQL's own users must reach their folders inside.
	if err := os.Chmod(dir, 0o755); err != nil {
		return 0, err
	}
	logf("working in %s (kept when a violation is found)", dir)
	h, err := soak(ctx, dir, seed, minutes, instances)
	if err != nil {
		return 0, err
	}
	vs, judged := CheckStats(h, true)
	printSummary(h, vs, judged, seed, minutes, instances)
	if len(vs) > 0 {
		return 1, nil
	}
	if os.Getenv("SOAK_KEEP") == "" {
		os.RemoveAll(dir)
	}
	return 0, nil
}

// cleanup runs its functions in reverse order once.
type cleanup struct{ fs []func() }

func (c *cleanup) add(f func()) { c.fs = append(c.fs, f) }
func (c *cleanup) run() {
	for i := len(c.fs) - 1; i >= 0; i-- {
		c.fs[i]()
	}
}

func soak(ctx context.Context, dir string, seed uint64, minutes, n int) (*History, error) {
	var cl cleanup
	defer cl.run()

	logf("building postdesk")
	bin, err := buildPostdesk(ctx, dir)
	if err != nil {
		return nil, err
	}
	pg, err := startPostgres(ctx, dir)
	if err != nil {
		return nil, err
	}
	cl.add(pg.Stop)
	logf("PostgreSQL on 127.0.0.1:%d (data %s)", pg.Port, pg.data)

	d := newDesk(purgeRetention)
	var users []dovecottest.User
	for _, c := range d.categories {
		users = append(users, dovecottest.User{Name: c.key, Password: imapPassword})
	}
	dcDir := filepath.Join(dir, "dovecot")
	if err := os.Mkdir(dcDir, 0o755); err != nil {
		return nil, err
	}
	dc, err := dovecottest.Launch(dcDir, &dovecottest.Options{Users: users})
	if err != nil {
		return nil, err
	}
	cl.add(dc.Kill)
	logf("Dovecot %s on %s", dc.Version, dc.Addr)

	app := &Appender{addr: dc.Addr, password: imapPassword}
	gen := newGenerator(d, app, seed)
	sink, err := startSink(gen.OnMail)
	if err != nil {
		return nil, err
	}
	cl.add(sink.Close)
	logf("SMTP sink on 127.0.0.1:%d", sink.Port)

	env := []string{"SOAK_DATABASE_URL=" + pg.URL(), "SOAK_SECRET=soak-secret-0123456789abcdef0123456789"}
	var insts []*Instance
	for i := range n {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		cfg := filepath.Join(dir, fmt.Sprintf("postdesk-%d.yaml", i+1))
		if err := os.WriteFile(cfg, []byte(configYAML(d, port, sink.Port, dc)), 0o600); err != nil {
			return nil, err
		}
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("instance-%d.log", i+1)))
		if err != nil {
			return nil, err
		}
		insts = append(insts, &Instance{N: i + 1, bin: bin, config: cfg, env: env, logf: logf})
	}
	// One migration before the instances, so that they do not race to make
	// the schema (which is not what this soak is about).
	mig := exec.CommandContext(ctx, bin, "migrate", "--config", insts[0].config)
	mig.Env = append(os.Environ(), env...)
	if out, err := mig.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("migrate: %w\n%s", err, out)
	}
	for _, in := range insts {
		if err := in.Start(ctx); err != nil {
			return nil, err
		}
		cl.add(in.Stop)
	}
	logf("%d instances serving", n)

	pool, err := pgxpool.New(ctx, pg.URL())
	if err != nil {
		return nil, err
	}
	cl.add(pool.Close)

	h := &History{CategoryRoles: map[string][]string{}, RoleMembers: d.roles, MailboxCat: map[string]string{}, PurgeCategory: purgeCategory,
		SeenConvs: map[int64]Conv{}, SeenMsgs: map[int64]Msg{}, SeenRows: map[int64]Row{}}
	for _, c := range d.categories {
		h.CategoryRoles[c.key] = c.roles
		h.MailboxCat[c.key] = c.key
	}
	r := &runner{ctx: ctx, dir: dir, bin: bin, env: env, pg: pg, dc: dc, sink: sink, insts: insts, h: h, pool: pool, d: d,
		rng: rand.New(rand.NewPCG(seed, seed^0xfa17))}

	runFor := time.Duration(minutes) * time.Minute
	start := time.Now()
	loadCtx, stopLoad := context.WithCancel(ctx)
	gen.Run(loadCtx)
	faultsDone := make(chan struct{})
	go func() { defer close(faultsDone); r.faults(loadCtx, start, runFor) }()

	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	reported := map[string]bool{}
	for end := time.After(runFor); ; {
		select {
		case <-ctx.Done():
			stopLoad()
			return nil, ctx.Err()
		case <-tick.C:
			r.checkpoint(app, reported)
			continue
		case <-end:
		}
		break
	}
	logf("load and faults stop; draining")
	gen.Stop()
	stopLoad()
	<-faultsDone
	r.restoreAll()

	r.drain(app)
	// The last purge: whatever has passed its retention goes, with its IMAP
	// copies (postdesk purge drains the deletion queue once).
	r.purge("final purge")
	r.waitDeletions()
	r.mergeSnapshot()
	h.Appended = app.Snapshot()
	h.Received, h.Refused = sink.Snapshot()
	h.EndIMAP = map[string][]string{}
	for _, c := range d.categories {
		ids, err := imapMessageIDs(dc.Addr, c.key, imapPassword)
		if err != nil {
			return nil, fmt.Errorf("listing %s at the end: %w", c.key, err)
		}
		h.EndIMAP[c.key] = ids
	}
	st, err := snapshot(ctx, pool)
	if err != nil {
		return nil, err
	}
	h.EndConvs, h.EndMsgs, h.EndRows, h.EndDeletions = st.convs, st.msgs, st.rows, st.deletions
	h.End = time.Now()
	r.stats = st.stats
	for _, in := range insts {
		if in.Died() {
			r.died = append(r.died, fmt.Sprintf("instance %d", in.N))
		}
	}
	summaryExtra = r
	return h, nil
}

func configYAML(d *desk, listen, smtpPort int, dc *dovecottest.Server) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:%d\npublic_url: http://127.0.0.1:%d\ndatabase_url: env:SOAK_DATABASE_URL\nsecret: env:SOAK_SECRET\n", listen, listen)
	b.WriteString("log_level: info\npurge_at: \"04:44\"\n")
	fmt.Fprintf(&b, "smtp: {host: 127.0.0.1, port: %d, tls: none}\nmailboxes:\n", smtpPort)
	for _, c := range d.categories {
		fmt.Fprintf(&b, "  - {name: %s, host: 127.0.0.1, port: %d, tls: none, username: %s, password: %s, category: %s, poll_interval: 5s, existing: notify}\n",
			c.key, dc.Port, c.key, imapPassword, c.key)
	}
	b.WriteString("categories:\n")
	for _, c := range d.categories {
		fmt.Fprintf(&b, "  - {key: %s, name: %s, addresses: [%s], roles: [%s], retention: %s}\n", c.key, strings.ToUpper(c.key[:1])+c.key[1:], c.address, strings.Join(c.roles, ", "), c.retention)
	}
	b.WriteString("roles:\n")
	roles := make([]string, 0, len(d.roles))
	for r := range d.roles {
		roles = append(roles, r)
	}
	slices.Sort(roles)
	for _, r := range roles {
		fmt.Fprintf(&b, "  - {key: %s, name: %s, staff: true}\n", r, r)
	}
	b.WriteString("users:\n")
	for _, r := range roles {
		for _, m := range d.roles[r] {
			var rs []string
			for _, r2 := range roles {
				if slices.Contains(d.roles[r2], m) {
					rs = append(rs, r2)
				}
			}
			if rs[0] != r {
				continue
			}
			fmt.Fprintf(&b, "  - {email: %s, name: %s, roles: [%s]}\n", m, d.staffName[m], strings.Join(rs, ", "))
		}
	}
	return b.String()
}

type runner struct {
	ctx   context.Context
	dir   string
	bin   string
	env   []string
	pg    *Postgres
	dc    *dovecottest.Server
	sink  *Sink
	insts []*Instance
	h     *History
	pool  *pgxpool.Pool
	d     *desk
	rng   *rand.Rand

	snapMu sync.Mutex // the Seen maps of h
	rngMu  sync.Mutex
	sinkMu sync.Mutex // one sink fault at a time
	sinkWG sync.WaitGroup
	mu     sync.Mutex // faults, died, counts
	died   []string
	stats  map[string]int
	counts map[string]int
}

func (r *runner) record(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Faults = append(r.h.Faults, f)
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	r.counts[strings.Fields(f.Name)[0]]++
}

// schedule draws the faults of a run from the seed: every kind at least once,
// then more of them at random, spread over the first three quarters of the
// run so that the end shows what the system recovers to.
func (r *runner) schedule(runFor time.Duration) []string {
	kinds := []string{"kill", "kill", "kill-mid-send", "pg-restart", "dovecot-restart", "uidvalidity", "purge", "purge", "netem"}
	for _, m := range sinkModes {
		kinds = append(kinds, "sink "+m)
	}
	extra := []string{"kill", "kill-mid-send", "pg-restart", "dovecot-restart", "purge", "sink"}
	for len(kinds) < int(runFor/(20*time.Second)) {
		k := extra[r.rng.IntN(len(extra))]
		if k == "sink" {
			k = "sink " + sinkModes[r.rng.IntN(len(sinkModes))]
		}
		kinds = append(kinds, k)
	}
	r.rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	return kinds
}

func (r *runner) faults(ctx context.Context, start time.Time, runFor time.Duration) {
	kinds := r.schedule(runFor)
	window := runFor * 3 / 4
	gap := (window - runFor/10) / time.Duration(len(kinds))
	at := start.Add(runFor / 10)
	for _, k := range kinds {
		at = at.Add(gap)
		r.rngMu.Lock()
		jitter := time.Duration(r.rng.Int64N(int64(gap/3) + 1))
		r.rngMu.Unlock()
		select {
		case <-time.After(time.Until(at.Add(-jitter))):
		case <-ctx.Done():
			return
		}
		if strings.HasPrefix(k, "sink ") {
			// The relay's faults overlap the others: a kill or a database
			// crash while the sink refuses or stalls.
			r.sinkWG.Add(1)
			go func() { defer r.sinkWG.Done(); r.inject(ctx, k, 2*gap) }()
			continue
		}
		r.inject(ctx, k, gap)
	}
	r.sinkWG.Wait()
}

func (r *runner) intn(n int) int {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return r.rng.IntN(n)
}

func (r *runner) inject(ctx context.Context, kind string, gap time.Duration) {
	f := Fault{At: time.Now(), Name: kind}
	defer func() {
		f.End = time.Now()
		r.record(f)
	}()
	switch {
	case kind == "kill":
		in := r.insts[r.intn(len(r.insts))]
		f.Name = fmt.Sprintf("kill -9 instance %d", in.N)
		logf("fault: %s", f.Name)
		in.Kill()
		time.Sleep(time.Duration(1+r.intn(4)) * time.Second) // the instance stays down a while, as after a crash
		if err := in.Start(context.WithoutCancel(ctx)); err != nil {
			logf("restart of instance %d failed: %v", in.N, err)
		}
	case kind == "kill-mid-send":
		f.Name = "kill -9 every instance mid-send"
		logf("fault: kill -9 of every instance as the sink takes the next mail")
		fired := make(chan struct{})
		r.sink.Arm(func() {
			for _, in := range r.insts {
				in.Kill()
			}
			close(fired)
		})
		select {
		case <-fired:
			f.At = time.Now()
		case <-time.After(gap):
			r.sink.Arm(nil)
			f.Name += " (no mail came)"
			logf("fault: no mail was sent within %s; nobody killed", gap)
		}
		time.Sleep(time.Duration(1+r.intn(3)) * time.Second) // down a while, as after a crash
		for _, in := range r.insts {
			if in.Down() {
				if err := in.Start(context.WithoutCancel(ctx)); err != nil {
					logf("restart of instance %d failed: %v", in.N, err)
				}
			}
		}
	case kind == "pg-restart":
		logf("fault: pg_ctl restart -m immediate")
		if err := r.pg.RestartImmediate(context.WithoutCancel(ctx)); err != nil {
			logf("%v", err)
		}
	case kind == "dovecot-restart":
		down := time.Duration(2+r.intn(6)) * time.Second
		logf("fault: Dovecot killed for %s", down)
		r.dc.Kill()
		time.Sleep(down) // the outage itself
		if err := r.dc.Restart(); err != nil {
			logf("Dovecot restart failed: %v", err)
		}
	case kind == "uidvalidity":
		c := r.d.categories[r.intn(len(r.d.categories))]
		f.Name = "uidvalidity " + c.key
		logf("fault: new UIDVALIDITY for mailbox %s (Dovecot stopped, its uidlist and index removed)", c.key)
		r.dc.Kill()
		maildir := filepath.Join(r.dc.Dir, "mail", c.key)
		files, _ := filepath.Glob(filepath.Join(maildir, "dovecot*"))
		for _, f := range files {
			os.Remove(f)
		}
		if err := r.dc.Restart(); err != nil {
			logf("Dovecot restart failed: %v", err)
		}
	case kind == "purge":
		r.purge("purge")
	case kind == "netem":
		f.Name = "netem (skipped)"
		logf("fault: skipped: %s", netemProbe(ctx))
	case strings.HasPrefix(kind, "sink "):
		mode := strings.TrimPrefix(kind, "sink ")
		d := time.Duration(8+r.intn(15)) * time.Second
		d = min(d, gap)
		r.sinkMu.Lock()
		defer r.sinkMu.Unlock()
		f.At = time.Now()
		logf("fault: sink %s for %s", mode, d)
		r.sink.SetMode(mode)
		time.Sleep(d) // the fault's duration
		r.sink.SetMode(modeOK)
	}
	r.reviveDead(ctx)
}

// reviveDead restarts an instance that exited by itself (and says so: a
// serve that dies under a fault is a finding).
func (r *runner) reviveDead(ctx context.Context) {
	for _, in := range r.insts {
		if in.Died() {
			logf("instance %d exited by itself; restarting it", in.N)
			r.mu.Lock()
			r.died = append(r.died, fmt.Sprintf("instance %d at %s", in.N, time.Now().Format("15:04:05")))
			r.mu.Unlock()
			if err := in.Start(context.WithoutCancel(ctx)); err != nil {
				logf("restart of instance %d: %v", in.N, err)
			}
		}
	}
}

func (r *runner) restoreAll() {
	r.sink.SetMode(modeOK)
	r.sink.Arm(nil)
	r.reviveDead(r.ctx)
	for _, in := range r.insts {
		if in.Down() {
			if err := in.Start(r.ctx); err != nil {
				logf("restart of instance %d: %v", in.N, err)
			}
		}
	}
}

func (r *runner) purge(name string) {
	// What the purge may delete is on record first: a conversation stored
	// and purged between two checkpoints would otherwise look lost.
	r.mergeSnapshot()
	logf("fault: %s (postdesk purge)", name)
	ctx, cancel := context.WithTimeout(r.ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bin, "purge", "--config", r.insts[0].config)
	cmd.Env = append(os.Environ(), r.env...)
	out, err := cmd.CombinedOutput()
	var said []string // the report, not the JSON log lines
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "{") && !strings.Contains(l, " WARN config ") {
			said = append(said, l)
		}
	}
	last := strings.Join(said, "\n    ")
	if err != nil {
		logf("postdesk purge: %v: %s", err, last)
		return
	}
	logf("postdesk purge: %s", last)
}

func (r *runner) mergeSnapshot() *dbState {
	r.snapMu.Lock()
	defer r.snapMu.Unlock()
	return r.mergeLocked()
}

func (r *runner) mergeLocked() *dbState {
	st, err := snapshot(r.ctx, r.pool)
	if err != nil {
		logf("checkpoint: %v", err)
		return nil
	}
	for id, c := range st.convs {
		r.h.SeenConvs[id] = c
	}
	for id, m := range st.msgs {
		r.h.SeenMsgs[id] = m
	}
	for id, row := range st.rows {
		r.h.SeenRows[id] = row
	}
	return st
}

// checkpoint records what the database holds now and judges what can be
// judged while mail is still on its way.
func (r *runner) checkpoint(app *Appender, reported map[string]bool) {
	r.snapMu.Lock()
	defer r.snapMu.Unlock()
	st := r.mergeLocked()
	if st == nil {
		return
	}
	r.mu.Lock()
	h := *r.h
	h.Faults = slices.Clone(r.h.Faults)
	r.mu.Unlock()
	h.Appended = app.Snapshot()
	h.Received, h.Refused = r.sink.Snapshot()
	h.EndConvs, h.EndMsgs, h.EndRows, h.End = st.convs, st.msgs, st.rows, time.Now()
	vs := Check(&h, false)
	logf("checkpoint: %d mails appended, %d received by the sink, %d conversations, %d outbox rows (%d pending), %d violations",
		len(h.Appended), len(h.Received), len(st.convs), len(st.rows), st.stats["outbox pending"], len(vs))
	for _, v := range vs {
		if !reported[v.String()] {
			reported[v.String()] = true
			logf("VIOLATION %s", v)
		}
	}
}

// drain waits until every appended mail is stored (or purged) and no outbox
// row is pending, for at most the outbox lease (7 minutes: a row cut by a
// kill is sent again only then) plus its backoff.
func (r *runner) drain(app *Appender) {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		st := r.mergeSnapshot()
		if st != nil {
			ids := map[string]bool{}
			for _, m := range r.h.SeenMsgs {
				ids[m.MessageID] = true
			}
			missing := 0
			var some []string
			for _, a := range app.Snapshot() {
				if !ids[a.MessageID] {
					missing++
					if len(some) < 3 {
						some = append(some, fmt.Sprintf("%s <%s> in %s", a.Kind, a.MessageID, a.Mailbox))
					}
				}
			}
			pending := st.stats["outbox pending"]
			if missing == 0 && pending == 0 {
				logf("drained: every mail stored, no outbox row pending")
				return
			}
			if time.Now().After(deadline) {
				logf("drain gave up: %d mails not stored, %d outbox rows pending", missing, pending)
				return
			}
			logf("draining: %d mails not yet stored (%s), %d outbox rows pending", missing, strings.Join(some, ", "), pending)
		}
		r.reviveDead(r.ctx)
		select {
		case <-time.After(10 * time.Second):
		case <-r.ctx.Done():
			return
		}
	}
}

// waitDeletions gives the instances' deleters the copies the final purge
// queued (postdesk purge drains only what no instance has claimed).
func (r *runner) waitDeletions() {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		var n int
		if err := r.pool.QueryRow(r.ctx, `SELECT count(*) FROM imap_deletions`).Scan(&n); err == nil && n == 0 {
			return
		}
		select {
		case <-time.After(2 * time.Second):
		case <-r.ctx.Done():
			return
		}
	}
	logf("IMAP deletions still queued two minutes after the final purge")
}

var summaryExtra *runner

func printSummary(h *History, vs []Violation, judged map[string]int, seed uint64, minutes, n int) {
	r := summaryExtra
	kinds := map[string]int{}
	for _, a := range h.Appended {
		kinds[a.Kind]++
	}
	dups := 0
	cut := 0
	by := map[string]int{}
	for _, rc := range h.Received {
		by[rc.MessageID]++
		if rc.Cut {
			cut++
		}
	}
	for _, c := range by {
		if c > 1 {
			dups++
		}
	}
	w := os.Stdout
	fmt.Fprintf(w, "\npostdesk soak: seed %d, %d minutes, %d instances\n\n", seed, minutes, n)
	fmt.Fprintf(w, "| what | count |\n| --- | ---: |\n")
	row := func(k string, v int) { fmt.Fprintf(w, "| %s | %d |\n", k, v) }
	row("customer mails appended", kinds["customer"])
	row("staff replies appended", kinds["staff"])
	row("auto-replies appended", kinds["auto_reply"])
	row("bounces appended", kinds["bounce"])
	row("conversations at the end", len(h.EndConvs))
	row("conversations purged", len(h.SeenConvs)-len(h.EndConvs))
	row("outbox rows sent", r.stats["outbox sent"])
	row("outbox rows failed (550 or bounce)", r.stats["outbox failed"])
	row("outbox rows pending", r.stats["outbox pending"])
	row("mails received by the sink", len(h.Received))
	row("of them cut (stalled, never answered)", cut)
	row("Message-IDs received twice or more", dups)
	row("IMAP deletions still queued", h.EndDeletions)
	jk := make([]string, 0, len(judged))
	for k := range judged {
		jk = append(jk, k)
	}
	slices.Sort(jk)
	fmt.Fprintf(w, "\n| checked | count |\n| --- | ---: |\n")
	for _, k := range jk {
		row(k, judged[k])
	}
	fmt.Fprintf(w, "\n| fault | times |\n| --- | ---: |\n")
	keys := make([]string, 0, len(r.counts))
	for k := range r.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		row(k, r.counts[k])
	}
	modes := map[string]int{}
	for _, f := range h.Faults {
		if strings.HasPrefix(f.Name, "sink ") {
			modes[f.Name]++
		}
	}
	for _, m := range sinkModes {
		row("  sink "+m, modes["sink "+m])
	}
	if len(r.died) > 0 {
		vs = append(vs, Violation{Kind: "instance died", Detail: strings.Join(r.died, ", ")})
	}
	byKind := map[string]int{}
	for _, v := range vs {
		byKind[v.Kind]++
	}
	fmt.Fprintf(w, "\n| guarantee | violations |\n| --- | ---: |\n")
	for _, k := range []string{VLost, VDoubled, VContent, VMisrouted, VUndelivered, VResent, VStranger, VPurgeLeft, VResurrected, VStuck, VFailed, VQuarantine, "instance died"} {
		row(k, byKind[k])
	}
	if len(vs) == 0 {
		fmt.Fprintf(w, "\nno violation\n")
		return
	}
	fmt.Fprintf(w, "\n%d violation(s):\n", len(vs))
	for i, v := range vs {
		if i == 50 {
			fmt.Fprintf(w, "  ... and %d more\n", len(vs)-50)
			break
		}
		fmt.Fprintf(w, "  %s\n", v)
	}
}

// netemProbe says why network delays are not injected: it asks the kernel
// for a netem qdisc on the loopback of a throwaway network namespace (never
// the host's, which other processes share), and reports its answer.
func netemProbe(ctx context.Context) string {
	ns := fmt.Sprintf("postdesk-soak-probe-%d", os.Getpid())
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return fmt.Sprintf("no network namespace for tc netem (ip netns add: %v %s)", err, strings.TrimSpace(string(out)))
	}
	defer exec.Command("ip", "netns", "del", ns).Run() //nolint:errcheck // a throwaway namespace
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "10ms").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("this kernel offers no tc netem (tc: %v %s)", err, strings.TrimSpace(string(out)))
	}
	return "tc netem works in a namespace here, but the harness runs its servers on the host's loopback, which it must not slow for everyone else"
}
