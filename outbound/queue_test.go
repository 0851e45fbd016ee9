package outbound_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"postdesk/health"
	"postdesk/metrics"
	"postdesk/outbound"
	"postdesk/store"
)

// start runs w.Run until the test ends, and returns a stop that waits for it.
func (f *fixture) start(w *outbound.Worker) (stop func()) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					f.t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				f.t.Error("Run did not end with its context")
			}
		})
	}
	f.t.Cleanup(stop)
	return stop
}

// answers opens n conversations that Aino takes and answers: n answers to
// Cara, besides the notices to the payroll team.
func (f *fixture) answers(n int) []*store.Conversation {
	f.t.Helper()
	var cs []*store.Conversation
	for i := range n {
		c := f.open("payroll", fmt.Sprintf("Salary question %d", i), "My salary was short.")
		if err := f.svc.Take(f.ctx, f.actor(aino), c.ID); err != nil {
			f.t.Fatal(err)
		}
		f.reply(aino, c.ID, fmt.Sprintf("Answer %d: the difference is paid on the 15th.", i))
		cs = append(cs, c)
	}
	return cs
}

// messageIDs counts the sink's deliveries by Message-ID.
func (f *fixture) messageIDs() map[string]int {
	f.t.Helper()
	ids := map[string]int{}
	for _, d := range f.sink.delivered() {
		ids[strings.Trim(parse(f.t, d.Data).h.Get("Message-Id"), "<>")]++
	}
	return ids
}

// scrape reads one unlabelled series from /metrics.
func (f *fixture) scrape(name string) string {
	f.t.Helper()
	srv := httptest.NewServer(metrics.Handler(f.st))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

func (f *fixture) auditCount(action string) int {
	f.t.Helper()
	var n int
	if err := f.st.Pool().QueryRow(f.ctx, `SELECT count(*) FROM audit WHERE action = $1`, action).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// A relay that answers 530 to MAIL FROM refuses the session, not the mail:
// nothing is failed or loses a try, the relay is reported down once, and
// when it takes mail again every queued mail goes, once.
func TestRelayRefusingMailFromFailsNoMail(t *testing.T) {
	f := setup(t)
	f.sink.set(func(s *sink) { s.mailErr = errAuthReq })
	cs := f.answers(3)
	w := f.worker(func(o *outbound.Options) {
		o.Poll, o.ErrorBackoff, o.ErrorBackoffMax, o.RelayDownAfter = time.Hour, 5*time.Millisecond, 40*time.Millisecond, 3
	})
	stop := f.start(w)
	waitFor(t, "the relay to count as down and be told", func() bool {
		down, _, _ := w.RelayDown()
		return down && f.auditCount("smtp_relay_down") > 0 && f.sink.count(func(s *sink) int { return s.mailTries }) >= 5
	})

	stop() // so that no row is claimed while the rows are looked at
	rep := (&health.Checker{St: f.st, Relay: w}).Check(f.ctx)
	if rep.Ready || rep.Checks["smtp"] != "fail" || !strings.Contains(strings.Join(rep.Problems, ";"), "530") {
		t.Errorf("/readyz while the relay refuses: %+v", rep)
	}
	if v := f.scrape("postdesk_smtp_relay_up"); v != "0" {
		t.Errorf("postdesk_smtp_relay_up %q while the relay refuses, want 0", v)
	}
	if n := f.auditCount("smtp_relay_down"); n != 1 {
		t.Errorf("%d smtp_relay_down audit entries, want 1 (told once)", n)
	}
	total := 0
	for _, c := range cs {
		for _, it := range f.outbox(c.ID) {
			total++
			if it.Status != "pending" || it.Attempts != 0 {
				t.Errorf("row %d (%s to %s) during the outage: status %s attempts %d, want pending and no try counted",
					it.ID, it.Template, it.Recipient, it.Status, it.Attempts)
			}
		}
		if evs := f.events(c.ID, "delivery_failed"); len(evs) != 0 {
			t.Errorf("conversation %d: %d delivery_failed events during the outage", c.ID, len(evs))
		}
	}
	if len(f.sink.delivered()) != 0 {
		t.Fatal("the sink accepted mail while refusing MAIL FROM")
	}

	f.sink.set(func(s *sink) { s.mailErr = nil })
	f.start(w)
	waitFor(t, "every queued mail sent and recorded after the recovery", func() bool {
		var pending int
		if err := f.st.Pool().QueryRow(f.ctx, `SELECT count(*) FROM outbox WHERE status <> 'sent'`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		return len(f.sink.delivered()) >= total && pending == 0
	})
	waitFor(t, "the recovery to be told", func() bool { return f.auditCount("smtp_relay_recovered") == 1 })
	for id, n := range f.messageIDs() {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	if ids := f.messageIDs(); len(ids) != total {
		t.Errorf("%d distinct mails delivered, want %d", len(ids), total)
	}
	for _, c := range cs {
		if it := f.row(c.ID, store.TemplateAnswer, cara); it.Status != "sent" || it.Attempts != 1 {
			t.Errorf("answer of conversation %d: status %s attempts %d, want sent at its first counted try", c.ID, it.Status, it.Attempts)
		}
	}
	if down, _, _ := w.RelayDown(); down {
		t.Error("the relay still counts as down after it took mail")
	}
	if n := f.auditCount("smtp_relay_down"); n != 1 {
		t.Errorf("%d smtp_relay_down audit entries over the outage, want 1", n)
	}
	if v := f.scrape("postdesk_smtp_relay_up"); v != "1" {
		t.Errorf("postdesk_smtp_relay_up %q after the recovery, want 1", v)
	}
	if rep := (&health.Checker{St: f.st, Relay: w}).Check(f.ctx); rep.Checks["smtp"] != "ok" {
		t.Errorf("/readyz after the recovery: %+v", rep)
	}
}

// While the relay takes its time in DATA, the worker holds no transaction
// and no lock: the row and its conversation can be locked without waiting,
// and deleted (as the purge does).
func TestHangingSendHoldsNoTransactionOrLock(t *testing.T) {
	f := setup(t)
	c := f.open("sick-leave", "Sick since Monday", "I have been sick since Monday.")
	row := f.row(c.ID, store.TemplateNewConversation, hila)
	inData, release := make(chan struct{}), make(chan struct{})
	f.sink.set(func(s *sink) {
		s.onData = func() error {
			close(inData)
			<-release
			return nil // then the relay accepts the mail
		}
	})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	w := f.worker(oneSession) // no other session claims beside it (TestSessionsSendAtOnce has several)
	done := make(chan error, 1)
	var nsent int
	go func() {
		var err error
		nsent, _, err = w.RunOnce(f.ctx)
		done <- err
	}()
	<-inData

	if open, locks := heldByOthers(t, f); open != 0 || locks != 0 {
		t.Errorf("%d transactions open and %d locks on outbox, conversations or messages while the send hangs, want none", open, locks)
	}
	db := f.st.Pool()
	// NOWAIT fails at once on a row another transaction holds, so this
	// proves the lock free without waiting for anything.
	tx, err := db.Begin(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(f.ctx) //nolint:errcheck // after commit, a no-op
	var got int64
	if err := tx.QueryRow(f.ctx, `SELECT id FROM outbox WHERE id = $1 FOR UPDATE NOWAIT`, row.ID).Scan(&got); err != nil {
		t.Fatalf("locking the outbox row in flight: %v", err)
	}
	if err := tx.QueryRow(f.ctx, `SELECT id FROM conversations WHERE id = $1 FOR UPDATE NOWAIT`, c.ID).Scan(&got); err != nil {
		t.Fatalf("locking its conversation: %v", err)
	}
	if _, err := tx.Exec(f.ctx, `DELETE FROM conversations WHERE id = $1`, c.ID); err != nil {
		t.Fatalf("deleting the conversation (as the purge does): %v", err)
	}
	if err := tx.Commit(f.ctx); err != nil {
		t.Fatal(err)
	}

	releaseOnce.Do(func() { close(release) })
	if err := <-done; err != nil {
		t.Fatalf("RunOnce after its row was purged mid-send: %v", err)
	}
	if nsent != 1 || len(f.sink.delivered()) != 1 {
		t.Errorf("sent %d, delivered %d: the relay accepted the mail", nsent, len(f.sink.delivered()))
	}
	if _, err := f.st.OutboxByID(f.ctx, row.ID); err == nil {
		t.Error("the purged row came back")
	}
}

// heldByOthers counts the transactions open on the test's database by any
// connection but the caller's, and the locks they hold on the outbox, the
// conversations and the messages. Client backends only: autovacuum may
// work on these tables any time.
func heldByOthers(t *testing.T, f *fixture) (open, locks int) {
	t.Helper()
	db := f.st.Pool()
	if err := db.QueryRow(f.ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
			AND (state LIKE 'idle in transaction%' OR (state = 'active' AND xact_start IS NOT NULL))`).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(f.ctx, `SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
		JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE c.relname IN ('outbox', 'conversations', 'messages') AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND l.pid <> pg_backend_pid() AND a.backend_type = 'client backend'`).Scan(&locks); err != nil {
		t.Fatal(err)
	}
	return open, locks
}

// With Sessions set, a run sends over that many SMTP sessions at once:
// the relay sees them all in DATA together, while the worker holds no
// transaction and no lock; every row is sent exactly once, and each
// session ends with QUIT.
func TestSessionsSendAtOnce(t *testing.T) {
	f := setup(t)
	const sessions = 3
	var rows []store.OutboxItem
	for i := range 2 { // two members each: four rows
		c := f.open("payroll", fmt.Sprintf("Salary %d", i), "Hello.")
		rows = append(rows, f.outbox(c.ID)...)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows queued, want 4", len(rows))
	}
	allIn, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	inData := 0
	f.sink.set(func(s *sink) {
		s.onData = func() error {
			s.mu.Lock()
			inData++
			if inData == sessions {
				close(allIn)
			}
			s.mu.Unlock()
			select {
			case <-release:
				return nil
			case <-time.After(20 * time.Second):
				// The sessions never met: refuse, so the test fails rather
				// than hangs.
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "not concurrent"}
			}
		}
	})
	w := f.worker(func(o *outbound.Options) { o.Sessions = sessions })
	done := make(chan error, 1)
	var nsent, nfailed int
	go func() {
		var err error
		nsent, nfailed, err = w.RunOnce(f.ctx)
		done <- err
	}()
	select {
	case <-allIn:
	case err := <-done:
		t.Fatalf("the run ended (%v) before %d sessions were in DATA at once", err, sessions)
	}
	if open, locks := heldByOthers(t, f); open != 0 || locks != 0 {
		t.Errorf("%d transactions open and %d locks held while %d sends hang, want none", open, locks, sessions)
	}
	releaseOnce.Do(func() { close(release) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if nsent != 4 || nfailed != 0 {
		t.Errorf("sent %d failed %d, want 4 and 0", nsent, nfailed)
	}
	got := map[string]int{}
	for _, d := range f.sink.delivered() {
		got[parse(t, d.Data).h.Get("Message-Id")]++
	}
	for _, r := range rows {
		it, err := f.st.OutboxByID(f.ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if it.Status != "sent" || it.Attempts != 1 || got["<"+it.MailMessageID+">"] != 1 {
			t.Errorf("row %d: status %s, attempts %d, delivered %d times; want sent once", it.ID, it.Status, it.Attempts, got["<"+it.MailMessageID+">"])
		}
	}
	if n := f.sink.count(func(s *sink) int { return s.sessions }); n != sessions {
		t.Errorf("%d SMTP sessions, want %d", n, sessions)
	}
	waitFor(t, "every session's QUIT", func() bool { return f.sink.count(func(s *sink) int { return s.logouts }) == sessions })
}

// The run's Batch is the run's, not each session's: with more sessions
// than the batch holds, a run claims Batch rows and leaves the rest untried.
func TestSessionsShareTheBatch(t *testing.T) {
	f := setup(t)
	var rows []store.OutboxItem
	for i := range 3 { // six rows
		c := f.open("payroll", fmt.Sprintf("Salary %d", i), "Hello.")
		rows = append(rows, f.outbox(c.ID)...)
	}
	w := f.worker(func(o *outbound.Options) { o.Sessions, o.Batch = 4, 2 })
	if sent, failed := f.run(w); sent != 2 || failed != 0 {
		t.Fatalf("sent %d failed %d, want the batch of 2", sent, failed)
	}
	untried := 0
	for _, r := range rows {
		it, err := f.st.OutboxByID(f.ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if it.Status == "pending" && it.Attempts == 0 {
			untried++
		}
	}
	if untried != 4 || len(f.sink.delivered()) != 2 {
		t.Errorf("%d rows untried and %d delivered, want 4 and 2", untried, len(f.sink.delivered()))
	}
}

// Two instances on one database, each with its own listener: mail queued
// by one transaction is sent by whichever worker claims it, woken by the
// notification (the poll is an hour), and never by both.
func TestTwoInstancesWakeOnNotify(t *testing.T) {
	f := setup(t)
	for range 2 {
		w := f.worker(func(o *outbound.Options) { o.Poll = time.Hour })
		listening := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(f.ctx)
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			f.st.Listen(ctx, map[string]func(){store.ChannelOutbox: w.Wake}, func() {
				select {
				case listening <- struct{}{}:
				default:
				}
			}, nil)
		}()
		t.Cleanup(func() { cancel(); <-ended })
		<-listening
		f.start(w)
	}

	c := f.open("payroll", "Salary for October", "My October salary was 200 € short.") // two members: two rows, one transaction
	waitFor(t, "the woken workers to send the new conversation", func() bool { return len(f.sink.delivered()) == 2 })
	var cs []*store.Conversation
	for i := range 5 {
		cs = append(cs, f.open("payroll", fmt.Sprintf("Question %d", i), "Hello."))
	}
	waitFor(t, "the woken workers to send and record every mail", func() bool {
		var pending int
		if err := f.st.Pool().QueryRow(f.ctx, `SELECT count(*) FROM outbox WHERE status <> 'sent'`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		return len(f.sink.delivered()) == 12 && pending == 0
	})

	for id, n := range f.messageIDs() {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	for _, conv := range append(cs, c) {
		for _, it := range f.outbox(conv.ID) {
			if it.Status != "sent" || it.Attempts != 1 {
				t.Errorf("row %d: status %s attempts %d, want sent after one claim", it.ID, it.Status, it.Attempts)
			}
		}
	}
	if n := len(f.messageIDs()); n != 12 {
		t.Errorf("%d distinct mails, want 12", n)
	}
}
