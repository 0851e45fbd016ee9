package mailparse

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCaps(t *testing.T) {
	longID := strings.Repeat("x", 6000) + "@example.com"
	longLocal := strings.Repeat("a", 65) + "@example.com"
	longDomain := "a@" + strings.Repeat("d", 256) + ".example"
	longWhole := strings.Repeat("a", 60) + "@" + strings.Repeat("d.", 100) + "example"
	refs := make([]string, 80)
	for i := range refs {
		refs[i] = fmt.Sprintf("<r%d@example.com>", i)
	}
	many := make([]string, 300)
	for i := range many {
		many[i] = fmt.Sprintf("u%d@example.com", i)
	}
	name := strings.Repeat("Ä", 150)

	tests := []struct {
		name   string
		header string
		check  func(*testing.T, *Message)
	}{
		{"long Message-ID", "Message-ID: <" + longID + ">", func(t *testing.T, m *Message) {
			if len(m.MessageID) != MaxIDBytes || !strings.HasPrefix(longID, m.MessageID) {
				t.Errorf("MessageID %d bytes: %q", len(m.MessageID), short(m.MessageID))
			}
		}},
		{"long In-Reply-To", "In-Reply-To: <" + longID + "> <short@example.com>", func(t *testing.T, m *Message) {
			if len(m.InReplyTo) != 2 || len(m.InReplyTo[0]) != MaxIDBytes || m.InReplyTo[1] != "short@example.com" {
				t.Errorf("InReplyTo %q", m.InReplyTo)
			}
		}},
		{"References count", "References: " + strings.Join(refs, " "), func(t *testing.T, m *Message) {
			if len(m.References) != MaxReferences || m.References[0] != "r0@example.com" ||
				m.References[1] != "r31@example.com" || m.References[MaxReferences-1] != "r79@example.com" {
				t.Errorf("References %q", m.References)
			}
		}},
		{"long local part dropped", "To: " + longLocal + ", ok@example.com", func(t *testing.T, m *Message) {
			if len(m.To) != 1 || m.To[0].Email != "ok@example.com" {
				t.Errorf("To %v", m.To)
			}
		}},
		{"long domain dropped", "From: " + longDomain, func(t *testing.T, m *Message) {
			if m.From.Email != "" {
				t.Errorf("From %v", m.From)
			}
		}},
		{"long address dropped", "Cc: <" + longWhole + ">", func(t *testing.T, m *Message) {
			if len(m.Cc) != 0 {
				t.Errorf("Cc %v", m.Cc)
			}
		}},
		{"address of 3 KB dropped", "Reply-To: <" + strings.Repeat("z", 3000) + "@example.com>", func(t *testing.T, m *Message) {
			if len(m.ReplyTo) != 0 {
				t.Errorf("ReplyTo %v", m.ReplyTo)
			}
		}},
		{"addresses per header", "To: " + strings.Join(many, ", "), func(t *testing.T, m *Message) {
			if len(m.To) != MaxAddresses || m.To[0].Email != "u0@example.com" {
				t.Errorf("%d addresses", len(m.To))
			}
		}},
		{"display name", "From: \"" + name + "\" <a@example.com>", func(t *testing.T, m *Message) {
			if len(m.From.Name) > MaxNameBytes || !utf8.ValidString(m.From.Name) || m.From.Email != "a@example.com" {
				t.Errorf("From %q", m.From)
			}
		}},
		{"subject at a character boundary", "Subject: " + strings.Repeat("ö", 700), func(t *testing.T, m *Message) {
			if len(m.Subject) != MaxSubjectBytes || !utf8.ValidString(m.Subject) {
				t.Errorf("Subject %d bytes", len(m.Subject))
			}
		}},
		{"delivered-to", "Delivered-To: " + longLocal + "\r\nDelivered-To: payroll@example.com", func(t *testing.T, m *Message) {
			if len(m.DeliveredTo) != 1 || m.DeliveredTo[0] != "payroll@example.com" {
				t.Errorf("DeliveredTo %q", m.DeliveredTo)
			}
		}},
		{"return-path is cut, never made null", "Return-Path: <" + strings.Repeat("r", 400) + "@example.com>", func(t *testing.T, m *Message) {
			if m.ReturnPath == nil || *m.ReturnPath == "" || len(*m.ReturnPath) > MaxAddressBytes {
				t.Errorf("ReturnPath %v", m.ReturnPath)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.header + "\r\n\r\nbody\r\n")
			m := Parse(raw, nil)
			checkInvariants(t, raw, m)
			tt.check(t, m)
			if len(m.Problems) == 0 {
				t.Error("no problem noted for the cut")
			}
		})
	}
}

func TestCapsLeaveNormalMailAlone(t *testing.T) {
	raw := []byte("From: Sari Virtanen <sari@example.com>\r\nTo: payroll@example.com\r\nMessage-ID: <a@example.com>\r\n" +
		"References: <r1@example.com> <r2@example.com>\r\nSubject: Palkka\r\n\r\nbody\r\n")
	m := Parse(raw, nil)
	if len(m.Problems) > 0 || m.MessageID != "a@example.com" || len(m.References) != 2 {
		t.Errorf("%+v", m)
	}
}

func TestAttachmentCaps(t *testing.T) {
	long := strings.Repeat("palkka", 80) + ".pdf"
	raw := []byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"" + long + "\"\r\n" +
		"Content-ID: <" + strings.Repeat("c", 3000) + ">\r\n\r\n%PDF\r\n" +
		"--b\r\nContent-Type: application/" + strings.Repeat("x", 300) + "\r\nContent-Disposition: attachment\r\n\r\ndata\r\n--b--\r\n")
	m := Parse(raw, nil)
	checkInvariants(t, raw, m)
	if len(m.Attachments) != 2 {
		t.Fatalf("attachments %+v", m.Attachments)
	}
	a := m.Attachments[0]
	if len(a.Filename) > MaxFilenameBytes || !strings.HasSuffix(a.Filename, ".pdf") || len(a.ContentID) > MaxIDBytes {
		t.Errorf("Filename %q, ContentID %d bytes", a.Filename, len(a.ContentID))
	}
	if b := m.Attachments[1]; b.ContentType != "text/plain" {
		t.Errorf("long content type read as %q, want the default", b.ContentType)
	}
	if len(m.Problems) < 3 {
		t.Errorf("problems %q, want one per cut", m.Problems)
	}
}

func TestCapID(t *testing.T) {
	if id, cut := capID("short@example.com"); cut || id != "short@example.com" {
		t.Errorf("capID short = %q, %v", id, cut)
	}
	long := strings.Repeat("é", 300)
	if id, cut := capID(long); !cut || len(id) != MaxIDBytes || !strings.HasPrefix(long, id) || !utf8.ValidString(id) {
		t.Errorf("capID long = %q, %v: want a prefix of %d bytes", id, cut, MaxIDBytes)
	}
}
