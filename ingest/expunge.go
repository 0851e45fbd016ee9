package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Deleting the server's copies of purged mail.
//
// With After "seen" the mail stays in the folder, and with "move:FOLDER" in
// that folder: when the retention purge removes a conversation, these copies
// must go too. Like the worker, these functions never send a plain EXPUNGE,
// which would also remove every other \Deleted mail of the folder, other
// clients' included: they flag exactly the given mail \Deleted and remove it
// with UID EXPUNGE (RFC 4315 section 2.1). Without UIDPLUS the mail is left
// flagged \Deleted and an error wrapping ErrNoUIDPlus says so.

// ErrUIDValidity reports a folder whose UIDVALIDITY is not the one the copies
// were stored under: the folder was re-created, and the stored UIDs name other
// mail or none (RFC 3501 section 2.3.1.1). Nothing is deleted.
var ErrUIDValidity = errors.New("the folder's UIDVALIDITY changed: the stored UIDs no longer name the same mail, nothing deleted")

// ErrNoUIDPlus reports a server without UIDPLUS: the mail was flagged
// \Deleted but not expunged, since a plain EXPUNGE would also remove other
// clients' \Deleted mail.
var ErrNoUIDPlus = errors.New("the server has no UIDPLUS (RFC 4315): the mail is flagged \\Deleted but not expunged, as a plain EXPUNGE would also remove other clients' \\Deleted mail")

// expungeChunk is how many UIDs one STORE/UID EXPUNGE names, keeping command
// lines short whatever the UIDs.
const expungeChunk = 500

// maxCandidates is how many mails one content search may name before the
// copy is given up as ambiguous.
const maxCandidates = 50

// DeleteCopies removes the mail with the given UIDs from opts.Folder of the
// mailbox opts names (connecting as the worker does, in the same TLS modes;
// opts.After plays no part). The UIDs are meaningful only under uidValidity:
// when the folder's UIDVALIDITY differs, nothing is deleted and the error
// wraps ErrUIDValidity. UIDs no longer in the folder are skipped. deleted
// counts the mails that were there and are gone.
func DeleteCopies(ctx context.Context, opts *Options, uidValidity uint32, uids []uint32) (deleted int, err error) {
	if len(uids) == 0 {
		return 0, nil
	}
	s, err := openFolder(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer s.close()
	if s.uidValidity != uidValidity {
		return 0, fmt.Errorf("delete copies in %s: UIDVALIDITY is %d, the copies were stored under %d: %w",
			s.folder, s.uidValidity, uidValidity, ErrUIDValidity)
	}
	set := make([]imap.UID, 0, len(uids))
	for _, u := range uids {
		if u != 0 {
			set = append(set, imap.UID(u))
		}
	}
	return s.expunge(set)
}

// Copy names a mail by its content, for a folder where its UID is not known:
// mail moved there after ingest (After "move:FOLDER") has a UID of that
// folder, not the one postdesk stored.
type Copy struct {
	MessageID string // without angle brackets; "" when the mail had none
	// SHA256 and Size are those of the raw source postdesk stored: the whole
	// mail (BODY[]), or only its header (BODY[HEADER]) for mail over the
	// size limit.
	SHA256 []byte
	Size   int64
}

// DeleteCopiesByContent removes from opts.Folder the mails whose content is
// exactly one of copies': candidates are found by Message-ID (or, for mail
// without one, by size), and only a mail whose BODY[] or BODY[HEADER] has the
// stored sha256 is deleted, so another mail reusing a Message-ID is never
// touched. Copies not found are skipped; deleted counts the mails removed.
func DeleteCopiesByContent(ctx context.Context, opts *Options, copies []Copy) (deleted int, err error) {
	if len(copies) == 0 {
		return 0, nil
	}
	s, err := openFolder(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer s.close()
	var match []imap.UID
	for _, cp := range copies {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		uid, err := s.find(cp)
		if err != nil {
			return 0, err
		}
		if uid != 0 && !slices.Contains(match, uid) {
			match = append(match, uid)
		}
	}
	return s.expunge(match)
}

// folderSession is a logged-in connection with the folder selected.
type folderSession struct {
	c           *imapclient.Client
	caps        imap.CapSet
	folder      string
	uidValidity uint32
	stop        func() bool
}

func openFolder(ctx context.Context, opts *Options) (*folderSession, error) {
	if opts == nil {
		return nil, errors.New("ingest: delete copies: no mailbox options")
	}
	o := *opts
	// The After action plays no part in deleting; it must not fail the
	// options' check (a caller may pass the move target as the Folder).
	o.After = AfterSeen
	w := NewWorker(&o, nil, nil)
	if w.optsErr != nil {
		return nil, w.optsErr
	}
	c, err := w.connect(ctx, make(chan struct{}, 1))
	if err != nil {
		return nil, fmt.Errorf("ingest: mailbox %s: %w", w.opts.Name, err)
	}
	s := &folderSession{c: c, folder: w.opts.Folder, stop: context.AfterFunc(ctx, func() { c.Close() })}
	s.caps = c.Caps()
	sel, err := c.Select(s.folder, nil).Wait()
	if err != nil {
		s.close()
		return nil, fmt.Errorf("ingest: mailbox %s: select %s: %w", w.opts.Name, s.folder, err)
	}
	s.uidValidity = sel.UIDValidity
	return s, nil
}

func (s *folderSession) close() {
	s.stop()
	_ = s.c.Logout().Wait()
	s.c.Close()
}

// present returns which of set's UIDs are in the folder.
func (s *folderSession) present(set imap.UIDSet) ([]imap.UID, error) {
	data, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("uid search in %s: %w", s.folder, err)
	}
	return data.AllUIDs(), nil
}

// expunge flags exactly uids \Deleted and removes them with UID EXPUNGE.
func (s *folderSession) expunge(uids []imap.UID) (deleted int, err error) {
	slices.Sort(uids)
	uids = slices.Compact(uids)
	uidPlus := s.caps.Has(imap.CapUIDPlus)
	flagged := 0
	for chunk := range slices.Chunk(uids, expungeChunk) {
		there, err := s.present(imap.UIDSetNum(chunk...))
		if err != nil {
			return deleted, err
		}
		if len(there) == 0 {
			continue
		}
		set := imap.UIDSetNum(there...)
		store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
		if err := s.c.Store(set, store, nil).Close(); err != nil {
			return deleted, fmt.Errorf("uid store \\Deleted in %s: %w", s.folder, err)
		}
		if !uidPlus {
			flagged += len(there)
			continue
		}
		if err := s.c.UIDExpunge(set).Close(); err != nil {
			return deleted, fmt.Errorf("uid expunge in %s: %w", s.folder, err)
		}
		left, err := s.present(set)
		if err != nil {
			return deleted, err
		}
		deleted += len(there) - len(left)
	}
	if flagged > 0 {
		return deleted, fmt.Errorf("%d mail(s) in %s: %w", flagged, s.folder, ErrNoUIDPlus)
	}
	return deleted, nil
}

var sectionHeaderPeek = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}

// find returns the UID of the mail whose content is cp's, or 0.
func (s *folderSession) find(cp Copy) (imap.UID, error) {
	crit := &imap.SearchCriteria{}
	switch {
	case cp.MessageID != "":
		crit.Header = []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: cp.MessageID}}
	case cp.Size > 0:
		crit.Larger, crit.Smaller = cp.Size-1, cp.Size+1
	default:
		return 0, nil
	}
	if len(cp.SHA256) != sha256.Size {
		return 0, nil
	}
	data, err := s.c.UIDSearch(crit, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("uid search in %s: %w", s.folder, err)
	}
	cands := data.AllUIDs()
	if len(cands) == 0 || len(cands) > maxCandidates {
		return 0, nil
	}
	// The header first: it is small, and all that was stored of mail over
	// the size limit; the whole mail only when its size is the stored one.
	msgs, err := s.c.Fetch(imap.UIDSetNum(cands...), &imap.FetchOptions{UID: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{sectionHeaderPeek}}).Collect()
	if err != nil {
		return 0, fmt.Errorf("fetch headers in %s: %w", s.folder, err)
	}
	var whole []imap.UID
	for _, m := range msgs {
		if m.UID == 0 {
			continue
		}
		if h := m.FindBodySection(sectionHeaderPeek); h != nil && sameSum(h, cp.SHA256) {
			return m.UID, nil
		}
		if m.RFC822Size == cp.Size {
			whole = append(whole, m.UID)
		}
	}
	for _, uid := range whole {
		msgs, err := s.c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true,
			BodySection: []*imap.FetchItemBodySection{sectionFull}}).Collect()
		if err != nil {
			return 0, fmt.Errorf("fetch UID %d in %s: %w", uid, s.folder, err)
		}
		for _, m := range msgs {
			if raw := m.FindBodySection(sectionFull); m.UID == uid && raw != nil && sameSum(raw, cp.SHA256) {
				return uid, nil
			}
		}
	}
	return 0, nil
}

func sameSum(data, sum []byte) bool {
	h := sha256.Sum256(data)
	return bytes.Equal(h[:], sum)
}
