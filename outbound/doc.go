// Package outbound is the outbox worker: it claims due outbox rows, renders
// their mail from package templates, builds the MIME message and sends it to
// the SMTP relay, and records what became of each try.
//
// # Claiming
//
// Each row is sent inside a transaction of its own that locks it:
//
//	SELECT ... FROM outbox WHERE status = 'pending' AND next_attempt_at <= $now
//	ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
//
// The lock is held while the mail is sent, and the outcome (sent, retry or
// failed) is committed in the same transaction. So several instances never
// send one row at the same time (each skips the rows the others hold), and a
// crash or shutdown mid-send rolls back to a pending row that the next run
// sends again. Delivery is at least once: a worker that dies after the relay
// accepted the mail but before its commit sends that mail a second time (it
// carries the same Message-ID, so clients show one). Once the relay has
// accepted a mail, the outcome is recorded even if the run's context ends.
//
// # Retry policy
//
// Every delivery error is either temporary or permanent, and that one bit
// decides what happens to the row (the rule maddy follows):
//
//   - Temporary: an SMTP 4xx reply; any network error, timeout, refused or
//     dropped connection; a TLS handshake or certificate problem; and every
//     failure while setting up the session (greeting, EHLO, STARTTLS, AUTH),
//     whatever its code, since those concern the relay and its configuration
//     and not the mail: a wrong password must not fail every queued mail.
//     Errors of unknown kind count as temporary.
//   - Permanent: an SMTP 5xx reply to MAIL, RCPT or DATA; a recipient or
//     category address that is not a plain addr-spec, or no reply address can
//     be made from it; a header value built from user input (subject, names,
//     file names, addresses) holding CR, LF or another control character; a
//     template that fails to render; a row whose conversation, category or
//     attachment content no longer exists.
//
// A temporary error leaves the row pending with attempts+1, last_error and
// next_attempt_at moved on by exponential backoff: 1m, 2m, 4m, 8m ... doubling
// up to at most 1h between tries. Tries go on until 48 hours after the row was
// created; the last one is made at that mark. A permanent error, and a
// temporary error after those 48 hours, mark the row failed with last_error,
// add an event message "delivery_failed" to the conversation's timeline
// (staff see it), and queue a delivery_failed notice to the conversation's
// Handler or, with none, every member of its receiver roles; never to the
// address that failed, and never for a failed delivery_failed or too_large
// mail, so failures cannot loop.
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
