package trace

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func run(protocol string, chunks ...string) string {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := Writer(log, protocol, "mail.example.com:993")
	for _, c := range chunks {
		w.Write([]byte(c))
	}
	return out.String()
}

func TestIMAPTraceHidesSecretsAndContent(t *testing.T) {
	got := run("imap",
		"* OK IMAP ready\r\n",
		"T1 LOGIN payroll@example.com \"s3cret-Passw0rd\"\r\n",
		"T1 OK logged in\r\n",
		"T2 UID FETCH 7 (BODY.PEEK[])\r\n",
		"* 1 FETCH (UID 7 BODY[] {53}\r\n",
		"Subject: salary\r\n\r\nMy IBAN is FI21 1234", // split inside the literal
		"5600 0007 85\r\n)\r\n",
		"T2 OK done\r\n",
		"T3 AUTHENTICATE PLAIN\r\n", "+ \r\n", "AHBheXJvbGwAc2VjcmV0\r\n",
	)
	for _, secret := range []string{"s3cret-Passw0rd", "IBAN", "FI21", "salary", "AHBheXJvbGwAc2VjcmV0"} {
		if strings.Contains(got, secret) {
			t.Errorf("trace leaks %q:\n%s", secret, got)
		}
	}
	for _, want := range []string{"T1 LOGIN ***", "T1 OK logged in", "BODY[] {53}", "[53 bytes of content]", "T2 OK done", "T3 AUTHENTICATE PLAIN"} {
		if !strings.Contains(got, want) {
			t.Errorf("trace lacks %q:\n%s", want, got)
		}
	}
}

func TestSMTPTraceHidesSecretsAndContent(t *testing.T) {
	got := run("smtp",
		"EHLO postdesk\r\n", "250-mail.example.com\r\n250 AUTH PLAIN\r\n",
		"AUTH PLAIN AHBvc3RkZXNrAHRvcHNlY3JldA==\r\n", "235 ok\r\n",
		"MAIL FROM:<payroll@example.com>\r\n", "DATA\r\n", "354 go ahead\r\n",
		"Subject: Your tax card\r\n\r\nYour salary is 4200 EUR.\r\n.\r\n",
		"250 queued\r\n")
	for _, secret := range []string{"AHBvc3RkZXNrAHRvcHNlY3JldA", "tax card", "4200"} {
		if strings.Contains(got, secret) {
			t.Errorf("trace leaks %q:\n%s", secret, got)
		}
	}
	for _, want := range []string{"AUTH PLAIN ***", "MAIL FROM:<payroll@example.com>", "bytes of message", "250 queued"} {
		if !strings.Contains(got, want) {
			t.Errorf("trace lacks %q:\n%s", want, got)
		}
	}
}
