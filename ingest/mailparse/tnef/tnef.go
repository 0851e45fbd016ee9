// Package tnef reads the attachments and the body out of a TNEF stream
// (MS-OXTNEF), the winmail.dat or application/ms-tnef part that Outlook and
// Exchange send instead of MIME attachments, so that a payroll office on
// another mail client can still open the file the sender attached.
//
// It is written here because no maintained TNEF package installs from the
// Go module proxy (github.com/teamwork/tnef and its forks are refused
// there). It reads only what a mail viewer needs: per attachment the legacy
// attributes attAttachTitle, attAttachData and attAttachRendData and the
// MAPI properties PR_ATTACH_LONG_FILENAME, PR_ATTACH_FILENAME,
// PR_DISPLAY_NAME, PR_ATTACH_MIME_TAG, PR_ATTACH_CONTENT_ID and
// PR_ATTACH_DATA_BIN; for the message attBody, PR_BODY, PR_BODY_HTML and
// PR_RTF_COMPRESSED, which is decompressed (MS-OXRTFCP) and read by
// RTFBody, a reader of the little RTF that mail bodies use. Embedded
// messages are not opened.
//
// Decode never panics and reads no more than the stream holds: counts are
// checked against the bytes left and capped by Limits, and a damaged stream
// returns what was read before the damage with an error.
package tnef

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
)

// Signature opens every TNEF stream (little-endian 0x223E9F78).
const Signature = 0x223E9F78

// Errors Decode wraps.
var (
	ErrNotTNEF   = errors.New("not a TNEF stream")
	ErrTruncated = errors.New("TNEF stream cut short")
	ErrMalformed = errors.New("malformed TNEF stream")
)

// Attachment is one file from a TNEF stream.
type Attachment struct {
	Name      string // the long file name when given, else the 8.3 title; as the sender wrote it
	MIMEType  string // PR_ATTACH_MIME_TAG, often empty
	ContentID string // PR_ATTACH_CONTENT_ID, for cid: references in BodyHTML
	Data      []byte
}

// Message is what a TNEF stream carries that a viewer can show.
type Message struct {
	Body        string // the plain text body, UTF-8
	BodyHTML    string // the HTML body, UTF-8
	BodyRTF     []byte // PR_RTF_COMPRESSED decompressed: the RTF body, when there is one
	Attachments []Attachment
}

// Limits bounds the work of one stream. Zero fields take DefaultLimits.
type Limits struct {
	MaxAttachments int // attachments kept
	MaxAttributes  int // TNEF attributes read
	MaxProperties  int // MAPI properties read per property list
}

// DefaultLimits are far above what Outlook writes.
var DefaultLimits = Limits{MaxAttachments: 100, MaxAttributes: 10000, MaxProperties: 5000}

// Attribute IDs (the low word of the attribute DWORD, MS-OXTNEF 2.1.3.1).
const (
	attBody            = 0x800C
	attAttachData      = 0x800F
	attAttachTitle     = 0x8010
	attAttachRendData  = 0x9002
	attMsgProps        = 0x9003
	attAttachment      = 0x9005
	attOemCodepage     = 0x9007
	attributeOverhead  = 1 + 4 + 4 + 2 // level, id and type, length, checksum
	defaultOEMCodepage = 1252
)

// MAPI property IDs.
const (
	prBody             = 0x1000
	prBodyHTML         = 0x1013
	prRTFCompressed    = 0x1009
	prDisplayName      = 0x3001
	prAttachDataBin    = 0x3701
	prAttachFilename   = 0x3704
	prAttachLongName   = 0x3707
	prAttachMIMETag    = 0x370E
	prAttachContentID  = 0x3712
	prInternetCodepage = 0x3FDE
)

// Decode reads a TNEF stream. On damage it returns what it read so far
// together with an error wrapping ErrTruncated or ErrMalformed; a stream
// that does not start with Signature gives ErrNotTNEF. An attachment's Data
// is a part of b, not a copy (a file in a winmail.dat is held once, in the
// winmail.dat), capped so that appending to it cannot write into b: b must
// not change while the attachments are used. A nil lim means DefaultLimits.
func Decode(b []byte, lim *Limits) (*Message, error) {
	d := &decoder{lim: limitsOrDefault(lim), oem: defaultOEMCodepage, htmlCP: 65001}
	err := d.run(b)
	return d.result(), err
}

func limitsOrDefault(lim *Limits) Limits {
	l := DefaultLimits
	if lim == nil {
		return l
	}
	if lim.MaxAttachments > 0 {
		l.MaxAttachments = lim.MaxAttachments
	}
	if lim.MaxAttributes > 0 {
		l.MaxAttributes = lim.MaxAttributes
	}
	if lim.MaxProperties > 0 {
		l.MaxProperties = lim.MaxProperties
	}
	return l
}

// pending is an attachment being read: its name may come from several
// attributes, the best one winning.
type pending struct {
	title, longName, filename, display string
	mime, cid                          string
	data, dataBin                      []byte
}

type decoder struct {
	lim     Limits
	oem     int // code page of 8-bit strings
	htmlCP  int // code page of PR_BODY_HTML bytes
	body    string
	htmlRaw []byte
	html    string
	rtf     []byte // PR_RTF_COMPRESSED as it is
	atts    []*pending
	tooMany bool
}

func (d *decoder) run(b []byte) error {
	if len(b) < 4 || binary.LittleEndian.Uint32(b) != Signature {
		return ErrNotTNEF
	}
	if len(b) < 6 {
		return fmt.Errorf("%w: no key after the signature", ErrTruncated)
	}
	rest := b[6:]
	for n := 0; len(rest) > 0; n++ {
		if n >= d.lim.MaxAttributes {
			return fmt.Errorf("%w: more than %d attributes", ErrMalformed, d.lim.MaxAttributes)
		}
		if len(rest) < attributeOverhead { // level, id, length, checksum
			return fmt.Errorf("%w: in an attribute header", ErrTruncated)
		}
		id := binary.LittleEndian.Uint16(rest[1:])
		size := binary.LittleEndian.Uint32(rest[5:])
		if uint64(size) > uint64(len(rest)-attributeOverhead) {
			return fmt.Errorf("%w: attribute %#04x claims %d bytes", ErrTruncated, id, size)
		}
		data := rest[9 : 9+int(size)]
		rest = rest[attributeOverhead+int(size):]
		if err := d.attribute(id, data); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) attribute(id uint16, data []byte) error {
	switch id {
	case attOemCodepage:
		if len(data) >= 4 {
			d.oem = int(binary.LittleEndian.Uint32(data))
		}
	case attBody:
		if d.body == "" {
			d.body = d.string8(data)
		}
	case attMsgProps:
		return d.properties(data, d.messageProperty)
	case attAttachRendData:
		d.newAttachment()
	case attAttachTitle:
		if a := d.current(); a != nil {
			a.title = d.string8(data)
		}
	case attAttachData:
		if a := d.current(); a != nil {
			a.data = data
		}
	case attAttachment:
		if a := d.current(); a != nil {
			return d.properties(data, func(p property) { a.property(d, p) })
		}
	}
	// Other attributes (dates, message class, recipients) are not needed;
	// the level byte is not needed either, the IDs being distinct.
	return nil
}

func (d *decoder) newAttachment() {
	if len(d.atts) >= d.lim.MaxAttachments {
		d.tooMany = true
		return
	}
	d.atts = append(d.atts, &pending{})
}

// current is the attachment the attributes belong to; attachment attributes
// before any attAttachRendData start one, as some writers leave it out.
func (d *decoder) current() *pending {
	if d.tooMany {
		return nil
	}
	if len(d.atts) == 0 {
		d.newAttachment()
	}
	return d.atts[len(d.atts)-1]
}

func (d *decoder) messageProperty(p property) {
	switch p.id {
	case prBody:
		if s := d.text(p); s != "" {
			d.body = s
		}
	case prBodyHTML:
		if p.typ == typeBinary {
			d.htmlRaw = p.value
		} else {
			d.html = d.text(p)
		}
	case prRTFCompressed:
		if p.typ == typeBinary {
			d.rtf = p.value
		}
	case prInternetCodepage:
		if len(p.value) >= 4 {
			d.htmlCP = int(binary.LittleEndian.Uint32(p.value))
		}
	}
}

func (a *pending) property(d *decoder, p property) {
	switch p.id {
	case prAttachLongName:
		a.longName = d.text(p)
	case prAttachFilename:
		a.filename = d.text(p)
	case prDisplayName:
		a.display = d.text(p)
	case prAttachMIMETag:
		a.mime = d.text(p)
	case prAttachContentID:
		a.cid = d.text(p)
	case prAttachDataBin:
		if p.typ == typeBinary {
			a.dataBin = p.value
		}
	}
}

func (d *decoder) result() *Message {
	m := &Message{Body: d.body, BodyHTML: d.html}
	if len(d.rtf) > 0 {
		// A damaged RTF stream still gives its readable start.
		m.BodyRTF, _ = decompressRTF(d.rtf)
	}
	if m.BodyHTML == "" && len(d.htmlRaw) > 0 {
		m.BodyHTML = decodeCodepage(d.htmlCP, trimNUL(d.htmlRaw))
	}
	for _, a := range d.atts {
		data := a.data
		if len(data) == 0 {
			data = a.dataBin
		}
		if len(data) == 0 {
			continue // an embedded message or an OLE object: nothing to save as a file
		}
		name := firstNonEmpty(a.longName, a.filename, a.title, a.display)
		m.Attachments = append(m.Attachments, Attachment{
			Name:      name,
			MIMEType:  strings.ToLower(strings.TrimSpace(a.mime)),
			ContentID: strings.Trim(strings.TrimSpace(a.cid), "<>"),
			Data:      data[:len(data):len(data)],
		})
	}
	return m
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// text returns a string property as UTF-8.
func (d *decoder) text(p property) string {
	switch p.typ {
	case typeUnicode:
		return utf16LE(p.value)
	case typeString8, typeBinary:
		return d.string8(p.value)
	}
	return ""
}

func (d *decoder) string8(b []byte) string {
	return decodeCodepage(d.oem, trimNUL(b))
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

func utf16LE(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, binary.LittleEndian.Uint16(b[i:]))
	}
	for len(u) > 0 && u[len(u)-1] == 0 {
		u = u[:len(u)-1]
	}
	return string(utf16.Decode(u))
}

// codepages are the Windows code pages TNEF writers use for 8-bit strings.
var codepages = map[int]encoding.Encoding{
	437: charmap.CodePage437, 850: charmap.CodePage850, 852: charmap.CodePage852,
	866: charmap.CodePage866, 874: charmap.Windows874,
	1250: charmap.Windows1250, 1251: charmap.Windows1251, 1252: charmap.Windows1252,
	1253: charmap.Windows1253, 1254: charmap.Windows1254, 1255: charmap.Windows1255,
	1256: charmap.Windows1256, 1257: charmap.Windows1257, 1258: charmap.Windows1258,
	20866: charmap.KOI8R, 28591: charmap.ISO8859_1, 28592: charmap.ISO8859_2,
	28605: charmap.ISO8859_15,
}

// decodeCodepage converts 8-bit text to UTF-8: UTF-8 for code page 65001
// and for text that is valid UTF-8 in an unknown code page, else the code
// page, else Windows-1252. The result is valid UTF-8.
func decodeCodepage(cp int, b []byte) string {
	if cp == 65001 || cp == 20127 {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	enc, ok := codepages[cp]
	if !ok {
		if utf8.Valid(b) {
			return string(b)
		}
		enc = charmap.Windows1252
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(out)
}
