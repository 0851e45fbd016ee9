// Package ingest fetches mail from the IMAP mailboxes (go-imap v2) and hands
// it to the store in batches, each batch one transaction with the cursor.
//
// A Worker serves one mailbox. It holds the mailbox's lease (Locker: one
// instance per mailbox), logs in (implicit TLS, STARTTLS or none), selects the
// folder and fetches, by UID, every mail above the stored cursor: BatchSize
// UIDs at a time, first the sizes, then BODY.PEEK[] (BODY.PEEK[HEADER] for
// mail over MaxSize, delivered with TooLarge) in groups of at most MaxSize
// bytes. Each literal is read from the response stream into a buffer of its
// announced size, never collected first. Fetched groups reserve their size
// in a memory budget (Options.Budget: by default one per process,
// DefaultMemoryBudget bytes, shared by all its workers) until committed, so
// many mailboxes receiving large mail at once stay bounded.
//
// # The pipeline
//
// A poll runs two stages on the one IMAP connection (go-imap pipelines
// their commands): a fetcher goroutine fetches group after group, while the
// worker's goroutine commits the group fetched before and applies its After
// action; at most one fetched group waits. The commit is
// BatchStore.DeliverBatch (Desk: conversation.Service.ReceiveBatch), which
// parses the group's mails on all cores outside the transaction, then
// stores them in UID order, each with everything that follows from it
// (conversation, outbox rows, audit), and moves the cursor to the group's
// last UID, all in ONE transaction. Only after it returned nil is the After
// action (\Seen, move, delete) applied, to the whole group in one command
// (UID STORE over the UID set, one UID MOVE).
//
// # Exactly once
//
// The cursor moves only in the transaction that stores the mail below it,
// so a crash at any point loses nothing and stores nothing twice: before
// the commit, the whole group is fetched again (nothing of it was stored);
// after it, the cursor skips the group (and its mail stays in the folder
// without its After action, which is never replayed). Groups commit in UID
// order, one at a time, so the cursor never passes an uncommitted mail. A
// batch that fails (one of its mails makes a rule, the parser or the
// database fail; anything but the stop) is delivered again one mail per
// transaction with Store.Deliver, where the rules below sort the failing
// mail out and the rest of the group is stored. A UIDVALIDITY change resets
// the cursor and rescans the folder; the store recognises every mail it
// holds already (by its IMAP key, or by the hash of its content: see
// Duplicates in package conversation), so that stores nothing twice. Then
// the worker idles (IDLE, RFC 2177, re-issued every IdleRestart, with a
// safety poll every SafetyPoll) or, without IDLE, polls every PollInterval.
// Wake makes it poll at once: the mail server's push (package push), which
// reaches the instance holding the lease through PostgreSQL, comes before
// IDLE's EXISTS on a server that announces new mail late.
//
// # Several instances
//
// Desk's leases are PostgreSQL advisory locks, one per mailbox, shared
// fairly: an instance whose worker waits for or holds a lease is a member of
// the instances group (store.Join), and holds at most ceil(mailboxes /
// members) leases. An instance holding more (it ran alone until another
// started) gives back its newest lease (Lost; its worker finishes the
// transaction in flight and releases it) until it holds its share. A
// mailbox is served by one instance at a time, so instances add throughput
// only by spreading the mailboxes.
//
// # Errors and retries
//
// Every error is either permanent or temporary, and that one bit decides:
//
//   - permanent: invalid Options. Run returns the error at once; retrying
//     cannot help.
//   - temporary: everything else about the mailbox: dial, TLS, login,
//     SELECT, FETCH, a cursor error, a lost connection. The session is
//     closed, the lease released, Health records LastError, and the worker
//     starts over after an exponential backoff (1s doubling to 5m, with
//     jitter) that resets after a successful poll. Nothing is lost because
//     the cursor moves only with a committed delivery. A failed login is
//     temporary too: the password may be fixed on the server while postdesk
//     runs. But it is an *AuthError (a NO to LOGIN or AUTHENTICATE other
//     than [UNAVAILABLE], or an OAuth2 token endpoint refusing the client),
//     Health's LastError starts with "authentication failed:", and its
//     backoff doubles on to 15 minutes. With OAuth2 (Options.Auth) a
//     refused token is replaced once at once, as it may have been revoked
//     or have expired early; a token endpoint that does not answer is an
//     ordinary temporary error.
//
// An error storing one mail (Store.Deliver, after its batch failed) is
// sorted further, because a mail that can never be stored must not stop the
// mail behind it:
//
//   - temporary: the database or the server is unreachable or busy, or the
//     worker is stopping: a connection error, SQLSTATE classes 08, 53, 57
//     (but 57014, a statement timeout), 58, a serialization failure
//     (40001), a deadlock (40P01), a lost race on one of the keys that
//     recognise a mail stored already (23505 on the IMAP key, the content
//     key or a copy's key), a cancelled context. Retried as above, for as
//     long as it lasts; it says nothing about the mail and never counts
//     against it.
//   - permanent for this mail: the database refuses its data (SQLSTATE
//     class 22, data exception; class 23, an integrity violation other than
//     the expected unique keys and a foreign key; class 54, a program limit
//     such as an index row too large), or the mail makes the code panic (an
//     error with a method Permanent() bool returning true, as
//     conversation.PanicError).
//   - any other error (a bug, a timeout of this delivery, a foreign key
//     violation: the conversation a mail answers purged meanwhile, which a
//     retry handles) is retried, and
//     counted: the same mail failing MaxAttempts (3) times in a row is
//     treated as permanent. The count lives in the worker; a restart starts
//     it over, so a mail is tried at most MaxAttempts more times.
//   - no error at all: the process died inside the delivery (killed out of
//     memory, a fatal runtime error no recover catches), so the count in
//     memory died with it. A Store that is an AttemptStore records each
//     delivery before it starts and forgets one that ended in an error; at
//     the next start an attempt found begun and never ended is a process
//     that stopped inside it. A batch found so is delivered one mail at a
//     time, and a mail found so MaxCrashes (2) times is quarantined without
//     being delivered again (cause ErrCrashed).
//
// A mail permanently failing is quarantined: Store.Quarantine keeps its raw
// source, the error and its IMAP position in one transaction with the
// cursor (as a staff-only conversation, see conversation.Quarantine), the
// After action is applied as for any stored mail, and the worker goes on
// with the next mail. If the quarantine fails too, that is retried like a
// temporary error: a mail is never skipped without a record.
//
// The After action is applied after the commit, so its failure cannot undo
// the delivery: when the server refuses it (NO/BAD, e.g. a missing move
// target) the mail stays in the folder, the error is logged and reported in
// Health, and the worker goes on; an I/O error ends the session as above.
// The worker never sends a plain EXPUNGE: without UIDPLUS (RFC 4315) it leaves
// deleted or copied mail flagged \Deleted and \Seen, as a plain EXPUNGE would
// also remove other clients' \Deleted mail.
//
// # The go-live import
//
// When the worker first connects to a mailbox (the store has no cursor for
// it: Cursor returns UIDValidity 0), the mail already in the folder is the
// organisation's history. With Existing "quiet" (the default) every UID up
// to UIDNEXT-1 of that first SELECT (or, from a server that sends no
// UIDNEXT, the highest UID a search finds) is recorded with the cursor
// (ResetCursor's importUntil) and delivered with Fetched.Archive: stored as
// the archive, nobody mailed (see conversation's go-live archive). Mail
// arriving later, and everything after a UIDVALIDITY change, is handled as
// new. Because the boundary is stored, an import interrupted by a restart
// goes on as an import. With "notify", existing mail is handled as new.
//
// The import logs its size at the start, its progress (count, rate, ETA)
// every 5 seconds and its end, and exposes postdesk_import_done_mails and
// postdesk_import_remaining_mails in /metrics. Each committed batch of a long
// backlog counts as a successful poll (Health.LastSuccess), so /readyz stays
// ready while it runs.
package ingest
