package tnef

import (
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"testing"
)

func TestDecodeSample(t *testing.T) {
	m, err := Decode(sample(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Body != "Palkkalaskelma liitteenä.\r\nTerveisin Sari" {
		t.Errorf("Body %q: PR_BODY should win over attBody", m.Body)
	}
	if m.BodyHTML != "<p>Palkkalaskelma liitteenä.</p>" {
		t.Errorf("BodyHTML %q", m.BodyHTML)
	}
	want := []Attachment{
		{Name: "TUNNIT~1.TXT", Data: []byte("ma 7,5 h\r\nti 8 h\r\n")},
		{Name: "Palkkalaskelma maaliskuu 2026.pdf", MIMEType: "application/pdf", ContentID: "pdf1@example.com", Data: []byte("%PDF-1.4 payslip")},
	}
	if !reflect.DeepEqual(m.Attachments, want) {
		t.Errorf("attachments\n got %+v\nwant %+v", m.Attachments, want)
	}
}

// The checked-in winmail.dat of the mailparse corpus is real TNEF.
func TestDecodeFixtureFile(t *testing.T) {
	b, err := os.ReadFile("testdata/winmail.dat")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 2 || m.Attachments[1].Name != "Palkkalaskelma maaliskuu 2026.pdf" {
		t.Errorf("attachments %+v", m.Attachments)
	}
}

func TestDecodeErrors(t *testing.T) {
	full := sample()
	tests := []struct {
		name string
		in   []byte
		want error
		atts int // attachments still read
	}{
		{"empty", nil, ErrNotTNEF, 0},
		{"not TNEF", []byte("%PDF-1.4"), ErrNotTNEF, 0},
		{"signature only", full[:4], ErrTruncated, 0},
		{"cut in the last attribute: the 8.3 title stands in", full[:len(full)-20], ErrTruncated, 2},
		{"length larger than the stream", newBuilder().attr(2, attAttachData, atpByte, []byte("abc")).bytes()[:12], ErrTruncated, 0},
		{"unknown property type", newBuilder().attr(1, attMsgProps, atpByte, []byte{1, 0, 0, 0, 0x99, 0x09, 0, 0x10}).bytes(), ErrMalformed, 0},
		{"property count that lies", newBuilder().attr(1, attMsgProps, atpByte, []byte{0xff, 0xff, 0xff, 0xff, 0x03, 0, 0, 0x10, 1, 0, 0, 0}).bytes(), ErrTruncated, 0},
		{"value count that lies", newBuilder().attr(1, attMsgProps, atpByte, []byte{1, 0, 0, 0, 0x02, 0x01, 0, 0x10, 0xff, 0xff, 0xff, 0x7f}).bytes(), ErrTruncated, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.in, nil)
			if !errors.Is(err, tt.want) {
				t.Errorf("err %v, want %v", err, tt.want)
			}
			if m == nil || len(m.Attachments) != tt.atts {
				t.Errorf("message %+v, want %d attachments", m, tt.atts)
			}
		})
	}
}

func TestDecodeRTFBody(t *testing.T) {
	rtf, _ := hex.DecodeString("2d0000002b0000004c5a4675f1c5c7a703000a007263706731323542320af32068656c090020627705b06c647d0a800fa0")
	msg := (&props{}).variable(typeBinary, prRTFCompressed, rtf).bytes()
	m, err := Decode(newBuilder().attr(1, attMsgProps, atpByte, msg).bytes(), nil)
	if err != nil || string(m.BodyRTF) != "{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n" {
		t.Errorf("BodyRTF %q, %v", m.BodyRTF, err)
	}
}

func TestDecodeEmptyStream(t *testing.T) {
	m, err := Decode(newBuilder().bytes(), nil)
	if err != nil || m.Body != "" || len(m.Attachments) != 0 {
		t.Errorf("%+v, %v", m, err)
	}
}

func TestLimits(t *testing.T) {
	b := newBuilder()
	for i := 0; i < 5; i++ {
		b.attr(2, attAttachRendData, atpByte, nil).attr(2, attAttachData, atpByte, []byte{byte(i)})
	}
	m, err := Decode(b.bytes(), &Limits{MaxAttachments: 3})
	if err != nil || len(m.Attachments) != 3 {
		t.Errorf("%d attachments, %v; want 3", len(m.Attachments), err)
	}
	if _, err := Decode(b.bytes(), &Limits{MaxAttributes: 4}); !errors.Is(err, ErrMalformed) {
		t.Errorf("err %v, want ErrMalformed", err)
	}
}

func TestCodepages(t *testing.T) {
	tests := []struct {
		cp   int
		in   string
		want string
	}{
		{1252, "liitteen\xe4 \x80", "liitteenä €"},
		{1251, "\xcf\xf0\xe8\xe2\xe5\xf2", "Привет"},
		{65001, "liitteenä", "liitteenä"},
		{9999, "liitteenä", "liitteenä"},
		{9999, "liitteen\xe4", "liitteenä"},
		{65001, "bad \xff", "bad \uFFFD"},
	}
	for _, tt := range tests {
		if got := decodeCodepage(tt.cp, []byte(tt.in)); got != tt.want {
			t.Errorf("decodeCodepage(%d, %q) = %q, want %q", tt.cp, tt.in, got, tt.want)
		}
	}
}

// FuzzDecode holds Decode to its promises: no panic, a message always, and
// never more attachment bytes than the stream holds.
func FuzzDecode(f *testing.F) {
	f.Add(sample())
	f.Add(newBuilder().bytes())
	f.Add([]byte{0x78, 0x9f, 0x3e, 0x22})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _ := Decode(b, nil)
		if m == nil {
			t.Fatal("nil message")
		}
		n := 0
		for _, a := range m.Attachments {
			n += len(a.Data)
		}
		if n > len(b) {
			t.Errorf("%d attachment bytes from a %d-byte stream", n, len(b))
		}
	})
}
