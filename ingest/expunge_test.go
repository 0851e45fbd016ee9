package ingest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"postdesk/internal/dovecottest"
)

// dovecotOptions are the options of the default user's folder on s in a TLS
// mode.
func dovecotOptions(s *dovecottest.Server, mode, folder string) *Options {
	o := &Options{Name: "payroll", Host: s.Host, Port: s.Port, TLS: mode, Username: dovecottest.DefaultUser.Name,
		Password: dovecottest.DefaultUser.Password, Folder: folder}
	if mode == TLSImplicit {
		o.Port = s.TLSPort
	}
	if mode != TLSNone {
		o.TLSConfig = s.TLSConfig()
	}
	return o
}

func TestDeleteCopiesRemovesExactlyThoseUIDs(t *testing.T) {
	t.Parallel()
	s := dovecottest.Start(t)
	user := dovecottest.DefaultUser.Name
	for _, mode := range []string{TLSNone, TLSStartTLS, TLSImplicit} {
		t.Run(mode, func(t *testing.T) {
			folder := "Copies-" + mode
			var uids []uint32
			for i := range 4 {
				uids = append(uids, s.Append(t, user, folder, rawMail(fmt.Sprintf("%s-%d", mode, i), "purge me or not")))
			}
			// Another client's mail, flagged \Deleted and waiting for its own
			// EXPUNGE: a plain EXPUNGE would take it too.
			other := s.Append(t, user, folder, rawMail(mode+"-other", "not ours"), imap.FlagDeleted)
			uv := s.UIDValidity(t, user, folder)

			n, err := DeleteCopies(context.Background(), dovecotOptions(s, mode, folder), uv, []uint32{uids[0], uids[2], 99999})
			if err != nil || n != 2 {
				t.Fatalf("DeleteCopies = %d, %v; want 2, nil", n, err)
			}
			if got, want := s.Folder(t, user, folder), []uint32{uids[1], uids[3], other}; !slices.Equal(got, want) {
				t.Fatalf("folder holds %v, want %v", got, want)
			}
			if !s.HasFlag(t, user, folder, other, imap.FlagDeleted) || s.HasFlag(t, user, folder, uids[1], imap.FlagDeleted) {
				t.Fatal("flags of the mail left behind changed")
			}
			// Gone already: nothing to do, no error.
			if n, err := DeleteCopies(context.Background(), dovecotOptions(s, mode, folder), uv, []uint32{uids[0]}); err != nil || n != 0 {
				t.Fatalf("again: %d, %v", n, err)
			}
		})
	}
}

func TestDeleteCopiesSkipsAnotherUIDValidity(t *testing.T) {
	t.Parallel()
	s := dovecottest.Start(t)
	user := dovecottest.DefaultUser.Name
	u := s.Append(t, user, "INBOX", rawMail("uv-1", "x"))
	uv := s.UIDValidity(t, user, "INBOX")
	n, err := DeleteCopies(context.Background(), dovecotOptions(s, TLSNone, "INBOX"), uv+1, []uint32{u})
	if !errors.Is(err, ErrUIDValidity) || n != 0 {
		t.Fatalf("DeleteCopies under another UIDVALIDITY = %d, %v; want ErrUIDValidity", n, err)
	}
	if got := s.Folder(t, user, "INBOX"); !slices.Equal(got, []uint32{u}) || s.HasFlag(t, user, "INBOX", u, imap.FlagDeleted) {
		t.Fatalf("INBOX %v changed", got)
	}
}

func TestDeleteCopiesOptionsAndErrors(t *testing.T) {
	t.Parallel()
	if _, err := DeleteCopies(context.Background(), nil, 1, []uint32{1}); err == nil {
		t.Fatal("nil options: no error")
	}
	if _, err := DeleteCopies(context.Background(), &Options{Host: "127.0.0.1", TLS: "bogus"}, 1, []uint32{1}); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("bad TLS mode: %v", err)
	}
	// Nothing to delete: no connection at all.
	if n, err := DeleteCopies(context.Background(), &Options{Host: "192.0.2.1"}, 1, nil); n != 0 || err != nil {
		t.Fatalf("no UIDs: %d, %v", n, err)
	}
	// A move target as Folder is fine: After plays no part.
	s := dovecottest.Start(t)
	o := dovecotOptions(s, TLSNone, "Archive")
	o.After = "move:Archive"
	u := s.Append(t, dovecottest.DefaultUser.Name, "Archive", rawMail("arch-1", "x"))
	if n, err := DeleteCopies(context.Background(), o, s.UIDValidity(t, dovecottest.DefaultUser.Name, "Archive"), []uint32{u}); n != 1 || err != nil {
		t.Fatalf("move target folder: %d, %v", n, err)
	}
	o.Password = "wrong"
	if _, err := DeleteCopies(context.Background(), o, 1, []uint32{1}); err == nil || !strings.Contains(err.Error(), "login") {
		t.Fatalf("wrong password: %v", err)
	}
}

// Without UIDPLUS the mail is flagged \Deleted and left there: never a plain
// EXPUNGE, which would take other clients' \Deleted mail as well.
func TestDeleteCopiesWithoutUIDPlusLeavesThemFlagged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		caps imap.CapSet
	}{
		{"without UIDPLUS", imap.CapSet{imap.CapIMAP4rev1: {}}},
		{"with UIDPLUS", imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, admin := startMemServer(t, "u", "p", tc.caps)
			host, port := splitAddr(t, addr)
			mine := admin.Append(t, "u", "INBOX", rawMail("mine", "x"))
			other := admin.Append(t, "u", "INBOX", rawMail("other", "y"), imap.FlagDeleted)
			uv := admin.UIDValidity(t, "u", "INBOX")
			o := &Options{Host: host, Port: port, TLS: TLSNone, Username: "u", Password: "p"}
			n, err := DeleteCopies(context.Background(), o, uv, []uint32{mine})
			if _, uidPlus := tc.caps[imap.CapUIDPlus]; uidPlus {
				if err != nil || n != 1 || !slices.Equal(admin.Folder(t, "u", "INBOX"), []uint32{other}) {
					t.Fatalf("with UIDPLUS: %d, %v, folder %v", n, err, admin.Folder(t, "u", "INBOX"))
				}
				return
			}
			if !errors.Is(err, ErrNoUIDPlus) || n != 0 {
				t.Fatalf("without UIDPLUS: %d, %v; want ErrNoUIDPlus", n, err)
			}
			if got := admin.Folder(t, "u", "INBOX"); !slices.Equal(got, []uint32{mine, other}) {
				t.Fatalf("folder %v: something was expunged", got)
			}
			if !admin.HasFlag(t, "u", "INBOX", mine, imap.FlagDeleted) {
				t.Fatal("the copy is not flagged \\Deleted")
			}
		})
	}
}

// Mail moved after ingest has new UIDs in the target folder: it is found by
// Message-ID (or size) and deleted only when its content is the stored one;
// by SEARCH for a few copies, by one pass over the folder for many.
func TestDeleteCopiesByContent(t *testing.T) {
	s := dovecottest.Start(t)
	user := dovecottest.DefaultUser.Name
	sum := func(b []byte) []byte { h := sha256.Sum256(b); return h[:] }
	for _, mode := range []struct {
		name      string
		scanAbove int
	}{{"search", 200}, {"scan", 0}} {
		t.Run(mode.name, func(t *testing.T) {
			defer func(v int) { scanAbove = v }(scanAbove)
			scanAbove = mode.scanAbove
			folder := "Archive-" + mode.name
			target := rawMail(mode.name+"-moved-1", "the stored mail")
			reused := rawMail(mode.name+"-moved-1", "another mail reusing the Message-ID") // a broken client
			noID := []byte("From: a@example.com\r\nSubject: no id " + mode.name + "\r\n\r\nmail without a Message-ID\r\n")
			noIDOther := []byte("From: b@example.com\r\nSubject: no id " + mode.name + "\r\n\r\nmail without a Message-ID\r\n") // same size
			big := rawMail(mode.name+"-big-1", strings.Repeat("large body ", 100))
			bigHeader, _, _ := strings.Cut(string(big), "\r\n\r\n")
			bigHeader += "\r\n\r\n" // BODY[HEADER] ends with the blank line
			unrelated := rawMail(mode.name+"-unrelated", "keep me")

			uTarget := s.Append(t, user, folder, target)
			uReused := s.Append(t, user, folder, reused)
			uNoID := s.Append(t, user, folder, noID)
			uNoIDOther := s.Append(t, user, folder, noIDOther)
			uBig := s.Append(t, user, folder, big)
			uUnrelated := s.Append(t, user, folder, unrelated, imap.FlagDeleted)

			copies := []Copy{
				{MessageID: mode.name + "-moved-1@test.example", SHA256: sum(target), Size: int64(len(target))},
				{SHA256: sum(noID), Size: int64(len(noID))},
				// stored header-only (over the size limit)
				{MessageID: mode.name + "-big-1@test.example", SHA256: sum([]byte(bigHeader)), Size: int64(len(bigHeader))},
				// not there at all
				{MessageID: "gone@test.example", SHA256: sum([]byte("gone")), Size: 4},
				// unusable: no hash
				{MessageID: mode.name + "-unrelated@test.example"},
			}
			n, err := DeleteCopiesByContent(context.Background(), dovecotOptions(s, TLSNone, folder), copies)
			if err != nil || n != 3 {
				t.Fatalf("DeleteCopiesByContent = %d, %v; want 3", n, err)
			}
			if got, want := s.Folder(t, user, folder), []uint32{uReused, uNoIDOther, uUnrelated}; !slices.Equal(got, want) {
				t.Fatalf("%s holds %v, want %v (deleted %d, %d, %d)", folder, got, want, uTarget, uNoID, uBig)
			}
			// An empty folder: nothing to find.
			s.CreateFolder(t, user, folder+"-empty")
			if n, err := DeleteCopiesByContent(context.Background(), dovecotOptions(s, TLSNone, folder+"-empty"), copies); n != 0 || err != nil {
				t.Fatalf("empty folder: %d, %v", n, err)
			}
		})
	}
}

func TestHeaderMessageID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Message-ID: <A.1@Example.com>\r\n\r\n":     "a.1@example.com",
		"Message-Id:\r\n <a.2@example.com>\r\n\r\n": "a.2@example.com",
		"message-id: a.3@example.com\r\n":           "a.3@example.com",
		"\r\n":                                      "",
		"":                                          "",
	} {
		if got := headerMessageID([]byte(in)); got != want {
			t.Errorf("headerMessageID(%q) = %q, want %q", in, got, want)
		}
	}
}
