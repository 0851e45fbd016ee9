package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"postdesk/conversation"
	"postdesk/store"
)

// Live updates. Every change to a conversation is announced by PostgreSQL
// (migration 012's triggers, on every instance's writes), and a Live holds
// the process's one listening connection and fans the news out to the
// browsers that hold GET /events open (Server-Sent Events). A browser is
// told only the ids of the conversations the visibility rule lets its user
// see now, checked per change for all its listeners in one query; the page
// then fetches its own list or thread again, through the rule like any
// page. After the listener reconnects (news may have been lost) every
// browser is told "changed" and refreshes whatever it shows.
//
// Typing: POST /conversations/{id}/typing (staff of that conversation, at
// most once per typingEvery per user and conversation) is announced on
// ChannelTyping, and reaches the streams of other staff of the
// conversation that watch it (GET /events?c=ID).

// Live is the fan-out of conversation changes to the open pages.
type Live struct {
	st  *store.Store
	svc *conversation.Service
	log *slog.Logger

	mu      sync.Mutex
	clients map[*liveClient]struct{}
	changed chan string   // payloads of ChannelConversation, to the batcher
	done    chan struct{} // closed when Run ends: the streams end with it
	ready   chan struct{} // closed at the first LISTEN
	once    sync.Once

	// When each user last announced typing on each conversation, in this
	// process (a second instance may announce once more, which costs
	// nothing).
	typingMu   sync.Mutex
	typingLast map[typingKey]time.Time
}

type typingKey struct{ user, conv int64 }

// liveClient is one open stream.
type liveClient struct {
	user  int64
	conv  int64 // the conversation the page shows, 0 on a list
	staff bool  // staff of conv: told who is typing
	ch    chan liveEvent
	lost  chan struct{} // 1: an event did not fit; tell "changed"
}

type liveEvent struct{ name, data string }

// heartbeat keeps proxies from closing an idle stream, and is when a
// stream checks that its session still holds.
const heartbeat = 25 * time.Second

// typingEvery is how often one user's typing on one conversation is
// announced; the page shows it for a little longer (live.js).
const typingEvery = 3 * time.Second

// NewLive makes the fan-out; Run listens. Pass it as Options.Live.
func NewLive(st *store.Store, svc *conversation.Service, log *slog.Logger) *Live {
	if log == nil {
		log = slog.Default()
	}
	return &Live{st: st, svc: svc, log: log, clients: map[*liveClient]struct{}{},
		changed: make(chan string, 1024), done: make(chan struct{}), ready: make(chan struct{}),
		typingLast: map[typingKey]time.Time{}}
}

// Ready is closed once the listener first listens: news from then on reaches
// every stream.
func (l *Live) Ready() <-chan struct{} { return l.ready }

// Run listens until ctx ends, then ends every stream.
func (l *Live) Run(ctx context.Context) {
	defer close(l.done)
	var wg sync.WaitGroup
	wg.Go(func() { l.batch(ctx) })
	l.st.ListenPayload(ctx, map[string]func(string){
		store.ChannelConversation: func(p string) {
			// The panel's kept numbers go before any page is told to
			// fetch them again.
			l.svc.Changed(p)
			select {
			case l.changed <- p:
			default:
				// Too much at once: everybody refreshes instead.
				l.broadcast(liveEvent{name: "changed"})
			}
		},
		store.ChannelTyping: l.typing,
	}, func() { l.once.Do(func() { close(l.ready) }) }, l.log)
	wg.Wait()
}

// batch takes the changed conversations as they come and tells each
// listener of those it may see: one query per conversation for all
// listeners, off the listening connection.
func (l *Live) batch(ctx context.Context) {
	for {
		var p string
		select {
		case <-ctx.Done():
			return
		case p = <-l.changed:
		}
		// What else came meanwhile, each conversation once.
		pending := map[string]bool{p: true}
		for more := true; more; {
			select {
			case p := <-l.changed:
				pending[p] = true
			default:
				more = false
			}
		}
		if pending[""] {
			l.broadcast(liveEvent{name: "changed"})
			continue
		}
		for p := range pending {
			l.tell(ctx, p)
		}
	}
}

// tell sends a conversation's change to the streams whose user may see it.
func (l *Live) tell(ctx context.Context, p string) {
	id, err := strconv.ParseInt(p, 10, 64)
	if err != nil {
		return
	}
	l.mu.Lock()
	users := map[int64]bool{}
	for c := range l.clients {
		users[c.user] = true
	}
	l.mu.Unlock()
	if len(users) == 0 {
		return
	}
	ids := make([]int64, 0, len(users))
	for u := range users {
		ids = append(ids, u)
	}
	seers, err := l.svc.Seers(ctx, id, ids)
	if err != nil {
		if ctx.Err() == nil {
			l.log.Error("live: who sees", "conversation", id, "err", err)
		}
		return
	}
	sees := map[int64]bool{}
	for _, u := range seers {
		sees[u] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.clients {
		if sees[c.user] {
			c.send(liveEvent{name: "conversation", data: p})
		}
	}
}

// typing passes a Typing on to the other staff watching its conversation.
func (l *Live) typing(p string) {
	var t store.Typing
	if p == "" || json.Unmarshal([]byte(p), &t) != nil {
		return
	}
	b, _ := json.Marshal(map[string]any{"conversation": t.ConversationID, "name": t.Name}) //nolint:errchkjson // plain values
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.clients {
		if c.conv == t.ConversationID && c.staff && c.user != t.UserID {
			c.send(liveEvent{name: "typing", data: string(b)})
		}
	}
}

func (l *Live) broadcast(e liveEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.clients {
		c.send(e)
	}
}

// send never blocks the fan-out: a stream too slow to take an event is
// told "changed" when it catches up.
func (c *liveClient) send(e liveEvent) {
	select {
	case c.ch <- e:
	default:
		select {
		case c.lost <- struct{}{}:
		default:
		}
	}
}

func (l *Live) add(c *liveClient) {
	l.mu.Lock()
	l.clients[c] = struct{}{}
	l.mu.Unlock()
}

func (l *Live) remove(c *liveClient) {
	l.mu.Lock()
	delete(l.clients, c)
	l.mu.Unlock()
}

// liveRoutes adds the stream and the typing notice to the pages.
func (s *server) liveRoutes(pages *http.ServeMux) {
	pages.Handle("GET /events", s.auth(s.events))
	pages.Handle("POST /conversations/{id}/typing", s.auth(s.typingNotice))
}

// events is the stream of one page (text/event-stream).
func (s *server) events(w http.ResponseWriter, r *http.Request, rq *request) {
	if s.live == nil {
		// No live updates here: 204 tells EventSource not to reconnect.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	ctx := r.Context()
	c := &liveClient{user: rq.actor.User.ID, ch: make(chan liveEvent, 64), lost: make(chan struct{}, 1)}
	if id, err := strconv.ParseInt(r.URL.Query().Get("c"), 10, 64); err == nil && id > 0 {
		v, err := s.svc.Visibility(ctx, rq.actor, id)
		if err != nil {
			s.log.Error("events", "conversation", id, "err", err)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if v.Sees() {
			c.conv, c.staff = id, v.Staff()
		}
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	w.WriteHeader(http.StatusOK)
	s.live.add(c)
	defer s.live.remove(c)
	write := func(format string, args ...any) bool {
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// retry: how soon EventSource reconnects after a drop.
	if !write("retry: 2000\n: ready\n\n") {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.live.done:
			return
		case <-tick.C:
			// A stream outlives no session: signed out, expired or
			// ended elsewhere, it closes (the page's next request then
			// meets the sign-in page). Looking does not extend it: an
			// open tab is not activity.
			if !s.sessionHolds(ctx, rq) {
				return
			}
			if !write(": ping\n\n") {
				return
			}
		case <-c.lost:
			if !write("event: changed\ndata:\n\n") {
				return
			}
		case e := <-c.ch:
			if !write("event: %s\ndata: %s\n\n", e.name, e.data) {
				return
			}
		}
	}
}

// typingNotice announces that the user is writing a reply or a note, to
// the other staff on the conversation's page. Only staff of the
// conversation may, and only once per typingEvery: more often is answered
// 204 and dropped.
func (s *server) typingNotice(w http.ResponseWriter, r *http.Request, rq *request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if s.live == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !s.live.allowTyping(rq.actor.User.ID, id, s.now()) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	v, err := s.svc.Visibility(r.Context(), rq.actor, id)
	if err != nil {
		s.log.Error("typing", "conversation", id, "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if !v.Staff() {
		// Not theirs to answer: as if the conversation did not exist.
		http.NotFound(w, r)
		return
	}
	u := rq.actor.User
	name := u.Name
	if name == "" {
		name = u.Email
	}
	if err := s.st.NotifyTyping(r.Context(), store.Typing{ConversationID: id, UserID: u.ID, Name: name}); err != nil {
		if !errors.Is(err, context.Canceled) {
			s.log.Error("typing", "conversation", id, "err", err)
		}
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// allowTyping reports whether a typing notice may go out now, and forgets
// the old entries as it goes so that the map stays as small as the number
// of people typing.
func (l *Live) allowTyping(user, conv int64, now time.Time) bool {
	l.typingMu.Lock()
	defer l.typingMu.Unlock()
	k := typingKey{user, conv}
	if last, ok := l.typingLast[k]; ok && now.Sub(last) < typingEvery {
		return false
	}
	for k2, t := range l.typingLast {
		if now.Sub(t) >= typingEvery {
			delete(l.typingLast, k2)
		}
	}
	l.typingLast[k] = now
	return true
}

// sessionHolds reports whether the stream's session is still valid, without
// moving its idle expiry.
func (s *server) sessionHolds(ctx context.Context, rq *request) bool {
	now := s.now()
	sess, err := s.st.SessionByHash(ctx, rq.hash, now)
	return err == nil && now.Before(sess.CreatedAt.Add(sessionAbsolute))
}
