package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"postdesk/config"
	"postdesk/store"
	"postdesk/store/storetest"
)

// The organisation of the purge tests: Payroll keeps four years (the
// default), the others 90 days, 36 hours and 10 seconds.
const purgeConfig = `
database_url: postgres://unused
secret: 0123456789abcdef0123456789abcdef
smtp: {host: 127.0.0.1, port: 2525, tls: none}
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team]}
  - {key: quarter, name: Quarter, addresses: [quarter@example.com], roles: [payroll-team], retention: 90d}
  - {key: hours, name: Hours, addresses: [hours@example.com], roles: [payroll-team], retention: 36h}
  - {key: blink, name: Blink, addresses: [blink@example.com], roles: [payroll-team], retention: 10s}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
users:
  - {email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team]}
`

type purgeEnv struct {
	t   *testing.T
	ctx context.Context
	st  *store.Store
	uid uint32
}

func newPurgeEnv(t *testing.T) *purgeEnv {
	t.Helper()
	t.Parallel()
	e := &purgeEnv{t: t, ctx: context.Background(), st: storetest.New(t)}
	c, _, err := config.Parse("purge.yaml", []byte(purgeConfig), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.ApplyConfig(e.ctx, c); err != nil {
		t.Fatal(err)
	}
	return e
}

// conv is a conversation the test made, with what belongs to it.
type conv struct {
	id, number int64
	name       string
	category   string
	blobs      [][]byte // raw sources and attachment contents it refers to
	messages   int
	files      int
	copies     []uint32 // UIDs of its inbound mail
}

// make opens a conversation in category with one inbound mail (raw source
// stored as a blob, IMAP key payroll/7/uid), a staff reply, an outbox row,
// a participant, an audit row, and the given attachments on the inbound mail.
func (e *purgeEnv) make(name, category string, files ...[]byte) *conv {
	e.t.Helper()
	c := &conv{name: name, category: category}
	err := e.st.InTx(e.ctx, func(tx *store.Tx) error {
		cat, err := tx.CategoryByKey(e.ctx, category)
		if err != nil {
			return err
		}
		u, err := tx.EnsureUser(e.ctx, name+"@customer.example", "Customer "+name)
		if err != nil {
			return err
		}
		cv, err := tx.CreateConversation(e.ctx, store.NewConversation{Subject: "SECRET subject " + name, CategoryID: cat.ID,
			CustomerID: &u.ID, RoleIDs: cat.RoleIDs})
		if err != nil {
			return err
		}
		c.id, c.number = cv.ID, cv.Number
		if err := tx.AddParticipant(e.ctx, cv.ID, u.Email, &u.ID); err != nil {
			return err
		}
		raw := fmt.Appendf(nil, "From: %s\r\nSubject: SECRET subject %s\r\nMessage-ID: <%s@customer.example>\r\n\r\nSECRET body\r\n", u.Email, name, name)
		sha, err := tx.PutBlob(e.ctx, raw)
		if err != nil {
			return err
		}
		c.blobs = append(c.blobs, sha)
		e.uid++
		in := &store.Message{ConversationID: cv.ID, Direction: store.DirIn, Kind: store.KindCustomer, AuthorID: &u.ID,
			FromAddr: u.Email, Subject: "SECRET subject " + name, MessageID: name + "@customer.example", Text: "SECRET body",
			RawSHA256: sha, Mailbox: "payroll", UIDValidity: 7, UID: e.uid}
		var nf []store.NewAttachment
		for i, f := range files {
			nf = append(nf, store.NewAttachment{Filename: fmt.Sprintf("f%d.txt", i), ContentType: "text/plain", Data: f})
			s := sha256.Sum256(f)
			c.blobs = append(c.blobs, s[:])
		}
		if err := tx.InsertMessage(e.ctx, in, nf); err != nil {
			return err
		}
		c.copies = append(c.copies, e.uid)
		out := &store.Message{ConversationID: cv.ID, Direction: store.DirOut, Kind: store.KindStaff, Text: "SECRET answer"}
		if err := tx.InsertMessage(e.ctx, out, nil); err != nil {
			return err
		}
		c.messages, c.files = 2, len(files)
		if err := tx.Enqueue(e.ctx, &store.OutboxItem{ConversationID: &cv.ID, MessageID: &out.ID, Template: store.TemplateAnswer,
			Recipient: u.Email, MailMessageID: store.NewID() + "@postdesk.example.com"}); err != nil {
			return err
		}
		return tx.Audit(e.ctx, nil, "test", "opened", &cv.ID, nil)
	})
	if err != nil {
		e.t.Fatalf("make %s: %v", name, err)
	}
	return c
}

// exec runs SQL on the pool.
func (e *purgeEnv) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.st.Pool().Exec(e.ctx, sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

func (e *purgeEnv) count(sql string, args ...any) int64 {
	e.t.Helper()
	var n int64
	if err := e.st.Pool().QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// solvedAt sets solved_at (and updated_at, as solving does) to now - ago,
// both PostgreSQL intervals, computed in SQL against now.
func (e *purgeEnv) solvedAt(c *conv, now time.Time, ago string) {
	e.t.Helper()
	e.exec(`UPDATE conversations SET status = 'solved', solved_at = $2::timestamptz - $3::interval, updated_at = $2::timestamptz - $3::interval WHERE id = $1`, c.id, now, ago)
}

// activeAt leaves the conversation unsolved with its last activity at now - ago.
func (e *purgeEnv) activeAt(c *conv, now time.Time, ago string) {
	e.t.Helper()
	e.exec(`UPDATE conversations SET status = 'open', solved_at = NULL, updated_at = $2::timestamptz - $3::interval WHERE id = $1`, c.id, now, ago)
}

// tableCounts is the number of rows of every table a purge touches.
func (e *purgeEnv) tableCounts() map[string]int64 {
	e.t.Helper()
	m := map[string]int64{}
	for _, tb := range []string{"conversations", "messages", "attachments", "blobs", "outbox", "participants", "conversation_roles", "audit", "imap_deletions"} {
		m[tb] = e.count(`SELECT count(*) FROM ` + tb)
	}
	return m
}

func (e *purgeEnv) purgeAudits() []store.AuditEntry {
	e.t.Helper()
	rows, err := e.st.Pool().Query(e.ctx, `SELECT actor, detail FROM audit WHERE action = 'purge' ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var es []store.AuditEntry
	for rows.Next() {
		var a store.AuditEntry
		if err := rows.Scan(&a.Actor, &a.Detail); err != nil {
			e.t.Fatal(err)
		}
		es = append(es, a)
	}
	return es
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func TestPurgeBoundaries(t *testing.T) {
	e := newPurgeEnv(t)
	// "Now" is 11 seconds after the Blink conversations were solved at the
	// database's now(); every other time is set relative to it in SQL.
	shared := []byte("an attachment both a kept and a purged conversation carry")
	twice := []byte("an attachment two purged conversations carry")
	cases := []struct {
		name, category string
		files          [][]byte
		set            func(c *conv, now time.Time)
		gone           bool
	}{
		{"solved-4y-minus-1d", "payroll", nil, func(c *conv, now time.Time) { e.solvedAt(c, now, "4 years - 1 day") }, false},
		{"solved-4y-plus-1d", "payroll", [][]byte{[]byte("own file 1"), shared}, func(c *conv, now time.Time) { e.solvedAt(c, now, "4 years 1 day") }, true},
		{"solved-exactly-4y", "payroll", [][]byte{twice}, func(c *conv, now time.Time) { e.solvedAt(c, now, "4 years") }, true},
		{"active-4y-plus-1d", "payroll", [][]byte{twice, []byte("own file 2")}, func(c *conv, now time.Time) { e.activeAt(c, now, "4 years 1 day") }, true},
		{"active-4y-minus-1d", "payroll", [][]byte{shared}, func(c *conv, now time.Time) { e.activeAt(c, now, "4 years - 1 day") }, false},
		{"legal-hold", "payroll", nil, func(c *conv, now time.Time) {
			e.solvedAt(c, now, "5 years")
			e.exec(`UPDATE conversations SET legal_hold = true WHERE id = $1`, c.id)
		}, false},
		// solved_at, not the later activity, counts once solved
		{"solved-long-ago-touched-lately", "payroll", nil, func(c *conv, now time.Time) {
			e.solvedAt(c, now, "4 years 1 day")
			e.exec(`UPDATE conversations SET updated_at = $2 WHERE id = $1`, c.id, now)
		}, true},
		{"reopened-long-ago-solved", "payroll", nil, func(c *conv, now time.Time) { e.activeAt(c, now, "1 day") }, false},
		{"90d-plus-1d", "quarter", nil, func(c *conv, now time.Time) { e.solvedAt(c, now, "91 days") }, true},
		{"90d-minus-1d", "quarter", nil, func(c *conv, now time.Time) { e.solvedAt(c, now, "89 days") }, false},
		{"36h-plus-1h", "hours", nil, func(c *conv, now time.Time) { e.activeAt(c, now, "37 hours") }, true},
		{"36h-minus-1h", "hours", nil, func(c *conv, now time.Time) { e.activeAt(c, now, "35 hours") }, false},
		{"10s-solved-11s-before-now", "blink", [][]byte{[]byte("own file 3")}, func(c *conv, now time.Time) {
			e.exec(`UPDATE conversations SET status = 'solved', solved_at = now(), updated_at = now() WHERE id = $1`, c.id)
		}, true},
		{"10s-solved-9s-before-now", "blink", nil, func(c *conv, now time.Time) { e.solvedAt(c, now, "9 seconds") }, false},
	}
	var convs []*conv
	for _, tc := range cases {
		convs = append(convs, e.make(tc.name, tc.category, tc.files...))
	}
	var dbNow time.Time
	if err := e.st.Pool().QueryRow(e.ctx, `SELECT now()`).Scan(&dbNow); err != nil {
		t.Fatal(err)
	}
	now := dbNow.Add(11 * time.Second)
	for i, tc := range cases {
		tc.set(convs[i], now)
	}

	// What must go: every row of the expired conversations, and the blobs
	// only they refer to.
	var want store.PurgeCounts
	var gone, kept []int64
	keptBlobs := map[string]bool{}
	for i, tc := range cases {
		if !tc.gone {
			kept = append(kept, convs[i].id)
			for _, b := range convs[i].blobs {
				keptBlobs[string(b)] = true
			}
		}
	}
	goneBlobs := map[string]bool{}
	for i, tc := range cases {
		c := convs[i]
		if !tc.gone {
			continue
		}
		gone = append(gone, c.id)
		want.Conversations++
		want.Messages += int64(c.messages)
		want.Attachments += int64(c.files)
		want.IMAPCopies += int64(len(c.copies))
		for _, b := range c.blobs {
			if !keptBlobs[string(b)] {
				goneBlobs[string(b)] = true
			}
		}
	}
	want.Blobs = int64(len(goneBlobs))
	for b := range goneBlobs {
		want.Bytes += e.count(`SELECT size FROM blobs WHERE sha256 = $1`, []byte(b))
	}
	if !keptBlobs[string(sha(shared))] || goneBlobs[string(sha(shared))] || !goneBlobs[string(sha(twice))] {
		t.Fatal("test data: the shared attachments are not where the test needs them")
	}

	// A dry run first: the same report, nothing changed but one audit record.
	before := e.tableCounts()
	dry, err := e.st.Purge(e.ctx, store.PurgeOptions{Now: now, DryRun: true, BatchSize: 2, Actor: "cli:tester"})
	if err != nil {
		t.Fatal(err)
	}
	after := e.tableCounts()
	before["audit"]++ // the dry run's record
	for tb, n := range before {
		if after[tb] != n {
			t.Errorf("dry run changed %s: %d rows, had %d", tb, after[tb], n)
		}
	}
	if dry.PurgeCounts != want {
		t.Errorf("dry run counts %+v, want %+v", dry.PurgeCounts, want)
	}
	var listed []int64
	for _, l := range dry.Listed {
		listed = append(listed, l.ID)
		c := convs[slices.IndexFunc(convs, func(c *conv) bool { return c.id == l.ID })]
		if l.Number != c.number || l.Category != c.category || l.ExpiredAt.After(now) {
			t.Errorf("listed %+v for %s (#%d %s)", l, c.name, c.number, c.category)
		}
	}
	if !slices.Equal(listed, gone) {
		t.Errorf("dry run lists %v, want %v", listed, gone)
	}

	real, err := e.st.Purge(e.ctx, store.PurgeOptions{Now: now, BatchSize: 2, Actor: "schedule"})
	if err != nil {
		t.Fatal(err)
	}
	if real.PurgeCounts != want {
		t.Errorf("purge counts %+v, want %+v", real.PurgeCounts, want)
	}
	if real.Batches != 4 || real.Skipped != 0 || real.Listed != nil {
		t.Errorf("purge: %d batches (want 4 of 2), %d skipped, listed %v", real.Batches, real.Skipped, real.Listed)
	}
	var left []int64
	rows, _ := e.st.Pool().Query(e.ctx, `SELECT id FROM conversations ORDER BY id`)
	for rows.Next() {
		var id int64
		_ = rows.Scan(&id)
		left = append(left, id)
	}
	rows.Close()
	if !slices.Equal(left, kept) {
		t.Errorf("conversations left %v, want exactly the kept %v", left, kept)
	}
	for _, q := range []string{
		`SELECT count(*) FROM messages WHERE conversation_id = ANY($1)`,
		`SELECT count(*) FROM attachments a LEFT JOIN messages m ON m.id = a.message_id WHERE m.id IS NULL OR m.conversation_id = ANY($1)`,
		`SELECT count(*) FROM outbox WHERE conversation_id = ANY($1)`,
		`SELECT count(*) FROM participants WHERE conversation_id = ANY($1)`,
		`SELECT count(*) FROM conversation_roles WHERE conversation_id = ANY($1)`,
	} {
		if n := e.count(q, gone); n != 0 {
			t.Errorf("%s: %d rows of purged conversations left", q, n)
		}
	}
	for b := range goneBlobs {
		if e.count(`SELECT count(*) FROM blobs WHERE sha256 = $1`, []byte(b)) != 0 {
			t.Errorf("blob %x of purged conversations left", b[:4])
		}
	}
	for b := range keptBlobs {
		if e.count(`SELECT count(*) FROM blobs WHERE sha256 = $1`, []byte(b)) != 1 {
			t.Errorf("blob %x of a kept conversation deleted", b[:4])
		}
	}
	// Kept conversations are whole.
	for _, id := range kept {
		if n := e.count(`SELECT count(*) FROM messages WHERE conversation_id = $1`, id); n != 2 {
			t.Errorf("kept conversation %d has %d messages, want 2", id, n)
		}
	}
	// Audit rows of purged conversations stay.
	if n := e.count(`SELECT count(*) FROM audit WHERE conversation_id = ANY($1)`, gone); n != int64(len(gone)) {
		t.Errorf("audit rows of purged conversations: %d, want %d", n, len(gone))
	}
	// Every server copy is queued for deletion, in the batches' transactions.
	var copies []uint32
	rows, err = e.st.Pool().Query(e.ctx, `SELECT mailbox, uid_validity, uid, message_id, raw_sha256, raw_size, category, attempts
		FROM imap_deletions ORDER BY uid`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c store.IMAPCopy
		var uv, uid int64
		var cat string
		var attempts int
		if err := rows.Scan(&c.Mailbox, &uv, &uid, &c.MessageID, &c.RawSHA256, &c.RawSize, &cat, &attempts); err != nil {
			t.Fatal(err)
		}
		if c.Mailbox != "payroll" || uv != 7 || c.MessageID == "" || len(c.RawSHA256) != 32 || c.RawSize == 0 || cat == "" || attempts != 0 {
			t.Errorf("queued deletion %+v (category %q, attempts %d)", c, cat, attempts)
		}
		copies = append(copies, uint32(uid))
	}
	rows.Close()
	if real.Copies != nil {
		t.Errorf("a real run reports copies %v: they are in the queue", real.Copies)
	}
	var wantCopies []uint32
	for i, tc := range cases {
		if tc.gone {
			wantCopies = append(wantCopies, convs[i].copies...)
		}
	}
	slices.Sort(copies)
	if !slices.Equal(copies, wantCopies) {
		t.Errorf("IMAP copies %v, want %v", copies, wantCopies)
	}

	// One audit record per run, with the counts and never content.
	audits := e.purgeAudits()
	if len(audits) != 2 {
		t.Fatalf("%d purge audit records, want 2 (dry run, real)", len(audits))
	}
	for i, a := range audits {
		dryRun := i == 0
		if a.Detail["dry_run"] != dryRun || (dryRun && a.Actor != "cli:tester") || (!dryRun && a.Actor != "schedule") {
			t.Errorf("audit %d: actor %s detail %v", i, a.Actor, a.Detail)
		}
		got := store.PurgeCounts{Conversations: num(a.Detail["conversations"]), Messages: num(a.Detail["messages"]),
			Attachments: num(a.Detail["attachments"]), Blobs: num(a.Detail["blobs"]), Bytes: num(a.Detail["bytes"]),
			IMAPCopies: num(a.Detail["imap_copies"])}
		if got != want {
			t.Errorf("audit %d counts %+v, want %+v", i, got, want)
		}
		if ts, _ := a.Detail["now"].(string); ts != now.UTC().Format(time.RFC3339Nano) {
			t.Errorf("audit %d now %q, want %s", i, ts, now.UTC().Format(time.RFC3339Nano))
		}
		if rules, _ := a.Detail["retention"].(map[string]any); rules["payroll"] != "4 years" || rules["quarter"] != "90 days" || rules["blink"] != "00:00:10" {
			t.Errorf("audit %d retention rules %v", i, a.Detail["retention"])
		}
		b, _ := json.Marshal(a.Detail)
		if strings.Contains(string(b), "SECRET") || strings.Contains(string(b), "customer.example") {
			t.Errorf("audit %d holds content: %s", i, b)
		}
	}

	// Nothing more to do; a second run says so.
	again, err := e.st.Purge(e.ctx, store.PurgeOptions{Now: now, Actor: "schedule"})
	if err != nil || again.PurgeCounts != (store.PurgeCounts{}) {
		t.Fatalf("second purge: %+v, %v", again, err)
	}
}

func sha(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// A conversation renewed between the choice of a batch and its transaction
// (a new message arrived) survives; so does one another transaction holds
// (a mail being received into it), until a later run.
func TestPurgeRechecksEachBatch(t *testing.T) {
	e := newPurgeEnv(t)
	now := time.Now()
	a, b, c, d := e.make("a", "payroll"), e.make("b", "payroll"), e.make("c", "payroll"), e.make("d", "payroll")
	for _, x := range []*conv{a, b, c, d} {
		e.solvedAt(x, now, "5 years")
	}

	// d is locked by a transaction in progress, as Receive's LockConversation does.
	tx, err := e.st.Pool().Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(e.ctx) //nolint:errcheck
	if _, err := tx.Exec(e.ctx, `SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE`, d.id); err != nil {
		t.Fatal(err)
	}

	var batches [][]int64
	var stats []store.PurgeStats
	rep, err := e.st.Purge(e.ctx, store.PurgeOptions{Now: now, BatchSize: 10, Actor: "schedule",
		Selected: func(ids []int64) {
			batches = append(batches, ids)
			// b gets a new message, committed after the batch was chosen
			// and before its transaction: a reply reopens it.
			err := e.st.InTx(e.ctx, func(tx *store.Tx) error {
				m := &store.Message{ConversationID: b.id, Direction: store.DirIn, Kind: store.KindCustomer, Text: "one more thing"}
				if err := tx.InsertMessage(e.ctx, m, nil); err != nil {
					return err
				}
				open := store.StatusOpen
				return tx.UpdateConversation(e.ctx, b.id, store.ConversationUpdate{Status: &open})
			})
			if err != nil {
				t.Errorf("new message: %v", err)
			}
		},
		OnBatch: func(s store.PurgeStats) { stats = append(stats, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 1 || !slices.Equal(batches[0], []int64{a.id, b.id, c.id, d.id}) {
		t.Fatalf("batches %v, want one of all four", batches)
	}
	if rep.Conversations != 2 || rep.Skipped != 2 || rep.Messages != 4 {
		t.Fatalf("report %+v: want a and c purged, b and d skipped", rep)
	}
	if len(stats) != 1 || len(stats[0].Listed) != 2 || stats[0].Listed[0].ID != a.id || stats[0].Listed[1].ID != c.id || stats[0].Skipped != 2 {
		t.Fatalf("OnBatch stats %+v", stats)
	}
	for _, x := range []*conv{b, d} {
		if e.count(`SELECT count(*) FROM conversations WHERE id = $1`, x.id) != 1 {
			t.Fatalf("conversation %s purged", x.name)
		}
	}
	if n := e.count(`SELECT count(*) FROM messages WHERE conversation_id = $1`, b.id); n != 3 {
		t.Fatalf("renewed conversation has %d messages, want 3", n)
	}

	// Once the holder is done, d goes with the next run; b is young again.
	if err := tx.Rollback(e.ctx); err != nil {
		t.Fatal(err)
	}
	rep, err = e.st.Purge(e.ctx, store.PurgeOptions{Now: now, Actor: "schedule"})
	if err != nil || rep.Conversations != 1 || rep.Skipped != 0 {
		t.Fatalf("second run: %+v, %v", rep, err)
	}
	if e.count(`SELECT count(*) FROM conversations WHERE id = $1`, d.id) != 0 || e.count(`SELECT count(*) FROM conversations WHERE id = $1`, b.id) != 1 {
		t.Fatal("second run: want d gone and b kept")
	}
}

func TestPurgeNeedsActorAndRecordsFailure(t *testing.T) {
	e := newPurgeEnv(t)
	if _, err := e.st.Purge(e.ctx, store.PurgeOptions{}); err == nil {
		t.Fatal("purge without an actor: no error")
	}
	x := e.make("x", "payroll")
	e.solvedAt(x, time.Now(), "5 years")
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	rep, err := e.st.Purge(ctx, store.PurgeOptions{Actor: "cli"})
	if err == nil || rep == nil || rep.Conversations != 0 {
		t.Fatalf("cancelled purge: %+v, %v", rep, err)
	}
	audits := e.purgeAudits()
	if len(audits) != 1 || audits[0].Detail["error"] == nil {
		t.Fatalf("a failed run's audit record: %+v", audits)
	}
	if done, err := e.st.PurgedSince(e.ctx, "cli", time.Hour); err != nil || done {
		t.Fatalf("PurgedSince counts a failed run: %v %v", done, err)
	}
	if _, err := e.st.Purge(e.ctx, store.PurgeOptions{Actor: "cli"}); err != nil {
		t.Fatal(err)
	}
	if done, err := e.st.PurgedSince(e.ctx, "cli", time.Hour); err != nil || !done {
		t.Fatalf("PurgedSince misses a run: %v %v", done, err)
	}
	if done, err := e.st.PurgedSince(e.ctx, "schedule", time.Hour); err != nil || done {
		t.Fatalf("PurgedSince counts another actor's run: %v %v", done, err)
	}
}

// The purge never queues behind rows in use: a conversation whose outbox
// row an outbox worker holds (the cascade would wait on it) is left for the
// next run after a short lock wait, and a raw source a mail being stored
// refers to (a key-share lock, as its foreign key check takes) is kept.
func TestPurgeNeverWaitsOnRowsInUse(t *testing.T) {
	e := newPurgeEnv(t)
	now := time.Now()
	a, b, c := e.make("a", "payroll"), e.make("b", "payroll"), e.make("c", "payroll")
	for _, x := range []*conv{a, b, c} {
		e.solvedAt(x, now, "5 years")
	}
	hold := func(sql string, args ...any) func() {
		tx, err := e.st.Pool().Begin(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(e.ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
		return func() { _ = tx.Rollback(e.ctx) }
	}
	releaseA := hold(`SELECT 1 FROM outbox WHERE conversation_id = $1 FOR UPDATE`, a.id)
	releaseC := hold(`SELECT 1 FROM blobs WHERE sha256 = $1 FOR KEY SHARE`, c.blobs[0])
	defer releaseA()
	defer releaseC()

	rep, err := e.st.Purge(e.ctx, store.PurgeOptions{Now: now, BatchSize: 1, Actor: "schedule"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Conversations != 2 || rep.Skipped != 1 || rep.Blobs != 1 {
		t.Fatalf("report %+v: want b and c purged, a skipped, c's raw source kept", rep.PurgeCounts)
	}
	if e.count(`SELECT count(*) FROM conversations WHERE id = $1`, a.id) != 1 ||
		e.count(`SELECT count(*) FROM imap_deletions WHERE uid = $1`, a.copies[0]) != 0 {
		t.Fatal("the conversation in use was purged, or its copy queued")
	}
	if e.count(`SELECT count(*) FROM blobs WHERE sha256 = $1`, c.blobs[0]) != 1 || e.count(`SELECT count(*) FROM blobs WHERE sha256 = $1`, b.blobs[0]) != 0 {
		t.Fatal("blobs: want c's (in use) kept and b's deleted")
	}
	releaseA()
	if rep, err := e.st.Purge(e.ctx, store.PurgeOptions{Now: now, Actor: "schedule"}); err != nil || rep.Conversations != 1 {
		t.Fatalf("second run: %+v %v", rep, err)
	}
	if n := e.count(`SELECT count(*) FROM imap_deletions`); n != 3 {
		t.Fatalf("%d copies queued, want the three conversations' own", n)
	}
}

// Paced batches start small and grow towards the target time, never past
// BatchSize, and each is followed by a pause of Yield times its length.
func TestPurgePacesItsBatches(t *testing.T) {
	e := newPurgeEnv(t)
	now := time.Now()
	for i := range 50 {
		e.solvedAt(e.make(fmt.Sprintf("p%d", i), "payroll"), now, "5 years")
	}
	var stats []store.PurgeStats
	rep, err := e.st.Purge(e.ctx, store.PurgeOptions{Now: now, BatchSize: 40, TargetBatch: time.Hour, Yield: 0.5,
		Actor: "schedule", OnBatch: func(s store.PurgeStats) { stats = append(stats, s) }})
	if err != nil || rep.Conversations != 50 {
		t.Fatalf("%+v %v", rep, err)
	}
	var sizes []int
	for _, s := range stats {
		sizes = append(sizes, s.Size)
		if s.Took <= 0 || s.Pause != time.Duration(0.5*float64(s.Took)) {
			t.Errorf("batch %d took %v, pause %v: want half of it", s.Batch, s.Took, s.Pause)
		}
	}
	if !slices.Equal(sizes, []int{20, 30}) {
		t.Fatalf("batch sizes %v, want 20 then the 30 left (at most 40)", sizes)
	}
}

// The purge vacuums behind itself every VacuumEvery batches and once at the
// end, so the dead rows it leaves do not slow ingest until autovacuum comes.
func TestPurgeVacuumsBehindItself(t *testing.T) {
	e := newPurgeEnv(t)
	now := time.Now()
	for i := range 5 {
		e.solvedAt(e.make(fmt.Sprintf("v%d", i), "payroll"), now, "5 years")
	}
	vacuums := func() int64 {
		var n int64
		if err := e.st.Pool().QueryRow(e.ctx, `SELECT pg_stat_force_next_flush()`).Scan(new(any)); err != nil {
			t.Fatal(err)
		}
		if err := e.st.Pool().QueryRow(e.ctx, `SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'messages'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	dry, err := e.st.Purge(e.ctx, store.PurgeOptions{Now: now, BatchSize: 1, VacuumEvery: 2, DryRun: true, Actor: "cli"})
	if err != nil || dry.Vacuums != 0 {
		t.Fatalf("a dry run vacuumed: %+v %v", dry, err)
	}
	rep, err := e.st.Purge(e.ctx, store.PurgeOptions{Now: now, BatchSize: 1, VacuumEvery: 2, Actor: "schedule"})
	if err != nil || rep.Conversations != 5 || rep.Batches != 5 || rep.VacuumError != "" {
		t.Fatalf("%+v %v", rep, err)
	}
	if rep.Vacuums != 3 { // after batches 2 and 4, and at the end
		t.Fatalf("%d vacuums, want 3", rep.Vacuums)
	}
	// The server's own count, read through another session: the VACUUMs ran.
	deadline := time.Now().Add(10 * time.Second)
	for vacuums() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("pg_stat_user_tables counts %d vacuums of messages, want 3", vacuums())
		}
	}
	none, err := e.st.Purge(e.ctx, store.PurgeOptions{Now: now, Actor: "schedule"})
	if err != nil || none.Conversations != 0 || none.Vacuums != 0 {
		t.Fatalf("a run that purged nothing vacuumed: %+v %v", none, err)
	}
}

// A retention that is not positive can only be an error (a value that
// wrapped round, a hand-edited row): the purge deletes nothing of that
// category, says so in its report and audit, and purges the rest as usual.
func TestPurgeRefusesACutoffInTheFuture(t *testing.T) {
	e := newPurgeEnv(t)
	now := time.Now()
	wrapped := e.make("wrapped", "quarter")
	e.solvedAt(wrapped, now, "5 years")
	fresh := e.make("fresh", "quarter")
	e.activeAt(fresh, now, "1 minute")
	other := e.make("other", "hours")
	e.solvedAt(other, now, "2 days")
	// 357913941y as a 32-bit count of months: -4 months.
	e.exec(`UPDATE categories SET retention = interval '-4 months' WHERE key = 'quarter'`)
	e.exec(`UPDATE categories SET retention = interval '0' WHERE key = 'blink'`)

	for _, dry := range []bool{true, false} {
		rep, err := e.st.Purge(e.ctx, store.PurgeOptions{Actor: "cli", Now: now, DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rep.Refused, []string{"blink", "quarter"}) {
			t.Errorf("dry run %v: refused %v, want [blink quarter]", dry, rep.Refused)
		}
		if rep.Conversations != 1 {
			t.Errorf("dry run %v: %d conversations purged, want 1 (the hours one)", dry, rep.Conversations)
		}
	}
	if n := e.count(`SELECT count(*) FROM conversations WHERE id = ANY($1)`, []int64{wrapped.id, fresh.id}); n != 2 {
		t.Fatalf("%d of the refused category's 2 conversations left", n)
	}
	if n := e.count(`SELECT count(*) FROM conversations WHERE id = $1`, other.id); n != 0 {
		t.Fatal("the other category was not purged")
	}
	audits := e.purgeAudits()
	last := audits[len(audits)-1]
	if got := fmt.Sprint(last.Detail["refused"]); got != "[blink quarter]" {
		t.Fatalf("audit refused = %s", got)
	}
}
