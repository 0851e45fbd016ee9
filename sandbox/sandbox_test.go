package sandbox

import (
	"net/smtp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func start(t *testing.T) *Sandbox {
	t.Helper()
	sb, err := Start(Options{Categories: []string{"payroll@example.com"}, Users: []string{"aino@example.com"}, Password: "sandbox"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	return sb
}

// inbox logs in over IMAP as a person's mail client would and returns the
// subjects in INBOX.
func inbox(t *testing.T, sb *Sandbox, user, password string) ([]string, error) {
	t.Helper()
	c, err := imapclient.DialInsecure(sb.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		return nil, err
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil, nil
	}
	var all imap.SeqSet
	all.AddRange(1, sel.NumMessages)
	msgs, err := c.Fetch(all, &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, m := range msgs {
		subjects = append(subjects, m.Envelope.Subject)
	}
	return subjects, nil
}

func send(t *testing.T, sb *Sandbox, from string, to []string, subject string) {
	t.Helper()
	msg := "From: " + from + "\r\nTo: " + strings.Join(to, ", ") + "\r\nSubject: " + subject + "\r\n\r\nHello.\r\n"
	if err := smtp.SendMail(sb.SMTPAddr, nil, from, to, []byte(msg)); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func TestCategoryAndPersonalMailboxes(t *testing.T) {
	t.Parallel()
	sb := start(t)
	send(t, sb, "cara@acme.example", []string{"payroll@example.com"}, "To the category")
	send(t, sb, "payroll@example.com", []string{"cara@acme.example"}, "Answer to Cara")
	send(t, sb, "cara@acme.example", []string{"payroll+token123@example.com"}, "Reply by token")
	send(t, sb, "payroll@example.com", []string{"aino@example.com", "ben@example.com"}, "Notification")

	for user, want := range map[string][]string{
		"payroll@example.com": {"To the category", "Reply by token"},
		"cara@acme.example":   {"Answer to Cara"},
		"aino@example.com":    {"Notification"},
		"ben@example.com":     {"Notification"},
	} {
		got, err := inbox(t, sb, user, "sandbox")
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s's INBOX holds %v, want %v", user, got, want)
		}
	}
	if _, err := inbox(t, sb, "cara@acme.example", "wrong"); err == nil {
		t.Fatal("a wrong password logged in")
	}
	if _, err := inbox(t, sb, "nobody@example.com", "sandbox"); err == nil {
		t.Fatal("a mailbox that never got mail logged in")
	}
	captured := sb.Captured()
	if len(captured) != 4 || captured[0].Subject != "Notification" || !slices.Equal(captured[0].Mailbox, []string{"aino@example.com", "ben@example.com"}) {
		t.Fatalf("captured %+v", captured)
	}
}

func TestLoopbackOnly(t *testing.T) {
	t.Parallel()
	if _, err := Start(Options{IMAPAddr: "0.0.0.0:0", Password: "x"}); err == nil {
		t.Fatal("the sandbox listened beyond loopback")
	}
}

func TestGenerationsHaveTheirOwnUIDValidity(t *testing.T) {
	t.Parallel()
	validity := func(gen uint32) uint32 {
		sb, err := Start(Options{Categories: []string{"payroll@example.com"}, Password: "sandbox", Generation: gen})
		if err != nil {
			t.Fatal(err)
		}
		defer sb.Close()
		c, err := imapclient.DialInsecure(sb.IMAPAddr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login("payroll@example.com", "sandbox").Wait(); err != nil {
			t.Fatal(err)
		}
		sel, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		return sel.UIDValidity
	}
	if a, b := validity(0), validity(1); a == b {
		t.Fatalf("two generations share UIDVALIDITY %d: a restarted sandbox would reuse UIDs postdesk has stored", a)
	}
}

// Mail that arrives after a client's last poll but before its IDLE is
// announced as soon as the IDLE begins, as a real server does.
func TestIdleAnnouncesMailFromBeforeIt(t *testing.T) {
	t.Parallel()
	sb := start(t)
	exists := make(chan uint32, 4)
	c, err := imapclient.DialInsecure(sb.IMAPAddr, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("payroll@example.com", "sandbox").Wait(); err != nil {
		t.Fatal(err)
	}
	if sel, err := c.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 0 {
		t.Fatalf("select: %v %v", sel, err)
	}
	send(t, sb, "cara@acme.example", []string{"payroll@example.com"}, "Between poll and IDLE")
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	select {
	case n := <-exists:
		if n != 1 {
			t.Fatalf("EXISTS %d, want 1", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the IDLE never announced the mail that came before it")
	}
}
