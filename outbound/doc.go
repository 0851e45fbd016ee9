// Package outbound is the outbox worker: it claims due outbox rows, renders
// their mail from package templates, builds the MIME message and sends it to
// the SMTP relay, and records what became of each try. It is a queue of the
// one shape (package queue), run by a queue.Runner.
//
// # Claiming, sending, recording
//
// Each row goes through three steps, and no network I/O runs inside a
// transaction:
//
//  1. claim and build, one short transaction: the oldest due pending row,
//     FOR UPDATE SKIP LOCKED, gets attempts+1 and next_attempt_at = now +
//     Lease (default SendTimeout + 2m), its mail is built from reads, and
//     the transaction commits (a database error rolls the claim back with
//     it). Rows are claimed one at a time, so a lease covers one send and
//     never the sends queued behind it; the SMTP session is still reused for
//     the rows of a run.
//  2. send, with no transaction open and no row locked (a purge may delete
//     the conversation meanwhile).
//  3. record, a second short transaction: sent, due again after a backoff,
//     failed, or released (below). It counts only while the row is still
//     this claim (its attempts unchanged, still pending); a late outcome is
//     logged and dropped. Once the relay has accepted a mail, the outcome is
//     recorded even if the run's context ends. It runs beside step 1 of the
//     next row, on another connection, and the next send waits for both, so
//     that the round trips of two mails overlap while no transaction is
//     open during a send and every mail sent before the one in flight has
//     its outcome recorded.
//
// A run sends over up to Options.Sessions SMTP sessions at once
// (smtp.sessions, default DefaultSessions), each a lane doing the three
// steps above for one row after the other, sharing the run's Batch. SKIP
// LOCKED and the lease keep any row to one lane. A session fault in one
// lane stops every lane from claiming more; each records the mail it has in
// flight, and the Runner backs off as with one session. The lanes never
// overtake one another's mail to one person about one conversation: the
// claim (store.ClaimOutbox) passes over a row while an earlier row of the
// same conversation and recipient is due or in flight, so the answer goes
// before the solved notice, as with one session.
//
// Delivery is at-least-once for the rows in flight and exactly-once
// otherwise: a process that dies (or is stopped) after the relay took the
// mail but before step 3 leaves the row claimed; when its lease ends any
// instance claims it and sends it again, with the Message-ID stored in the
// row before the first try, so a receiver can recognise the repeat. A
// worker stopped mid-send records the row due again at once, as a try. Two
// workers, of one instance or several, never send one row at once.
//
// Wake-ups: store.Enqueue notifies store.ChannelOutbox in the transaction
// that queues the mail, and every instance's listener (store.Listen) calls
// Worker.Wake, so the mail goes within moments of the commit, from
// whichever instance claims it; Poll (default 30s) is the safety net.
//
// # Errors and retries
//
// Every failed try is one of three kinds, and the kind decides what happens
// to the row (the rule maddy follows):
//
//   - Session fault, the relay's and not the mail's: the connection,
//     TLS or STARTTLS, the greeting, EHLO, AUTH, RSET and MAIL FROM, whatever
//     the reply code (530 authentication required, 535, 550 sender not
//     allowed on MAIL FROM: every queued mail has the same sender and would
//     meet the same refusal). The row is released: attempts back to what
//     they were, due again after the worker's session backoff, last_error
//     set. A session fault is not a try of the mail, so it never fails one:
//     mail waits for a broken relay as long as it takes, and is all
//     delivered once it recovers. (The 48 hours below still run from the
//     row's creation, but only a try the relay judged can end them, so a
//     mail that waited out a long outage gets one such try.) The run ends there, and the Runner backs off (ErrorBackoff,
//     1s doubling to ErrorBackoffMax, 1m). After RelayDownAfter (3) faults in
//     a row the worker counts the relay as down and says so once: an error
//     in the log, an audit entry smtp_relay_down, the "smtp" check of
//     /readyz (health.Relay) and the postdesk_smtp_relay_up gauge at 0; a
//     mail cannot be the alert, since it would go through that relay. The
//     first mail the relay judges again ends the outage: logged, audited as
//     smtp_relay_recovered, the gauge back at 1.
//   - Temporary, for this mail: an SMTP 4xx reply to RCPT or DATA; a network
//     error, timeout or dropped connection once the mail was begun. Errors
//     of unknown kind count as temporary.
//   - Permanent, for this mail: an SMTP 5xx reply to RCPT or DATA; a
//     recipient or category address that is not a plain addr-spec, or no
//     reply address can be made from it; a header value built from user input
//     (subject, names, file names, addresses) holding CR, LF or another
//     control character; a template that fails to render; a row whose
//     conversation, category or attachment content no longer exists.
//
// A temporary error leaves the row pending, last_error set and
// next_attempt_at moved on by exponential backoff: 1m, 2m, 4m, 8m ...
// doubling up to at most 1h between tries. Tries go on until 48 hours after
// the row was created; the last one is made at that mark. A permanent error,
// and a temporary error after those 48 hours, go to
// conversation.Service.DeliveryFailed, the one handling of a mail given up
// on (a verified bounce gets the same): the row is marked failed with
// last_error, an event message "delivery_failed" goes in the conversation's
// timeline (staff see it), and a delivery_failed notice is queued to the
// conversation's Handler or, with none, the receiver roles' audience; never
// to the address that failed, and never for a failed notice
// (conversation.NoticeTemplates), so failures cannot loop.
//
// # The mail
//
// From is the category's name and first address. The envelope sender (SMTP
// MAIL FROM) is that address with a VERP token for this row,
// payroll+b-TOKEN@example.com (threading.Signer.ReturnPath): a signed tag
// naming the outbox row, so a delivery report comes back to a category
// mailbox at an address only the receiving MTA of this one mail has seen,
// and ingest marks exactly that row failed. A report that arrives any other
// way (a copied Message-ID sent to the bare address) changes nothing.
// Reply-To is the category address with a signed token for this
// recipient and conversation (payroll+TOKEN@example.com). The subject carries
// the [#number] tag; Message-ID is the one stored in the row before the first
// try; In-Reply-To and References point at the mail of the conversation the
// recipient has had (see store.MailThread). Notifications carry
// Auto-Submitted: auto-generated (RFC 3834 5); an answer, a person's reply,
// does not, and carries X-Auto-Response-Suppress instead. Every mail carries
// the loop header (conversation.LoopHeader), which ingest recognises.
package outbound
