package tnef

import (
	"encoding/binary"
	"unicode/utf16"
)

// builder writes TNEF streams the way Outlook does, for the tests: the
// signature, a key, then attributes with their checksums.
type builder struct{ b []byte }

func newBuilder() *builder {
	b := &builder{}
	b.b = binary.LittleEndian.AppendUint32(b.b, Signature)
	b.b = binary.LittleEndian.AppendUint16(b.b, 0x0102)
	return b
}

// attr appends one attribute; typ is the high word of the attribute DWORD.
func (b *builder) attr(level byte, id, typ uint16, data []byte) *builder {
	b.b = append(b.b, level)
	b.b = binary.LittleEndian.AppendUint16(b.b, id)
	b.b = binary.LittleEndian.AppendUint16(b.b, typ)
	b.b = binary.LittleEndian.AppendUint32(b.b, uint32(len(data)))
	b.b = append(b.b, data...)
	var sum uint16
	for _, c := range data {
		sum += uint16(c)
	}
	b.b = binary.LittleEndian.AppendUint16(b.b, sum)
	return b
}

func (b *builder) bytes() []byte { return b.b }

// props writes a MAPI property list.
type props struct {
	n int
	b []byte
}

func (p *props) head(typ, id uint16) {
	p.n++
	p.b = binary.LittleEndian.AppendUint16(p.b, typ)
	p.b = binary.LittleEndian.AppendUint16(p.b, id)
}

func (p *props) variable(typ, id uint16, v []byte) *props {
	p.head(typ, id)
	p.b = binary.LittleEndian.AppendUint32(p.b, 1)
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(v)))
	p.b = append(p.b, v...)
	for len(p.b)%4 != 0 {
		p.b = append(p.b, 0)
	}
	return p
}

func (p *props) unicode(id uint16, s string) *props {
	var v []byte
	for _, u := range utf16.Encode([]rune(s)) {
		v = binary.LittleEndian.AppendUint16(v, u)
	}
	return p.variable(typeUnicode, id, append(v, 0, 0))
}

func (p *props) string8(id uint16, s []byte) *props {
	return p.variable(typeString8, id, append(append([]byte(nil), s...), 0))
}

func (p *props) int32(id uint16, v uint32) *props {
	p.head(typeInt32, id)
	p.b = binary.LittleEndian.AppendUint32(p.b, v)
	return p
}

// named adds a named property (a GUID and a string name before the value),
// which the decoder has to step over.
func (p *props) named(name string) *props {
	p.head(typeInt32, 0x8001)
	p.b = append(p.b, make([]byte, 16)...)
	p.b = binary.LittleEndian.AppendUint32(p.b, 1)
	var v []byte
	for _, u := range utf16.Encode([]rune(name)) {
		v = binary.LittleEndian.AppendUint16(v, u)
	}
	v = append(v, 0, 0)
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(v)))
	p.b = append(p.b, v...)
	for len(p.b)%4 != 0 {
		p.b = append(p.b, 0)
	}
	p.b = binary.LittleEndian.AppendUint32(p.b, 7)
	return p
}

func (p *props) bytes() []byte {
	return append(binary.LittleEndian.AppendUint32(nil, uint32(p.n)), p.b...)
}

// Attribute type words (MS-OXTNEF 2.1.3.1).
const (
	atpString = 0x0001
	atpByte   = 0x0006
	atpDword  = 0x0008
)

// sample is a stream as Outlook writes it: an OEM code page, a message body
// in both attBody and the MAPI properties, and two attachments, one named
// only by its 8.3 title and one by a long name and a MIME tag.
func sample() []byte {
	cp := binary.LittleEndian.AppendUint32(nil, 1252)
	cp = binary.LittleEndian.AppendUint32(cp, 0)
	msg := (&props{}).
		named("x-custom").
		string8(prBody, []byte("Palkkalaskelma liitteen\xe4.\r\nTerveisin Sari")).
		int32(prInternetCodepage, 65001).
		variable(typeBinary, prBodyHTML, []byte("<p>Palkkalaskelma liitteenä.</p>")).
		bytes()
	att2 := (&props{}).
		unicode(prAttachLongName, "Palkkalaskelma maaliskuu 2026.pdf").
		unicode(prAttachMIMETag, "application/pdf").
		unicode(prAttachContentID, "<pdf1@example.com>").
		bytes()
	return newBuilder().
		attr(1, attOemCodepage, atpByte, cp).
		attr(1, attBody, atpString, []byte("Palkkalaskelma liitteen\xe4.\x00")).
		attr(1, attMsgProps, atpByte, msg).
		attr(2, attAttachRendData, atpByte, make([]byte, 14)).
		attr(2, attAttachTitle, atpString, []byte("TUNNIT~1.TXT\x00")).
		attr(2, attAttachData, atpByte, []byte("ma 7,5 h\r\nti 8 h\r\n")).
		attr(2, attAttachRendData, atpByte, make([]byte, 14)).
		attr(2, attAttachTitle, atpString, []byte("PALKKA~1.PDF\x00")).
		attr(2, attAttachData, atpByte, []byte("%PDF-1.4 payslip")).
		attr(2, attAttachment, atpByte, att2).
		bytes()
}
