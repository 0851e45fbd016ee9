package main

import (
	"archive/zip"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"postdesk/conversation"
	"postdesk/store/storetest"
	"postdesk/threading"
)

// person export and person erase, as an administrator runs them.
func TestPersonCommands(t *testing.T) {
	t.Parallel()
	dbURL := storetest.EmptyURL(t)
	f := writeConfig(t, dbURL, freePort(t))
	st := migratedOrg(t, dbURL, f)
	ctx := context.Background()
	sg, err := threading.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg})
	raw := "From: Eero Example <eero.example@acme.example>\r\nTo: payroll@example.com\r\nSubject: Lomaraha\r\n" +
		"Message-ID: <p1@acme.example>\r\n\r\nMilloin lomaraha maksetaan?\r\n"
	r, err := svc.Receive(ctx, conversation.Inbound{Raw: []byte(raw), DefaultCategory: "payroll"})
	if err != nil {
		t.Fatal(err)
	}

	zipPath := filepath.Join(t.TempDir(), "eero.zip")
	out, err := command(t, dbURL, "person", "export", "--email", "eero.example@acme.example", "--out", zipPath, "--config", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 conversations") {
		t.Fatalf("person export: %v\n%s", err, out)
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	zr.Close()
	if got := strings.Join(names, " "); !strings.Contains(got, "index.json") || !strings.Contains(got, "README.txt") || !strings.Contains(got, "-customer.eml") {
		t.Fatalf("zip holds %s", got)
	}

	out, err = command(t, dbURL, "person", "erase", "--email", "eero.example@acme.example", "--dry-run", "--config", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dry run") {
		t.Fatalf("person erase --dry-run: %v\n%s", err, out)
	}
	if _, err := st.ConversationByID(ctx, r.ConversationID); err != nil {
		t.Fatalf("the dry run deleted: %v", err)
	}
	out, err = command(t, dbURL, "person", "erase", "--email", "eero.example@acme.example", "--config", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "conversations deleted (the person's as customer): 1") {
		t.Fatalf("person erase: %v\n%s", err, out)
	}
	if _, err := st.ConversationByID(ctx, r.ConversationID); err == nil {
		t.Fatal("the conversation is still there")
	}
	out, err = command(t, dbURL, "person", "erase", "--email", "aino.handler@example.com", "--config", f).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "config file") {
		t.Fatalf("erasing a configured user: %v\n%s", err, out)
	}
	if out, err := command(t, dbURL, "person", "export", "--config", f).CombinedOutput(); err == nil || !strings.Contains(string(out), "--email") {
		t.Fatalf("export without --email: %v\n%s", err, out)
	}
}
