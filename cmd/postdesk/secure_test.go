package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postdesk/internal/dovecottest"
	"postdesk/store"
	"postdesk/store/storetest"
)

// decodedAll is a mail as a reader would see every part of it: the
// headers with encoded words decoded, then every MIME part decoded (base64,
// quoted-printable), with the parts' headers (file names) too.
func decodedAll(t *testing.T, c captured) string {
	t.Helper()
	var b strings.Builder
	dec := new(mime.WordDecoder)
	for k, vs := range c.msg.Header {
		for _, v := range vs {
			d, err := dec.DecodeHeader(v)
			if err != nil {
				d = v
			}
			fmt.Fprintf(&b, "%s: %s\n", k, d)
		}
	}
	var walk func(ctype, cte, body string)
	walk = func(ctype, cte, body string) {
		mt, params, err := mime.ParseMediaType(ctype)
		if err == nil && strings.HasPrefix(mt, "multipart/") {
			r := multipart.NewReader(strings.NewReader(body), params["boundary"])
			for {
				p, err := r.NextRawPart()
				if err != nil {
					return
				}
				for k, vs := range p.Header {
					for _, v := range vs {
						d, err := dec.DecodeHeader(v)
						if err != nil {
							d = v
						}
						fmt.Fprintf(&b, "%s: %s\n", k, d)
					}
				}
				raw, _ := io.ReadAll(p)
				walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), string(raw))
			}
		}
		var r io.Reader = strings.NewReader(body)
		switch strings.ToLower(cte) {
		case "quoted-printable":
			r = quotedprintable.NewReader(r)
		case "base64":
			r = base64.NewDecoder(base64.StdEncoding, strings.NewReader(strings.Join(strings.Fields(body), "")))
		}
		out, _ := io.ReadAll(r)
		b.Write(out)
		b.WriteByte('\n')
	}
	walk(c.msg.Header.Get("Content-Type"), c.msg.Header.Get("Content-Transfer-Encoding"), c.body)
	return b.String()
}

// A secure category on the wire: every mail postdesk sends about its
// conversation (notification, acknowledgement, answer, the Handler's notice
// of the customer's reply, the solved notice) holds none of the customer's
// or the Handler's words, subject or file names, in any part; each has the
// link to the conversation; replies by mail still thread, commands work.
func TestSecureCategoryOnTheWire(t *testing.T) {
	t.Parallel()
	dbURL := storetest.EmptyURL(t)
	dc := dovecottest.Start(t)
	sk, smtpPort := startOutside(t)
	listen := freePort(t)
	f := filepath.Join(t.TempDir(), "postdesk.yaml")
	os.WriteFile(f, []byte(fmt.Sprintf(`
listen: %s
public_url: http://%[1]s
database_url: env:TEST_DATABASE_URL
secret: env:TEST_SECRET
smtp: {host: 127.0.0.1, port: %d, tls: none}
mailboxes:
  - {name: hr, host: %s, port: %d, tls: none, username: %s, password: %s, category: sick-leave, poll_interval: 200ms, existing: notify}
categories:
  - {key: sick-leave, name: Sick leave, addresses: [hr@example.com], roles: [hr-team], secure: true}
roles:
  - {key: hr-team, name: HR team, staff: true}
users:
  - {email: hilla.hr@example.com, name: Hilla HR, roles: [hr-team], language: fi}
`, listen, smtpPort, dc.Host, dc.Port, dovecottest.DefaultUser.Name, dovecottest.DefaultUser.Password)), 0o600)
	startServe(t, dbURL, f)
	user := dovecottest.DefaultUser.Name
	deliver := func(raw string) { dc.Append(t, user, "INBOX", []byte(strings.ReplaceAll(raw, "\n", "\r\n"))) }
	secret := []string{"Sairausloma", "masennus", "F32.1", "lääkärintodistus", "sairauspäivärahaan", "palkkani", "Kiitos"}
	clean := func(what string, c captured) {
		t.Helper()
		all := decodedAll(t, c)
		for _, w := range secret {
			if strings.Contains(strings.ToLower(all), strings.ToLower(w)) {
				t.Errorf("%s holds %q:\n%s", what, w, all)
			}
		}
		if !strings.Contains(all, "http://"+listen+"/conversations/") {
			t.Errorf("%s has no link to the conversation:\n%s", what, all)
		}
	}

	pdf := base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 lääkärintodistus F32.1"))
	deliver(`From: Cara Customer <cara.customer@acme.example>
To: hr@example.com
Subject: Sairausloma F32.1
Message-ID: <cara.s1@acme.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=b1

--b1
Content-Type: text/plain; charset=utf-8

Diagnoosi on masennus, F32.1.
--b1
Content-Type: application/pdf
Content-Disposition: attachment; filename="lääkärintodistus.pdf"
Content-Transfer-Encoding: base64

` + pdf + `
--b1--
`)
	notice := sk.waitMail(t, "hilla.hr@example.com", 1)
	clean("the staff notification", notice)
	ack := sk.waitMail(t, "cara.customer@acme.example", 1)
	clean("the acknowledgement", ack)
	if !strings.Contains(ack.text(t), "will not come by email") {
		t.Errorf("the acknowledgement does not say the answer waits on the web:\n%s", ack.text(t))
	}

	// The link opens the conversation (after signing in).
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var convID int64
	if err := st.Pool().QueryRow(ctx, `SELECT id FROM conversations`).Scan(&convID); err != nil {
		t.Fatal(err)
	}
	link := fmt.Sprintf("http://%s/conversations/%d", listen, convID)
	if !strings.Contains(notice.text(t), link) {
		t.Fatalf("the notification's link is not %s:\n%s", link, notice.text(t))
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/login") {
		t.Fatalf("the link without a session: %d %s, want the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Hilla answers from her mail client; the customer is told, not shown.
	deliver(fmt.Sprintf(`From: Hilla HR <hilla.hr@example.com>
To: %s
Subject: Re: %s
Message-ID: <hilla.1@example.com>
In-Reply-To: %s

Olet oikeutettu sairauspäivärahaan 12 päivältä.

Hilla

On 02/11/2026 9.05, Sick leave wrote:
> Uusi viesti
`, addrOf(t, notice.msg.Header.Get("Reply-To")), notice.msg.Header.Get("Subject"), notice.msg.Header.Get("Message-Id")))
	answer := sk.waitMail(t, "cara.customer@acme.example", 2)
	clean("the answer", answer)

	// Cara replies to that mail: it threads, and Hilla hears of it without its words.
	deliver(fmt.Sprintf(`From: Cara Customer <cara.customer@acme.example>
To: %s
Subject: Re: %s
Message-ID: <cara.s2@acme.example>
In-Reply-To: %s

Kiitos! Entä palkkani?
`, addrOf(t, answer.msg.Header.Get("Reply-To")), answer.msg.Header.Get("Subject"), answer.msg.Header.Get("Message-Id")))
	again := sk.waitMail(t, "hilla.hr@example.com", 2)
	clean("the Handler's notice of the reply", again)

	// Hilla solves it by mail; the solved notice is content-free too.
	deliver(fmt.Sprintf(`From: Hilla HR <hilla.hr@example.com>
To: %s
Subject: Re: %s
Message-ID: <hilla.2@example.com>
In-Reply-To: %s

#solved
`, addrOf(t, again.msg.Header.Get("Reply-To")), again.msg.Header.Get("Subject"), again.msg.Header.Get("Message-Id")))
	solved := sk.waitMail(t, "cara.customer@acme.example", 3)
	clean("the solved notice", solved)

	var convs, fromCara, notSecure int
	var status string
	st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages WHERE from_addr = 'cara.customer@acme.example'),
		(SELECT count(*) FROM outbox WHERE built_secure IS DISTINCT FROM true AND status = 'sent'), (SELECT status FROM conversations LIMIT 1)`).
		Scan(&convs, &fromCara, &notSecure, &status)
	if convs != 1 || fromCara != 2 || notSecure != 0 || status != "solved" {
		t.Fatalf("%d conversations, %d mails from Cara in them, %d sent mails not built secure, status %s; want 1, 2, 0, solved",
			convs, fromCara, notSecure, status)
	}
}
