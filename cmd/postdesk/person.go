package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"postdesk/privacy"
	"postdesk/store"
)

// personExport writes the person's zip next to its final name and renames
// it into place, so that a failed export never leaves half a file that
// looks complete.
func personExport(ctx context.Context, file, email, out string, withNotes bool, stdout io.Writer) error {
	_, st, err := configuredStore(ctx, file)
	if err != nil {
		return err
	}
	defer st.Close()
	tmp, err := os.CreateTemp(filepath.Dir(out), ".postdesk-export-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	// Personal data: readable by its owner only.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	rep, err := privacy.Export(ctx, st, email, privacy.ExportOptions{WithNotes: withNotes, Actor: "cli"}, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d conversations, %d messages, %d attachments (%d bytes)\n",
		out, rep.Conversations, rep.Messages, rep.Attachments, rep.Bytes)
	return nil
}

func personErase(ctx context.Context, file, email string, dryRun bool, stdout io.Writer) error {
	_, st, err := configuredStore(ctx, file)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := privacy.Erase(ctx, st, store.EraseRequest{Email: email, Actor: "cli", DryRun: dryRun})
	if err != nil {
		return err
	}
	verb := "erased"
	if dryRun {
		verb = "would erase (dry run, nothing changed)"
	}
	fmt.Fprintf(stdout, "%s %s, now %s:\n", verb, strings.ToLower(email), r.Pseudonym)
	fmt.Fprintf(stdout, "  conversations deleted (the person's as customer): %d %v\n", r.Counts.Conversations, r.Deleted)
	fmt.Fprintf(stdout, "  with messages %d, attachments %d, server copies queued %d\n", r.Counts.Messages, r.Counts.Attachments, r.Counts.IMAPCopies)
	fmt.Fprintf(stdout, "  other conversations anonymised: %d (messages emptied %d, attachments %d, server copies queued %d)\n",
		r.Participations, r.Anonymised, r.Attachments, r.Copies)
	fmt.Fprintf(stdout, "  outbox mails to them removed: %d; user row erased: %v\n", r.OutboxRows, r.UserErased)
	if len(r.Held) > 0 {
		fmt.Fprintf(stdout, "  kept by a legal hold, unchanged: %v\n", r.Held)
	}
	return nil
}
