package store_test

import (
	"context"
	"testing"

	"postdesk/store/storetest"
)

// BeginAttempt counts the attempts of a kind that covered a UID and never
// ended: a batch found so keeps its range, a mail is counted alone, an
// attempt ended with an error or passed by the cursor counts no more, and
// another UIDVALIDITY or mailbox is another count.
func TestBeginAttemptCountsAttemptsNeverEnded(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := context.Background()
	step := func(what, mailbox string, uidValidity, first, last uint32, want int) {
		t.Helper()
		got, err := st.BeginAttempt(ctx, mailbox, uidValidity, first, last)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%s: %d attempts never ended, want %d", what, got, want)
		}
	}
	step("a first batch", "payroll", 7, 10, 14, 0)
	step("the batch again: the process stopped inside", "payroll", 7, 10, 14, 1)
	step("one of its mails alone: counted apart", "payroll", 7, 10, 10, 0)
	step("a later batch inside the range: the range is kept", "payroll", 7, 11, 20, 2)
	step("the mail alone again", "payroll", 7, 10, 10, 1)
	step("another mailbox", "hr", 7, 10, 14, 0)
	step("another UIDVALIDITY", "payroll", 8, 10, 10, 0)
	step("the mail after: the cursor passed the one before", "payroll", 8, 11, 11, 0)
	if err := st.EndAttempt(ctx, "payroll", false); err != nil {
		t.Fatal(err)
	}
	step("the mail again after an error the worker saw", "payroll", 8, 11, 11, 0)
	step("a batch past the range: after its commit", "payroll", 7, 21, 30, 0)
	if err := st.EndAttempt(ctx, "payroll", true); err != nil {
		t.Fatal(err)
	}
	step("the batch again after an error the worker saw", "payroll", 7, 21, 30, 0)
}
