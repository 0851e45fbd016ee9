package ingest

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"postdesk/mailauth"
)

// A token endpoint that cannot be reached is a temporary fault, not a
// refused login: health says what failed, without "authentication failed",
// and the backoff stays the ordinary one.
func TestTokenEndpointUnreachableIsTemporary(t *testing.T) {
	addr, _ := startMemServer(t, "payroll", "unused", imap.CapSet{imap.CapIMAP4rev1: {}})
	host, port := splitAddr(t, addr)
	gone := httptest.NewServer(nil)
	gone.Close()
	auth, err := mailauth.New(mailauth.Config{TokenURL: gone.URL + "/token", ClientID: "c", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	st := newMemStore()
	start(t, &Options{Name: "payroll", Host: host, Port: port, TLS: TLSNone, Username: "payroll", Auth: auth}, st, newMemLocker(), nil)
	waitFor(t, within, "the token endpoint's fault in health", func() bool {
		return slices.ContainsFunc(st.healthReports(), func(h Health) bool { return strings.Contains(h.LastError, "did not answer (temporary)") })
	})
	for _, h := range st.healthReports() {
		if strings.Contains(h.LastError, "authentication failed") {
			t.Fatalf("an unreachable endpoint reported as a refused login: %q", h.LastError)
		}
	}
}

func TestBackoffCapAfterRefusedLogin(t *testing.T) {
	w := NewWorker(&Options{Host: "h"}, newMemStore(), newMemLocker())
	if got := w.backoffCap(&AuthError{Err: errors.New("NO [AUTHENTICATIONFAILED]")}); got != 15*time.Minute {
		t.Errorf("after a refused login: cap %v, want 15m", got)
	}
	if got := w.backoffCap(errors.New("connect: connection refused")); got != 5*time.Minute {
		t.Errorf("after a network fault: cap %v, want 5m", got)
	}
	// A password refused by the server is an AuthError too; [UNAVAILABLE]
	// (the server's authentication backend is down) is not.
	no := &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Invalid credentials"}
	if !errors.As(loginError(no), new(*AuthError)) {
		t.Error("NO [AUTHENTICATIONFAILED] is not an AuthError")
	}
	unavail := &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "try later"}
	if errors.As(loginError(unavail), new(*AuthError)) {
		t.Error("NO [UNAVAILABLE] is an AuthError")
	}
}
