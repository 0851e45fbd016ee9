package mailparse

import (
	"strings"
	"testing"
)

func TestCleanFilename(t *testing.T) {
	long := strings.Repeat("ä", 150) + ".pdf"
	tests := []struct{ in, want string }{
		{"palkka.pdf", "palkka.pdf"},
		{"  palkka.pdf  ", "palkka.pdf"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\mervi\palkka.csv`, "palkka.csv"},
		{"dir/", ""},
		{".bashrc", "bashrc"},
		{"...", ""},
		{". .hidden", "hidden"},
		{"a\x00b\r\nc\td.txt", "abcd.txt"},
		{"a\u0085b.txt", "ab.txt"},                 // C1 control
		{"invoice\u202efdp.exe", "invoicefdp.exe"}, // bidi override
		{"bad\xffutf8.txt", "badÿutf8.txt"},
		{"Päätös – 2026.pdf", "Päätös – 2026.pdf"},
		{long, strings.Repeat("ä", 98) + ".pdf"},
	}
	for _, tt := range tests {
		if got, _ := cleanFilename(tt.in); got != tt.want {
			t.Errorf("cleanFilename(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDefaultFilename(t *testing.T) {
	tests := []struct{ typ, want string }{
		{"application/pdf", "attachment.pdf"},
		{"image/png", "image.png"},
		{"image/jpeg", "image.jpg"},
		{"image/x-unknown", "image.bin"},
		{"application/ms-tnef", "winmail.dat"},
		{"message/rfc822", "message.eml"},
		{"text/calendar", "invite.ics"},
		{"text/plain", "attachment.txt"},
		{"application/x-whatever", "attachment.bin"},
	}
	for _, tt := range tests {
		if got := defaultFilename(tt.typ); got != tt.want {
			t.Errorf("defaultFilename(%q) = %q, want %q", tt.typ, got, tt.want)
		}
	}
}

func TestForwardName(t *testing.T) {
	tests := []struct {
		name, inner, want string
	}{
		{"subject", "Subject: Re: a/b\\c\r\n\r\nx", "Re: a-b-c.eml"},
		{"encoded subject", "Subject: =?utf-8?q?=C3=A4?=\r\n\r\nx", "ä.eml"},
		{"no subject", "From: a@example.com\r\n\r\nx", "message.eml"},
		{"dot subject", "Subject: ...\r\n\r\nx", "eml"},
	}
	for _, tt := range tests {
		raw := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n" + tt.inner + "\r\n--b--\r\n"
		m := Parse([]byte(raw), nil)
		if len(m.Attachments) != 1 || m.Attachments[0].Filename != tt.want {
			t.Errorf("%s: attachments %+v, want %q", tt.name, m.Attachments, tt.want)
		}
	}
}
