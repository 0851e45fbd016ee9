package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"postdesk/conversation"
	"postdesk/store"
	"postdesk/web"
)

// The control panel: its views and counts, unread marks, the phone menu,
// the skip link and the shortcuts, and live updates over /events.

// panelWorld is the conversations the panel tests count. Payroll team
// (Aino, Ben, Lea) receives mine, waiting, unassigned and solved; HR team's
// is for nobody of payroll to see.
type panelWorld struct {
	mine, waiting, unassigned, solved, hr *store.Conversation
}

func newPanelWorld(t *testing.T, f *fixture) panelWorld {
	t.Helper()
	var w panelWorld
	w.mine = f.open("cara.customer@acme.example", "payroll", "Overtime missing from October salary")
	w.waiting = f.open("cara.customer@acme.example", "payroll", "Holiday pay for the summer")
	w.unassigned = f.open("otto.other@globex.example", "payroll", "Tax card for next year")
	w.solved = f.open("cara.customer@acme.example", "payroll", "Old question about the payslip")
	w.hr = f.open("cara.customer@acme.example", "sick-leave", "Sick leave certificate")
	aino, ben := f.actor("aino.handler@example.com"), f.actor("ben.payroll@example.com")
	if err := f.svc.Take(f.ctx, aino, w.mine.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Reply(f.ctx, ben, w.waiting.ID, "Hi Cara, the holiday pay comes in June.", nil); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Solve(f.ctx, ben, w.solved.ID); err != nil {
		t.Fatal(err)
	}
	return w
}

func count(t *testing.T, what string, got store.ViewCount, total, unread int) {
	t.Helper()
	if got.Total != total || got.Unread != unread {
		t.Errorf("%s: %d conversations (%d unread), want %d (%d unread)", what, got.Total, got.Unread, total, unread)
	}
}

// The counts of each view follow the rule: nobody counts what they may not
// see, the archive is in no other view, and one's own actions are no news.
func TestPanelCountsAndUnread(t *testing.T) {
	f := setup(t)
	w := newPanelWorld(t, f)
	aino, cara, otto := f.actor("aino.handler@example.com"), f.actor("cara.customer@acme.example"), f.actor("otto.other@globex.example")
	counts := func(a *conversation.Actor) *store.Counts {
		t.Helper()
		c, err := f.svc.Counts(f.ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	payroll := f.role("payroll-team")

	c := counts(aino)
	count(t, "Aino open", c.Open, 3, 3)
	count(t, "Aino mine", c.Mine, 1, 1)
	count(t, "Aino unassigned", c.Unassigned, 1, 1)
	count(t, "Aino waiting", c.Waiting, 1, 1)
	count(t, "Aino solved", c.Solved, 1, 0)
	count(t, "Aino payroll team", c.Roles[payroll], 3, 3)
	if len(c.Roles) != 1 {
		t.Errorf("Aino counts roles %v: HR team's conversation is not hers to count", c.Roles)
	}
	// Cara: her own four, news only where someone else wrote or acted.
	c = counts(cara)
	count(t, "Cara open", c.Open, 3, 2)
	count(t, "Cara waiting", c.Waiting, 1, 1)
	count(t, "Cara solved", c.Solved, 1, 0)
	c = counts(otto)
	count(t, "Otto open", c.Open, 1, 0)
	count(t, "Otto solved", c.Solved, 0, 0)

	// Each view lists what it counts.
	for view, want := range map[string][]int64{
		conversation.ViewOpen: {w.mine.ID, w.waiting.ID, w.unassigned.ID}, conversation.ViewMine: {w.mine.ID},
		conversation.ViewUnassigned: {w.unassigned.ID}, conversation.ViewWaiting: {w.waiting.ID},
		conversation.ViewSolved: {w.solved.ID}, "role:payroll-team": {w.mine.ID, w.waiting.ID, w.unassigned.ID},
		"role:hr-team": nil,
	} {
		p, err := f.svc.List(f.ctx, aino, conversation.Filter{View: view})
		if err != nil {
			t.Fatalf("%s: %v", view, err)
		}
		var got []int64
		for _, l := range p.Conversations {
			got = append(got, l.ID)
			if !l.Unread && l.Status != store.StatusSolved {
				t.Errorf("%s: #%d is not unread for Aino", view, l.Number)
			}
		}
		if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
			t.Errorf("view %s lists %v, want %v", view, got, want)
		}
	}
	if _, err := f.svc.List(f.ctx, aino, conversation.Filter{View: "everything"}); err == nil {
		t.Error("an unknown view was listed")
	}

	// Opening the page reads it; the reader's own note is no news, a
	// colleague's is, and a customer never learns of notes.
	ai := f.login("aino.handler@example.com")
	res, body := ai.get(fmt.Sprintf("/conversations/%d", w.mine.ID))
	wantStatus(t, "Aino opens her conversation", res, body, http.StatusOK)
	count(t, "Aino open after reading", counts(aino).Open, 3, 2)
	count(t, "Aino mine after reading", counts(aino).Mine, 1, 0)
	if _, err := f.svc.Note(f.ctx, aino, w.mine.ID, "Checked the hours myself.", nil); err != nil {
		t.Fatal(err)
	}
	count(t, "Aino after her own note", counts(aino).Mine, 1, 0)
	cr := f.login("cara.customer@acme.example")
	res, body = cr.get(fmt.Sprintf("/conversations/%d", w.mine.ID))
	wantStatus(t, "Cara opens her conversation", res, body, http.StatusOK)
	count(t, "Cara after reading", counts(cara).Open, 3, 1)
	if _, err := f.svc.Note(f.ctx, f.actor("ben.payroll@example.com"), w.mine.ID, "Overtime sheet: 6 hours.", nil); err != nil {
		t.Fatal(err)
	}
	count(t, "Aino after Ben's note", counts(aino).Mine, 1, 1)
	count(t, "Cara after Ben's note", counts(cara).Open, 3, 1)

	// The page: the panel's views with their numbers, the list bold where
	// there is news.
	res, body = ai.get("/")
	wantStatus(t, "inbox", res, body, http.StatusOK)
	for _, want := range []string{`data-view="open" aria-current="page"`, `data-view="mine"`, `data-view="unassigned"`,
		`data-view="waiting"`, `data-view="solved"`, `data-view="role:payroll-team"`, "3 conversations", "3 unread"} {
		if !strings.Contains(body, want) {
			t.Errorf("the inbox lacks %q", want)
		}
	}
	if strings.Contains(body, "role:hr-team") || strings.Contains(body, "Sick leave certificate") || strings.Contains(body, "Old question") {
		t.Error("the Open view shows HR team's or the archive's conversation")
	}
	if n := strings.Count(body, `class="unread"`); n != 3 {
		t.Errorf("%d unread rows, want 3", n)
	}
	res, body = cr.get("/")
	wantStatus(t, "Cara's inbox", res, body, http.StatusOK)
	if strings.Contains(body, `data-view="mine"`) || strings.Contains(body, "role:") {
		t.Error("a customer is shown the views of staff")
	}
	res, body = ai.get("/?view=solved")
	wantStatus(t, "archive", res, body, http.StatusOK)
	if !strings.Contains(body, "Old question about the payslip") || strings.Contains(body, "Tax card") {
		t.Errorf("the archive lists:\n%s", body)
	}
	res, _ = ai.get("/?view=nonsense")
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown view: %d, want 400", res.StatusCode)
	}
}

func sorted(ids []int64) []int64 {
	out := append([]int64(nil), ids...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// role is a role's id by key.
func (f *fixture) role(key string) int64 {
	f.t.Helper()
	a := f.actor("lea.lead@example.com")
	for _, r := range a.Roles {
		if r.Key == key {
			return r.ID
		}
	}
	f.t.Fatalf("no role %s among Lea's", key)
	return 0
}

// withLive runs the fan-out of changes for a test's server.
func withLive(t testing.TB) func(*web.Options) {
	return func(o *web.Options) {
		l := web.NewLive(o.Store, o.Service, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		select {
		case <-l.Ready():
		case <-time.After(10 * time.Second):
			t.Fatal("the live listener did not start")
		}
		o.Live = l
	}
}

// panelTexts are what the panel says in each language.
var panelTexts = map[string]struct {
	open, mine, solved, menu, skip, shortcuts, replying string
}{
	"en": {"Open conversations", "Mine", "Solved / archive", "Menu", "Skip to content", "Keyboard shortcuts", "Ben Payroll is replying…"},
	"fi": {"Avoimet", "Omat", "Ratkaistut / arkisto", "Valikko", "Siirry sisältöön", "Pikanäppäimet", "Ben Payroll kirjoittaa vastausta…"},
	"sv": {"Öppna", "Mina", "Lösta / arkiv", "Meny", "Hoppa till innehållet", "Kortkommandon", "Ben Payroll skriver ett svar…"},
}

// Each view with its count, unread rows bold until read, the phone's menu,
// the skip link and the shortcuts, in every language and at both sizes.
func TestBrowserPanel(t *testing.T) {
	f := setup(t, withLive(t))
	w := newPanelWorld(t, f)
	f.setPassword("aino.handler@example.com")
	dir := artifacts(t)
	mine := fmt.Sprintf("/conversations/%d", w.mine.ID)

	for _, lang := range []string{"fi", "sv", "en"} {
		tx := panelTexts[lang]
		p := newPage(t, f, dir, 1366, 900, false)
		p.open("/lang?to=" + lang + "&back=/login")
		p.login("aino.handler@example.com")
		p.waitFor("panel", "document.querySelector('#panel-views a[data-view=open][aria-current=page]')")
		p.wantText("Open view", "Overtime missing from October salary", "Holiday pay for the summer", "Tax card for next year")
		if txt := p.text(); strings.Contains(txt, "Old question about the payslip") || strings.Contains(txt, "Sick leave certificate") {
			t.Fatalf("%s: the Open view shows the archive or HR team's:\n%s", lang, txt)
		}
		panel := eval[string](p, "document.querySelector('.panel').innerText")
		for _, want := range []string{tx.open, tx.mine, tx.solved, "Payroll team"} {
			if !strings.Contains(panel, want) {
				t.Fatalf("%s: the panel lacks %q:\n%s", lang, want, panel)
			}
		}
		if got := eval[string](p, "document.querySelector('#panel-views a[data-view=open] .count [aria-hidden]').textContent"); got != "3" {
			t.Fatalf("%s: Open counts %q", lang, got)
		}
		if lang == "fi" {
			// Each view lists what it counts.
			for view, want := range map[string]string{"mine": "Overtime missing", "unassigned": "Tax card", "waiting": "Holiday pay",
				"solved": "Old question", "role:payroll-team": "Tax card"} {
				p.click("#panel-views a[data-view='"+view+"']", "document.querySelector('#panel-views a[data-view=\""+view+"\"][aria-current=page]')")
				p.wantText(view, want)
				if n := eval[int](p, "document.querySelectorAll('#live-list .convs li').length"); n != eval[int](p,
					"+document.querySelector('#panel-views a[aria-current] .count [aria-hidden]').textContent") {
					t.Fatalf("view %s lists %d rows, not its count", view, n)
				}
				p.shot(fmt.Sprintf("%s-view-%s", lang, strings.ReplaceAll(view, ":", "-")))
			}
			p.click("#panel-views a[data-view=open]", "document.querySelector('#panel-views a[data-view=open][aria-current=page]')")
		}
		p.shot(lang + "-01-inbox-desktop")

		// Unread then read: the row is bold with its mark, and after a visit not.
		if lang == "fi" {
			unread := "document.querySelector(\"#live-list a[data-conversation='" + fmt.Sprint(w.mine.ID) + "']\").closest('li').classList.contains('unread')"
			if !eval[bool](p, unread) {
				t.Fatal("Aino's conversation is not bold before she read it")
			}
			if weight := eval[int](p, "parseInt(getComputedStyle(document.querySelector('#live-list li.unread .subject')).fontWeight)"); weight < 700 {
				t.Fatalf("an unread row's subject weighs %d", weight)
			}
			if label := eval[string](p, "document.querySelector('#live-list li.unread .dot').getAttribute('aria-label')"); label != "Uutta toimintaa" {
				t.Fatalf("the unread mark is labelled %q", label)
			}
			p.click("a[href='"+mine+"']", "location.pathname === '"+mine+"'")
			p.open("/")
			if eval[bool](p, unread) {
				t.Fatal("Aino's conversation is still bold after she read it")
			}
			if got := eval[string](p, "document.querySelector('#panel-views a[data-view=mine]').innerText"); strings.Contains(got, "lukematon") {
				t.Fatalf("Mine still counts unread: %q", got)
			}
			p.shot("fi-02-read")

			// Live: a colleague's note makes it news again, with the page untouched.
			p.waitFor("stream open", "document.documentElement.dataset.liveOpen === '1'")
			if _, err := f.svc.Note(f.ctx, f.actor("ben.payroll@example.com"), w.mine.ID, "Overtime sheet: 6 hours.", nil); err != nil {
				t.Fatal(err)
			}
			p.waitFor("the note makes the row bold again", unread)
			p.waitFor("and the panel counts it", "/1/.test(document.querySelector('#panel-views a[data-view=mine] .unread-count').textContent)")
			p.shot("fi-03-live-unread")
		}

		// The skip link is the first stop of the keyboard, and leads to main.
		p.open("/")
		p.do("tab", chromedp.KeyEvent(kb.Tab))
		if got := eval[string](p, "document.activeElement.textContent"); got != tx.skip {
			t.Fatalf("%s: the first Tab stops at %q, want the skip link", lang, got)
		}
		p.shot(lang + "-04-skip-link")
		p.do("follow the skip link", chromedp.KeyEvent(kb.Enter))
		p.waitFor("focus in main", "document.activeElement.id === 'content'")
		// Shortcuts: ? shows them, Escape hides them, j walks the list,
		// and / goes to the search, none of them while typing.
		p.do("?", chromedp.KeyEvent("?"))
		p.waitFor("shortcuts shown", "!document.getElementById('shortcuts').hidden")
		if got := eval[string](p, "document.getElementById('shortcuts').innerText"); !strings.Contains(got, tx.shortcuts) {
			t.Fatalf("%s: the shortcuts dialog says %q", lang, got)
		}
		p.shot(lang + "-05-shortcuts")
		p.do("escape", chromedp.KeyEvent(kb.Escape))
		p.waitFor("shortcuts hidden", "document.getElementById('shortcuts').hidden")
		p.do("j", chromedp.KeyEvent("j"))
		p.waitFor("j focuses the first conversation", "document.activeElement === document.querySelector('#live-list .convs a')")
		p.do("j", chromedp.KeyEvent("j"))
		p.waitFor("j the second", "document.activeElement === document.querySelectorAll('#live-list .convs a')[1]")
		p.do("k", chromedp.KeyEvent("k"))
		p.waitFor("k back to the first", "document.activeElement === document.querySelector('#live-list .convs a')")
		p.do("/", chromedp.KeyEvent("/"))
		p.waitFor("/ focuses the search", "document.activeElement.id === 'search'")
		// (CDP types a key's character as an event of its own, which the
		// page's keydown cannot cancel: the / may land in the field too.)
		eval[chromedp.Void](p, "document.getElementById('search').value = ''")
		p.do("type j in the search", chromedp.KeyEvent("j"))
		if got := eval[string](p, "document.activeElement.id + ':' + document.activeElement.value"); got != "search:j" {
			t.Fatalf("%s: typing j in the search gave %q: a shortcut fired", lang, got)
		}

		// The phone: the panel is a menu button, closed until pressed.
		m := newPage(t, f, dir, 390, 844, true)
		m.open("/lang?to=" + lang + "&back=/login")
		m.login("aino.handler@example.com")
		m.waitFor("menu button", "!document.querySelector('.menu-button').hidden")
		if eval[bool](m, "getComputedStyle(document.getElementById('panel-body')).display !== 'none'") {
			t.Fatalf("%s: the panel is open on a phone before the menu is pressed", lang)
		}
		if got := eval[string](m, "document.querySelector('.menu-button').textContent"); got != tx.menu {
			t.Fatalf("%s: the menu button says %q", lang, got)
		}
		m.wantText("phone inbox", "Overtime missing from October salary")
		m.shot(lang + "-06-phone-closed")
		m.do("press the menu", chromedp.Click(chromedp.CSS(".menu-button")))
		m.waitFor("menu open", "getComputedStyle(document.getElementById('panel-body')).display !== 'none' && "+
			"document.querySelector('.menu-button').getAttribute('aria-expanded') === 'true'")
		m.shot(lang + "-07-phone-menu")
		m.click("#panel-views a[data-view=solved]", "document.querySelector('#panel-views a[data-view=solved][aria-current=page]')")
		m.wantText("phone archive", "Old question about the payslip")
		m.shot(lang + "-08-phone-archive")
	}
}

// Without script the phone's menu still opens: the checkbox behind its label.
func TestBrowserPanelMenuWithoutScript(t *testing.T) {
	f := setup(t)
	f.setPassword("aino.handler@example.com")
	dir := artifacts(t)
	m := newPage(t, f, dir, 390, 844, true)
	m.login("aino.handler@example.com")
	// As the page is without live.js: the checkbox and its label, no button.
	eval[chromedp.Void](m, `(function(){
		document.getElementById('menu-toggle').hidden = false;
		document.querySelector('.menu-label').hidden = false;
		document.querySelector('.menu-button').hidden = true;
	})()`)
	if eval[bool](m, "getComputedStyle(document.getElementById('panel-body')).display !== 'none'") {
		t.Fatal("the panel is open before the menu is pressed")
	}
	m.do("press the label", chromedp.Click(chromedp.CSS(".menu-label")))
	m.waitFor("menu open", "getComputedStyle(document.getElementById('panel-body')).display !== 'none'")
	m.shot("01-phone-menu-no-script")
}

// Typing a reply shows "X is replying…" to the other staff on that
// conversation, in their language; the notice is rate-limited, and only
// staff of the conversation may send one.
func TestBrowserTypingNotice(t *testing.T) {
	f := setup(t, withLive(t))
	w := newPanelWorld(t, f)
	f.setPassword("aino.handler@example.com")
	f.setPassword("ben.payroll@example.com")
	dir := artifacts(t)
	path := fmt.Sprintf("/conversations/%d", w.mine.ID)

	aino := newPage(t, f, dir, 1366, 900, false)
	aino.open("/lang?to=fi&back=/login")
	aino.login("aino.handler@example.com")
	// The shortcuts of a conversation: j and k walk the view it was opened
	// from, r and n open the reply and the note.
	first := eval[string](aino, "document.querySelector('#live-list .convs a').getAttribute('href')")
	second := eval[string](aino, "document.querySelectorAll('#live-list .convs a')[1].getAttribute('href')")
	aino.click("#live-list .convs a", "location.pathname === '"+first+"'")
	aino.do("j", chromedp.KeyEvent("j"))
	aino.waitFor("j opens the next conversation of the view", "location.pathname === '"+second+"' && document.readyState === 'complete'")
	aino.do("k", chromedp.KeyEvent("k"))
	aino.waitFor("k goes back", "location.pathname === '"+first+"' && document.readyState === 'complete'")
	aino.open(path)
	aino.do("r", chromedp.KeyEvent("r"))
	aino.waitFor("r focuses the reply", "document.activeElement === document.querySelector(\"form[action$='/reply'] textarea\")")
	eval[chromedp.Void](aino, "document.activeElement.blur()")
	aino.do("n", chromedp.KeyEvent("n"))
	aino.waitFor("n opens and focuses the note", "document.activeElement === document.querySelector(\"form[action$='/note'] textarea\")")
	aino.shot("00-note-by-shortcut")
	// (The key's character, a CDP event of its own, lands in the field the
	// shortcut focused; a browser's keydown would have cancelled it.)
	eval[chromedp.Void](aino, "document.querySelectorAll('textarea').forEach(function (t) { t.value = '' }); document.activeElement.blur(); window.scrollTo(0, 0)")
	aino.waitFor("stream open", "document.documentElement.dataset.liveOpen === '1'")

	ben := newPage(t, f, dir, 390, 844, true)
	ben.login("ben.payroll@example.com")
	ben.open(path)
	ben.do("type a reply", chromedp.SendKeys(chromedp.CSS("form[action$='/reply'] textarea"), "Hi Cara"))
	aino.waitFor("Aino sees Ben replying", "!document.getElementById('typing').hidden")
	eval[chromedp.Void](aino, "window.scrollTo(0, 0)")
	if got := eval[string](aino, "document.getElementById('typing').textContent"); got != panelTexts["fi"].replying {
		t.Fatalf("the notice says %q", got)
	}
	aino.shot("01-ben-is-replying")

	// A customer may not announce typing, even on her own conversation.
	cara := f.login("cara.customer@acme.example")
	res, body := cara.post(path+"/typing", nil)
	wantStatus(t, "a customer's typing notice", res, body, http.StatusNotFound)

	// The live thread: Ben's reply appears on Aino's page by itself.
	ben.click("form[action$='/reply'] button[type=submit]", "document.querySelector('.flash')")
	aino.waitFor("the reply appears in place", "document.querySelector('.timeline').innerText.indexOf('Hi Cara') >= 0")
	aino.waitFor("the notice goes with the reply", "document.getElementById('typing').hidden")
	aino.shot("02-reply-in-place")
}

// The API lists the same views as the panel; without one, everything.
func TestAPIViews(t *testing.T) {
	f := setup(t)
	w := newPanelWorld(t, f)
	api := f.api("aino.handler@example.com")
	type listed struct {
		Conversations []struct {
			ID int64 `json:"id"`
		} `json:"conversations"`
	}
	ids := func(path string) []int64 {
		t.Helper()
		var out listed
		res, body := api.call("GET", path, nil, &out)
		wantStatus(t, path, res, body, http.StatusOK)
		var got []int64
		for _, c := range out.Conversations {
			got = append(got, c.ID)
		}
		return sorted(got)
	}
	for path, want := range map[string][]int64{
		"/conversations":                        {w.mine.ID, w.waiting.ID, w.unassigned.ID, w.solved.ID},
		"/conversations?view=open":              {w.mine.ID, w.waiting.ID, w.unassigned.ID},
		"/conversations?view=mine":              {w.mine.ID},
		"/conversations?view=unassigned":        {w.unassigned.ID},
		"/conversations?view=waiting":           {w.waiting.ID},
		"/conversations?view=solved":            {w.solved.ID},
		"/conversations?view=role:payroll-team": {w.mine.ID, w.waiting.ID, w.unassigned.ID},
		"/conversations?view=role:hr-team":      nil,
	} {
		if got := ids(path); fmt.Sprint(got) != fmt.Sprint(sorted(want)) {
			t.Errorf("%s: %v, want %v", path, got, sorted(want))
		}
	}
	res, body := api.call("GET", "/conversations?view=bogus", nil, nil)
	wantStatus(t, "an unknown view", res, body, http.StatusBadRequest)
}

// sseStream reads a stream's events as "name data" lines.
func sseStream(t *testing.T, c *client, path string) (<-chan string, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	events := make(chan string, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(res.Body)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data:") && name != "":
				events <- name + " " + strings.TrimSpace(strings.TrimPrefix(line, "data:"))
				name = ""
			case strings.HasPrefix(line, ": ready"):
				events <- "ready"
			}
		}
	}()
	return events, res
}

// next waits for an event of the given name; what came before it is
// returned too.
func nextEvent(t *testing.T, events <-chan string, want string) []string {
	t.Helper()
	var seen []string
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("the stream ended before %q (saw %v)", want, seen)
			}
			seen = append(seen, e)
			if e == want {
				return seen
			}
		case <-deadline:
			t.Fatalf("no %q on the stream within 10 s (saw %v)", want, seen)
		}
	}
}

// The stream tells each user only of the conversations the rule lets them
// see, and only a signed-in user gets one.
func TestEventsFollowTheRule(t *testing.T) {
	f := setup(t, withLive(t))
	anon := f.anonymous()
	res, _ := anon.get("/events")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("a stream without a session: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	aino, hilla := f.login("aino.handler@example.com"), f.login("hilla.hr@example.com")
	ae, res := sseStream(t, aino, "/events")
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	he, _ := sseStream(t, hilla, "/events")
	nextEvent(t, ae, "ready")
	nextEvent(t, he, "ready")

	hr := f.open("cara.customer@acme.example", "sick-leave", "Sick leave certificate")
	nextEvent(t, he, fmt.Sprintf("conversation %d", hr.ID))
	// Every stream was told of hr in the same pass as Hilla's: what Aino
	// is told before the next conversation shows whether she learnt of it.
	payroll := f.open("cara.customer@acme.example", "payroll", "Overtime missing from October salary")
	for _, e := range nextEvent(t, ae, fmt.Sprintf("conversation %d", payroll.ID)) {
		if e == fmt.Sprintf("conversation %d", hr.ID) {
			t.Fatal("Aino's stream named HR team's conversation")
		}
	}
	// A note is news for the staff of the conversation.
	if _, err := f.svc.Note(f.ctx, f.actor("ben.payroll@example.com"), payroll.ID, "Checked.", nil); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ae, fmt.Sprintf("conversation %d", payroll.ID))
}

// The archive is counted up to 1000, and said to hold more.
func TestPanelArchiveCap(t *testing.T) {
	f := setup(t)
	otto, ben := f.actor("otto.other@globex.example"), f.actor("ben.payroll@example.com")
	const n = 1001
	errs := make(chan error, n)
	work := make(chan int)
	for range 8 {
		go func() {
			for i := range work {
				c, err := f.svc.Open(f.ctx, otto, conversation.NewRequest{Category: "payroll", Subject: fmt.Sprintf("Old question %d", i), Body: "Hello."})
				if err == nil {
					err = f.svc.Solve(f.ctx, ben, c.ID)
				}
				errs <- err
			}
		}()
	}
	go func() {
		for i := range n {
			work <- i
		}
		close(work)
	}()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, who := range []string{"aino.handler@example.com", "otto.other@globex.example"} {
		c, err := f.svc.Counts(f.ctx, f.actor(who))
		if err != nil {
			t.Fatal(err)
		}
		if c.Solved.Total != 1000 || !c.SolvedMore || c.Open.Total != 0 {
			t.Errorf("%s: solved %d (more %v), open %d; want 1000, more, 0", who, c.Solved.Total, c.SolvedMore, c.Open.Total)
		}
	}
	c, err := f.svc.Counts(f.ctx, f.actor("hilla.hr@example.com"))
	if err != nil || c.Solved.Total != 0 || c.SolvedMore {
		t.Errorf("Hilla counts %+v (%v): none of them is HR team's", c, err)
	}
	res, body := f.login("aino.handler@example.com").get("/")
	wantStatus(t, "inbox", res, body, http.StatusOK)
	if !strings.Contains(body, `<span aria-hidden="true">1000+</span>`) || !strings.Contains(body, "More than 1,000 conversations") {
		t.Errorf("the panel does not say the archive holds more than 1000:\n%s", body)
	}
}
