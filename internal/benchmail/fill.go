package benchmail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/sync/errgroup"
)

// FillMaildir writes raws as new mail into the Maildir at dir (the folder
// holding cur/, new/ and tmp/, created when missing), each file written to
// tmp/ and renamed into new/ as the Maildir convention requires, so a
// running Dovecot never sees half a file. Files and folders get the owner
// of dir's parent (the mail user of internal/dovecottest, when the tests run
// as root). Dovecot assigns the UIDs at the next SELECT or STATUS, in file
// name order, which is raws' order.
//
// It is about two orders of magnitude faster than APPEND (no IMAP round
// trip, no fsync per mail), which keeps a benchmark's setup out of its run
// time; it needs the Maildir to be local and not otherwise written to.
func FillMaildir(dir string, raws [][]byte) error {
	uid, gid := -1, -1
	if fi, err := os.Stat(filepath.Dir(dir)); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Getuid() == 0 {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	own := func(p string) error {
		if uid < 0 {
			return nil
		}
		return os.Lchown(p, uid, gid)
	}
	for _, d := range []string{dir, filepath.Join(dir, "cur"), filepath.Join(dir, "new"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("fill maildir: %w", err)
		}
		if err := own(d); err != nil {
			return fmt.Errorf("fill maildir: %w", err)
		}
	}
	base := time.Now().Unix()
	host, _ := os.Hostname()
	if host == "" {
		host = "benchmail"
	}
	for i, raw := range raws {
		// time.Mpid_seq.host: unique, and sorting by name sorts by i.
		name := fmt.Sprintf("%d.M%09dP%d.%s,S=%d", base, i, os.Getpid(), host, len(raw))
		tmp := filepath.Join(dir, "tmp", name)
		if err := os.WriteFile(tmp, raw, 0o600); err != nil {
			return fmt.Errorf("fill maildir: %w", err)
		}
		if err := own(tmp); err != nil {
			return fmt.Errorf("fill maildir: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
			return fmt.Errorf("fill maildir: %w", err)
		}
	}
	return nil
}

// FillAppend appends raws to folder over conns IMAP connections at once (a
// plain-text login to addr), for a server whose Maildir is not local. Each
// connection appends its share in order, so the UIDs follow raws' order only
// when conns is 1.
func FillAppend(ctx context.Context, addr, user, password, folder string, raws [][]byte, conns int) error {
	conns = max(conns, 1)
	g, ctx := errgroup.WithContext(ctx)
	var mu sync.Mutex
	next := 0
	for range conns {
		g.Go(func() error {
			c, err := imapclient.DialInsecure(addr, nil)
			if err != nil {
				return fmt.Errorf("fill append: %w", err)
			}
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			if err := c.Login(user, password).Wait(); err != nil {
				return fmt.Errorf("fill append: login: %w", err)
			}
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(raws) {
					return c.Logout().Wait()
				}
				cmd := c.Append(folder, int64(len(raws[i])), &imap.AppendOptions{})
				if _, err := cmd.Write(raws[i]); err != nil {
					cmd.Close()
					return fmt.Errorf("fill append: %w", err)
				}
				if err := cmd.Close(); err != nil {
					return fmt.Errorf("fill append: %w", err)
				}
				if _, err := cmd.Wait(); err != nil {
					return fmt.Errorf("fill append %d: %w", i, err)
				}
			}
		})
	}
	return g.Wait()
}
