package mailparse

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func randomFile(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b) //nolint:errcheck // ChaCha8.Read never fails
	return b
}

func base64Lines(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var s strings.Builder
	for len(enc) > 76 {
		s.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	s.WriteString(enc)
	return s.String()
}

func withFile(cte, body string) []byte {
	return []byte("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nhei\r\n--b\r\n" +
		"Content-Type: application/pdf; name=\"laskelma.pdf\"\r\nContent-Transfer-Encoding: " + cte + "\r\n\r\n" + body + "\r\n--b--\r\n")
}

// A file larger than Limits.InMemoryBytes is not held decoded: Parse hashes
// it, and Open decodes it from the raw source, byte-exact, as often as it is
// called; in base64, quoted-printable and as it stands.
func TestLargeAttachmentStreamed(t *testing.T) {
	file := randomFile(3<<20+17, 1)
	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	w.Binary = true
	w.Write(file) //nolint:errcheck // a bytes.Buffer never fails
	w.Close()
	for _, c := range []struct{ cte, body string }{
		{"base64", base64Lines(file)},
		{"quoted-printable", qp.String()},
		{"binary", string(file)},
	} {
		m := Parse(withFile(c.cte, c.body), nil)
		if len(m.Attachments) != 1 {
			t.Fatalf("%s: %d attachments", c.cte, len(m.Attachments))
		}
		a := m.Attachments[0]
		if !a.Streamed() || a.Data != nil {
			t.Errorf("%s: a %d-byte file is held in Data", c.cte, len(file))
		}
		if a.Size != int64(len(file)) || a.SHA256 != sha256.Sum256(file) {
			t.Errorf("%s: Size %d, SHA256 %x; want %d, %x", c.cte, a.Size, a.SHA256, len(file), sha256.Sum256(file))
		}
		for range 2 {
			got, err := io.ReadAll(a.Open())
			if err != nil || !bytes.Equal(got, file) {
				t.Errorf("%s: Open gave %d bytes (%v), not the file", c.cte, len(got), err)
			}
		}
		if len(m.Problems) > 0 || m.Text != "hei" || a.Filename != "laskelma.pdf" {
			t.Errorf("%s: problems %q, Text %q, file %q", c.cte, m.Problems, m.Text, a.Filename)
		}
	}
}

// Streaming changes nothing Parse says: every mail of the corpus, parsed with
// every attachment streamed, has the same bodies, problems and files (by
// content, size and sha256) as parsed with the default limits.
func TestStreamedMatchesHeld(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.eml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("corpus: %v", err)
	}
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sameParse(t, filepath.Base(path), raw)
	}
}

// FuzzStreamed holds the streaming path to the held one on any input.
func FuzzStreamed(f *testing.F) {
	for _, c := range readCorpus(f) {
		f.Add(c.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) { sameParse(t, "input", raw) })
}

// sameParse parses raw with the default limits and with every attachment
// streamed, and fails on any difference.
func sameParse(t *testing.T, name string, raw []byte) {
	t.Helper()
	held, streamed := Parse(raw, nil), Parse(raw, &Limits{InMemoryBytes: 1})
	if held.Text != streamed.Text || held.HTML != streamed.HTML || !reflect.DeepEqual(held.Problems, streamed.Problems) ||
		!reflect.DeepEqual(held.Report, streamed.Report) {
		t.Errorf("%s: streamed parse differs: problems %q vs %q", name, streamed.Problems, held.Problems)
	}
	if len(held.Attachments) != len(streamed.Attachments) {
		t.Fatalf("%s: %d attachments streamed, %d held", name, len(streamed.Attachments), len(held.Attachments))
	}
	for i, h := range held.Attachments {
		s := streamed.Attachments[i]
		got, _ := io.ReadAll(s.Open())
		if s.Filename != h.Filename || s.ContentType != h.ContentType || s.ContentID != h.ContentID || s.Inline != h.Inline ||
			s.Size != h.Size || s.SHA256 != h.SHA256 || !bytes.Equal(got, h.Data) || h.SHA256 != sha256.Sum256(h.Data) {
			t.Errorf("%s: attachment %d: streamed %q %d bytes, held %q %d bytes", name, i, s.Filename, len(got), h.Filename, len(h.Data))
		}
	}
}

// FuzzPartReader holds the piecewise decoders to the whole ones on any
// input cut in pieces of any size.
func FuzzPartReader(f *testing.F) {
	f.Add([]byte("QU*JD!RU ZH=QUJD"), uint8(3))
	f.Add([]byte("hello=20world=\r\nnext =3D=ZZ=\n=4"), uint8(5))
	f.Fuzz(func(t *testing.T, in []byte, piece uint8) {
		wantB, okB := decodeBase64(in)
		wantQ, okQ := decodeQuotedPrintable(in)
		for _, c := range []struct {
			enc  string
			want []byte
			ok   bool
		}{{"base64", wantB, okB}, {"quoted-printable", wantQ, okQ}} {
			r := newPartReader(in, c.enc)
			r.piece = int(piece) + 1
			got, _ := io.ReadAll(r)
			if !bytes.Equal(got, c.want) || r.ok() != c.ok {
				t.Errorf("%s in pieces of %d: %q ok=%v, want %q ok=%v", c.enc, r.piece, got, r.ok(), c.want, c.ok)
			}
		}
	})
}

// Decoded a piece at a time, cut anywhere, base64 and quoted-printable give
// exactly what decoding them whole gives, damage and its flag included.
func TestPartReaderPieces(t *testing.T) {
	inputs := []string{
		"", "QUJD", "QUJ", "Q", "QU=JD", "QUJD\r\nRUZH\r\n", "QUJD====RUZH", "QU*JD!RU ZH", "QUJDRA==QUJD",
		base64Lines(randomFile(5000, 2)), base64Lines(randomFile(3001, 3))[:2999],
		"hello=20world=\r\nnext line \r\n=3D=3d=ZZ=\n=4", "plain\nlines\r\nonly", strings.Repeat("x", 300) + "=\r\n" + strings.Repeat("=41", 50),
	}
	for _, in := range inputs {
		wantB, okB := decodeBase64([]byte(in))
		wantQ, okQ := decodeQuotedPrintable([]byte(in))
		for _, piece := range []int{1, 2, 3, 5, 7, 64, 1000} {
			for _, c := range []struct {
				enc  string
				want []byte
				ok   bool
			}{{"base64", wantB, okB}, {"quoted-printable", wantQ, okQ}} {
				r := newPartReader([]byte(in), c.enc)
				r.piece = piece
				got, _ := io.ReadAll(r)
				if !bytes.Equal(got, c.want) || r.ok() != c.ok {
					t.Errorf("%s of %q in pieces of %d: %q ok=%v, want %q ok=%v", c.enc, short(in), piece, got, r.ok(), c.want, c.ok)
				}
				r = newPartReader([]byte(in), c.enc)
				r.piece = piece
				var w bytes.Buffer
				if _, err := r.WriteTo(&w); err != nil || !bytes.Equal(w.Bytes(), c.want) {
					t.Errorf("%s of %q by WriteTo in pieces of %d: %q, want %q", c.enc, short(in), piece, w.Bytes(), c.want)
				}
			}
		}
	}
}

// A large base64 file that is cut short or has stray characters in it is
// kept, decoded around the damage as a held one is, and the mail says so.
func TestDamagedLargeBase64Kept(t *testing.T) {
	file := randomFile(2<<20, 4)
	enc := base64Lines(file)
	// Cut where one character of a quantum is left: nothing decodes it,
	// which is how a cut is seen (two or three left decode to a byte or two).
	cut := len(enc) / 2
	for len(strings.ReplaceAll(enc[:cut], "\r\n", ""))%4 != 1 {
		cut++
	}
	for name, body := range map[string]string{
		"cut short":       enc[:cut],
		"stray bytes":     enc[:1000] + "!*\x01" + enc[1000:],
		"cut mid-quantum": enc[:len(enc)-3],
	} {
		m := Parse(withFile("base64", body), nil)
		if len(m.Attachments) != 1 || !m.Attachments[0].Streamed() {
			t.Fatalf("%s: attachments %+v", name, m.Attachments)
		}
		want, _ := decodeBase64([]byte(body))
		got, _ := io.ReadAll(m.Attachments[0].Open())
		if !bytes.Equal(got, want) || m.Attachments[0].SHA256 != sha256.Sum256(want) || m.Attachments[0].Size != int64(len(want)) {
			t.Errorf("%s: %d bytes streamed, want the %d decodeBase64 keeps", name, len(got), len(want))
		}
		if !strings.Contains(fmt.Sprint(m.Problems), "base64 part has characters outside the base64 alphabet or is cut short") {
			t.Errorf("%s: problems %q, want the damage noted", name, m.Problems)
		}
	}
}

// A forwarded message too large to hold is still named by its Subject.
func TestLargeForwardedMessageNamed(t *testing.T) {
	inner := "Subject: =?utf-8?q?Palkkalaskelma_syyskuu?=\r\n\r\n" + strings.Repeat("rivi\r\n", 400000)
	raw := []byte("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nhei\r\n--b\r\n" +
		"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64Lines([]byte(inner)) + "\r\n--b--\r\n")
	m := Parse(raw, nil)
	if len(m.Attachments) != 1 || !m.Attachments[0].Streamed() || m.Attachments[0].Filename != "Palkkalaskelma syyskuu.eml" {
		t.Errorf("attachments %+v", m.Attachments)
	}
}
