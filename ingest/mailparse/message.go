package mailparse

import (
	"bytes"
	"io"
	"net/textproto"
	"time"
)

// Address is one mailbox of an address header.
type Address struct {
	Name  string
	Email string // lower-cased addr-spec
}

// Attachment is one non-body part: a file, an inline image (cid:), a forwarded
// message/rfc822 or anything whose type the viewer cannot show as text.
type Attachment struct {
	Filename    string // decoded (RFC 2047 / RFC 2231); never a path
	ContentType string // media type without parameters, lower-case
	ContentID   string // without angle brackets, for cid: references
	Inline      bool
	// Data is the decoded content of an attachment whose part is at most
	// Limits.InMemoryBytes long in the raw source, or of a winmail.dat or a
	// file read out of one. A larger attachment is not held decoded: Data
	// is nil and Open decodes it from the raw source as it is read.
	Data   []byte
	Size   int64    // bytes of decoded content
	SHA256 [32]byte // of the decoded content

	src []byte // a large attachment's part in the raw source, still encoded
	enc string // its transfer encoding: base64, quoted-printable or "" (as it stands)
}

// Open returns the decoded content: Data, or for a large attachment a
// stream decoding its part of the raw source piece by piece, so only one
// piece of it is in memory at a time. Each call starts from the beginning.
// The raw source given to Parse must not change while it is read.
func (a Attachment) Open() io.Reader {
	if a.src == nil {
		return bytes.NewReader(a.Data)
	}
	return newPartReader(a.src, a.enc)
}

// Streamed reports whether the attachment is read from the raw source by
// Open rather than held in Data.
func (a Attachment) Streamed() bool { return a.src != nil }

// DeliveryReport is what a multipart/report; report-type=delivery-status mail
// says about the mail that failed (RFC 3464).
type DeliveryReport struct {
	OriginalMessageID string   // from the returned headers (text/rfc822-headers or message/rfc822)
	Recipients        []string // Final-Recipient / Original-Recipient addresses
	Action            string   // failed, delayed, delivered, relayed, expanded
	Status            string   // e.g. 5.1.1
	Diagnostic        string
}

// Message is a parsed email.
type Message struct {
	Header textproto.MIMEHeader // the top-level header, keys canonical, values raw

	MessageID  string   // without angle brackets; empty when missing
	InReplyTo  []string // message IDs without angle brackets
	References []string // oldest first, without angle brackets
	Subject    string   // decoded
	Date       time.Time

	From        Address
	Sender      *Address
	ReplyTo     []Address
	To          []Address
	Cc          []Address
	DeliveredTo []string // Delivered-To and X-Original-To, lower-cased
	ReturnPath  *string  // nil when the header is absent; "" for "<>"

	Text string // the plain text body, decoded to UTF-8; made from HTML when the mail has no plain text
	HTML string // the HTML body, decoded to UTF-8, not sanitized

	Attachments []Attachment
	Report      *DeliveryReport // set for delivery status notifications

	Size     int      // bytes of raw source
	Problems []string // what could not be read; empty for a clean mail
}

// Limits caps the work one mail may cause. A nil *Limits means DefaultLimits.
type Limits struct {
	MaxHeaderBytes int // per header block
	MaxParts       int // MIME parts in the whole mail
	MaxDepth       int // multipart nesting
	// InMemoryBytes is the largest attachment part (encoded, as it is in
	// the raw source) decoded into Attachment.Data; a larger one is hashed
	// in one streaming pass and decoded again by Open when it is stored.
	InMemoryBytes int
}

// DefaultLimits are generous for real mail and small for a mail bomb.
var DefaultLimits = Limits{MaxHeaderBytes: 1 << 20, MaxParts: 200, MaxDepth: 12, InMemoryBytes: DefaultInMemoryBytes}
