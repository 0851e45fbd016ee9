package benchmail_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"postdesk/ingest/mailparse"
	"postdesk/internal/benchmail"
	"postdesk/internal/benchscale"
	"postdesk/internal/dovecottest"
)

func TestMailsAreDeterministicAndRealistic(t *testing.T) {
	const n = 400
	a, b := benchmail.Mails(n, nil), benchmail.Mails(n, nil)
	kinds := map[benchmail.Kind]int{}
	attachments, finnish := 0, 0
	ids := map[string]int{}
	for i := range a {
		if !bytes.Equal(a[i].Raw, b[i].Raw) {
			t.Fatalf("mail %d differs between two runs", i)
		}
		kinds[a[i].Kind]++
		ids[a[i].MessageID] = i
		m := mailparse.Parse(a[i].Raw, nil)
		if m.MessageID != a[i].MessageID {
			t.Fatalf("mail %d: parsed Message-ID %q, want %q", i, m.MessageID, a[i].MessageID)
		}
		if m.Subject == "" || m.From.Email != a[i].From {
			t.Fatalf("mail %d: subject %q from %q, want from %q", i, m.Subject, m.From.Email, a[i].From)
		}
		switch a[i].Kind {
		case benchmail.KindRequest, benchmail.KindReply:
			if m.Text == "" || m.HTML == "" {
				t.Fatalf("mail %d: want a text and an HTML part, got %d and %d bytes", i, len(m.Text), len(m.HTML))
			}
			if strings.Contains(m.Text, "ä") || strings.Contains(m.Text, "ö") {
				finnish++
			}
		}
		if a[i].Attachment {
			attachments++
			if len(m.Attachments) != 1 || m.Attachments[0].ContentType != "application/pdf" || len(m.Attachments[0].Data) < 90<<10 {
				t.Fatalf("mail %d: want one PDF of ~100 KB, got %+v", i, len(m.Attachments))
			}
		}
		if a[i].Kind == benchmail.KindReply {
			orig, ok := ids[strings.Trim(firstOr(m.InReplyTo), "<>")]
			if !ok || orig != a[i].InReplyTo || a[orig].From != a[i].From {
				t.Fatalf("mail %d: In-Reply-To %v does not name mail %d of the same sender", i, m.InReplyTo, a[i].InReplyTo)
			}
		}
	}
	if attachments != n/10 {
		t.Errorf("attachments: %d, want %d", attachments, n/10)
	}
	if kinds[benchmail.KindReply] < n/8 || kinds[benchmail.KindAutoReply] == 0 || kinds[benchmail.KindBounce] == 0 {
		t.Errorf("kinds: %v, want replies, auto-replies and bounces", kinds)
	}
	if finnish == 0 || finnish == kinds[benchmail.KindRequest]+kinds[benchmail.KindReply] {
		t.Errorf("finnish mails: %d, want some of each language", finnish)
	}
}

func firstOr(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func TestFillMaildirKeepsOrder(t *testing.T) {
	t.Parallel()
	dc := dovecottest.Start(t)
	user := dovecottest.DefaultUser.Name
	mails := benchmail.Mails(120, nil)
	raws := make([][]byte, len(mails))
	for i := range mails {
		raws[i] = mails[i].Raw
	}
	if err := benchmail.FillMaildir(filepath.Join(dc.Dir, "mail", user), raws); err != nil {
		t.Fatal(err)
	}
	uids := dc.Folder(t, user, "INBOX")
	if len(uids) != len(raws) {
		t.Fatalf("%d mails in the folder, want %d", len(uids), len(raws))
	}
	c := dc.Dial(t, user)
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uids[0]), imap.UID(uids[len(uids)-1])), &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("fetch: %v, %d", err, len(msgs))
	}
	if msgs[0].Envelope.MessageID != mails[0].MessageID || msgs[1].Envelope.MessageID != mails[len(mails)-1].MessageID {
		t.Fatalf("UID order: first %q last %q, want %q and %q", msgs[0].Envelope.MessageID, msgs[1].Envelope.MessageID,
			mails[0].MessageID, mails[len(mails)-1].MessageID)
	}
}

func TestFillAppend(t *testing.T) {
	t.Parallel()
	dc := dovecottest.Start(t)
	u := dovecottest.DefaultUser
	raws := benchmail.Raws(40, nil)
	if err := benchmail.FillAppend(context.Background(), dc.Addr, u.Name, u.Password, "INBOX", raws, 4); err != nil {
		t.Fatal(err)
	}
	if n := len(dc.Folder(t, u.Name, "INBOX")); n != len(raws) {
		t.Fatalf("%d mails, want %d", n, len(raws))
	}
}

// BenchmarkFill compares the two ways of filling a mailbox, benchscale.N(2000,
// 100) mails each: the Maildir written directly, and APPEND over four
// connections; the Maildir figure includes Dovecot's indexing at the first
// STATUS.
func BenchmarkFill(b *testing.B) {
	n := benchscale.N(2000, 100)
	raws := benchmail.Raws(n, nil)
	u := dovecottest.DefaultUser
	for b.Loop() {
		dm, da := dovecottest.Start(b), dovecottest.Start(b)
		t0 := time.Now()
		if err := benchmail.FillMaildir(filepath.Join(dm.Dir, "mail", u.Name), raws); err != nil {
			b.Fatal(err)
		}
		if got := len(dm.Folder(b, u.Name, "INBOX")); got != n {
			b.Fatalf("maildir: %d mails, want %d", got, n)
		}
		maildir := time.Since(t0).Seconds()
		t0 = time.Now()
		if err := benchmail.FillAppend(context.Background(), da.Addr, u.Name, u.Password, "INBOX", raws, 4); err != nil {
			b.Fatal(err)
		}
		appended := time.Since(t0).Seconds()
		b.ReportMetric(float64(n)/maildir, "maildir-mails/s")
		b.ReportMetric(float64(n)/appended, "append-mails/s")
		b.ReportMetric(appended/maildir, "ratio")
	}
}
