package privacy_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"postdesk/conversation"
	"postdesk/ingest"
	"postdesk/internal/dovecottest"
	"postdesk/privacy"
	"postdesk/retention"
	"postdesk/store"
	"postdesk/store/storetest"
	"postdesk/threading"
)

const orgConfig = `
database_url: postgres://unused
secret: 0123456789abcdef0123456789abcdef
smtp: {host: 127.0.0.1, port: 10025, tls: none}
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
users:
  - {email: aino.handler@example.com, name: Aino Handler, roles: [payroll-team]}
`

// The data subject, and another customer whose data must never leak.
const (
	cara = "cara.subject@acme.example"
	dan  = "dan.other@beta.example"
)

type env struct {
	ctx     context.Context
	st      *store.Store
	svc     *conversation.Service
	dovecot *dovecottest.Server
	uv      uint32
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, c := storetest.Org(t, orgConfig)
	e := &env{ctx: context.Background(), st: st, dovecot: dovecottest.Start(t)}
	sg, err := threading.NewSigner([]byte(c.Secret))
	if err != nil {
		t.Fatal(err)
	}
	e.svc = conversation.New(e.st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg,
		Logger: slog.New(slog.DiscardHandler)})
	e.uv = e.dovecot.UIDValidity(t, dovecottest.DefaultUser.Name, "INBOX")
	return e
}

// mail is one customer mail, put on the IMAP server and received from it
// as ingest would.
func (e *env) mail(t *testing.T, raw string) (conv int64, uid uint32) {
	t.Helper()
	b := []byte(strings.ReplaceAll(raw, "\n", "\r\n"))
	uid = e.dovecot.Append(t, dovecottest.DefaultUser.Name, "INBOX", b)
	r, err := e.svc.Receive(e.ctx, conversation.Inbound{Mailbox: "payroll", UIDValidity: e.uv, UID: uid, Raw: b, DefaultCategory: "payroll"})
	if err != nil {
		t.Fatal(err)
	}
	return r.ConversationID, uid
}

func withFile(from, to, cc, subject, id, inReplyTo, text, filename string, data []byte) string {
	h := fmt.Sprintf("From: %s\nTo: %s\n", from, to)
	if cc != "" {
		h += "Cc: " + cc + "\n"
	}
	h += fmt.Sprintf("Subject: %s\nMessage-ID: <%s>\nDate: Mon, 02 Nov 2026 09:00:00 +0000\nMIME-Version: 1.0\n", subject, id)
	if inReplyTo != "" {
		h += "In-Reply-To: <" + inReplyTo + ">\nReferences: <" + inReplyTo + ">\n"
	}
	if filename == "" {
		return h + "Content-Type: text/plain; charset=utf-8\n\n" + text + "\n"
	}
	return h + "Content-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\n" + text +
		"\n--b1\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"" + filename +
		"\"\nContent-Transfer-Encoding: base64\n\n" + base64.StdEncoding.EncodeToString(data) + "\n--b1--\n"
}

func (e *env) number(t *testing.T, id int64) int64 {
	t.Helper()
	c, err := e.st.ConversationByID(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return c.Number
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.st.Pool().QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// world is the table of cases: Cara's own conversation with a file (A), a
// conversation of Dan's she was copied on and answered in, with a file (B),
// her own conversation under legal hold (C), and one of Dan's she is not
// in (D).
type world struct {
	a, b, c, d             int64
	uidA, uidB, uidB2      uint32
	uidC, uidD             uint32
	payslip, contract, cv  []byte
	secretOfDan, danReplyB string
}

func build(t *testing.T, e *env) *world {
	t.Helper()
	w := &world{payslip: bytes.Repeat([]byte("%PDF payslip 11/2026 "), 300), contract: bytes.Repeat([]byte("%PDF contract "), 200),
		cv: []byte("%PDF Dan's own file"), secretOfDan: "Dan's salary is 4321 euros", danReplyB: "a staff answer only Dan received"}
	w.a, w.uidA = e.mail(t, withFile("Cara Subject <"+cara+">", "payroll@example.com", "", "Palkkalaskelma", "a1@acme.example", "",
		"Palkkalaskelmani on väärin.", "payslip.pdf", w.payslip))
	w.b, w.uidB = e.mail(t, withFile("Dan Other <"+dan+">", "payroll@example.com", cara, "Työsopimus", "b1@beta.example", "",
		"Cara knows about this. "+w.secretOfDan, "dan.pdf", w.cv))
	// Staff add her to the conversation; only then does her reply thread.
	if _, err := e.st.Pool().Exec(e.ctx, `INSERT INTO participants (conversation_id, email) VALUES ($1, $2)`, w.b, cara); err != nil {
		t.Fatal(err)
	}
	b2, uidB2 := e.mail(t, withFile("Cara Subject <"+cara+">", "payroll@example.com", dan, "Re: Työsopimus", "b2@acme.example", "b1@beta.example",
		"Here is my signed contract.", "contract.pdf", w.contract))
	if b2 != w.b {
		t.Fatalf("Cara's reply opened conversation %d, want it threaded into %d", b2, w.b)
	}
	w.uidB2 = uidB2
	// A staff answer in B that went to Dan only.
	if _, err := e.st.Pool().Exec(e.ctx, `INSERT INTO messages (conversation_id, direction, kind, from_addr, to_addrs, subject, text_body)
		VALUES ($1, 'out', 'staff', 'payroll@example.com', ARRAY[$2], 'Re: Työsopimus', $3)`, w.b, dan, w.danReplyB); err != nil {
		t.Fatal(err)
	}
	w.c, w.uidC = e.mail(t, withFile("Cara Subject <"+cara+">", "payroll@example.com", "", "Sairausloma", "c1@acme.example", "",
		"Diagnoosi liitteenä.", "", nil))
	if _, err := e.st.Pool().Exec(e.ctx, `UPDATE conversations SET legal_hold = true WHERE id = $1`, w.c); err != nil {
		t.Fatal(err)
	}
	w.d, w.uidD = e.mail(t, withFile("Dan Other <"+dan+">", "payroll@example.com", "", "Verokortti", "d1@beta.example", "",
		w.secretOfDan+" and my tax card.", "", nil))
	return w
}

// zipFiles reads an export into name -> content.
func zipFiles(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = data
	}
	return out
}

func TestExportHoldsExactlyThePersonsData(t *testing.T) {
	e := newEnv(t)
	w := build(t, e)
	var buf bytes.Buffer
	rep, err := privacy.Export(e.ctx, e.st, "Cara.Subject@ACME.example", privacy.ExportOptions{Actor: "cli"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	files := zipFiles(t, buf.Bytes())
	var idx struct {
		Person        string
		Conversations []struct {
			Number   int64
			As       []string
			Messages []struct {
				Kind, From, File string
				Attachments      []struct{ Filename, SHA256, File string }
			}
		}
	}
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	var numbers []int64
	for _, c := range idx.Conversations {
		numbers = append(numbers, c.Number)
	}
	if want := []int64{e.number(t, w.a), e.number(t, w.b), e.number(t, w.c)}; !slices.Equal(numbers, want) {
		t.Fatalf("conversations %v, want %v (not Dan's own %d)", numbers, want, e.number(t, w.d))
	}
	if idx.Person != cara || rep.Conversations != 3 {
		t.Fatalf("person %q, report %+v", idx.Person, rep)
	}
	if as := idx.Conversations[1].As; !slices.Contains(as, "participant") || !slices.Contains(as, "sender") || slices.Contains(as, "customer") {
		t.Errorf("B: as %v", as)
	}
	// Every attachment byte for byte, named by its hash; every .eml listed is there.
	got := map[string][]byte{}
	for _, c := range idx.Conversations {
		for _, m := range c.Messages {
			if m.File != "" && len(files[m.File]) == 0 {
				t.Errorf("%s listed, not in the zip", m.File)
			}
			for _, a := range m.Attachments {
				data := files[a.File]
				if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != a.SHA256 {
					t.Errorf("%s: content does not match its sha256", a.File)
				}
				got[a.Filename] = data
			}
		}
	}
	if !bytes.Equal(got["payslip.pdf"], w.payslip) || !bytes.Equal(got["contract.pdf"], w.contract) {
		t.Errorf("attachments differ: %d and %d bytes", len(got["payslip.pdf"]), len(got["contract.pdf"]))
	}
	// Mail she received in B is hers; Dan's own file came with it (she got
	// it too). The answer only Dan received, and conversation D, are not.
	all := bytes.Join(slices.Collect(func(yield func([]byte) bool) {
		for _, b := range files {
			if !yield(b) {
				return
			}
		}
	}), nil)
	for _, leak := range []string{w.danReplyB, "Verokortti", "my tax card"} {
		if bytes.Contains(all, []byte(leak)) {
			t.Errorf("the export holds %q, which is not Cara's", leak)
		}
	}
	if !bytes.Contains(files["README.txt"], []byte(cara)) {
		t.Error("README does not name the person")
	}
	if n := e.count(t, `SELECT count(*) FROM audit WHERE action = 'export' AND actor = 'cli' AND NOT detail::text LIKE '%acme%'`); n != 1 {
		t.Errorf("%d export audit records without the address, want 1", n)
	}
}

func TestErase(t *testing.T) {
	e := newEnv(t)
	w := build(t, e)
	user := dovecottest.DefaultUser.Name
	numA, numC := e.number(t, w.a), e.number(t, w.c)
	before := e.count(t, `SELECT count(*) FROM messages`)

	// A dry run counts and changes nothing.
	dry, err := privacy.Erase(e.ctx, e.st, store.EraseRequest{Email: cara, Actor: "cli", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dry.Deleted, []int64{numA}) || !slices.Equal(dry.Held, []int64{numC}) || dry.Anonymised != 1 {
		t.Fatalf("dry run: %+v", dry)
	}
	if n := e.count(t, `SELECT count(*) FROM messages`); n != before || e.count(t, `SELECT count(*) FROM imap_deletions`) != 0 {
		t.Fatal("the dry run changed something")
	}

	r, err := privacy.Erase(e.ctx, e.st, store.EraseRequest{Email: cara, Actor: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Deleted, []int64{numA}) || !slices.Equal(r.Held, []int64{numC}) || r.Anonymised != 1 || r.Attachments != 1 ||
		r.Participations != 1 || r.UserErased || r.Counts.IMAPCopies != 1 || r.Copies != 1 {
		t.Fatalf("report %+v", r)
	}
	// A: gone, with its file.
	if e.count(t, `SELECT count(*) FROM conversations WHERE id = $1`, w.a) != 0 {
		t.Error("Cara's own conversation is still there")
	}
	sum := sha256.Sum256(w.payslip)
	if e.count(t, `SELECT count(*) FROM blobs WHERE sha256 = $1`, sum[:]) != 0 {
		t.Error("her payslip is still stored")
	}
	// B: her message emptied, her file gone, her address nowhere; Dan's mail intact.
	if n := e.count(t, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND text_body = $2 AND from_addr LIKE 'erased-%@erased.invalid'
		AND subject = '' AND raw_sha256 IS NULL`, w.b, store.RemovedText); n != 1 {
		t.Errorf("%d emptied messages in B, want 1", n)
	}
	sum = sha256.Sum256(w.contract)
	if e.count(t, `SELECT count(*) FROM blobs WHERE sha256 = $1`, sum[:]) != 0 {
		t.Error("her contract is still stored")
	}
	if n := e.count(t, `SELECT count(*) FROM messages m WHERE m.conversation_id = ANY($1)
		AND (m.from_addr = $2 OR $2 = ANY(m.to_addrs) OR $2 = ANY(m.cc_addrs) OR m.text_body LIKE '%signed contract%')`, []int64{w.b, w.d}, cara); n != 0 {
		t.Errorf("%d messages of B or D still name or quote her", n)
	}
	if e.count(t, `SELECT count(*) FROM participants WHERE email = $1 AND conversation_id <> $2`, cara, w.c) != 0 {
		t.Error("she is still a participant outside the held conversation")
	}
	if e.count(t, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND text_body LIKE $2`, w.b, "%"+w.secretOfDan+"%") != 1 {
		t.Error("Dan's own mail in B was changed")
	}
	// C: under legal hold, untouched; D: not hers, untouched.
	if e.count(t, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND from_addr = $2 AND text_body LIKE '%Diagnoosi%'`, w.c, cara) != 1 {
		t.Error("the held conversation was changed")
	}
	if e.count(t, `SELECT count(*) FROM outbox WHERE recipient = $1 AND conversation_id <> $2`, cara, w.c) != 0 {
		t.Error("mail to her is still queued outside the held conversation")
	}
	// The audit record: who and how much, never her address.
	if n := e.count(t, `SELECT count(*) FROM audit WHERE action = 'erase' AND actor = 'cli' AND detail::text NOT LIKE '%acme%'`); n != 2 {
		t.Errorf("%d erase audit records without the address, want 2 (dry run and real)", n)
	}

	// The server copies go through the deletion queue.
	r2, err := retention.New(e.st, &retention.Options{Logger: slog.New(slog.DiscardHandler), Mailboxes: map[string]*ingest.Options{"payroll": {
		Name: "payroll", Host: e.dovecot.Host, Port: e.dovecot.Port, TLS: ingest.TLSNone, Username: user,
		Password: dovecottest.DefaultUser.Password, Folder: "INBOX", After: ingest.AfterSeen, Logger: slog.New(slog.DiscardHandler)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Deleter().Drain(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := e.dovecot.Folder(t, user, "INBOX"), []uint32{w.uidB, w.uidC, w.uidD}; !slices.Equal(got, want) {
		t.Fatalf("INBOX holds %v, want %v (her mails %d and %d deleted)", got, want, w.uidA, w.uidB2)
	}

	// A repeat finds nothing more to do.
	snapshot := func() string {
		var s string
		if err := e.st.Pool().QueryRow(e.ctx, `SELECT (SELECT count(*) FROM conversations) || '/' || (SELECT count(*) FROM messages) || '/' ||
			(SELECT count(*) FROM attachments) || '/' || (SELECT count(*) FROM outbox) || '/' || (SELECT count(*) FROM imap_deletions) || '/' ||
			(SELECT string_agg(md5(text_body), ',' ORDER BY id) FROM messages)`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	was := snapshot()
	again, err := privacy.Erase(e.ctx, e.st, store.EraseRequest{Email: cara, Actor: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Deleted) != 0 || again.Anonymised != 0 || again.Copies != 0 || again.OutboxRows != 0 || !slices.Equal(again.Held, []int64{numC}) {
		t.Fatalf("repeat: %+v", again)
	}
	if snapshot() != was {
		t.Fatal("the repeat changed something")
	}

	// The hold released, the last of her goes, and her user row with it.
	if _, err := e.st.Pool().Exec(e.ctx, `UPDATE conversations SET legal_hold = false WHERE id = $1`, w.c); err != nil {
		t.Fatal(err)
	}
	last, err := privacy.Erase(e.ctx, e.st, store.EraseRequest{Email: cara, Actor: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(last.Deleted, []int64{numC}) || !last.UserErased {
		t.Fatalf("after the hold: %+v", last)
	}
	if _, err := e.st.UserByEmail(e.ctx, cara); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("her user row still answers to her address: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM messages WHERE from_addr = $1 OR $1 = ANY(to_addrs) OR $1 = ANY(cc_addrs)`, cara); n != 0 {
		t.Fatalf("%d messages still name her", n)
	}
}

func TestEraseRefusesAConfiguredUser(t *testing.T) {
	e := newEnv(t)
	if _, err := privacy.Erase(e.ctx, e.st, store.EraseRequest{Email: "aino.handler@example.com", Actor: "cli"}); !errors.Is(err, privacy.ErrConfigured) {
		t.Fatalf("erasing a configured user: %v", err)
	}
}
