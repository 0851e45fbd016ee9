// Package ingest fetches mail from the IMAP mailboxes (go-imap v2) and hands
// each mail to the store, one transaction per mail.
//
// A Worker serves one mailbox. It holds the mailbox's lease (Locker: one
// instance per mailbox), logs in (implicit TLS, STARTTLS or none), selects the
// folder and fetches, by UID, every mail above the stored cursor: first the
// sizes, then BODY.PEEK[] (BODY.PEEK[HEADER] for mail over MaxSize, delivered
// with TooLarge). Store.Deliver stores each mail and moves the cursor in one
// transaction; only after it returned nil is the After action (\Seen, move,
// delete) applied, so a crash at any point loses nothing: before the commit
// the mail is fetched again, after it the cursor skips it (and the mail stays
// in the folder without its After action). A UIDVALIDITY change resets the
// cursor and rescans the folder; the store's dedupe by (mailbox, UIDVALIDITY,
// UID) and Message-ID keeps that from storing anything twice. Then the worker
// idles (IDLE, RFC 2177, re-issued every IdleRestart, with a safety poll every
// SafetyPoll) or, without IDLE, polls every PollInterval.
//
// # Errors and retries
//
// Every error is either permanent or temporary, and that one bit decides:
//
//   - permanent: invalid Options. Run returns the error at once; retrying
//     cannot help.
//   - temporary: everything else: dial, TLS, login, SELECT, FETCH, a Deliver
//     or cursor error, a lost connection. The session is closed, the lease
//     released, Health records LastError, and the worker starts over after an
//     exponential backoff (1s doubling to 5m, with jitter) that resets after a
//     successful poll. Nothing is lost because the cursor moves only with a
//     committed Deliver. A failed login is temporary too: the password may be
//     fixed on the server while postdesk runs.
//
// The After action is applied after the commit, so its failure cannot undo
// the delivery: when the server refuses it (NO/BAD, e.g. a missing move
// target) the mail stays in the folder, the error is logged and reported in
// Health, and the worker goes on; an I/O error ends the session as above.
// The worker never sends a plain EXPUNGE: without UIDPLUS (RFC 4315) it leaves
// deleted or copied mail flagged \Deleted and \Seen, as a plain EXPUNGE would
// also remove other clients' \Deleted mail.
package ingest
