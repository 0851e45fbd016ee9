package ingest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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

// maxCandidates is how many mails one copy may have as candidates before it
// is given up as ambiguous (many mails of one size, a Message-ID reused).
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
// without one, by size), and only a mail whose BODY[] or BODY[HEADER] has a
// stored sha256 is deleted, so another mail reusing a Message-ID is never
// touched. Copies not found are skipped; deleted counts the mails removed.
//
// A few copies are looked up with SEARCH (grouped with OR); many are matched
// in one pass over the folder's Message-ID headers, as the server would
// otherwise scan the folder once per search.
func DeleteCopiesByContent(ctx context.Context, opts *Options, copies []Copy) (deleted int, err error) {
	var valid []Copy
	for _, c := range copies {
		if len(c.SHA256) == sha256.Size && (c.MessageID != "" || c.Size > 0) {
			valid = append(valid, c)
		}
	}
	if len(valid) == 0 {
		return 0, nil
	}
	s, err := openFolder(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer s.close()
	var cands []imap.UID
	switch {
	case s.messages == 0:
		return 0, nil
	case len(valid) > scanAbove:
		cands, err = s.scanCandidates(valid)
	default:
		cands, err = s.searchCandidates(ctx, valid)
	}
	if err != nil {
		return 0, err
	}
	match, err := s.verify(ctx, cands, valid)
	if err != nil {
		return 0, err
	}
	return s.expunge(match)
}

// scanAbove is how many copies make one pass over the folder cheaper than
// searching for them (a variable for tests); searchGroup is how many copies
// one SEARCH names.
var scanAbove = 200

const searchGroup = 50

// searchCandidates finds the mail that may be copies with SEARCH: HEADER
// Message-ID, or for a copy without one, its exact size.
func (s *folderSession) searchCandidates(ctx context.Context, copies []Copy) ([]imap.UID, error) {
	var cands []imap.UID
	for group := range slices.Chunk(copies, searchGroup) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		crits := make([]imap.SearchCriteria, len(group))
		for i, c := range group {
			if c.MessageID != "" {
				crits[i].Header = []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: c.MessageID}}
			} else {
				crits[i].Larger, crits[i].Smaller = c.Size-1, c.Size+1
			}
		}
		data, err := s.c.UIDSearch(anyOf(crits), nil).Wait()
		if err != nil {
			return nil, fmt.Errorf("uid search in %s: %w", s.folder, err)
		}
		if found := data.AllUIDs(); len(found) <= maxCandidates*len(group) {
			cands = append(cands, found...)
		}
	}
	return cands, nil
}

// anyOf is the OR of criteria, as a balanced tree (SEARCH's OR takes two).
func anyOf(cs []imap.SearchCriteria) *imap.SearchCriteria {
	if len(cs) == 1 {
		return &cs[0]
	}
	mid := len(cs) / 2
	return &imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{*anyOf(cs[:mid]), *anyOf(cs[mid:])}}}
}

var sectionMessageID = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true}

// scanCandidates finds the mail that may be copies in one pass over the
// folder: its Message-IDs and sizes.
func (s *folderSession) scanCandidates(copies []Copy) ([]imap.UID, error) {
	ids := map[string]bool{}
	sizes := map[int64]bool{}
	for _, c := range copies {
		if c.MessageID != "" {
			ids[strings.ToLower(c.MessageID)] = true
		} else {
			sizes[c.Size] = true
		}
	}
	cmd := s.c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1}}, &imap.FetchOptions{UID: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{sectionMessageID}})
	var cands []imap.UID
	bySize := map[int64]int{}
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		m, err := msg.Collect()
		if err != nil {
			cmd.Close()
			return nil, fmt.Errorf("fetch Message-IDs in %s: %w", s.folder, err)
		}
		if m.UID == 0 {
			continue
		}
		if ids[headerMessageID(m.FindBodySection(sectionMessageID))] {
			cands = append(cands, m.UID)
		} else if sizes[m.RFC822Size] && bySize[m.RFC822Size] < maxCandidates {
			bySize[m.RFC822Size]++
			cands = append(cands, m.UID)
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, fmt.Errorf("fetch Message-IDs in %s: %w", s.folder, err)
	}
	return cands, nil
}

// headerMessageID reads the Message-ID out of a "Message-ID: <x@y>" header
// section, lower-cased and without angle brackets.
func headerMessageID(h []byte) string {
	_, v, ok := strings.Cut(string(h), ":")
	if !ok {
		return ""
	}
	v = strings.Join(strings.Fields(v), "") // unfolded
	v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
	return strings.ToLower(v)
}

// verify returns the candidates whose BODY[HEADER] or BODY[] has one of the
// copies' sha256: the header first (small, and all that was stored of mail
// over the size limit), the whole mail only when its size is a copy's.
func (s *folderSession) verify(ctx context.Context, cands []imap.UID, copies []Copy) ([]imap.UID, error) {
	sums := map[[sha256.Size]byte]bool{}
	sizes := map[int64]bool{}
	for _, c := range copies {
		sums[[sha256.Size]byte(c.SHA256)] = true
		sizes[c.Size] = true
	}
	slices.Sort(cands)
	cands = slices.Compact(cands)
	var match []imap.UID
	type whole struct {
		uid  imap.UID
		size int64
	}
	var wholes []whole
	for group := range slices.Chunk(cands, expungeChunk) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		msgs, err := s.c.Fetch(imap.UIDSetNum(group...), &imap.FetchOptions{UID: true, RFC822Size: true,
			BodySection: []*imap.FetchItemBodySection{sectionHeaderPeek}}).Collect()
		if err != nil {
			return nil, fmt.Errorf("fetch headers in %s: %w", s.folder, err)
		}
		for _, m := range msgs {
			switch h := m.FindBodySection(sectionHeaderPeek); {
			case m.UID == 0:
			case h != nil && sums[sha256.Sum256(h)]:
				match = append(match, m.UID)
			case sizes[m.RFC822Size]:
				wholes = append(wholes, whole{m.UID, m.RFC822Size})
			}
		}
	}
	// Whole mails in groups of at most DefaultMaxSize bytes (at least one).
	for len(wholes) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, total := 0, int64(0)
		for n < len(wholes) && (n == 0 || total+wholes[n].size <= DefaultMaxSize) {
			total += wholes[n].size
			n++
		}
		uids := make([]imap.UID, n)
		for i := range n {
			uids[i] = wholes[i].uid
		}
		wholes = wholes[n:]
		msgs, err := s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true,
			BodySection: []*imap.FetchItemBodySection{sectionFull}}).Collect()
		if err != nil {
			return nil, fmt.Errorf("fetch mail in %s: %w", s.folder, err)
		}
		for _, m := range msgs {
			if raw := m.FindBodySection(sectionFull); m.UID != 0 && raw != nil && sums[sha256.Sum256(raw)] {
				match = append(match, m.UID)
			}
		}
	}
	return match, nil
}

// folderSession is a logged-in connection with the folder selected.
type folderSession struct {
	c           *imapclient.Client
	caps        imap.CapSet
	folder      string
	uidValidity uint32
	messages    uint32 // in the folder when selected
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
	s.uidValidity, s.messages = sel.UIDValidity, sel.NumMessages
	return s, nil
}

// close logs out politely, but waits at most a few seconds for the server.
func (s *folderSession) close() {
	done := make(chan struct{})
	go func() {
		_ = s.c.Logout().Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	s.c.Close()
	s.stop()
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
