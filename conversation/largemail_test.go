package conversation_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"

	"postdesk/conversation"
	"postdesk/store"
)

// withLargeFile is a customer's mail with a file as base64 lines of 76, the
// encoded text given as it is (so a test may damage it).
func withLargeFile(id, encoded string) []byte {
	return []byte("From: Cara Customer <cara.customer@acme.example>\r\nTo: payroll@example.com\r\nSubject: Palkkalaskelmat " + id +
		"\r\nMessage-ID: <" + id + "@acme.example>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nLiitteenä vuoden laskelmat.\r\n--b\r\n" +
		"Content-Type: application/pdf; name=\"laskelmat.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + encoded + "\r\n--b--\r\n")
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

// fileOf returns the one attachment of the conversation's first message and
// its stored content.
func (f *fixture) fileOf(r *conversation.Received) (store.Attachment, []byte, []string) {
	f.t.Helper()
	v, err := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), r.ConversationID)
	if err != nil {
		f.t.Fatal(err)
	}
	m := v.Messages[0]
	if len(m.Attachments) != 1 {
		f.t.Fatalf("%d attachments, want the file", len(m.Attachments))
	}
	a := m.Attachments[0]
	data, err := f.st.Blob(f.ctx, a.SHA256)
	if err != nil {
		f.t.Fatal(err)
	}
	return a, data, m.Problems
}

// A file far larger than what mailparse holds decoded reaches the store by
// the streaming path (decoded from the raw source into chunks) and comes
// back byte-exact under its sha256; the raw source is kept whole too. A
// second mail with the same file shares its blob.
func TestReceiveLargeAttachmentByteExact(t *testing.T) {
	f := setup(t)
	f.withSigner(0)
	file := make([]byte, 6<<20+333)
	rand.NewChaCha8([32]byte{42}).Read(file) //nolint:errcheck // ChaCha8.Read never fails
	raw := withLargeFile("large.1", base64Lines(file))
	r, err := f.svc.Receive(f.ctx, conversation.Inbound{Mailbox: "payroll", UIDValidity: 7, UID: 1, Raw: raw, DefaultCategory: "payroll"})
	if err != nil {
		t.Fatal(err)
	}
	a, data, problems := f.fileOf(r)
	sum := sha256.Sum256(file)
	if !bytes.Equal(data, file) || !bytes.Equal(a.SHA256, sum[:]) || a.Size != int64(len(file)) || a.Filename != "laskelmat.pdf" {
		t.Errorf("stored %q: %d bytes, sha256 %x, size %d; want the %d-byte file, %x", a.Filename, len(data), a.SHA256, a.Size, len(file), sum)
	}
	if len(problems) > 0 {
		t.Errorf("problems %q", problems)
	}
	v, _ := f.svc.Get(f.ctx, f.actor("aino.handler@example.com"), r.ConversationID)
	if stored, err := f.st.Blob(f.ctx, v.Messages[0].RawSHA256); err != nil || !bytes.Equal(stored, raw) {
		t.Errorf("raw source: %v, %d bytes of %d", err, len(stored), len(raw))
	}

	r2 := f.receive(2, string(withLargeFile("large.2", base64Lines(file))))
	a2, data2, _ := f.fileOf(r2)
	var blobs int
	if err := f.st.Pool().QueryRow(f.ctx, `SELECT count(*) FROM blobs WHERE sha256 = $1`, sum[:]).Scan(&blobs); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a2.SHA256, sum[:]) || !bytes.Equal(data2, file) || blobs != 1 {
		t.Errorf("second mail with the file: sha256 %x, %d bytes, %d blobs; want the same one blob", a2.SHA256, len(data2), blobs)
	}
}

// A large base64 file cut short is stored as far as it decodes, and the
// message says it is damaged: never dropped.
func TestReceiveTruncatedLargeAttachmentKept(t *testing.T) {
	f := setup(t)
	f.withSigner(0)
	file := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{43}).Read(file) //nolint:errcheck // ChaCha8.Read never fails
	enc := base64Lines(file)
	cut := len(enc) / 2
	for len(strings.ReplaceAll(enc[:cut], "\r\n", ""))%4 != 1 { // a lone character: the cut shows
		cut++
	}
	r, err := f.svc.Receive(f.ctx, conversation.Inbound{Mailbox: "payroll", UIDValidity: 7, UID: 1,
		Raw: withLargeFile("cut.1", enc[:cut]+"!"), DefaultCategory: "payroll"})
	if err != nil {
		t.Fatalf("a damaged file failed the delivery: %v", err)
	}
	a, data, problems := f.fileOf(r)
	whole := strings.ReplaceAll(enc[:cut], "\r\n", "")
	want := len(whole) / 4 * 3
	if len(data) != want || !bytes.Equal(data, file[:want]) || a.Size != int64(want) {
		t.Errorf("stored %d bytes (size %d), want the %d that decode", len(data), a.Size, want)
	}
	if !strings.Contains(strings.Join(problems, " "), "base64 part has characters outside the base64 alphabet or is cut short") {
		t.Errorf("problems %q, want the damage noted", problems)
	}
}
