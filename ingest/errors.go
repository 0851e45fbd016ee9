package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// class is what an error storing one mail says about retrying it (see the
// package documentation, "Errors and retries").
type class int

const (
	// transient: the database or the server is unreachable or busy, or the
	// worker is stopping. Retried with backoff for as long as it lasts; it
	// says nothing about the mail, so it never counts towards quarantine.
	transient class = iota
	// unknown: not known to be either. Retried, and counted: the same mail
	// failing MaxAttempts times in a row is quarantined.
	unknown
	// permanent: this mail can never be stored as it is (the database
	// refuses its data, the parser panics on it). Quarantined at once.
	permanent
)

func (c class) String() string {
	switch c {
	case transient:
		return "temporary"
	case permanent:
		return "permanent"
	}
	return "unknown"
}

// expectedUnique are the unique keys a delivery may hit by losing a race
// (two instances, or a mailbox and its twin, storing the same mail at
// once): the retry finds the mail stored and records it as a duplicate.
var expectedUnique = map[string]bool{
	"messages_mailbox_uid_validity_uid_key": true, // the IMAP key
	"messages_raw_key":                      true, // the content key
	"message_copies_pkey":                   true, // a copy's IMAP key
}

// classify sorts an error of Store.Deliver.
func classify(err error) class {
	var perm interface{ Permanent() bool }
	if errors.As(err, &perm) && perm.Permanent() {
		return permanent
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return classifySQLState(pe)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return transient
	case errors.Is(err, context.DeadlineExceeded):
		// The delivery's own time limit: a mail that always takes too long
		// must not stop the mailbox, so it counts.
		return unknown
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return transient
	}
	return unknown
}

// classifySQLState sorts a database error by its SQLSTATE (PostgreSQL
// documentation, Appendix A).
func classifySQLState(pe *pgconn.PgError) class {
	switch pe.Code {
	case "40001", "40P01": // serialization failure, deadlock detected
		return transient
	case "57014": // query canceled: by statement_timeout too, which a mail may hit every time
		return unknown
	case "23505":
		if expectedUnique[pe.ConstraintName] {
			return transient
		}
		return permanent
	case "23503":
		// A foreign key: the conversation a mail answers was purged while
		// it was being stored; tried again, the mail opens a new one.
		return unknown
	}
	if len(pe.Code) < 2 {
		return unknown
	}
	switch pe.Code[:2] {
	case "08", // connection exception
		"53", // insufficient resources (disk full, out of memory, too many connections)
		"57", // operator intervention (admin shutdown, query canceled)
		"58": // system error (I/O)
		return transient
	case "22", // data exception: a value the column cannot hold (NUL, bad encoding, out of range)
		"23", // integrity constraint violation, other than the expected unique keys and a foreign key
		"54": // program limit exceeded: an index row or a tsvector too large
		return permanent
	}
	return unknown
}

// settle decides what becomes of a mail whose delivery failed with err: nil
// when it was quarantined (recorded, cursor moved), else the error to retry
// on. ctx is the session's.
func (w *Worker) settle(ctx context.Context, f Fetched, err error) error {
	if ctx.Err() != nil {
		return err // stopping: the error may well be the stop itself
	}
	c := classify(err)
	if w.failing.uidValidity != f.UIDValidity || w.failing.uid != f.UID {
		w.failing = failure{uidValidity: f.UIDValidity, uid: f.UID}
	}
	switch c {
	case transient:
		return err
	case unknown:
		w.failing.count++
		if w.failing.count < MaxAttempts {
			w.log.Warn("ingest: delivery failed; retrying", "uid", f.UID, "attempt", w.failing.count, "of", MaxAttempts, "err", err)
			return err
		}
	}
	// A context of its own: the failed delivery may have used up dctx.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deliverGrace)
	defer cancel()
	if qerr := w.st.Quarantine(qctx, w.opts.Name, f, err); qerr != nil {
		return fmt.Errorf("%w; quarantine failed too: %w", err, qerr)
	}
	w.log.Error("ingest: mail could not be stored; quarantined for staff to review, the mailbox goes on",
		"uid", f.UID, "uidvalidity", f.UIDValidity, "class", c, "failures", max(w.failing.count, 1), "err", err)
	w.failing = failure{}
	return nil
}
