// Package push lets a mail server tell postdesk at once that a mailbox has
// new mail, so that the mailbox's worker polls now instead of when IDLE
// gets round to it.
//
// IDLE (RFC 2177) is how the worker normally hears of new mail, but a server
// may announce it late: Dovecot 2.3 waits a fixed 500 ms after its
// file-system notification before it tells an idling client
// (NOTIFY_DELAY_MSECS in lib-storage), which is most of the time from a
// customer's mail to the role's inbox. Dovecot's push_notification plugin
// calls an HTTP endpoint from inside the delivery instead, right after the
// mail is committed. Handler is that endpoint: it authenticates the call,
// maps (user, folder) to the configured mailboxes and sends their names on
// the PostgreSQL channel store.ChannelMailbox, which every instance listens
// on; the instance holding a mailbox's lease calls its worker's
// ingest.Worker.Wake. IDLE and the safety poll stay as they are, so a lost
// push costs only latency, never mail.
//
// Two request bodies are understood, both JSON with at least "user" and
// "folder": the one DovecotScript sends (for every MessageNew and
// MessageAppend, so LMTP delivery and IMAP APPEND alike), and the one of
// Dovecot's built-in OX driver (MessageNew only, i.e. LMTP/LDA delivery).
// The shared secret is sent as a bearer token, or as the password of HTTP
// basic authentication (the OX driver's url=http://user:secret@host/...).
//
// The endpoint is a small hand-written handler: there is no library for
// Dovecot's push payload, and the JSON is two fields.
package push

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"postdesk/metrics"
)

// Path is where the endpoint is served.
const Path = "/hooks/imap-push"

// DovecotScript is a Lua script for Dovecot's push_notification_lua driver
// that calls Path for every new or appended mail; docs/dovecot-push.md
// shows the configuration.
//
//go:embed dovecot-push.lua
var DovecotScript string

// maxBody bounds a notification's body: the script's is under 1 KiB, the OX
// driver's carries a snippet of the mail.
const maxBody = 64 << 10

// Mailbox is one configured IMAP mailbox as the mail server names it.
type Mailbox struct {
	Name     string // postdesk's name of the mailbox (store.ChannelMailbox payload)
	Username string // the IMAP login, as the server's push names the user
	Folder   string // the folder the worker watches ("INBOX" when empty)
}

// Notifier sends a mailbox's wake-up to every instance (store.Store).
type Notifier interface {
	NotifyMailbox(ctx context.Context, mailbox string) error
}

// Handler is the push endpoint.
type Handler struct {
	secret    []byte
	mailboxes []Mailbox
	notify    Notifier
	log       *slog.Logger
}

// NewHandler returns the endpoint for mailboxes, accepting calls that carry
// secret. An empty secret is refused: the endpoint faces the network.
func NewHandler(secret string, mailboxes []Mailbox, n Notifier, log *slog.Logger) (*Handler, error) {
	if secret == "" {
		return nil, errors.New("push: empty secret")
	}
	if log == nil {
		log = slog.Default()
	}
	ms := make([]Mailbox, len(mailboxes))
	for i, m := range mailboxes {
		if m.Folder == "" {
			m.Folder = "INBOX"
		}
		ms[i] = m
	}
	return &Handler{secret: []byte(secret), mailboxes: ms, notify: n, log: log}, nil
}

// event is the part of a notification the handler reads.
type event struct {
	User   string `json:"user"`
	Folder string `json:"folder"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "POST or PUT a notification", http.StatusMethodNotAllowed)
		return
	}
	if !h.authorized(r) {
		metrics.IMAPPushes.WithLabelValues("refused").Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="postdesk imap push"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		metrics.IMAPPushes.WithLabelValues("refused").Inc()
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil || ev.User == "" {
		metrics.IMAPPushes.WithLabelValues("refused").Inc()
		http.Error(w, `want a JSON object with "user" and "folder"`, http.StatusBadRequest)
		return
	}
	names := h.match(ev)
	if len(names) == 0 {
		// Pushes for users or folders postdesk does not watch are normal
		// when the plugin is enabled server-wide.
		h.log.Debug("push: no configured mailbox", "user", ev.User, "folder", ev.Folder)
		metrics.IMAPPushes.WithLabelValues("unwatched").Inc()
	}
	for _, name := range names {
		if err := h.notify.NotifyMailbox(r.Context(), name); err != nil {
			// The mail is safe on the server and IDLE or the safety poll
			// will find it; say so to the caller without detail.
			h.log.Warn("push: wake-up not sent; the worker finds the mail by IDLE or its poll", "mailbox", name, "err", err)
			metrics.IMAPPushes.WithLabelValues("failed").Inc()
			http.Error(w, "wake-up not sent", http.StatusServiceUnavailable)
			return
		}
	}
	if len(names) > 0 {
		metrics.IMAPPushes.WithLabelValues("woke").Inc()
	}
	w.WriteHeader(http.StatusNoContent)
}

// authorized accepts the secret as a bearer token or as a basic-auth
// password, compared in constant time.
func (h *Handler) authorized(r *http.Request) bool {
	var given string
	if _, pass, ok := r.BasicAuth(); ok {
		given = pass
	} else if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		given = strings.TrimSpace(a[7:])
	} else {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(given), h.secret) == 1
}

// match is the configured mailboxes the event is about. User names compare
// without case (servers differ); folder names exactly, except INBOX, which
// IMAP makes case-insensitive (RFC 3501 section 5.1). An event without a
// folder is about the user's INBOX (the OX driver sends only those).
func (h *Handler) match(ev event) []string {
	folder := ev.Folder
	if folder == "" || strings.EqualFold(folder, "INBOX") {
		folder = "INBOX"
	}
	var names []string
	for _, m := range h.mailboxes {
		mf := m.Folder
		if strings.EqualFold(mf, "INBOX") {
			mf = "INBOX"
		}
		if strings.EqualFold(m.Username, ev.User) && mf == folder {
			names = append(names, m.Name)
		}
	}
	return names
}
