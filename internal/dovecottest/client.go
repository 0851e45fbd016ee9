package dovecottest

import (
	"errors"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Dial returns a client logged in as user over the plain-text listener; it is
// closed when the test ends.
func (s *Server) Dial(t testing.TB, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(s.Addr, nil)
	if err != nil {
		t.Fatalf("dovecottest: dial %s: %v", s.Addr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, s.Password(t, user)).Wait(); err != nil {
		c.Close()
		t.Fatalf("dovecottest: login %s: %v", user, err)
	}
	return c
}

// session runs f with a fresh logged-in client and logs out afterwards.
func (s *Server) session(t testing.TB, user string, f func(c *imapclient.Client)) {
	t.Helper()
	c := s.Dial(t, user)
	defer func() {
		_ = c.Logout().Wait()
		c.Close()
	}()
	f(c)
}

// Append stores raw in the user's folder (creating the folder when it does
// not exist) and returns the new message's UID (from APPENDUID, RFC 4315).
func (s *Server) Append(t testing.TB, user, folder string, raw []byte, flags ...imap.Flag) uint32 {
	t.Helper()
	var uid uint32
	s.session(t, user, func(c *imapclient.Client) {
		data, err := appendMsg(c, folder, raw, flags)
		var ierr *imap.Error
		if errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeTryCreate {
			if err := c.Create(folder, nil).Wait(); err != nil {
				t.Fatalf("dovecottest: create %s: %v", folder, err)
			}
			data, err = appendMsg(c, folder, raw, flags)
		}
		if err != nil {
			t.Fatalf("dovecottest: append to %s: %v", folder, err)
		}
		if data.UID == 0 {
			t.Fatalf("dovecottest: append to %s: no APPENDUID", folder)
		}
		uid = uint32(data.UID)
	})
	return uid
}

func appendMsg(c *imapclient.Client, folder string, raw []byte, flags []imap.Flag) (*imap.AppendData, error) {
	cmd := c.Append(folder, int64(len(raw)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write(raw); err != nil {
		cmd.Close()
		return nil, err
	}
	if err := cmd.Close(); err != nil {
		return nil, err
	}
	return cmd.Wait()
}

// Folder returns the UIDs in the user's folder, ascending. The folder is
// opened read-only (EXAMINE), so nothing about it changes.
func (s *Server) Folder(t testing.TB, user, folder string) []uint32 {
	t.Helper()
	var uids []uint32
	s.session(t, user, func(c *imapclient.Client) {
		if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			t.Fatalf("dovecottest: examine %s: %v", folder, err)
		}
		data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			t.Fatalf("dovecottest: search %s: %v", folder, err)
		}
		for _, u := range data.AllUIDs() {
			uids = append(uids, uint32(u))
		}
	})
	slices.Sort(uids)
	return uids
}

// Flags returns the flags of one message; it fails the test when the UID is
// not in the folder.
func (s *Server) Flags(t testing.TB, user, folder string, uid uint32) []imap.Flag {
	t.Helper()
	var flags []imap.Flag
	s.session(t, user, func(c *imapclient.Client) {
		if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			t.Fatalf("dovecottest: examine %s: %v", folder, err)
		}
		msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			t.Fatalf("dovecottest: fetch flags of %s UID %d: %v", folder, uid, err)
		}
		if len(msgs) != 1 {
			t.Fatalf("dovecottest: %s has no UID %d", folder, uid)
		}
		flags = msgs[0].Flags
	})
	return flags
}

// HasFlag reports whether the message carries flag.
func (s *Server) HasFlag(t testing.TB, user, folder string, uid uint32, flag imap.Flag) bool {
	t.Helper()
	return slices.Contains(s.Flags(t, user, folder, uid), flag)
}

// AddFlags adds flags to one message (UID STORE +FLAGS), as another mail
// client would.
func (s *Server) AddFlags(t testing.TB, user, folder string, uid uint32, flags ...imap.Flag) {
	t.Helper()
	s.session(t, user, func(c *imapclient.Client) {
		if _, err := c.Select(folder, nil).Wait(); err != nil {
			t.Fatalf("dovecottest: select %s: %v", folder, err)
		}
		store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: flags}
		if err := c.Store(imap.UIDSetNum(imap.UID(uid)), store, nil).Close(); err != nil {
			t.Fatalf("dovecottest: store flags on %s UID %d: %v", folder, uid, err)
		}
	})
}

// CreateFolder creates a folder.
func (s *Server) CreateFolder(t testing.TB, user, folder string) {
	t.Helper()
	s.session(t, user, func(c *imapclient.Client) {
		if err := c.Create(folder, nil).Wait(); err != nil {
			t.Fatalf("dovecottest: create %s: %v", folder, err)
		}
	})
}

// DeleteFolder deletes a folder and its mail. Recreating it gives it a new
// UIDVALIDITY.
func (s *Server) DeleteFolder(t testing.TB, user, folder string) {
	t.Helper()
	s.session(t, user, func(c *imapclient.Client) {
		if err := c.Delete(folder).Wait(); err != nil {
			t.Fatalf("dovecottest: delete %s: %v", folder, err)
		}
	})
}

// UIDValidity returns the folder's UIDVALIDITY (STATUS).
func (s *Server) UIDValidity(t testing.TB, user, folder string) uint32 {
	t.Helper()
	var v uint32
	s.session(t, user, func(c *imapclient.Client) {
		data, err := c.Status(folder, &imap.StatusOptions{UIDValidity: true}).Wait()
		if err != nil {
			t.Fatalf("dovecottest: status %s: %v", folder, err)
		}
		v = data.UIDValidity
	})
	return v
}
