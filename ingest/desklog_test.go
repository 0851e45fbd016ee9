package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"postdesk/conversation"
	"postdesk/store/storetest"
	"postdesk/threading"
)

// Every stored mail gets one info line with where it came from and what
// became of it; the sender's address appears only at debug level.
func TestDeskLogsOneInfoLinePerMail(t *testing.T) {
	t.Parallel()
	st, c := storetest.Org(t, deskConfig)
	sg, err := threading.NewSigner([]byte(c.Secret))
	if err != nil {
		t.Fatal(err)
	}
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg,
		Logger: slog.New(slog.DiscardHandler)})
	deliver := func(level slog.Level, uid uint32, raw []byte) []map[string]any {
		t.Helper()
		var buf bytes.Buffer
		desk := NewDesk(st, svc, map[string]string{"payroll": "payroll"})
		desk.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))
		if err := desk.Deliver(context.Background(), "payroll", Fetched{UIDValidity: 7, UID: uid, Raw: raw, Size: int64(len(raw))}); err != nil {
			t.Fatalf("deliver UID %d: %v", uid, err)
		}
		if level >= slog.LevelInfo && strings.Contains(buf.String(), "cara.customer") {
			t.Errorf("the sender's address at info level:\n%s", buf.String())
		}
		var lines []map[string]any
		for l := range strings.Lines(buf.String()) {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
			lines = append(lines, m)
		}
		return lines
	}
	stored := func(lines []map[string]any) map[string]any {
		t.Helper()
		var found []map[string]any
		for _, l := range lines {
			if l["msg"] == "ingest: mail stored" {
				found = append(found, l)
			}
		}
		if len(found) != 1 || found[0]["level"] != "INFO" {
			t.Fatalf("want one info line \"ingest: mail stored\", got %v", lines)
		}
		return found[0]
	}

	raw := customerMail("log1")
	l := stored(deliver(slog.LevelInfo, 11, raw))
	conv, ok := l["conversation"].(float64)
	if !ok || conv <= 0 {
		t.Fatalf("no conversation id: %v", l)
	}
	if l["mailbox"] != "payroll" || l["uid"] != float64(11) || l["uidvalidity"] != float64(7) || l["kind"] != "customer" ||
		l["duplicate"] != false || l["quarantined"] != false {
		t.Errorf("info line %v", l)
	}
	if _, ok := l["ms"].(float64); !ok {
		t.Errorf("no ms in %v", l)
	}
	var id int64
	if err := st.Pool().QueryRow(context.Background(), `SELECT conversation_id FROM messages WHERE direction = 'in'`).Scan(&id); err != nil || id != int64(conv) {
		t.Errorf("logged conversation %v, stored in %d (%v)", conv, id, err)
	}

	// The same mail again under another UID: a duplicate, said so.
	l = stored(deliver(slog.LevelInfo, 12, raw))
	if l["duplicate"] != true || l["duplicate_by"] != "content" || l["conversation"] != conv {
		t.Errorf("duplicate's line %v", l)
	}

	// At debug level the sender is named, on a line of its own.
	lines := deliver(slog.LevelDebug, 13, customerMail("log2"))
	stored(lines)
	var from []any
	for _, l := range lines {
		if f, ok := l["from"]; ok {
			from = append(from, f)
		}
	}
	if len(from) != 1 || from[0] != "cara.customer@acme.example" {
		t.Errorf("debug lines %v: want the sender once", lines)
	}
}
