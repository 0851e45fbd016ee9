package tnef

import (
	"encoding/binary"
	"fmt"
)

// rtfPrefix fills the dictionary before a compressed RTF stream is read
// (MS-OXRTFCP section 2.1.2.1); nearly every RTF document starts with it,
// so the first bytes of a stream are references into it.
const rtfPrefix = "{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"

const (
	rtfCompressed   = 0x75465A4C // "LZFu"
	rtfUncompressed = 0x414C454D // "MELA"
	rtfHeader       = 16
	rtfWindow       = 4096
	// maxRTFBytes bounds a decompressed body: a few megabytes of
	// references must not become a few hundred.
	maxRTFBytes = 16 << 20
)

// decompressRTF undoes PR_RTF_COMPRESSED (MS-OXRTFCP): a 16-byte header,
// then either the RTF as it is ("MELA") or LZ77 with a 4096-byte window
// ("LZFu"): each control byte tells, bit by bit from the lowest, whether a
// literal byte or a 2-byte big-endian reference (12 bits of window offset,
// 4 bits of length minus 2) follows; a reference to the write position ends
// the stream. The output never exceeds the size the header declares, nor 17
// bytes per input byte, nor maxRTFBytes, whatever the header says. The CRC is not checked:
// damage shows in the RTF, and the winmail.dat is kept anyway.
func decompressRTF(b []byte) ([]byte, error) {
	if len(b) < rtfHeader {
		return nil, fmt.Errorf("%w: compressed RTF header", ErrTruncated)
	}
	raw := int(min(uint64(binary.LittleEndian.Uint32(b[4:])), uint64(len(b))*17, maxRTFBytes))
	kind := binary.LittleEndian.Uint32(b[8:])
	in := b[rtfHeader:]
	switch kind {
	case rtfUncompressed:
		return append([]byte(nil), in[:min(raw, len(in))]...), nil
	case rtfCompressed:
	default:
		return nil, fmt.Errorf("%w: compressed RTF of unknown kind %#x", ErrMalformed, kind)
	}
	var dict [rtfWindow]byte
	w := copy(dict[:], rtfPrefix)
	out := make([]byte, 0, raw)
	put := func(c byte) {
		out = append(out, c)
		dict[w] = c
		w = (w + 1) % rtfWindow
	}
	for len(in) > 0 && len(out) < raw {
		control := in[0]
		in = in[1:]
		for bit := 0; bit < 8 && len(out) < raw; bit++ {
			if control&(1<<bit) == 0 {
				if len(in) < 1 {
					return out, fmt.Errorf("%w: compressed RTF", ErrTruncated)
				}
				put(in[0])
				in = in[1:]
				continue
			}
			if len(in) < 2 {
				return out, fmt.Errorf("%w: compressed RTF", ErrTruncated)
			}
			ref := binary.BigEndian.Uint16(in)
			in = in[2:]
			off, n := int(ref>>4), int(ref&0xf)+2
			if off == w {
				return out, nil
			}
			for i := 0; i < n && len(out) < raw; i++ {
				put(dict[(off+i)%rtfWindow])
			}
		}
	}
	return out, nil
}
