package tnef

import (
	"encoding/binary"
	"fmt"
)

// MAPI property types (MS-OXCDATA 2.11.1).
const (
	typeInt16    = 0x0002
	typeInt32    = 0x0003
	typeFloat32  = 0x0004
	typeFloat64  = 0x0005
	typeCurrency = 0x0006
	typeAppTime  = 0x0007
	typeError    = 0x000A
	typeBoolean  = 0x000B
	typeObject   = 0x000D
	typeInt64    = 0x0014
	typeString8  = 0x001E
	typeUnicode  = 0x001F
	typeTime     = 0x0040
	typeGUID     = 0x0048
	typeBinary   = 0x0102
	typeMulti    = 0x1000
)

// property is one value of a MAPI property list; a multi-valued property
// gives one property per value.
type property struct {
	id, typ uint16
	value   []byte // a sub-slice of the stream
}

// fixedSize is the size a fixed-size value takes in a TNEF property list,
// padding to 4 bytes included (MS-OXTNEF 2.1.3.5), or 0 for a variable one.
func fixedSize(typ uint16) (int, bool) {
	switch typ {
	case typeInt16, typeInt32, typeFloat32, typeError, typeBoolean:
		return 4, true
	case typeFloat64, typeCurrency, typeAppTime, typeInt64, typeTime:
		return 8, true
	case typeGUID:
		return 16, true
	case typeString8, typeUnicode, typeBinary, typeObject:
		return 0, true
	}
	return 0, false
}

// reader walks a byte slice; every read checks the bytes left.
type reader struct {
	b   []byte
	err error
}

func (r *reader) u32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) u16() uint16 {
	if r.err != nil || len(r.b) < 2 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

// bytes takes n bytes and skips the padding to the next multiple of 4.
func (r *reader) bytes(n uint32, pad bool) []byte {
	if r.err != nil || uint64(n) > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n]
	skip := int(n)
	if pad {
		skip += int(-n & 3)
	}
	if skip > len(r.b) {
		skip = len(r.b) // padding may be missing after the last value
	}
	r.b = r.b[skip:]
	return v
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: in a MAPI property list", ErrTruncated)
	}
}

// properties reads a MAPI property list (MS-OXTNEF 2.1.3.5) and hands each
// value to f. It stops at the first damage, keeping what came before.
func (d *decoder) properties(data []byte, f func(property)) error {
	r := &reader{b: data}
	count := r.u32()
	if r.err != nil {
		return r.err
	}
	for i := uint32(0); i < count; i++ {
		if int(i) >= d.lim.MaxProperties {
			return fmt.Errorf("%w: more than %d properties", ErrMalformed, d.lim.MaxProperties)
		}
		if err := readProperty(r, f); err != nil {
			return err
		}
	}
	return nil
}

func readProperty(r *reader, f func(property)) error {
	typ := r.u16()
	id := r.u16()
	if id >= 0x8000 { // a named property: its GUID and name come first
		r.bytes(16, false)
		if kind := r.u32(); kind == 0 {
			r.u32()
		} else {
			r.bytes(r.u32(), true)
		}
	}
	if r.err != nil {
		return r.err
	}
	base := typ &^ typeMulti
	size, ok := fixedSize(base)
	if !ok {
		return fmt.Errorf("%w: property %#04x has the unknown type %#04x", ErrMalformed, id, typ)
	}
	n := uint32(1)
	if typ&typeMulti != 0 || size == 0 {
		n = r.u32() // a variable-size value has a count even when single
	}
	// Every value takes at least 4 bytes, so a count larger than that is a lie.
	if r.err == nil && uint64(n)*4 > uint64(len(r.b)) {
		return fmt.Errorf("%w: property %#04x claims %d values", ErrTruncated, id, n)
	}
	for j := uint32(0); j < n && r.err == nil; j++ {
		var v []byte
		if size > 0 {
			v = r.bytes(uint32(size), false)
		} else {
			v = r.bytes(r.u32(), true)
		}
		if r.err == nil {
			f(property{id: id, typ: base, value: v})
		}
	}
	return r.err
}
