package web_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postdesk/conversation"
	"postdesk/store"
	"postdesk/web"
)

// Staff act on a conversation from its page: every action goes through the
// rules, answers with a redirect back (post/redirect/get) and a message.
func TestConversationActions(t *testing.T) {
	f := setup(t)
	conv := f.open("cara.customer@acme.example", "payroll", "Salary for October")
	path := fmt.Sprintf("/conversations/%d", conv.ID)
	lea := f.login("lea.lead@example.com")

	step := func(action string, form url.Values, flash string) string {
		t.Helper()
		res, body := lea.post(path+"/"+action, form)
		wantStatus(t, action, res, body, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, path) {
			t.Fatalf("%s: redirected to %q", action, loc)
		}
		res, body = lea.follow(res)
		wantStatus(t, action+" page", res, body, http.StatusOK)
		if !strings.Contains(body, flash) {
			t.Fatalf("%s: no message %q", action, flash)
		}
		// The message is shown once.
		if _, again := lea.get(path); strings.Contains(again, `class="flash"`) {
			t.Fatalf("%s: the message shows twice", action)
		}
		return body
	}
	step("take", nil, "You are now the Handler.")
	body := step("reply", url.Values{"body": {"We will fix it <b>today</b>."}}, "Your reply was sent to the customer.")
	if !strings.Contains(body, "We will fix it &lt;b&gt;today&lt;/b&gt;.") {
		t.Fatal("the reply is not shown as escaped text")
	}
	step("note", url.Values{"note": {"Payroll run is on Friday."}}, "The internal note was added.")
	step("receivers", url.Values{"roles": {"payroll-team", "hr-team"}}, "The receivers were changed.")
	// The assignee must be of the company the conversation is about, and
	// the company cannot move away from its customer's.
	res, refused := lea.post(path+"/describe", url.Values{"company": {"Acme Oy"}, "assignee": {"otto.other@globex.example"}})
	wantStatus(t, "describe with an outsider", res, refused, http.StatusBadRequest)
	if !strings.Contains(refused, "not of the company") {
		t.Fatalf("the refusal does not say why:\n%s", refused)
	}
	res, refused = lea.post(path+"/describe", url.Values{"company": {"Globex Oy"}})
	wantStatus(t, "describe as another company", res, refused, http.StatusBadRequest)
	if !strings.Contains(refused, "belong to the new one: cara.customer@acme.example does not") {
		t.Fatalf("the refusal does not say why:\n%s", refused)
	}
	body = step("describe", url.Values{"company": {"Acme Oy"}, "person": {"Pekka Employee"}, "assignee": {"olga.other@acme.example"}}, "Saved.")
	for _, want := range []string{"Acme Oy", "Pekka Employee", "olga.other@acme.example", "Receivers changed to HR team, Payroll team"} {
		if !strings.Contains(body, want) {
			t.Errorf("after describe: page lacks %q", want)
		}
	}
	step("assign", url.Values{"user": {"ben.payroll@example.com"}}, "The Handler was changed.")
	step("hold", url.Values{"hold": {"1"}}, "Legal hold set")
	step("solve", nil, "Marked Solved.")
	body = step("reopen", nil, "Reopened.")
	if !strings.Contains(body, "Reopened by Lea Lead") {
		t.Fatal("no reopened event in the timeline")
	}
	got := f.conv(conv.ID)
	ben := f.actor("ben.payroll@example.com")
	if got.Status != store.StatusOpen || got.HandlerID == nil || *got.HandlerID != ben.User.ID || !got.LegalHold || len(got.RoleIDs) != 2 || got.AssigneeID == nil {
		t.Fatalf("conversation after the actions: %+v", got)
	}

	// Invalid input: the page again, 400, the reason, and the text kept.
	res, body = lea.post(path+"/reply", url.Values{"body": {"   "}})
	wantStatus(t, "empty reply", res, body, http.StatusBadRequest)
	if !strings.Contains(body, "Message is empty.") {
		t.Fatalf("no reason:\n%s", body)
	}
	res, body = lea.post(path+"/note", url.Values{"note": {""}})
	wantStatus(t, "empty note", res, body, http.StatusBadRequest)
	res, body = lea.post(path+"/receivers", url.Values{"roles": {"no-such-role"}})
	wantStatus(t, "unknown role", res, body, http.StatusBadRequest)
	res, body = lea.post(path+"/frobnicate", nil)
	wantStatus(t, "unknown action", res, body, http.StatusNotFound)
	res, body = lea.get("/conversations/999999")
	wantStatus(t, "no such conversation", res, body, http.StatusNotFound)
	res, body = lea.get("/conversations/abc")
	wantStatus(t, "bad id", res, body, http.StatusNotFound)

	// A reply with files, multipart.
	res, body = lea.postMultipart(path+"/reply", url.Values{"body": {"Corrected payslip attached."}},
		upload{"payslip ä.pdf", "application/pdf", []byte("%PDF-1.4 fixed")}, upload{"notes.html", "text/html", []byte("<script>x</script>")})
	wantStatus(t, "reply with files", res, body, http.StatusSeeOther)
	_, body = lea.get(path)
	for _, want := range []string{"payslip ä.pdf", "notes.html"} {
		if !strings.Contains(body, want) {
			t.Fatalf("page lacks the file %q", want)
		}
	}
	v, _ := f.svc.Get(f.ctx, f.actor("lea.lead@example.com"), conv.ID)
	files := v.Messages[len(v.Messages)-1].Attachments
	if len(files) != 2 {
		t.Fatalf("files %+v", files)
	}
	for _, a := range files {
		res, data := lea.get("/attachments/" + a.ID)
		switch a.Filename {
		case "payslip ä.pdf":
			if res.Header.Get("Content-Type") != "application/pdf" || data != "%PDF-1.4 fixed" ||
				res.Header.Get("Content-Disposition") != `attachment; filename="payslip _.pdf"; filename*=UTF-8''payslip%20%C3%A4.pdf` {
				t.Errorf("pdf: %v", res.Header)
			}
		case "notes.html":
			if res.Header.Get("Content-Type") != "application/octet-stream" {
				t.Errorf("html file served as %q", res.Header.Get("Content-Type"))
			}
		}
	}
	// The customer got the answers by mail, as from the mail client.
	items, _ := f.st.OutboxFor(f.ctx, conv.ID)
	answers := 0
	for _, it := range items {
		if it.Template == store.TemplateAnswer && it.Recipient == "cara.customer@acme.example" {
			answers++
		}
	}
	if answers != 2 {
		t.Fatalf("%d answers queued for the customer, want 2", answers)
	}
}

// The "Send new message" form: receivers preset from the category (a second
// round trip without the script), invalid input kept, a new conversation.
func TestNewMessageForm(t *testing.T) {
	f := setup(t)
	aino := f.login("aino.handler@example.com")
	res, body := aino.get("/new?category=sick-leave")
	wantStatus(t, "form", res, body, http.StatusOK)
	if !strings.Contains(body, `value="hr-team" checked`) || strings.Contains(body, `value="payroll-team" checked`) {
		t.Fatal("?category=sick-leave does not preset HR team")
	}
	if !strings.Contains(body, `<script src="/static/app.js?v=`) {
		t.Fatal("the form page does not load its script")
	}
	// Without the script: "Use the category's receivers" posts the form back.
	res, body = aino.postMultipart("/new", url.Values{"category": {"payroll"}, "subject": {"Kept subject"}, "roles": {"hr-team"}, "preset": {"1"}})
	wantStatus(t, "preset", res, body, http.StatusOK)
	if !strings.Contains(body, `value="payroll-team" checked`) || strings.Contains(body, `value="hr-team" checked`) || !strings.Contains(body, `value="Kept subject"`) {
		t.Fatal("the preset round trip does not preset Payroll team and keep the subject")
	}
	// Invalid: 400, the message, what was typed.
	res, body = aino.postMultipart("/new", url.Values{"category": {"payroll"}, "subject": {""}, "body": {"Typed text"}, "roles": {"payroll-team"}},
		upload{"a.txt", "text/plain", []byte("x")})
	wantStatus(t, "empty subject", res, body, http.StatusBadRequest)
	for _, want := range []string{"Subject is empty.", "Typed text", "Please choose the attachments again."} {
		if !strings.Contains(body, want) {
			t.Errorf("invalid form lacks %q", want)
		}
	}
	res, body = aino.postMultipart("/new", url.Values{"category": {"payroll"}, "subject": {"s"}, "body": {"b"}})
	wantStatus(t, "no receivers ticked", res, body, http.StatusBadRequest)
	// Valid: the conversation, routed to the ticked roles, with company and person.
	res, body = aino.postMultipart("/new", url.Values{"category": {"payroll"}, "subject": {"Tax card for Pekka"}, "body": {"See attached."},
		"roles": {"payroll-team", "hr-team"}, "company": {"Globex Oy"}, "person": {"Pekka Employee"}},
		upload{"card.pdf", "application/pdf", []byte("%PDF")}, upload{"second.txt", "text/plain", []byte("two")})
	wantStatus(t, "send", res, body, http.StatusSeeOther)
	res, body = aino.follow(res)
	wantStatus(t, "the new conversation", res, body, http.StatusOK)
	for _, want := range []string{"Your message was sent as #", "Tax card for Pekka", "card.pdf", "second.txt", "Globex Oy", "Pekka Employee", "HR team, Payroll team"} {
		if !strings.Contains(body, want) {
			t.Errorf("new conversation page lacks %q", want)
		}
	}

	// A customer's form: preset receivers only; the conversation goes there.
	cara := f.login("cara.customer@acme.example")
	res, body = cara.postMultipart("/new", url.Values{"category": {"sick-leave"}, "subject": {"Sick since Monday"}, "body": {"Fever."}})
	wantStatus(t, "customer sends", res, body, http.StatusSeeOther)
	p, _ := f.svc.List(f.ctx, f.actor("cara.customer@acme.example"), conversation.Filter{})
	if len(p.Conversations) != 1 || p.Conversations[0].CategoryKey != "sick-leave" {
		t.Fatalf("customer's conversations: %+v", p.Conversations)
	}
	roles, _ := f.st.RolesByIDs(f.ctx, p.Conversations[0].RoleIDs)
	if len(roles) != 1 || roles[0].Key != "hr-team" {
		t.Fatalf("routed to %+v, want HR team", roles)
	}
	// Too large: refused with a clear message.
	big := make([]byte, 26<<20)
	res, body = cara.postMultipart("/new", url.Values{"category": {"payroll"}, "subject": {"big"}, "body": {"x"}}, upload{"big.bin", "application/octet-stream", big})
	wantStatus(t, "too large", res, body, http.StatusRequestEntityTooLarge)
	if !strings.Contains(body, "at most 25 MB") {
		t.Fatalf("no clear message:\n%s", body)
	}
}

// The inbox filters: status, category, role, handled by me, search.
func TestInboxFilters(t *testing.T) {
	f := setup(t)
	a := f.open("cara.customer@acme.example", "payroll", "Overtime in October")
	f.open("mika.manager@acme.example", "payroll", "Holiday pay question")
	lea := f.actor("lea.lead@example.com")
	if err := f.svc.Take(f.ctx, lea, a.ID); err != nil {
		t.Fatal(err)
	}
	c := f.login("lea.lead@example.com")
	for _, tc := range []struct {
		query string
		want  []string
		not   []string
	}{
		{"", []string{"Overtime in October", "Holiday pay question"}, nil},
		{"?status=open", []string{"Overtime in October"}, []string{"Holiday pay question"}},
		{"?status=new", []string{"Holiday pay question"}, []string{"Overtime in October"}},
		{"?mine=1", []string{"Overtime in October"}, []string{"Holiday pay question"}},
		{"?q=holiday", []string{"Holiday pay question"}, []string{"Overtime in October"}},
		{"?category=sick-leave", nil, []string{"Overtime in October", "Holiday pay question"}},
		{"?role=payroll-team", []string{"Overtime in October", "Holiday pay question"}, nil},
	} {
		res, body := c.get("/" + tc.query)
		wantStatus(t, "inbox "+tc.query, res, body, http.StatusOK)
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("inbox %s lacks %q", tc.query, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(body, n) {
				t.Errorf("inbox %s shows %q", tc.query, n)
			}
		}
	}
	res, body := c.get("/?status=bogus")
	wantStatus(t, "bad status", res, body, http.StatusBadRequest)
	if !strings.Contains(body, "Unknown status") {
		t.Fatalf("no reason:\n%s", body)
	}
}

// templates_dir/web/NAME overrides the embedded file of that name.
func TestTemplatesDirOverrides(t *testing.T) {
	f := setup(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "web", "static"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "web", "static", "style.css"), []byte("body { color: teal }"), 0o644)                        //nolint:errcheck
	os.WriteFile(filepath.Join(dir, "web", "error.html"), []byte(`{{define "content"}}<p>Custom {{.Status}}</p>{{end}}`), 0o644) //nolint:errcheck
	h, err := web.New(&web.Options{Store: f.st, Service: f.svc, Secret: testSecret, TemplatesDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := f.anonymous()
	for path, want := range map[string]string{"/static/style.css": "color: teal", "/login": "Sign in"} {
		res, err := c.hc.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(b), want) {
			t.Errorf("%s: %q lacks %q", path, b, want)
		}
	}
	// A file that overrides nothing is a typo, refused at start.
	os.WriteFile(filepath.Join(dir, "web", "inbox.htm"), []byte("x"), 0o644) //nolint:errcheck
	if _, err := web.New(&web.Options{Store: f.st, Service: f.svc, Secret: testSecret, TemplatesDir: dir}); err == nil || !strings.Contains(err.Error(), "inbox.htm") {
		t.Fatalf("a misnamed override: %v", err)
	}
	os.Remove(filepath.Join(dir, "web", "inbox.htm")) //nolint:errcheck
	// A template that does not parse is an error at start, not at the first request.
	os.WriteFile(filepath.Join(dir, "web", "error.html"), []byte(`{{define "content"}}{{.Oops`), 0o644) //nolint:errcheck
	if _, err := web.New(&web.Options{Store: f.st, Service: f.svc, Secret: testSecret, TemplatesDir: dir}); err == nil {
		t.Fatal("a broken template was accepted")
	}
}

// postdesk dev's sandbox mail page lists what the sandbox captured, escaped,
// to signed-in staff; to anyone else, and without a sandbox, there is no
// such page.
func TestSandboxMailPage(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	f := setup(t, func(o *web.Options) {
		o.SandboxMail = func() []web.CapturedMail {
			return []web.CapturedMail{{At: at, From: "payroll@example.com", To: []string{"aino.handler@example.com"},
				Subject: `[#1000] New message <script>alert(1)</script>`, Size: 1234, Mailboxes: []string{"aino.handler@example.com"}}}
		}
	})
	res, body := f.anonymous().get("/sandbox")
	if res.StatusCode == http.StatusOK && strings.Contains(body, "[#1000]") {
		t.Fatal("the sandbox page is open without signing in")
	}
	res, body = f.login("aino.handler@example.com").get("/sandbox")
	wantStatus(t, "sandbox", res, body, http.StatusOK)
	for _, want := range []string{"[#1000] New message &lt;script&gt;", "aino.handler@example.com", "1234 bytes", `href="/sandbox"`} {
		if !strings.Contains(body, want) {
			t.Errorf("sandbox page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Fatal("a captured subject reached the page unescaped")
	}
	for _, who := range []string{"cara.customer@acme.example", "mika.manager@acme.example"} {
		c := f.login(who)
		res, body := c.get("/sandbox")
		wantStatus(t, who+" sandbox", res, body, http.StatusNotFound)
		if strings.Contains(body, "[#1000]") {
			t.Fatalf("%s: the 404 shows captured mail", who)
		}
		if _, inbox := c.get("/"); strings.Contains(inbox, `href="/sandbox"`) {
			t.Fatalf("%s is shown the sandbox link", who)
		}
	}
}

func TestNoSandboxPageOutsideDev(t *testing.T) {
	f := setup(t)
	res, body := f.login("aino.handler@example.com").get("/sandbox")
	wantStatus(t, "sandbox without a sandbox", res, body, http.StatusNotFound)
	if _, inbox := f.login("ben.payroll@example.com").get("/"); strings.Contains(inbox, `href="/sandbox"`) {
		t.Fatal("the sandbox link shows outside postdesk dev")
	}
}
