package web_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"postdesk/conversation"
	"postdesk/senderauth"
	"postdesk/store"
	"postdesk/threading"
	"postdesk/web"
)

// A staff reply by mail that failed DMARC is held: staff see it with the
// reason, the customer does not, and only Aino, whose address it claims,
// can send it as her reply with one click; then the customer gets it.
func TestHeldReplyReleasedThroughTheWeb(t *testing.T) {
	var svc *conversation.Service
	sg, err := threading.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	f := setup(t, func(o *web.Options) {
		svc = conversation.New(o.Store, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg,
			SenderAuth: &senderauth.Policy{AuthservIDs: []string{"mx.example.com"}, RequirePass: true}, Logger: slog.New(slog.DiscardHandler)})
		o.Service = svc
	})
	f.svc = svc
	receive := func(uid uint32, raw string) *conversation.Received {
		t.Helper()
		r, err := svc.Receive(f.ctx, conversation.Inbound{UID: uid, DefaultCategory: "payroll",
			Raw: []byte(strings.ReplaceAll(strings.TrimLeft(raw, "\n"), "\n", "\r\n"))})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := receive(1, `
From: Cara Customer <cara.customer@acme.example>
To: payroll@example.com
Subject: Salary for October
Message-ID: <first.1@acme.example>

My October salary was short.
`)
	conv := first.ConversationID
	aino := f.actor("aino.handler@example.com")
	addr, err := threading.PlusAddress("payroll@example.com", sg.Sign(threading.Token{Conversation: conv, Recipient: aino.User.ID}))
	if err != nil {
		t.Fatal(err)
	}
	held := receive(2, fmt.Sprintf(`
Authentication-Results: mx.example.com; dkim=none; dmarc=fail header.from=example.com
Received: from evil.example by mx.example.com (Postfix) with ESMTP id 2; Tue, 1 Dec 2026 08:00:00 +0000
From: Aino Handler <aino.handler@example.com>
To: %s
Subject: Re: Salary for October
Message-ID: <spoof.2@evil.example>

The difference is paid on the 15th.
`, addr))
	page := fmt.Sprintf("/conversations/%d", conv)
	release := fmt.Sprintf("/conversations/%d/release", conv)
	answers := func() int {
		items, _ := f.st.OutboxFor(f.ctx, conv)
		n := 0
		for _, it := range items {
			if it.Template == store.TemplateAnswer && it.Recipient == "cara.customer@acme.example" {
				n++
			}
		}
		return n
	}
	if answers() != 0 {
		t.Fatal("the unverified reply was sent")
	}

	cara := f.login("cara.customer@acme.example")
	if _, body := cara.get(page); strings.Contains(body, "paid on the 15th") || strings.Contains(body, "Held reply") || strings.Contains(body, "not verified") {
		t.Fatalf("the customer sees the held reply:\n%s", body)
	}
	res, body := cara.post(release, url.Values{"message": {fmt.Sprint(held.MessageID)}})
	wantStatus(t, "customer releases", res, body, http.StatusNotFound)

	ben := f.login("ben.payroll@example.com")
	_, body = ben.get(page)
	// Cara's mail carried no Authentication-Results: marked for staff.
	if !strings.Contains(body, "Held reply: not sent") || !strings.Contains(body, "dmarc=fail") || strings.Contains(body, "Send as my reply") ||
		!strings.Contains(body, `title="no Authentication-Results header from a trusted host">Sender not verified`) {
		t.Fatalf("Ben's view of Aino's held reply:\n%s", body)
	}
	res, body = ben.post(release, url.Values{"message": {fmt.Sprint(held.MessageID)}})
	wantStatus(t, "another staff member releases", res, body, http.StatusForbidden)

	a := f.login("aino.handler@example.com")
	res, body = a.post(release, url.Values{"message": {fmt.Sprint(held.MessageID)}, "csrf": {"forged"}})
	wantStatus(t, "a release with a bad CSRF token", res, body, http.StatusForbidden)
	if answers() != 0 {
		t.Fatal("refused releases sent the reply")
	}
	_, body = a.get(page)
	if !strings.Contains(body, "Send as my reply") {
		t.Fatalf("Aino has no release button:\n%s", body)
	}
	res, body = a.post(release, url.Values{"message": {fmt.Sprint(held.MessageID)}})
	wantStatus(t, "Aino releases", res, body, http.StatusSeeOther)
	if answers() != 1 {
		t.Fatal("the released reply was not sent to the customer")
	}
	if _, body := cara.get(page); !strings.Contains(body, "paid on the 15th") {
		t.Fatalf("the customer does not see the released reply:\n%s", body)
	}
	res, body = a.post(release, url.Values{"message": {fmt.Sprint(held.MessageID)}})
	if res.StatusCode != http.StatusBadRequest || answers() != 1 {
		t.Fatalf("a second release: %d, %d answers\n%s", res.StatusCode, answers(), body)
	}
}

// A display name posing as another address: the page and the API show the
// real address, with a warning.
func TestMisleadingDisplayName(t *testing.T) {
	f := setup(t)
	r, err := f.svc.Receive(f.ctx, conversation.Inbound{UID: 1, DefaultCategory: "payroll", Raw: []byte(
		"From: \"aino.handler@example.com\" <evil@x.example>\r\nTo: payroll@example.com\r\nSubject: Pay me\r\nMessage-ID: <e1@x.example>\r\n\r\nHi\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	c := f.login("aino.handler@example.com")
	_, body := c.get(fmt.Sprintf("/conversations/%d", r.ConversationID))
	if !strings.Contains(body, `<span class="addr">evil@x.example</span>`) || !strings.Contains(body, "name is not this address") ||
		strings.Contains(body, `<strong class="sender">aino.handler@example.com`) ||
		!strings.Contains(body, `<dd title="evil@x.example">evil@x.example <span class="tag warn"`) {
		t.Fatalf("the page shows the sender as:\n%s", body)
	}
	_, body = c.get("/")
	if !strings.Contains(body, `<span>evil@x.example <span class="tag warn"`) {
		t.Fatalf("the inbox shows the sender as:\n%s", body)
	}
	var out struct {
		Messages []struct {
			From        string `json:"from"`
			FromName    string `json:"from_name"`
			FromWarning string `json:"from_warning"`
		} `json:"messages"`
	}
	if res, b := f.api("aino.handler@example.com").call("GET", fmt.Sprintf("/conversations/%d", r.ConversationID), nil, &out); res.StatusCode != 200 {
		t.Fatalf("api: %d %s", res.StatusCode, b)
	}
	m := out.Messages[0]
	if m.From != "evil@x.example" || m.FromName != "aino.handler@example.com" || m.FromWarning == "" {
		t.Fatalf("API message %+v", m)
	}
}
