package mailparse

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Parse keeps its promises on every prefix of real mail, which is what a
// connection dropped mid-fetch delivers.
func TestTruncatedAtEveryByte(t *testing.T) {
	for _, name := range []string{"dsn_gmail", "apple_mail_inline_image", "thunderbird_rfc2231_continuation", "outlook_winmail_dat", "tnef_winmail_attachments", "body_alternative_richest"} {
		raw, err := os.ReadFile(filepath.Join("testdata", "corpus", name+".eml"))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i <= len(raw); i++ {
			// A fresh copy of exactly i bytes, so reading past the end is a
			// fault the race detector and bounds checks would see.
			checkInvariants(t, raw[:i], Parse(bytes.Clone(raw[:i]), nil))
			if t.Failed() {
				t.Fatalf("%s cut at %d bytes", name, i)
			}
		}
	}
}

func TestDegenerateInputs(t *testing.T) {
	inputs := [][]byte{
		nil,
		{},
		[]byte("\r\n"),
		[]byte("\n\n\n"),
		[]byte(":"),
		[]byte("\x00\x00\x00"),
		[]byte("Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\nx\r\n----\r\n"),
		[]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n--b\r\n--b--"),
		[]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n\r\n\r\n--b--"),
		[]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n--b--"),
		[]byte("Content-Type: message/rfc822\r\n\r\n"),
		[]byte("Content-Transfer-Encoding: base64\r\nContent-Type: text/plain; charset=utf-16\r\n\r\n////"),
		[]byte("Subject: =?utf-8?b?====?= =?=?= =??=\r\nTo: <<>>, @, \"\r\n\r\n"),
		bytes.Repeat([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"), 5000),
	}
	for _, raw := range inputs {
		m := Parse(raw, nil)
		checkInvariants(t, raw, m)
	}
}

func TestEmptyBoundaryIsNoted(t *testing.T) {
	m := Parse([]byte("Content-Type: multipart/mixed; boundary=\"\"\r\n\r\nbody"), nil)
	if m.Text != "body" || len(m.Problems) != 1 {
		t.Errorf("Text %q, problems %q", m.Text, m.Problems)
	}
}
