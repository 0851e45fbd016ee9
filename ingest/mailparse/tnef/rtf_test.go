package tnef

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
)

// The example of MS-OXRTFCP section 3.1.1: references into the prefilled
// dictionary, literals, and the end marker.
func TestDecompressRTFSpecExample(t *testing.T) {
	b, _ := hex.DecodeString("2d0000002b0000004c5a4675f1c5c7a703000a0072637067313235423" +
		"20af32068656c09002062770" + "5b06c647d0a800fa0")
	got, err := decompressRTF(b)
	if err != nil || string(got) != "{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestDecompressRTF(t *testing.T) {
	header := func(raw int, kind uint32) []byte {
		h := binary.LittleEndian.AppendUint32(nil, 0)
		h = binary.LittleEndian.AppendUint32(h, uint32(raw))
		h = binary.LittleEndian.AppendUint32(h, kind)
		return binary.LittleEndian.AppendUint32(h, 0)
	}
	tests := []struct {
		name string
		in   []byte
		want string
		err  error
	}{
		{"uncompressed", append(header(5, rtfUncompressed), "{\\rtf}"...), "{\\rtf", nil},
		{"literals", append(header(3, rtfCompressed), 0, 'a', 'b', 'c'), "abc", nil},
		// 0x0000 points at "{\rtf1" in the prefix; length 4+2.
		{"reference into the prefix", append(header(6, rtfCompressed), 1, 0x00, 0x04), "{\\rtf1", nil},
		{"header larger than the stream", append(header(1<<30, rtfCompressed), 0, 'a'), "a", ErrTruncated},
		{"cut in a reference", append(header(10, rtfCompressed), 1, 0x00), "", ErrTruncated},
		{"unknown kind", header(1, 0x12345678), "", ErrMalformed},
		{"short header", []byte{1, 2, 3}, "", ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decompressRTF(tt.in)
			if string(got) != tt.want || !errors.Is(err, tt.err) && !(err == nil && tt.err == nil) {
				t.Errorf("got %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func FuzzDecompressRTF(f *testing.F) {
	b, _ := hex.DecodeString("2d0000002b0000004c5a4675f1c5c7a703000a007263706731323542320af32068656c090020627705b06c647d0a800fa0")
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _ := decompressRTF(b)
		if len(out) > 17*len(b) {
			t.Fatalf("%d bytes out of %d", len(out), len(b))
		}
	})
}
