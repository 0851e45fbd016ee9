package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"postdesk/conversation"
	"postdesk/store"
	"postdesk/threading"
)

// A mail the process dies on, where no recover reaches (killed out of
// memory, a fatal runtime error), does not stop its mailbox for good. Each
// start is a process of its own (this test binary again, TestCrashChild),
// and it dies the way a real one would: os.Exit inside the delivery. The
// first start dies in the batch; the next stores the batch one mail at a
// time, the mail before the bad one among them, and dies on the bad one;
// the next dies on it again; the one after quarantines it unread and
// stores the mail behind it. Nothing is stored twice.
func TestCrashingMailQuarantinedAfterRestarts(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("the child of this test runs TestCrashChild only")
	}
	t.Parallel()
	e := newDeskEnv(t)
	before := e.dovecot.Append(t, e.user.Name, "INBOX", customerMail("crash-before"))
	bad := e.dovecot.Append(t, e.user.Name, "INBOX", bytes.Replace(customerMail("crash-bad"),
		[]byte("\r\n\r\n"), []byte("\r\n"+crashHeader+"\r\n\r\n"), 1))
	after := e.dovecot.Append(t, e.user.Name, "INBOX", customerMail("crash-after"))

	var exits []int
	for len(exits) == 0 || exits[len(exits)-1] != 0 {
		if len(exits) > 2*MaxCrashes+2 {
			t.Fatalf("the mailbox is still stuck after %d starts (exit codes %v)", len(exits), exits)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"=1",
			"POSTDESK_CRASH_DATABASE="+e.st.Pool().Config().ConnString(),
			"POSTDESK_CRASH_IMAP="+e.dovecot.Host+" "+strconv.Itoa(e.dovecot.Port)+" "+e.user.Name+" "+e.user.Password,
			"POSTDESK_CRASH_UNTIL="+strconv.FormatUint(uint64(after), 10))
		out, err := cmd.CombinedOutput()
		cancel()
		var ee *exec.ExitError
		switch {
		case err == nil:
			exits = append(exits, 0)
		case errors.As(err, &ee) && ee.ExitCode() == crashExit:
			exits = append(exits, crashExit)
		default:
			t.Fatalf("start %d: %v\n%s", len(exits)+1, err, out)
		}
	}
	// The batch, then the bad mail alone MaxCrashes times, then the start
	// that quarantines it.
	want := []int{crashExit}
	for range MaxCrashes {
		want = append(want, crashExit)
	}
	if want = append(want, 0); !slices.Equal(exits, want) {
		t.Fatalf("exit codes of the starts %v, want %v", exits, want)
	}

	for _, uid := range []uint32{before, after} {
		if n := e.count(t, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
			WHERE m.mailbox = 'payroll' AND m.uid = $1 AND c.subject <> $2`, uid, conversation.QuarantineSubject); n != 1 {
			t.Errorf("UID %d stored %d times as mail, want once", uid, n)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.mailbox = 'payroll' AND m.uid = $1 AND c.subject = $2`, bad, conversation.QuarantineSubject); n != 1 {
		t.Errorf("the mail the process died on: %d quarantined copies, want 1", n)
	}
	if n := e.inbound(t); n != 3 {
		t.Errorf("%d inbound messages, want 3", n)
	}
	// The mail before died with its group before its After action, as
	// after any crash past a commit (TestBatchCrashAfterCommit); the others
	// got theirs.
	for _, uid := range []uint32{bad, after} {
		if !e.dovecot.HasFlag(t, e.user.Name, "INBOX", uid, imap.FlagSeen) {
			t.Errorf("UID %d not \\Seen", uid)
		}
	}
}

const (
	crashChildEnv = "POSTDESK_CRASH_CHILD"
	crashHeader   = "X-Postdesk-Test: the process dies storing this"
	crashExit     = 3
)

// TestCrashChild is one start of TestCrashingMailQuarantinedAfterRestarts:
// the real worker and Desk, in a process of its own, until the mail up to
// POSTDESK_CRASH_UNTIL is stored and flagged, or the process dies.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("run by TestCrashingMailQuarantinedAfterRestarts, in a process of its own")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, os.Getenv("POSTDESK_CRASH_DATABASE"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sg, err := threading.NewSigner([]byte("0123456789abcdef0123456789abcdef")) // deskConfig's secret
	if err != nil {
		t.Fatal(err)
	}
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg})
	desk := NewDesk(st, svc, map[string]string{"payroll": "payroll"})
	var host, user, pass string
	var port int
	if _, err := fmt.Sscan(os.Getenv("POSTDESK_CRASH_IMAP"), &host, &port, &user, &pass); err != nil {
		t.Fatal(err)
	}
	until, err := strconv.ParseUint(os.Getenv("POSTDESK_CRASH_UNTIL"), 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	opts := &Options{Name: "payroll", Host: host, Port: port, TLS: TLSNone, Username: user, Password: pass,
		Folder: "INBOX", After: AfterSeen, Existing: ExistingNotify, PollInterval: time.Hour, SafetyPoll: time.Hour,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	done := make(chan struct{})
	r := start(t, opts, &dyingDesk{Desk: desk}, desk, func(w *Worker, r *running) {
		w.applied = func(uid uint32) {
			if uid == uint32(until) {
				close(done)
			}
		}
	})
	select {
	case <-done:
		r.stop()
	case <-time.After(30 * time.Second):
		t.Fatal("the mail was neither stored nor did the process die within 30 s")
	}
}

// dyingDesk is the real Desk in a process that dies, as one killed would,
// when it comes to store the mail marked crashHeader.
type dyingDesk struct{ *Desk }

func dies(m Fetched) bool { return bytes.Contains(m.Raw, []byte(crashHeader)) }

func (d *dyingDesk) DeliverBatch(ctx context.Context, mailbox string, ms []Fetched) error {
	if slices.ContainsFunc(ms, dies) {
		os.Exit(crashExit)
	}
	return d.Desk.DeliverBatch(ctx, mailbox, ms)
}

func (d *dyingDesk) Deliver(ctx context.Context, mailbox string, m Fetched) error {
	if dies(m) {
		os.Exit(crashExit)
	}
	return d.Desk.Deliver(ctx, mailbox, m)
}
