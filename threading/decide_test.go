package threading

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"postdesk/ingest/mailparse"
)

var (
	alice   = mailparse.Address{Name: "Alice", Email: "alice@customer.example"}
	bob     = mailparse.Address{Name: "Bob", Email: "bob@example.com"}
	carol   = mailparse.Address{Email: "carol@other.example"}
	erin    = mailparse.Address{Email: "erin@example.com"}
	mallory = mailparse.Address{Name: "Alice (really)", Email: "mallory@evil.example"}
	daemon  = mailparse.Address{Email: "mailer-daemon@mx.customer.example"}
	us      = mailparse.Address{Email: "payroll@example.com"}
)

func TestDecide(t *testing.T) {
	s := testSigner(t)
	reply := func(conv, user int64) string { // a reply address as we send it
		a, err := PlusAddress("payroll@example.com", s.Sign(Token{conv, user}))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tokenOf := func(addr string) string { _, tag := SplitPlus(addr); return tag }
	tok := func(conv, user int64) *Token { return &Token{conv, user} }

	bobReply := reply(10, userBob)
	flipped := []byte(tokenOf(bobReply))
	flipped[len(flipped)/2] ^= 0x01 // 'a'<->'b', '2'<->'3' ...: still base32
	forged := "payroll+" + string(flipped) + "@example.com"
	truncated := "payroll+" + tokenOf(bobReply)[:len(tokenOf(bobReply))-2] + "@example.com"
	// Conversation 10 rewritten to 11, MAC kept.
	raw, _ := tokenEncoding.DecodeString(tokenOf(bobReply))
	other := append([]byte{tokenVersion1}, binary.AppendVarint(binary.AppendVarint(nil, 11), userBob)...)
	other = append(other, raw[len(raw)-tokenMACLen:]...)
	otherConv := "payroll+" + tokenEncoding.EncodeToString(other) + "@example.com"

	type want struct {
		conv  int64
		by    string
		kind  Kind
		staff bool
		token *Token
		note  string // a substring the note must hold; "" means the note must be empty
	}
	for _, tc := range []struct {
		name  string
		m     mailparse.Message
		rcpts []string
		want  want
	}{
		// 1. Reply tokens.
		{"customer replies to the reply address",
			mailparse.Message{From: alice, Subject: "Re: [#42] Salary", InReplyTo: []string{"r1@postdesk.example.com"}},
			[]string{reply(10, userAlice)},
			want{10, ByToken, KindCustomer, false, tok(10, userAlice), ""}},
		{"staff member replies to a notification",
			mailparse.Message{From: bob, Subject: "Re: [#42] Salary"},
			[]string{reply(10, userBob)},
			want{10, ByToken, KindStaff, true, tok(10, userBob), ""}},
		{"staff From in other case",
			mailparse.Message{From: mailparse.Address{Email: "BOB@example.COM"}},
			[]string{reply(10, userBob)},
			want{10, ByToken, KindStaff, true, tok(10, userBob), ""}},
		{"token found in Delivered-To among other recipients",
			mailparse.Message{From: bob},
			[]string{"payroll@example.com", "someone+news@customer.example", reply(10, userBob)},
			want{10, ByToken, KindStaff, true, tok(10, userBob), ""}},
		{"upper-cased by an MTA, still valid",
			mailparse.Message{From: bob},
			[]string{strings.ToUpper(reply(10, userBob))},
			want{10, ByToken, KindStaff, true, tok(10, userBob), ""}},
		{"staff token forwarded to a stranger: attaches, no staff power, noted",
			mailparse.Message{From: mallory, Subject: "Re: [#42] Salary"},
			[]string{bobReply},
			want{10, ByToken, KindCustomer, false, tok(10, userBob), "issued to bob@example.com used by mallory@evil.example"}},
		{"customer writes from a second address",
			mailparse.Message{From: mailparse.Address{Email: "alice@home.example"}},
			[]string{reply(10, userAlice)},
			want{10, ByToken, KindCustomer, false, tok(10, userAlice), "issued to alice@customer.example used by alice@home.example"}},
		{"token's own user, but not staff of the conversation",
			mailparse.Message{From: erin},
			[]string{reply(11, userErin)},
			want{11, ByToken, KindCustomer, false, tok(11, userErin), ""}},
		{"customer's own token gives no staff power",
			mailparse.Message{From: carol},
			[]string{reply(11, userCarol)},
			want{11, ByToken, KindCustomer, false, tok(11, userCarol), ""}},
		{"token of an unknown user",
			mailparse.Message{From: alice},
			[]string{reply(10, userGone)},
			want{10, ByToken, KindCustomer, false, tok(10, userGone), "unknown user 9"}},
		{"staff out-of-office answering a notification: no staff power",
			mailparse.Message{From: bob, Header: header("Auto-Submitted: auto-replied"), Subject: "Out of office"},
			[]string{reply(10, userBob)},
			want{10, ByToken, KindAutoReply, false, tok(10, userBob), ""}},
		{"reply-all with two tokens: the sender's own wins",
			mailparse.Message{From: bob},
			[]string{reply(10, userAlice), reply(10, userBob)},
			want{10, ByToken, KindStaff, true, tok(10, userBob), ""}},
		{"reply-all with two tokens, from the customer",
			mailparse.Message{From: alice},
			[]string{reply(10, userBob), reply(10, userAlice)},
			want{10, ByToken, KindCustomer, false, tok(10, userAlice), ""}},

		// Forged tokens are ignored and noted; the mail falls through.
		{"token with one bit flipped, from a stranger",
			mailparse.Message{From: mallory, Subject: "Re: Salary"},
			[]string{forged},
			want{0, ByNew, KindCustomer, false, nil, "did not verify"}},
		{"truncated token",
			mailparse.Message{From: mallory},
			[]string{truncated},
			want{0, ByNew, KindCustomer, false, nil, "did not verify"}},
		{"token with its conversation rewritten",
			mailparse.Message{From: bob},
			[]string{otherConv},
			want{0, ByNew, KindCustomer, false, nil, "did not verify"}},
		{"damaged token, but the participant's In-Reply-To still threads",
			mailparse.Message{From: alice, InReplyTo: []string{"r1@postdesk.example.com"}},
			[]string{forged},
			want{10, ByMessageID, KindCustomer, false, nil, "did not verify"}},
		{"token signed with another secret",
			mailparse.Message{From: bob},
			[]string{func() string {
				o, _ := NewSigner([]byte(strings.Repeat("z", 32)))
				a, _ := PlusAddress("payroll@example.com", o.Sign(Token{10, userBob}))
				return a
			}()},
			want{0, ByNew, KindCustomer, false, nil, "did not verify"}},
		{"an ordinary plus-address is no token and no note",
			mailparse.Message{From: alice},
			[]string{"alice+work@customer.example"},
			want{0, ByNew, KindCustomer, false, nil, ""}},
		{"token for conversation 0 is ignored",
			mailparse.Message{From: alice},
			[]string{reply(0, userAlice)},
			want{0, ByNew, KindCustomer, false, nil, ""}},

		// 2. Message-ID references (RFC 5322 3.6.4).
		{"Thunderbird reply: In-Reply-To and full References",
			mailparse.Message{From: alice, InReplyTo: []string{"r1@postdesk.example.com"}, References: []string{"m1@customer.example", "r1@postdesk.example.com"}},
			[]string{"payroll@example.com"},
			want{10, ByMessageID, KindCustomer, false, nil, ""}},
		{"Outlook reply: only In-Reply-To and Thread-Index",
			mailparse.Message{From: alice, Subject: "SV: Salary", InReplyTo: []string{"r1@postdesk.example.com"}, Header: header("Thread-Index: AQHZxyz=", "Thread-Topic: Salary")},
			[]string{"payroll@example.com"},
			want{10, ByMessageID, KindCustomer, false, nil, ""}},
		{"Apple Mail reply: In-Reply-To unknown, References rewritten",
			mailparse.Message{From: alice, InReplyTo: []string{"A1B2@icloud.example"}, References: []string{"Z9@icloud.example", "n1@postdesk.example.com", "A1B2@icloud.example"}},
			[]string{"payroll@example.com"},
			want{10, ByMessageID, KindCustomer, false, nil, ""}},
		{"angle brackets and space around IDs",
			mailparse.Message{From: alice, InReplyTo: []string{" <r1@postdesk.example.com> "}},
			[]string{"payroll@example.com"},
			want{10, ByMessageID, KindCustomer, false, nil, ""}},
		{"In-Reply-To wins over References naming a newer conversation",
			mailparse.Message{From: alice, InReplyTo: []string{"m1@customer.example"}, References: []string{"old@customer.example"}},
			[]string{"payroll@example.com"},
			want{10, ByMessageID, KindCustomer, false, nil, ""}},
		{"staff member without token threads, without staff power",
			mailparse.Message{From: bob, InReplyTo: []string{"m1@customer.example"}},
			[]string{"payroll@example.com"},
			want{10, ByMessageID, KindCustomer, false, nil, ""}},
		{"participant's auto-reply threads as auto-reply",
			mailparse.Message{From: alice, InReplyTo: []string{"r1@postdesk.example.com"}, Header: header("Auto-Submitted: auto-replied")},
			[]string{"payroll@example.com"},
			want{10, ByMessageID, KindAutoReply, false, nil, ""}},
		{"hijack: stranger copies References (Zammad #5064)",
			mailparse.Message{From: mallory, Subject: "Re: Salary", References: []string{"m1@customer.example", "r1@postdesk.example.com"}},
			[]string{"payroll@example.com"},
			want{0, ByNew, KindCustomer, false, nil, "conversation 10, but mallory@evil.example is not a participant"}},
		{"hijack: stranger copies In-Reply-To and the tag",
			mailparse.Message{From: mallory, Subject: "Re: [#42] Salary", InReplyTo: []string{"r1@postdesk.example.com"}},
			[]string{"payroll@example.com"},
			want{0, ByNew, KindCustomer, false, nil, "not a participant"}},
		{"hijack: spoofed display name does not help",
			mailparse.Message{From: mailparse.Address{Name: "alice@customer.example", Email: "mallory@evil.example"}, InReplyTo: []string{"m1@customer.example"}},
			[]string{"payroll@example.com"},
			want{0, ByNew, KindCustomer, false, nil, "not a participant"}},
		{"participant of another conversation copies its References",
			mailparse.Message{From: carol, References: []string{"m1@customer.example"}},
			[]string{"payroll@example.com"},
			want{0, ByNew, KindCustomer, false, nil, "carol@other.example is not a participant"}},
		{"unknown references: new conversation",
			mailparse.Message{From: alice, InReplyTo: []string{"nothing@customer.example"}},
			[]string{"payroll@example.com"},
			want{0, ByNew, KindCustomer, false, nil, ""}},
		{"no sender",
			mailparse.Message{InReplyTo: []string{"m1@customer.example"}},
			[]string{"payroll@example.com"},
			want{0, ByNew, KindCustomer, false, nil, "a mail without sender is not a participant"}},

		// 3. Subject tags.
		{"participant writes a new mail with the tag",
			mailparse.Message{From: alice, Subject: "[#42] one more thing"},
			[]string{"payroll@example.com"},
			want{10, BySubjectTag, KindCustomer, false, nil, ""}},
		{"localized prefixes around the tag",
			mailparse.Message{From: alice, Subject: "VS: AW: Re[2]: [#42] Palkka"},
			[]string{"payroll@example.com"},
			want{10, BySubjectTag, KindCustomer, false, nil, ""}},
		{"hijack: stranger guesses [#42]",
			mailparse.Message{From: mallory, Subject: "Re: [#42] please send my tax card"},
			[]string{"payroll@example.com"},
			want{0, ByNew, KindCustomer, false, nil, "subject tag [#42] from mallory@evil.example"}},
		{"tag of a conversation that does not exist",
			mailparse.Message{From: alice, Subject: "[#999] hello"},
			[]string{"payroll@example.com"},
			want{0, ByNew, KindCustomer, false, nil, ""}},

		// Bounces (RFC 3464).
		{"bounce of our reply to the customer",
			mailparse.Message{From: daemon, ReturnPath: strp(""), Report: &mailparse.DeliveryReport{OriginalMessageID: "r1@postdesk.example.com", Action: "failed", Status: "5.1.1"}},
			[]string{"payroll@example.com"},
			want{10, ByMessageID, KindBounce, false, nil, ""}},
		{"bounce with the original ID in brackets",
			mailparse.Message{From: daemon, Report: &mailparse.DeliveryReport{OriginalMessageID: "<r2@postdesk.example.com>"}},
			[]string{"payroll@example.com"},
			want{11, ByMessageID, KindBounce, false, nil, ""}},
		{"forged bounce naming the customer's Message-ID",
			mailparse.Message{From: daemon, Report: &mailparse.DeliveryReport{OriginalMessageID: "m1@customer.example"}},
			[]string{"payroll@example.com"},
			want{0, ByNew, KindBounce, false, nil, "postdesk did not send"}},
		{"bounce of a mail we no longer hold",
			mailparse.Message{From: daemon, Report: &mailparse.DeliveryReport{OriginalMessageID: "gone@postdesk.example.com"}},
			[]string{"payroll@example.com"},
			want{0, ByNew, KindBounce, false, nil, ""}},
		{"bounce does not thread by References",
			mailparse.Message{From: daemon, ReturnPath: strp(""), References: []string{"m1@customer.example"}},
			[]string{"payroll@example.com"},
			want{0, ByNew, KindBounce, false, nil, ""}},
		{"bounce to a reply address",
			mailparse.Message{From: daemon, Report: &mailparse.DeliveryReport{}},
			[]string{reply(11, userCarol)},
			want{11, ByToken, KindBounce, false, tok(11, userCarol), ""}},

		// Loops.
		{"our notification forwarded back to us",
			mailparse.Message{From: us, MessageID: "n1@postdesk.example.com", References: []string{"m1@customer.example"}, Header: header("X-Postdesk-Loop: payroll")},
			[]string{"payroll@example.com"},
			want{0, ByNew, KindLoop, false, nil, "not a participant"}},
		{"loop carrying a reply token",
			mailparse.Message{From: bob, Header: header("X-Postdesk-Loop: payroll")},
			[]string{reply(10, userBob)},
			want{10, ByToken, KindLoop, false, tok(10, userBob), ""}},

		{"brand-new mail",
			mailparse.Message{From: mailparse.Address{Email: "dave@new.example"}, Subject: "Tax card"},
			[]string{"payroll@example.com"},
			want{0, ByNew, KindCustomer, false, nil, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			d, err := Decide(&m, tc.rcpts, s, testIndex(), testOwn)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			w := tc.want
			if d.Conversation != w.conv || d.By != w.by || d.Kind != w.kind || d.Staff != w.staff {
				t.Errorf("Decide = {conv %d, by %q, kind %q, staff %v}, want {conv %d, by %q, kind %q, staff %v} (note %q)",
					d.Conversation, d.By, d.Kind, d.Staff, w.conv, w.by, w.kind, w.staff, d.Note)
			}
			switch {
			case w.token == nil && d.Token != nil:
				t.Errorf("Token = %+v, want none", *d.Token)
			case w.token != nil && (d.Token == nil || *d.Token != *w.token):
				t.Errorf("Token = %v, want %+v", d.Token, *w.token)
			}
			if w.note == "" && d.Note != "" {
				t.Errorf("Note = %q, want none", d.Note)
			}
			if w.note != "" && !strings.Contains(d.Note, w.note) {
				t.Errorf("Note = %q, want it to mention %q", d.Note, w.note)
			}
		})
	}
}

func TestDecideAsksIndexInLowerCase(t *testing.T) {
	idx := testIndex()
	m := &mailparse.Message{From: mailparse.Address{Email: " Alice@Customer.Example "}, InReplyTo: []string{"m1@customer.example"}}
	d, err := Decide(m, nil, nil, idx, testOwn)
	if err != nil || d.Conversation != 10 {
		t.Fatalf("Decide = %+v, %v; want conversation 10", d, err)
	}
	for _, e := range idx.asked {
		if e != "alice@customer.example" {
			t.Errorf("index asked about %q", e)
		}
	}
}

func TestDecideWithoutSignerIgnoresTokens(t *testing.T) {
	s := testSigner(t)
	addr, _ := PlusAddress("payroll@example.com", s.Sign(Token{10, userBob}))
	d, err := Decide(&mailparse.Message{From: bob}, []string{addr}, nil, testIndex(), testOwn)
	if err != nil || d.Conversation != 0 || d.Token != nil || d.Staff {
		t.Errorf("Decide without signer = %+v, %v; want a new conversation", d, err)
	}
}

func TestDecideIndexError(t *testing.T) {
	s := testSigner(t)
	addr, _ := PlusAddress("payroll@example.com", s.Sign(Token{10, userBob}))
	boom := errors.New("connection reset")
	for _, tc := range []struct {
		name  string
		m     mailparse.Message
		rcpts []string
	}{
		{"token", mailparse.Message{From: bob}, []string{addr}},
		{"message-id", mailparse.Message{From: alice, InReplyTo: []string{"m1@customer.example"}}, nil},
		{"subject tag", mailparse.Message{From: alice, Subject: "[#42] x"}, nil},
		{"bounce", mailparse.Message{Report: &mailparse.DeliveryReport{OriginalMessageID: "r1@postdesk.example.com"}}, nil},
	} {
		idx := testIndex()
		idx.err = boom
		m := tc.m
		if d, err := Decide(&m, tc.rcpts, s, idx, testOwn); !errors.Is(err, boom) {
			t.Errorf("%s: Decide = %+v, %v; want the index error", tc.name, d, err)
		}
	}
	if _, err := Decide(nil, nil, s, testIndex(), testOwn); err == nil {
		t.Error("Decide(nil message) succeeded")
	}
	if _, err := Decide(&mailparse.Message{}, nil, s, nil, testOwn); err == nil {
		t.Error("Decide(nil index) succeeded")
	}
}

// A References field of thousands of IDs costs one bounded lookup, and the
// thread root and the newest IDs are among those looked up.
func TestDecideLongReferences(t *testing.T) {
	refs := []string{"m1@customer.example"}
	for i := 0; i < 5000; i++ {
		refs = append(refs, strings.Repeat("x", i%50)+"@junk.example")
	}
	idx := &countingIndex{memIndex: testIndex()}
	d, err := Decide(&mailparse.Message{From: alice, References: refs}, nil, nil, idx, testOwn)
	if err != nil || d.Conversation != 10 {
		t.Errorf("Decide = %+v, %v; want conversation 10 by the thread root", d, err)
	}
	if idx.max > maxLookupIDs {
		t.Errorf("looked up %d IDs at once, want at most %d", idx.max, maxLookupIDs)
	}

	refs = append(refs[1:], "r1@postdesk.example.com")
	d, err = Decide(&mailparse.Message{From: alice, References: refs}, nil, nil, idx, testOwn)
	if err != nil || d.Conversation != 10 {
		t.Errorf("Decide = %+v, %v; want conversation 10 by the newest reference", d, err)
	}
}

type countingIndex struct {
	*memIndex
	max int
}

func (c *countingIndex) ConversationByMessageID(ids []string) (int64, bool, error) {
	c.max = max(c.max, len(ids))
	return c.memIndex.ConversationByMessageID(ids)
}
