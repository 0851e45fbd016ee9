package mailparse

import (
	"bytes"
	"crypto/sha256"
	"io"
)

// DefaultInMemoryBytes is Limits.InMemoryBytes when unset.
const DefaultInMemoryBytes = 1 << 20

// streamPiece is how much encoded input partReader decodes at a time: big
// enough that the per-piece work is nothing, small enough that the buffer
// it decodes into costs nothing either.
const streamPiece = 48 << 10

// partReader decodes one attachment's transfer encoding as it is read, from
// the part's bytes in the raw source: base64 and quoted-printable by the
// same rules as transferDecode (b64Decoder, appendQuotedPrintable), any
// other encoding as it stands. It holds one piece of decoded output at a
// time, never the whole part.
type partReader struct {
	src   []byte // encoded input not yet decoded
	enc   string // "base64", "quoted-printable" or "" for as it stands
	b64   b64Decoder
	bad   bool   // quoted-printable with malformed escapes
	buf   []byte // decoded, not yet read
	out   []byte // the buffer buf is carved from, reused
	done  bool
	piece int // streamPiece; smaller in tests, to cut the input everywhere
}

func newPartReader(src []byte, enc string) *partReader {
	switch enc {
	case "base64", "quoted-printable":
	default:
		enc = ""
	}
	return &partReader{src: src, enc: enc, piece: streamPiece}
}

func (r *partReader) Read(p []byte) (int, error) {
	if r.enc == "" {
		if len(r.src) == 0 {
			return 0, io.EOF
		}
		n := copy(p, r.src)
		r.src = r.src[n:]
		return n, nil
	}
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		r.fill()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// WriteTo hands the decoded pieces to w without copying them through a
// caller's buffer (io.Copy uses it).
func (r *partReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.buf) == 0 {
			if r.done || (r.enc == "" && len(r.src) == 0) {
				return total, nil
			}
			if r.enc == "" {
				r.buf, r.src = r.src, nil
			} else {
				r.fill()
				continue
			}
		}
		n, err := w.Write(r.buf)
		total += int64(n)
		r.buf = r.buf[n:]
		if err != nil {
			return total, err
		}
	}
}

// fill decodes the next piece of src into buf.
func (r *partReader) fill() {
	piece := r.src
	if len(piece) > r.piece {
		piece = piece[:r.piece]
		if r.enc == "quoted-printable" {
			// A line decodes on its own: cut after a line end. A line
			// longer than a piece (no mailer writes one) is taken whole.
			if i := bytes.LastIndexByte(piece, '\n'); i >= 0 {
				piece = piece[:i+1]
			} else if j := bytes.IndexByte(r.src[r.piece:], '\n'); j >= 0 {
				piece = r.src[:r.piece+j+1]
			} else {
				piece = r.src
			}
		}
	}
	r.src = r.src[len(piece):]
	out := r.out[:0]
	if r.enc == "base64" {
		out = r.b64.decode(out, piece)
		if len(r.src) == 0 {
			out = r.b64.finish(out)
		}
	} else {
		var ok bool
		out, ok = appendQuotedPrintable(out, piece)
		r.bad = r.bad || !ok
	}
	r.out, r.buf = out, out
	r.done = len(r.src) == 0
}

// ok is false when the part had damage decoding went around (as the ok of
// decodeBase64 and decodeQuotedPrintable); meaningful once read to the end.
func (r *partReader) ok() bool { return !r.b64.bad && !r.bad }

// hashPart reads a part through partReader to its end and returns the size
// and sha256 of what it decodes to, and whether it decoded cleanly: the one
// pass Parse makes over an attachment too large to keep decoded.
func hashPart(src []byte, enc string) (size int64, sum [32]byte, ok bool) {
	r := newPartReader(src, enc)
	h := sha256.New()
	size, _ = r.WriteTo(h) // a hash.Hash never fails to write
	copy(sum[:], h.Sum(nil))
	return size, sum, r.ok()
}
