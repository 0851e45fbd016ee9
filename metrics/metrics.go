// Package metrics exposes postdesk's figures in the Prometheus text format.
// Counters and histograms that the code paths update live here as package
// variables (as Prometheus clients conventionally do); figures that are the
// database's state (outbox depth, conversations by status, mailbox health)
// are read at scrape time, so they are right even with several instances.
//
// Names follow the Prometheus conventions (_total for counters, base units
// in the name: _seconds, _bytes), and every series whose labels are known
// at start is there from start at 0 (Init), so that rate() and alerts on
// absent series work from the first scrape. docs/metrics.md lists them all;
// a test in cmd/postdesk compares that list with a scrape.
package metrics

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"postdesk/buildinfo"
	"postdesk/conversation"
	"postdesk/store"
)

var (
	// Ingested counts mails stored, by mailbox and kind.
	Ingested = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postdesk_mails_ingested_total", Help: "Mails stored from IMAP, by mailbox and kind.",
	}, []string{"mailbox", "kind"})
	// IngestLag is how old the oldest mail of a mailbox's last poll was.
	IngestLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "postdesk_ingest_lag_seconds", Help: "Age of the oldest mail fetched in the mailbox's last poll.",
	}, []string{"mailbox"})
	// Sent counts delivery attempts by result (SendResults).
	Sent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postdesk_smtp_delivery_attempts_total", Help: "SMTP delivery attempts by result (sent, temporary, permanent, session: the relay refused the session).",
	}, []string{"result"})
	// SendSeconds is the time one SMTP delivery takes.
	SendSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "postdesk_smtp_send_duration_seconds", Help: "Time to deliver one mail over SMTP.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	})
	// SMTPRelayUp is 0 while the outbox worker counts the relay as down
	// (several session faults in a row), 1 otherwise.
	SMTPRelayUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "postdesk_smtp_relay_up", Help: "Whether the SMTP relay takes this instance's sessions: 1, or 0 after repeated refusals (connect, TLS, EHLO, AUTH, MAIL FROM).",
	})
	// SMTPSessionFaults counts sessions the relay refused.
	SMTPSessionFaults = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "postdesk_smtp_session_faults_total", Help: "SMTP sessions the relay refused or lost before a mail was begun.",
	})
	// Quarantined counts mails that could not be stored and were kept raw
	// for staff instead, by mailbox.
	Quarantined = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postdesk_mails_quarantined_total", Help: "Mails that could not be processed and were quarantined for staff, by mailbox.",
	}, []string{"mailbox"})
	// Duplicates counts mails recognised as stored already, by mailbox and
	// rule: imap (the same IMAP message) or content (the same mail in
	// another mailbox or under another UIDVALIDITY).
	Duplicates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postdesk_mails_duplicate_total", Help: "Mails recognised as stored already, by mailbox and rule (imap, content).",
	}, []string{"mailbox", "by"})
	// ImportDone and ImportRemaining are the go-live import's progress: the
	// mail a folder held when postdesk first connected.
	ImportDone = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "postdesk_import_done_mails", Help: "Mails of the go-live import stored so far, by mailbox.",
	}, []string{"mailbox"})
	ImportRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "postdesk_import_remaining_mails", Help: "Mails of the go-live import still to store, by mailbox (0 when done).",
	}, []string{"mailbox"})
	// IMAPPushes counts the mail server's new-mail pushes (package push) by
	// result (PushResults).
	IMAPPushes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postdesk_imap_pushes_total", Help: "New-mail pushes from the mail server, by result (woke, unwatched, refused, failed).",
	}, []string{"result"})
	// HTTPRequests and HTTPSeconds count the web side's requests by route
	// (the ServeMux pattern that served it, "GET /login"; "unmatched" for
	// none), so their labels stay few whatever URLs clients send.
	HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postdesk_http_requests_total", Help: "HTTP requests served, by route and status code.",
	}, []string{"route", "code"})
	HTTPSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "postdesk_http_request_duration_seconds", Help: "Time to serve an HTTP request, by route.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route"})
	// BuildInfo is 1, labelled with the build (see package buildinfo).
	BuildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "postdesk_build_info", Help: "The running build: version, VCS revision and Go version; always 1.",
	}, []string{"version", "revision", "goversion"})
	// Purged counts what the retention purge deleted (PurgedKinds); the
	// bytes it freed are PurgedBytes, a unit of their own.
	Purged = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postdesk_purged_total", Help: "What the retention purge deleted, by kind (conversations, messages, attachments, blobs, imap_copies).",
	}, []string{"what"})
	PurgedBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "postdesk_purged_bytes_total", Help: "Bytes of attachment content the retention purge deleted.",
	})
	// IMAPDeletions counts the outcomes of the purge's IMAP deletions: done
	// (the copy is gone, or was already) and retry (it failed this time).
	IMAPDeletions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postdesk_imap_deletions_total", Help: "IMAP deletions of purged mail by outcome (done, retry).",
	}, []string{"result"})
)

// The fixed label values, for Init and for the code that counts.
var (
	// IngestKinds are the kinds a stored inbound mail can have.
	IngestKinds = []string{store.KindCustomer, store.KindStaff, store.KindNote, store.KindAutoReply, store.KindBounce}
	// DuplicateRules are Duplicates' by label.
	DuplicateRules = []string{conversation.DuplicateIMAP, conversation.DuplicateContent}
	// SendResults are Sent's result label.
	SendResults = []string{"sent", "temporary", "permanent", "session"}
	// PurgedKinds are Purged's what label.
	PurgedKinds = []string{"conversations", "messages", "attachments", "blobs", "imap_copies"}
	// DeletionResults are IMAPDeletions' result label.
	DeletionResults = []string{"done", "retry"}
)

// The relay counts as up until the outbox worker finds otherwise.
func init() {
	SMTPRelayUp.Set(1)
	for _, r := range SendResults {
		Sent.WithLabelValues(r)
	}
	for _, w := range PurgedKinds {
		Purged.WithLabelValues(w)
	}
	for _, r := range DeletionResults {
		IMAPDeletions.WithLabelValues(r)
	}
}

// configured are the mailboxes of the config (Init): their connection
// series are there before their worker first reports.
var configured struct {
	sync.Mutex
	names []string
}

// PushResults are the results IMAPPushes counts: a watched mailbox's
// worker was woken; the push named no watched mailbox; the call was refused
// (no secret, or not a notification); the wake-up could not be sent.
var PushResults = []string{"woke", "unwatched", "refused", "failed"}

// Init makes the per-mailbox series of the configured mailboxes, at 0, so
// that a scrape right after start shows them before any mail came.
func Init(mailboxes []string) {
	for _, r := range PushResults {
		IMAPPushes.WithLabelValues(r)
	}
	configured.Lock()
	configured.names = slices.Clone(mailboxes)
	configured.Unlock()
	for _, m := range mailboxes {
		for _, k := range IngestKinds {
			Ingested.WithLabelValues(m, k)
		}
		for _, by := range DuplicateRules {
			Duplicates.WithLabelValues(m, by)
		}
		Quarantined.WithLabelValues(m)
		IngestLag.WithLabelValues(m)
		ImportDone.WithLabelValues(m)
		ImportRemaining.WithLabelValues(m)
	}
}

// Handler serves /metrics: the package's figures, the Go runtime's and the
// database's state.
func Handler(st *store.Store) http.Handler {
	reg := prometheus.NewRegistry()
	b := buildinfo.Read()
	BuildInfo.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	reg.MustRegister(Ingested, IngestLag, Quarantined, Duplicates, ImportDone, ImportRemaining, Sent, SendSeconds, SMTPRelayUp, SMTPSessionFaults, Purged, PurgedBytes, IMAPDeletions,
		IMAPPushes, HTTPRequests, HTTPSeconds, BuildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&dbCollector{st: st})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

var (
	outboxDesc = prometheus.NewDesc("postdesk_outbox_rows", "Outbox rows (mails to send) by status: pending, sent, failed.", []string{"status"}, nil)
	convDesc   = prometheus.NewDesc("postdesk_conversations", "Conversations by status.", []string{"status"}, nil)
	mboxDesc   = prometheus.NewDesc("postdesk_mailbox_connected", "1 when the mailbox's worker is connected.", []string{"mailbox"}, nil)
	mboxOKDesc = prometheus.NewDesc("postdesk_mailbox_last_success_timestamp_seconds", "When the mailbox was last polled successfully (Unix time; 0: never).", []string{"mailbox"}, nil)
	delDesc    = prometheus.NewDesc("postdesk_imap_deletions_pending", "Server copies of purged mail waiting to be deleted.", nil, nil)
	delAgeDesc = prometheus.NewDesc("postdesk_imap_deletions_oldest_seconds", "Age of the oldest waiting IMAP deletion (0 when none).", nil, nil)
	upDesc     = prometheus.NewDesc("postdesk_database_up", "1 when the database answered the scrape's queries.", nil, nil)
)

// dbCollector reads the database's state at scrape time.
type dbCollector struct{ st *store.Store }

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxDesc
	ch <- convDesc
	ch <- mboxDesc
	ch <- mboxOKDesc
	ch <- delDesc
	ch <- delAgeDesc
	ch <- upDesc
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.st.Stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	for status, n := range s.Outbox {
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(n), status)
	}
	if b, err := c.st.DeletionBacklog(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(delDesc, prometheus.GaugeValue, float64(b.Pending))
		ch <- prometheus.MustNewConstMetric(delAgeDesc, prometheus.GaugeValue, b.Oldest.Seconds())
	}
	for status, n := range s.Conversations {
		ch <- prometheus.MustNewConstMetric(convDesc, prometheus.GaugeValue, float64(n), status)
	}
	seen := map[string]bool{}
	for _, m := range s.Mailboxes {
		seen[m.Name] = true
		v := 0.0
		if m.Connected {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(mboxDesc, prometheus.GaugeValue, v, m.Name)
		last := 0.0
		if m.LastSuccess != nil {
			last = float64(m.LastSuccess.Unix())
		}
		ch <- prometheus.MustNewConstMetric(mboxOKDesc, prometheus.GaugeValue, last, m.Name)
	}
	configured.Lock()
	defer configured.Unlock()
	for _, name := range configured.names {
		if !seen[name] { // its worker has not reported yet
			ch <- prometheus.MustNewConstMetric(mboxDesc, prometheus.GaugeValue, 0, name)
			ch <- prometheus.MustNewConstMetric(mboxOKDesc, prometheus.GaugeValue, 0, name)
		}
	}
}

// Instrument counts h's requests in HTTPRequests and HTTPSeconds by the
// pattern of the ServeMux that served them (the innermost, as each sets
// Request.Pattern on the way in).
func Instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		HTTPRequests.WithLabelValues(route, strconv.Itoa(rw.code)).Inc()
		HTTPSeconds.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code    int
	written bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.written {
		w.code, w.written = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.written = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
