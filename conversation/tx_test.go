package conversation_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"postdesk/conversation"
	"postdesk/store"
	"postdesk/threading"
)

// A staff reply by mail looks up its author's roles inside the delivery
// transaction. On a pool of one connection, that works only when the lookup
// uses the transaction: a second connection would never come. Concurrent
// replies queue for the one connection instead of stalling.
func TestStaffMailOnPoolOfOne(t *testing.T) {
	f := setup(t)
	sg := f.withSigner(0)
	first := f.receive(1, mail(firstMail, "Hello\n"))
	c := f.get(first.ConversationID)
	aino := f.actor("aino.handler@example.com")

	u, err := url.Parse(f.st.Pool().Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()
	one, err := store.Open(f.ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if n := one.Pool().Config().MaxConns; n != 1 {
		t.Fatalf("pool of %d", n)
	}
	svc := conversation.New(one, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg})
	addr, err := threading.PlusAddress("payroll@example.com", sg.Sign(threading.Token{Conversation: c.ID, Recipient: aino.User.ID}))
	if err != nil {
		t.Fatal(err)
	}
	// Bounded, so that a stall fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			raw := mail(fmt.Sprintf("From: Aino Handler <aino.handler@example.com>\nTo: %s\nSubject: Re: [#%d] Salary for October\n"+
				"In-Reply-To: <first.1@acme.example>\nMessage-ID: <reply.%d@example.com>\n", addr, c.Number, i), fmt.Sprintf("Answer %d.\n", i))
			var r *conversation.Received
			r, errs[i] = svc.Receive(ctx, conversation.Inbound{Raw: []byte(raw), DefaultCategory: "payroll"})
			if errs[i] == nil && (r.ConversationID != c.ID || !r.Decision.Staff || r.Kind != store.KindStaff) {
				errs[i] = fmt.Errorf("received %+v", r)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("staff reply %d: %v", i, err)
		}
	}
	answers := f.outbox(c.ID, store.TemplateAnswer)
	if want := slices.Repeat([]string{"cara.customer@acme.example"}, n); !slices.Equal(answers, want) {
		t.Fatalf("answers to %v, want %v", answers, want)
	}
}
