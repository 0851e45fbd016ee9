// Package threading decides, for one parsed inbound email, which conversation it
// belongs to and what kind of mail it is (customer, staff, auto-reply, bounce,
// loop), and makes and checks the two kinds of signed token postdesk puts in
// its addresses: reply tokens in reply addresses (payroll+TOKEN@example.com,
// naming a conversation and a recipient) and VERP tokens in return paths
// (payroll+b-TOKEN@example.com, the envelope sender of one outgoing mail,
// naming its outbox row; see SignBounce). A delivery report counts only when
// it comes back to a return path whose token verifies.
//
// Everything here is a pure function of its inputs: no database and no I/O. The
// facts threading needs about stored conversations come through the small Index
// interface, which the store implements inside the ingest transaction.
//
// The rule that shapes the package: a stranger must never get into someone
// else's conversation. Only a verified reply token attaches a mail regardless of
// its sender; Message-ID references and [#n] subject tags attach only mail whose
// From is already a participant of the conversation they name.
package threading
