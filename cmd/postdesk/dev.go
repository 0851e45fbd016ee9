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
	"os"
	"path/filepath"

	"postdesk/config"
	"postdesk/store"
)

//go:embed dev.yaml
var devConfig []byte

// devDatabase is where `postdesk dev` keeps its data when DATABASE_URL is unset.
const devDatabase = "postgres://postgres@127.0.0.1:5432/postdesk_dev?sslmode=disable"

// dev runs the service on the embedded demo organisation. It needs no config
// file: the database comes from DATABASE_URL (created when missing) and the
// signing secret is made once and kept under ./var.
func dev(ctx context.Context, stdout io.Writer, log *slog.Logger) error {
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
	fmt.Fprintf(stdout, "postdesk dev: %s\n  database %s\n  categories: payroll@example.com, hr@example.com, support@example.com\n",
		c.PublicURL, redactURL(dbURL))
	return runService(ctx, c, log)
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
