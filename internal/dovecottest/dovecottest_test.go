package dovecottest_test

import (
	"crypto/tls"
	"fmt"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postdesk/internal/dovecottest"
)

func msg(n int) []byte {
	return fmt.Appendf(nil, "From: a@example.com\r\nTo: b@example.com\r\nSubject: %d\r\nMessage-ID: <%d@test>\r\n\r\nbody %d\r\n", n, n, n)
}

func TestStartAppendList(t *testing.T) {
	s := dovecottest.Start(t, dovecottest.User{Name: "alice", Password: "secret"}, dovecottest.User{Name: "bob", Password: "pw2"})
	t.Logf("dovecot %s on %s (TLS %s)", s.Version, s.Addr, s.TLSAddr)

	if got := s.Folder(t, "alice", "INBOX"); len(got) != 0 {
		t.Fatalf("new INBOX holds %v", got)
	}
	u1 := s.Append(t, "alice", "INBOX", msg(1))
	u2 := s.Append(t, "alice", "INBOX", msg(2), imap.FlagFlagged)
	if got, want := s.Folder(t, "alice", "INBOX"), []uint32{u1, u2}; !slices.Equal(got, want) || u1 >= u2 {
		t.Fatalf("INBOX = %v, want %v ascending", got, want)
	}
	if got := s.Folder(t, "bob", "INBOX"); len(got) != 0 {
		t.Fatalf("bob sees alice's mail: %v", got)
	}
	if !s.HasFlag(t, "alice", "INBOX", u2, imap.FlagFlagged) || s.HasFlag(t, "alice", "INBOX", u1, imap.FlagFlagged) {
		t.Fatalf("flags: %v / %v", s.Flags(t, "alice", "INBOX", u1), s.Flags(t, "alice", "INBOX", u2))
	}
	s.AddFlags(t, "alice", "INBOX", u1, imap.FlagDeleted)
	if !s.HasFlag(t, "alice", "INBOX", u1, imap.FlagDeleted) {
		t.Fatal("AddFlags did not add \\Deleted")
	}

	// Append creates a missing folder; delete and recreate changes UIDVALIDITY.
	a1 := s.Append(t, "alice", "Archive", msg(3))
	v1 := s.UIDValidity(t, "alice", "Archive")
	s.DeleteFolder(t, "alice", "Archive")
	s.CreateFolder(t, "alice", "Archive")
	if v2 := s.UIDValidity(t, "alice", "Archive"); v2 == v1 {
		t.Fatalf("UIDVALIDITY unchanged after delete+create: %d", v2)
	}
	if got := s.Folder(t, "alice", "Archive"); len(got) != 0 {
		t.Fatalf("recreated Archive holds %v (had UID %d)", got, a1)
	}
}

func TestImplicitTLSAndStartTLS(t *testing.T) {
	s := dovecottest.Start(t)
	c, err := imapclient.DialTLS(s.TLSAddr, &imapclient.Options{TLSConfig: s.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(dovecottest.DefaultUser.Name, dovecottest.DefaultUser.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	c2, err := imapclient.DialStartTLS(s.Addr, &imapclient.Options{TLSConfig: &tls.Config{RootCAs: s.RootCAs}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login(dovecottest.DefaultUser.Name, dovecottest.DefaultUser.Password).Wait(); err != nil {
		t.Fatal(err)
	}
}
