package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"postdesk/config"
	"postdesk/conversation"
	"postdesk/sandbox"
	"postdesk/store"
	"postdesk/web"
)

//go:embed dev.yaml
var devConfig []byte

// devDatabase is where `postdesk dev` keeps its data when DATABASE_URL is unset.
const devDatabase = "postgres://postgres@127.0.0.1:5432/postdesk_dev?sslmode=disable"

// devOptions are the addresses dev listens on.
type devOptions struct {
	Listen, IMAP, SMTP string
}

// dev runs the service on the embedded demo organisation with a sandbox in
// place of the outside mail servers. It needs no config file: the database
// comes from DATABASE_URL (created when missing) and the signing secret is
// made once and kept under ./var. Everything else is the same code as serve.
func dev(ctx context.Context, o devOptions, stdout io.Writer, log *slog.Logger) error {
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		dbURL = devDatabase
	}
	secret, err := devSecret("var/dev-secret")
	if err != nil {
		return err
	}
	env := map[string]string{"DATABASE_URL": dbURL, "POSTDESK_SECRET": secret}
	c, _, err := config.Parse("dev.yaml (embedded)", devConfig, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return err
	}
	if created, err := store.CreateDatabase(ctx, dbURL); err != nil {
		return fmt.Errorf("dev database: %w", err)
	} else if created {
		log.Info("created database", "database", redactURL(dbURL))
	}

	var categories, users []string
	for _, cat := range c.Categories {
		categories = append(categories, cat.Addresses...)
	}
	for _, u := range c.Users {
		users = append(users, u.Email)
	}
	gen, err := devGeneration("var/sandbox-generation")
	if err != nil {
		return err
	}
	sb, err := sandbox.Start(sandbox.Options{IMAPAddr: o.IMAP, SMTPAddr: o.SMTP, Categories: categories, Users: users,
		Password: devMailPassword, Generation: gen, Logger: log.With("component", "sandbox")})
	if err != nil {
		return err
	}
	defer sb.Close()
	imapHost, imapPort := splitHostPort(sb.IMAPAddr)
	smtpHost, smtpPort := splitHostPort(sb.SMTPAddr)
	c.Listen = o.Listen
	c.PublicURL = "http://" + o.Listen
	c.SMTP = config.SMTP{Host: smtpHost, Port: smtpPort, TLS: "none"}
	c.Mailboxes = nil
	for _, cat := range c.Categories {
		c.Mailboxes = append(c.Mailboxes, config.Mailbox{Name: cat.Key, Host: imapHost, Port: imapPort, TLS: "none",
			Username: cat.Addresses[0], Password: devMailPassword, Folder: "INBOX", After: "seen",
			PollInterval: config.Duration{D: 30 * time.Second, Set: true}, Category: cat.Key,
			// The sandbox starts empty: what is there at the first connect
			// came in a moment before it, and is handled like any new mail.
			Existing: "notify"})
	}

	fmt.Fprintf(stdout, `postdesk dev
  web view   %s - sign in as any user below, password %q; the sandbox's mail at /sandbox
  database   %s
  IMAP       %s (no TLS) - log in as any address below, password %q
  SMTP       %s (no TLS, no auth) - mail to a category address is ingested, all other mail is kept in its recipient's mailbox
  categories %s
  users      %s

Send a mail as a customer:
  swaks --server %s --from cara.customer@acme.example --to payroll@example.com \
        --header "Subject: My October salary" --body "The overtime is missing from my October salary."

`, c.PublicURL, devWebPassword, redactURL(dbURL), sb.IMAPAddr, devMailPassword, sb.SMTPAddr, strings.Join(categories, ", "), strings.Join(users, ", "), sb.SMTPAddr)
	return runService(ctx, c, log, &devHooks{seed: seedDemo, sandboxMail: func() []web.CapturedMail {
		var out []web.CapturedMail
		for _, m := range sb.Captured() {
			out = append(out, web.CapturedMail{At: m.At, From: m.From, To: m.To, Subject: m.Subject, Size: m.Size, Mailboxes: m.Mailbox})
		}
		return out
	}})
}

// devMailPassword opens every sandbox mailbox; the sandbox listens on
// loopback only and holds demo mail only.
const devMailPassword = "sandbox"

func splitHostPort(addr string) (string, int) {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return host, p
}

// devGeneration counts the sandbox's starts in a file, so that each start's
// mailboxes get UIDVALIDITY values no earlier start used.
func devGeneration(path string) (uint32, error) {
	var gen uint32
	if b, err := os.ReadFile(path); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil {
			gen = uint32(n) + 1
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("sandbox generation: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, fmt.Errorf("sandbox generation: %w", err)
	}
	if err := os.WriteFile(path, []byte(strconv.FormatUint(uint64(gen), 10)), 0o600); err != nil {
		return 0, fmt.Errorf("sandbox generation: %w", err)
	}
	return gen, nil
}

// devSecret reads the sandbox's signing secret, making it on first use.
func devSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= config.MinSecretBytes {
		return string(b), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("dev secret: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw) //nolint:errcheck
	s := hex.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("dev secret: %w", err)
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		return "", fmt.Errorf("dev secret: %w", err)
	}
	return s, nil
}

// devWebPassword is the demo users' web password, set where none is.
const devWebPassword = "postdesk-demo"

// seedDemo gives the demo users a web password where they have none, and an
// empty sandbox database a few conversations to click through; a database
// that has any is left as it is.
func seedDemo(ctx context.Context, st *store.Store, svc *conversation.Service) error {
	for _, email := range []string{"aino.palkka@example.com", "ben.ledger@example.com", "sam.support@example.com",
		"maija.manager@acme.example", "cara.customer@acme.example"} {
		u, err := st.UserByEmail(ctx, email)
		if err != nil {
			return err
		}
		if u.PasswordHash == "" {
			if err := web.SetPassword(ctx, st, email, devWebPassword); err != nil {
				return err
			}
		}
	}
	var n int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM conversations`).Scan(&n); err != nil || n > 0 {
		return err
	}
	actor := func(email string) (*conversation.Actor, error) { return svc.ActorByEmail(ctx, email) }
	cara, err := actor("cara.customer@acme.example")
	if err != nil {
		return err
	}
	maija, err := actor("maija.manager@acme.example")
	if err != nil {
		return err
	}
	aino, err := actor("aino.palkka@example.com")
	if err != nil {
		return err
	}
	overtime, err := svc.Open(ctx, cara, conversation.NewRequest{Category: "payroll", Subject: "Overtime missing from my October salary",
		Body: "Hello,\n\nmy October payslip does not show the 12 hours of overtime I did in week 41.\n\nCara"})
	if err != nil {
		return err
	}
	if _, err := svc.Reply(ctx, aino, overtime.ID, "Hi Cara,\n\nthank you, the hours were approved late. They will be paid with the November salary.\n\nAino", nil); err != nil {
		return err
	}
	if _, err := svc.Open(ctx, maija, conversation.NewRequest{Category: "sick-leave", Subject: "Sick leave certificate for Pekka",
		Body: "Pekka Employee is on sick leave from 2 to 6 November; the certificate is attached.", Company: "Acme Oy", Person: "Pekka Employee",
		Attachments: []store.NewAttachment{{Filename: "certificate.txt", ContentType: "text/plain", Data: []byte("Sick leave 2.-6.11.2026 (demo)")}}}); err != nil {
		return err
	}
	_, err = svc.Open(ctx, cara, conversation.NewRequest{Category: "support", Subject: "Cannot open my payslip PDF",
		Body: "The payslip link in the portal gives an error page."})
	return err
}
