package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// cleanHistory is a small run in which every guarantee holds: two customer
// mails (one in the purged category), a staff reply, their notifications and
// answer, one mail sent twice across a kill, one cut by a stall, one refused
// for good and one bounced.
func cleanHistory() *History {
	h := &History{
		CategoryRoles: map[string][]string{"payroll": {"payroll-team"}, "travel": {"travel-team"}},
		RoleMembers:   map[string][]string{"payroll-team": {"aino@staff.example"}, "travel-team": {"fredrik@staff.example"}},
		MailboxCat:    map[string]string{"payroll": "payroll", "travel": "travel"},
		PurgeCategory: "travel",
		Faults: []Fault{
			{At: at(10), End: at(12), Name: "kill -9 instance 1"},
			{At: at(30), End: at(40), Name: "sink stall-data"},
			{At: at(50), End: at(60), Name: "sink 550-rcpt"},
		},
		Appended: []Appended{
			{At: at(1), Mailbox: "payroll", Kind: "customer", MessageID: "c1@client.example", From: "ilona@client.example", SHA256: "aa"},
			{At: at(2), Mailbox: "travel", Kind: "customer", MessageID: "c2@client.example", From: "jussi@client.example", SHA256: "bb"},
			{At: at(20), Mailbox: "payroll", Kind: "staff", MessageID: "s1@staff.example", From: "aino@staff.example", SHA256: "cc", ReplyTo: "n1@desk"},
			{At: at(70), Mailbox: "payroll", Kind: "bounce", MessageID: "b1@mx.client.example", SHA256: "dd", ReplyTo: "ack1@desk"},
		},
		SeenConvs: map[int64]Conv{
			2: {ID: 2, Subject: "Question 2", Category: "travel", Roles: []string{"travel-team"}, Participants: []string{"jussi@client.example"}},
		},
		SeenMsgs: map[int64]Msg{
			20: {ID: 20, Conv: 2, Direction: "in", Kind: "customer", MessageID: "c2@client.example", Mailbox: "travel", UIDValid: 7, UID: 1, RawSHA256: "bb"},
		},
		SeenRows: map[int64]Row{
			200: {ID: 200, Conv: 2, Template: "new_conversation", Recipient: "fredrik@staff.example", MailMessageID: "n2@desk", Status: "sent"},
		},
		EndConvs: map[int64]Conv{
			1: {ID: 1, Subject: "Question 1", Category: "payroll", Roles: []string{"payroll-team"}, Participants: []string{"ilona@client.example"}, Handler: "aino@staff.example"},
		},
		EndMsgs: map[int64]Msg{
			10: {ID: 10, Conv: 1, Direction: "in", Kind: "customer", MessageID: "c1@client.example", Mailbox: "payroll", UIDValid: 5, UID: 1, RawSHA256: "aa"},
			11: {ID: 11, Conv: 1, Direction: "in", Kind: "staff", MessageID: "s1@staff.example", Mailbox: "payroll", UIDValid: 5, UID: 2, RawSHA256: "cc"},
			12: {ID: 12, Conv: 1, Direction: "in", Kind: "bounce", MessageID: "b1@mx.client.example", Mailbox: "payroll", UIDValid: 5, UID: 3, RawSHA256: "dd"},
		},
		EndRows: map[int64]Row{
			100: {ID: 100, Conv: 1, Template: "new_conversation", Recipient: "aino@staff.example", MailMessageID: "n1@desk", Status: "sent"},
			101: {ID: 101, Conv: 1, Template: "received", Recipient: "ilona@client.example", MailMessageID: "ack1@desk", Status: "failed", LastError: "bounced"},
			102: {ID: 102, Conv: 1, Template: "answer", Recipient: "ilona@client.example", MailMessageID: "a1@desk", Status: "sent"},
			103: {ID: 103, Conv: 1, Template: "solved", Recipient: "ilona@client.example", MailMessageID: "x1@desk", Status: "failed", LastError: "550 5.1.1 soak: no such user"},
		},
		Received: []Received{
			{At: at(5), MessageID: "n1@desk", Rcpts: []string{"aino@staff.example"}},
			{At: at(6), MessageID: "n2@desk", Rcpts: []string{"fredrik@staff.example"}},
			{At: at(9), MessageID: "ack1@desk", Rcpts: []string{"ilona@client.example"}},
			{At: at(15), MessageID: "ack1@desk", Rcpts: []string{"ilona@client.example"}}, // again after the kill
			{At: at(31), MessageID: "a1@desk", Rcpts: []string{"ilona@client.example"}, Cut: true},
			{At: at(45), MessageID: "a1@desk", Rcpts: []string{"ilona@client.example"}},
		},
		Refused: []Refused{{At: at(55), Rcpt: "ilona@client.example", Code: 550}},
		EndIMAP: map[string][]string{"payroll": {"c1@client.example", "s1@staff.example", "b1@mx.client.example"}, "travel": {}},
		End:     at(100),
	}
	return h
}

func kinds(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Kind)
	}
	return out
}

func TestCheckCleanHistoryHasNoViolation(t *testing.T) {
	if vs := Check(cleanHistory(), true); len(vs) != 0 {
		t.Fatalf("violations in a clean history: %v", vs)
	}
	if vs := Check(cleanHistory(), false); len(vs) != 0 {
		t.Fatalf("violations at a checkpoint of a clean history: %v", vs)
	}
}

// Each planted violation is named, with the fault before it.
func TestCheckNamesEachViolation(t *testing.T) {
	cases := []struct {
		name  string
		plant func(h *History)
		kind  string
		after string // a part of the fault named
	}{
		{"lost", func(h *History) {
			h.Appended = append(h.Appended, Appended{At: at(35), Mailbox: "payroll", Kind: "customer", MessageID: "c9@client.example"})
			h.EndIMAP["payroll"] = append(h.EndIMAP["payroll"], "c9@client.example")
		}, VLost, "sink stall-data"},
		{"lost and gone from IMAP", func(h *History) {
			h.Appended = append(h.Appended, Appended{At: at(11), Mailbox: "payroll", Kind: "customer", MessageID: "c9@client.example"})
		}, VLost, "kill -9 instance 1"},
		{"doubled", func(h *History) {
			h.EndMsgs[13] = Msg{ID: 13, Conv: 1, Direction: "in", Kind: "customer", MessageID: "c1@client.example", Mailbox: "payroll", UIDValid: 6, UID: 1, RawSHA256: "aa"}
		}, VDoubled, ""},
		{"content", func(h *History) {
			m := h.EndMsgs[10]
			m.RawSHA256 = "ff"
			h.EndMsgs[10] = m
		}, VContent, ""},
		{"wrong roles", func(h *History) {
			c := h.EndConvs[1]
			c.Roles = []string{"travel-team"}
			h.EndConvs[1] = c
		}, VMisrouted, ""},
		{"wrong conversation", func(h *History) {
			h.EndConvs[3] = Conv{ID: 3, Category: "payroll", Roles: []string{"payroll-team"}}
			m := h.EndMsgs[11]
			m.Conv = 3
			h.EndMsgs[11] = m
		}, VMisrouted, "kill -9 instance 1"},
		{"sent, never received", func(h *History) {
			h.EndRows[104] = Row{ID: 104, Conv: 1, Template: "answer", Recipient: "ilona@client.example", MailMessageID: "a2@desk", Status: "sent"}
		}, VUndelivered, "sink 550-rcpt"},
		{"resent without a cut", func(h *History) {
			h.Received = append(h.Received, Received{At: at(80), MessageID: "a1@desk", Rcpts: []string{"ilona@client.example"}})
		}, VResent, "sink 550-rcpt"},
		{"stranger", func(h *History) {
			h.Received[5].Rcpts = []string{"stranger@elsewhere.example"}
		}, VStranger, "sink stall-data"},
		{"row recipient not in the conversation", func(h *History) {
			h.EndRows[105] = Row{ID: 105, Conv: 1, Template: "answer", Recipient: "lauri@other.example", MailMessageID: "a3@desk", Status: "sent"}
			h.Received = append(h.Received, Received{At: at(47), MessageID: "a3@desk", Rcpts: []string{"lauri@other.example"}})
		}, VStranger, "sink stall-data"},
		{"purge left a copy", func(h *History) {
			h.EndIMAP["travel"] = []string{"c2@client.example"}
		}, VPurgeLeft, "sink 550-rcpt"},
		{"purged mail back", func(h *History) {
			h.EndConvs[4] = Conv{ID: 4, Category: "travel", Roles: []string{"travel-team"}, Participants: []string{"jussi@client.example"}}
			h.EndMsgs[14] = Msg{ID: 14, Conv: 4, Direction: "in", Kind: "customer", MessageID: "c2@client.example", Mailbox: "travel", UIDValid: 8, UID: 1, RawSHA256: "bb"}
		}, VResurrected, ""},
		{"stuck", func(h *History) {
			h.EndRows[106] = Row{ID: 106, Conv: 1, Template: "answer", Recipient: "ilona@client.example", MailMessageID: "a4@desk", Status: "pending", Attempts: 1, NextAttemptAt: at(20)}
		}, VStuck, "sink 550-rcpt"},
		{"failed without cause", func(h *History) {
			h.EndRows[107] = Row{ID: 107, Conv: 1, Template: "answer", Recipient: "aino@staff.example", MailMessageID: "a5@desk", Status: "failed", LastError: "451 try later"}
		}, VFailed, "sink 550-rcpt"},
		{"quarantine without record", func(h *History) {
			h.EndConvs[5] = Conv{ID: 5, Subject: "Mail could not be processed", Category: "payroll", Roles: []string{"payroll-team"}}
		}, VQuarantine, "sink 550-rcpt"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := cleanHistory()
			c.plant(h)
			vs := Check(h, true)
			if len(vs) != 1 || vs[0].Kind != c.kind {
				t.Fatalf("got %v (%v), want one %q", kinds(vs), vs, c.kind)
			}
			if c.after != "" && !strings.Contains(vs[0].After, c.after) {
				t.Errorf("%s: preceded by %q, want %q", vs[0], vs[0].After, c.after)
			}
		})
	}
}

// At a checkpoint, mail on its way is not a violation; a double is.
func TestCheckpointJudgesOnlyWhatCannotBeTransient(t *testing.T) {
	h := cleanHistory()
	h.Appended = append(h.Appended, Appended{At: at(90), Mailbox: "payroll", Kind: "customer", MessageID: "c9@client.example"})
	h.EndRows[106] = Row{ID: 106, Conv: 1, Template: "answer", Recipient: "ilona@client.example", MailMessageID: "a4@desk", Status: "pending", NextAttemptAt: at(20)}
	if vs := Check(h, false); len(vs) != 0 {
		t.Fatalf("a checkpoint judged mail on its way: %v", vs)
	}
	h.EndMsgs[13] = Msg{ID: 13, Conv: 1, Direction: "in", Kind: "customer", MessageID: "c1@client.example", Mailbox: "payroll", UIDValid: 6, UID: 1}
	if vs := Check(h, false); !slices.Equal(kinds(vs), []string{VDoubled}) {
		t.Fatalf("a checkpoint missed a double: %v", vs)
	}
}
