// Package mailparse turns the raw source of one email into a Message: decoded
// headers, the text and HTML bodies, attachments and, for delivery status
// notifications, the report. It never fails: whatever it cannot read is noted
// in Message.Problems and the caller stores the raw source beside it, so a
// broken mail is kept and shown instead of dropped.
//
// # Body selection
//
// Parts are chosen as RFC 2183 and mail clients (Thunderbird, enmime) choose
// them:
//
//   - A text/plain or text/html part is body unless its Content-Disposition
//     is attachment. A name= or filename= parameter alone does not make it a
//     file; a disposition that cannot be read counts as inline (and is
//     noted); a well-formed but unknown disposition type is an attachment
//     (RFC 2183 section 2.8). A text part that holds binary data is kept as
//     an attachment.
//   - In multipart/mixed (and every multipart but the two below) the first
//     body part is the text and later inline text parts are appended in
//     order, blank ones left out.
//   - In multipart/alternative each part is read on its own and the richest
//     that is not blank wins: HTML from the last part with HTML that shows
//     something, Text from the last part with text that is not white space.
//     The other alternatives' bodies are dropped (the raw source keeps them);
//     their attachments, such as a calendar invite, are kept.
//   - In multipart/report the first part, meant for people, is the text
//     whatever its disposition says; a delivery report's machine-readable
//     parts fill Message.Report (RFC 3464, RFC 6522).
//   - A mail with HTML but no plain text gets Text made from the HTML
//     (htmlToText, on golang.org/x/net/html's tokenizer), so Text always
//     holds what the mail says.
//   - A delimiter line may carry white space and then any text after the
//     boundary (RFC 2046 transport padding, as mime4j reads it); a line
//     where the boundary runs on ("--abc-1" for "abc") is a nested
//     boundary's. Only when no delimiter is found so is every line that
//     starts with the boundary taken, and that is noted. A missing close
//     delimiter is noted.
//
// # Charsets
//
//   - Every charset of go-message/charset, plus UTF-7 (RFC 2152), in bodies
//     and in encoded words. UTF-7 is decoded here (decodeUTF7) because
//     neither golang.org/x/text nor go-message has it and no maintained Go
//     package does.
//   - Encoded words (RFC 2047) are decoded here, not by mime.WordDecoder: raw
//     8-bit octets inside a word are read in the word's charset, and adjacent
//     words in one charset are joined before conversion so a character split
//     between them survives.
//   - An unknown charset label is read as UTF-8 when the bytes are valid
//     UTF-8, else as Windows-1252, and noted. Text labelled us-ascii, or with
//     no charset, whose bytes are valid UTF-8 is UTF-8; Latin-1 is read as
//     Windows-1252 as browsers do. An HTML part whose MIME header names no
//     charset is read in the one its <meta charset> or <meta http-equiv
//     content-type> names.
//   - A text part declared base64 that is plainly not base64 is shown as it
//     arrived, with a problem noted, never as decoded noise; base64 with a
//     few damaged characters is decoded around them. Malformed
//     quoted-printable escapes are kept as they are.
//
// # Caps
//
// No value Parse hands on can exceed an index or column limit of the store
// (see the Max constants in caps.go): IDs (Message-ID, In-Reply-To,
// References, Content-ID, a report's original Message-ID) are at most
// MaxIDBytes, a longer one cut to its head (still a substring of the header,
// which IMAP SEARCH HEADER matches);
// References keeps its first ID and the newest MaxReferences-1; In-Reply-To
// keeps MaxInReplyTo. An address longer than RFC 5321 allows (local part 64,
// domain 255, whole 254 octets) is dropped from its list; a header yields at
// most MaxAddresses addresses and display names are cut to MaxNameBytes. The
// Subject is cut to MaxSubjectBytes and file names to MaxFilenameBytes,
// keeping the extension, both at a character boundary. Each cut is noted in
// Message.Problems. Limits bounds the work (header size, parts, nesting).
//
// # Memory
//
// Parse works on the raw source in memory and slices it; it copies out
// only the bodies (decoded to UTF-8 strings) and the attachments it holds
// decoded in Attachment.Data: those whose part in the raw source is at most
// Limits.InMemoryBytes (1 MiB by default), a winmail.dat (package tnef reads
// it whole) and the files read out of one. A larger attachment is decoded
// once, a 48 KB piece at a time, into its Size and SHA256 only (damage
// noted as for a held one); Attachment.Open decodes it again from the raw
// source when it is stored, so the store can skip a file it already has and
// write a new one in chunks (store.PutBlobStream). A mail thus costs its raw
// source and a few pieces, never the raw source plus decoded copies; the raw
// source must stay unchanged until its attachments are stored.
//
// # winmail.dat
//
// An application/ms-tnef part, or one named winmail.dat, is kept as it is
// and followed by the files package tnef reads out of it; its plain body
// fills Text when the MIME parts give none, and its HTML body fills HTML
// likewise. When its only body is RTF (PR_RTF_COMPRESSED) and the mail has
// no other body, the text read out of the RTF (or the HTML Outlook
// encapsulated in it) is the body and the RTF is kept as the attachment
// message.rtf. A stream that cannot be read is noted.
package mailparse
