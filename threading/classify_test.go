package threading

import (
	"net/textproto"
	"testing"

	"postdesk/ingest/mailparse"
)

var testOwn = OwnMail{MessageIDDomain: "postdesk.example.com", LoopHeader: "X-Postdesk-Loop"}

// header builds a top-level header from "Key: value" lines.
func header(lines ...string) textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	for _, l := range lines {
		for i := 0; i < len(l); i++ {
			if l[i] == ':' {
				v := l[i+1:]
				for len(v) > 0 && v[0] == ' ' {
					v = v[1:]
				}
				h.Add(l[:i], v)
				break
			}
		}
	}
	return h
}

func strp(s string) *string { return &s }

func TestClassify(t *testing.T) {
	customer := mailparse.Address{Email: "alice@customer.example"}
	daemon := mailparse.Address{Name: "Mail Delivery System", Email: "mailer-daemon@mx.customer.example"}
	for _, tc := range []struct {
		name string
		m    mailparse.Message
		want Kind
	}{
		{"plain mail", mailparse.Message{From: customer, MessageID: "a1@customer.example", ReturnPath: strp("alice@customer.example")}, KindCustomer},
		{"no headers at all", mailparse.Message{}, KindCustomer},

		// RFC 3464 / RFC 6522 delivery status notifications.
		{"report parsed", mailparse.Message{From: daemon, Report: &mailparse.DeliveryReport{Action: "failed"}}, KindBounce},
		{"multipart/report delivery-status", mailparse.Message{From: daemon, Header: header(`Content-Type: multipart/report; report-type=delivery-status; boundary="b"`)}, KindBounce},
		{"report-type in capitals, quoted", mailparse.Message{From: daemon, Header: header(`Content-Type: Multipart/Report; Report-Type="Delivery-Status"; boundary=b`)}, KindBounce},
		{"MAILER-DAEMON with null reverse-path", mailparse.Message{From: daemon, ReturnPath: strp("")}, KindBounce},
		{"postmaster with null reverse-path", mailparse.Message{From: mailparse.Address{Email: "postmaster@customer.example"}, ReturnPath: strp("")}, KindBounce},
		{"MAILER-DAEMON without Return-Path is not enough", mailparse.Message{From: daemon}, KindCustomer},
		{"MAILER-DAEMON with a real Return-Path is not a bounce", mailparse.Message{From: daemon, ReturnPath: strp("mailer-daemon@mx.customer.example")}, KindCustomer},
		{"bounce from our own MTA, our Message-ID domain", mailparse.Message{From: daemon, MessageID: "x1@postdesk.example.com", Report: &mailparse.DeliveryReport{}}, KindBounce},

		// Our own mail coming back.
		{"loop header", mailparse.Message{From: customer, Header: header("X-Postdesk-Loop: payroll")}, KindLoop},
		{"loop header, empty value", mailparse.Message{From: customer, Header: header("X-Postdesk-Loop:")}, KindLoop},
		{"loop header, other spelling", mailparse.Message{From: customer, Header: header("x-postdesk-loop: 1")}, KindLoop},
		{"our Message-ID domain", mailparse.Message{From: customer, MessageID: "n1@postdesk.example.com"}, KindLoop},
		{"our Message-ID domain, other case", mailparse.Message{From: customer, MessageID: "n1@PostDesk.Example.COM"}, KindLoop},
		{"subdomain of ours is not ours", mailparse.Message{From: customer, MessageID: "n1@mx.postdesk.example.com"}, KindCustomer},
		{"loop beats auto-reply", mailparse.Message{From: customer, Header: header("X-Postdesk-Loop: 1", "Auto-Submitted: auto-generated")}, KindLoop},

		// RFC 3834 automatic responses.
		{"Auto-Submitted auto-replied", mailparse.Message{From: customer, Header: header("Auto-Submitted: auto-replied")}, KindAutoReply},
		{"Auto-Submitted auto-generated", mailparse.Message{From: customer, Header: header("Auto-Submitted: auto-generated")}, KindAutoReply},
		{"Auto-Submitted with parameter", mailparse.Message{From: customer, Header: header("Auto-Submitted: Auto-Replied; owner-email=alice@customer.example")}, KindAutoReply},
		{"Auto-Submitted no", mailparse.Message{From: customer, Header: header("Auto-Submitted: no")}, KindCustomer},
		{"Auto-Submitted No with comment", mailparse.Message{From: customer, Header: header("Auto-Submitted: No ; x")}, KindCustomer},
		{"Precedence bulk", mailparse.Message{From: customer, Header: header("Precedence: bulk")}, KindAutoReply},
		{"Precedence junk", mailparse.Message{From: customer, Header: header("Precedence: Junk")}, KindAutoReply},
		{"Precedence list", mailparse.Message{From: customer, Header: header("Precedence: list")}, KindAutoReply},
		{"Precedence first-class", mailparse.Message{From: customer, Header: header("Precedence: first-class")}, KindCustomer},
		{"X-Autoreply", mailparse.Message{From: customer, Header: header("X-Autoreply: yes")}, KindAutoReply},
		{"X-Autorespond", mailparse.Message{From: customer, Header: header("X-Autorespond: vacation")}, KindAutoReply},
		{"X-Auto-Response-Suppress All", mailparse.Message{From: customer, Header: header("X-Auto-Response-Suppress: All")}, KindAutoReply},
		{"X-Auto-Response-Suppress list with OOF", mailparse.Message{From: customer, Header: header("X-Auto-Response-Suppress: DR, RN, NRN, OOF")}, KindAutoReply},
		{"X-Auto-Response-Suppress AutoReply", mailparse.Message{From: customer, Header: header("X-Auto-Response-Suppress: autoreply")}, KindAutoReply},
		{"X-Auto-Response-Suppress DR only", mailparse.Message{From: customer, Header: header("X-Auto-Response-Suppress: DR, RN")}, KindCustomer},
		{"List-Id", mailparse.Message{From: customer, Header: header("List-Id: Payroll news <news.customer.example>")}, KindAutoReply},
		{"List-Unsubscribe", mailparse.Message{From: customer, Header: header("List-Unsubscribe: <mailto:leave@customer.example>")}, KindAutoReply},
		{"null Return-Path", mailparse.Message{From: customer, ReturnPath: strp("")}, KindAutoReply},
		{"read receipt (RFC 8098)", mailparse.Message{From: customer, Header: header(`Content-Type: multipart/report; report-type=disposition-notification; boundary=b`)}, KindAutoReply},
		{"Outlook reply with Thread-Index only", mailparse.Message{From: customer, Header: header("Thread-Index: AQHZ", "Thread-Topic: Salary")}, KindCustomer},
	} {
		m := tc.m
		if got := Classify(&m, testOwn); got != tc.want {
			t.Errorf("%s: Classify = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestClassifyWithoutOwnMail(t *testing.T) {
	// With nothing configured, nothing is taken for our own mail.
	m := &mailparse.Message{MessageID: "x@", Header: header("X-Postdesk-Loop: 1")}
	if got := Classify(m, OwnMail{}); got != KindCustomer {
		t.Errorf("Classify with empty OwnMail = %q, want customer", got)
	}
	if got := Classify(nil, testOwn); got != KindCustomer {
		t.Errorf("Classify(nil) = %q", got)
	}
}
