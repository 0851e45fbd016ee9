package store_test

import (
	"context"
	"testing"
	"time"

	"postdesk/store"
	"postdesk/store/storetest"
)

func TestListenWakesOnCommitAndReconnects(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outbox, deletions, ready := make(chan struct{}, 100), make(chan struct{}, 100), make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.Listen(ctx, map[string]func(){
			store.ChannelOutbox:    func() { outbox <- struct{}{} },
			store.ChannelDeletions: func() { deletions <- struct{}{} },
		}, func() { ready <- struct{}{} }, nil)
	}()
	defer func() { cancel(); <-done }()
	await := func(c <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(15 * time.Second):
			t.Fatalf("no %s", what)
		}
	}
	drain := func(c chan struct{}) {
		for len(c) > 0 {
			<-c
		}
	}
	notify := func(ch string, commit bool) {
		t.Helper()
		tx, err := st.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, ch); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit(ctx)
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	await(ready, "listener")
	await(outbox, "wake-up after connecting") // notifications before it were lost
	await(deletions, "wake-up after connecting")

	// Through Tx.Notify, as the deciding transactions do.
	if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.Notify(ctx, store.ChannelOutbox) }); err != nil {
		t.Fatal(err)
	}
	await(outbox, "outbox wake-up")

	// A rolled-back transaction wakes nobody: one session gets notifications
	// in commit order, so once the later commit's arrives, the rolled-back
	// one would have been there first.
	notify(store.ChannelOutbox, false)
	notify(store.ChannelDeletions, true)
	await(deletions, "deletions wake-up")
	if len(outbox) != 0 {
		t.Fatal("a rolled-back notification woke the outbox")
	}

	// The listener's session is killed: it reconnects, wakes everyone once
	// (what was sent meanwhile is lost), and hears the next commit.
	var n int
	if err := st.Pool().QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("terminate the listener: %d %v", n, err)
	}
	await(ready, "listener after reconnecting")
	await(outbox, "wake-up after reconnecting")
	drain(outbox)
	notify(store.ChannelOutbox, true)
	await(outbox, "outbox wake-up after reconnecting")
}

func TestNotifyMailboxCarriesTheName(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	got, ready := make(chan string, 100), make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.ListenPayload(ctx, map[string]func(string){
			store.ChannelMailbox: func(p string) { got <- p },
		}, func() { ready <- struct{}{} }, nil)
	}()
	defer func() { cancel(); <-done }()
	next := func() string {
		t.Helper()
		select {
		case p := <-got:
			return p
		case <-time.After(15 * time.Second):
			t.Fatal("no notification")
			return ""
		}
	}
	<-ready
	// After the LISTEN every handler hears the empty payload once: news
	// sent before it may have been missed.
	if p := next(); p != "" {
		t.Fatalf("first payload %q, want the empty one after LISTEN", p)
	}
	for _, name := range []string{"payroll", "hr@example.test/INBOX", "tuki ä/Saapuneet"} {
		if err := st.NotifyMailbox(ctx, name); err != nil {
			t.Fatal(err)
		}
		if p := next(); p != name {
			t.Fatalf("payload %q, want %q", p, name)
		}
	}
	if err := st.NotifyMailbox(ctx, ""); err == nil {
		t.Fatal("an empty mailbox name was sent")
	}
}
