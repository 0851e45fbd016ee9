package ingest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"postdesk/conversation"
	"postdesk/internal/dovecottest"
	"postdesk/store/storetest"
	"postdesk/threading"
)

// largePDFBytes is the file of the large mail: with its base64 line ends and
// the text and HTML bodies the mail is just under 25 MB (DefaultMaxSize is
// 25 MiB, so the whole mail is ingested, not its header only).
const largePDFBytes = 18_000_000

// BenchmarkLargeMailMemory measures figure 3 of `make bench`: how much the
// process grows while it ingests one 25 MB mail (an 18 MB PDF as base64 with
// a text and an HTML body) appended to Dovecot and taken in by a real worker
// and Desk into PostgreSQL, as a multiple of the mail's size; then the same
// for four such mails in four mailboxes at once, as a multiple of their sum.
// The size does not follow BENCH_SCALE: the figure is about one mail of the
// size the size limit lets in.
//
//   - rss-x, rss4-x: peak resident set growth (VmHWM after, with the high-water
//     mark reset by /proc/self/clear_refs before, minus VmRSS then) over the
//     mail's size (the sum of the four).
//   - heap-x, heap4-x: the peak of the Go heap's objects
//     (/memory/classes/heap/objects:bytes, live and not yet swept, sampled
//     every millisecond) over the same, minus the heap before.
//   - mail-MB: the mail's size, the baseline the multiples are of (1x).
//
// GOGC is left at its default (100): the collector lets garbage grow to the
// live heap's size before it runs, so whatever an ingest allocates and drops
// shows in these figures as it would in production. The mails are appended
// before the workers start and the test keeps no copy of them, so the test's
// own memory is not in the figures. The target is under 2x for each.
//
// Run it once: go test -run '^$' -bench LargeMailMemory -benchtime 1x ./ingest
// (add -memprofile mem.out and read it with go tool pprof -sample_index=alloc_space
// for what allocates).
func BenchmarkLargeMailMemory(b *testing.B) {
	if _, err := os.Stat("/proc/self/clear_refs"); err != nil {
		b.Skip("needs Linux /proc/self/clear_refs to reset the RSS high-water mark")
	}
	e := newMemoryEnv(b)
	round := 0
	var one, four memoryFigure
	for b.Loop() {
		round++
		one = e.ingest(b, []string{"INBOX"}, round)
		four = e.ingest(b, []string{"M1", "M2", "M3", "M4"}, round)
	}
	b.ReportMetric(one.rss(), "rss-x")
	b.ReportMetric(one.heap(), "heap-x")
	b.ReportMetric(four.rss(), "rss4-x")
	b.ReportMetric(four.heap(), "heap4-x")
	b.ReportMetric(float64(one.mailBytes)/1e6, "mail-MB")
	b.Logf("one %.1f MB mail: RSS +%.1f MB (%.2fx), Go heap +%.1f MB (%.2fx); four at once (%.1f MB): RSS +%.1f MB (%.2fx), Go heap +%.1f MB (%.2fx); GOGC default",
		float64(one.mailBytes)/1e6, float64(one.rssGrowth)/1e6, one.rss(), float64(one.heapGrowth)/1e6, one.heap(),
		float64(four.mailBytes)/1e6, float64(four.rssGrowth)/1e6, four.rss(), float64(four.heapGrowth)/1e6, four.heap())
}

type memoryFigure struct {
	mailBytes, rssGrowth, heapGrowth int64
}

func (f memoryFigure) rss() float64  { return float64(f.rssGrowth) / float64(f.mailBytes) }
func (f memoryFigure) heap() float64 { return float64(f.heapGrowth) / float64(f.mailBytes) }

type memoryEnv struct {
	*deskEnv
	folders map[string]string // worker name of each folder
}

func newMemoryEnv(b *testing.B) *memoryEnv {
	b.Helper()
	st, c := storetest.Org(b, deskConfig)
	sg, err := threading.NewSigner([]byte(c.Secret))
	if err != nil {
		b.Fatal(err)
	}
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: "postdesk.example.com", Signer: sg})
	folders := map[string]string{"INBOX": "payroll", "M1": "mem1", "M2": "mem2", "M3": "mem3", "M4": "mem4"}
	cats := map[string]string{}
	for _, name := range folders {
		cats[name] = "payroll"
	}
	e := &memoryEnv{deskEnv: &deskEnv{st: st, desk: NewDesk(st, svc, cats), dovecot: dovecottest.Start(b), user: dovecottest.DefaultUser},
		folders: folders}
	for f := range folders {
		if f != "INBOX" {
			e.dovecot.CreateFolder(b, e.user.Name, f)
		}
	}
	return e
}

// ingest appends one large mail to each folder, then starts a worker per
// folder and measures until every worker has committed its mail.
func (e *memoryEnv) ingest(b *testing.B, folders []string, round int) memoryFigure {
	b.Helper()
	var fig memoryFigure
	for i, f := range folders {
		raw := largeMail(fmt.Sprintf("large-%d-%s", round, f), uint64(round*10+i))
		fig.mailBytes += int64(len(raw))
		e.dovecot.Append(b, e.user.Name, f, raw)
	}
	committed := make(chan uint32, len(folders))
	runtime.GC()
	debug.FreeOSMemory()
	heap0 := heapObjects()
	rss0 := resetHighWater(b)
	stop := make(chan struct{})
	var peak int64
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, heapObjects())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	var workers []*running
	for _, f := range folders {
		opts := e.options()
		opts.Name, opts.Folder = e.folders[f], f
		workers = append(workers, start(b, opts, e.desk, e.desk, func(w *Worker, r *running) {
			w.beforeAfter = func(uid uint32) {
				select {
				case committed <- uid:
				default: // a mail delivered twice must not hold its worker up
				}
			}
		}))
	}
	for range folders {
		select {
		case <-committed:
		case <-time.After(5 * time.Minute):
			b.Fatal("the large mails were not committed within 5 minutes")
		}
	}
	close(stop)
	wg.Wait()
	fig.rssGrowth = procStatus(b, "VmHWM") - rss0
	fig.heapGrowth = peak - heap0
	for _, w := range workers {
		w.stop()
	}
	return fig
}

// largeMail is a customer's mail with an 18 MB PDF: random bytes, which
// compress no better than a real PDF's streams, in base64 lines of 76.
func largeMail(id string, seed uint64) []byte {
	pdf := make([]byte, largePDFBytes)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(pdf) //nolint:errcheck // ChaCha8.Read never fails
	copy(pdf, "%PDF-1.7\n")
	var m bytes.Buffer
	m.Grow(largePDFBytes*4/3 + largePDFBytes/30 + 1<<20)
	text := strings.Repeat("Hei, liitteenä palkkalaskelmat koko vuodelta. Terveisin Cara Customer\r\n", 400)
	html := "<html><body>" + strings.Repeat("<p>Hei, liitteenä <b>palkkalaskelmat</b> koko vuodelta.</p>\r\n", 400) + "</body></html>\r\n"
	fmt.Fprintf(&m, "From: Cara Customer <cara.customer@acme.example>\r\nTo: payroll@example.com\r\n"+
		"Subject: Palkkalaskelmat %s\r\nMessage-ID: <%s@acme.example>\r\nDate: Mon, 02 Nov 2026 09:00:00 +0200\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n"+
		"--mix\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"+
		"--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n"+
		"--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n--alt--\r\n"+
		"--mix\r\nContent-Type: application/pdf; name=\"palkkalaskelmat.pdf\"\r\nContent-Disposition: attachment; filename=\"palkkalaskelmat.pdf\"\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n", id, id, text, html)
	// Line by line into the buffer: the bench's own allocations stay out
	// of the -memprofile of the ingest.
	line := make([]byte, 0, 78)
	for rest := pdf; len(rest) > 0; {
		n := min(len(rest), 57)
		m.Write(append(base64.StdEncoding.AppendEncode(line[:0], rest[:n]), '\r', '\n'))
		rest = rest[n:]
	}
	m.WriteString("--mix--\r\n")
	return m.Bytes()
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

// heapObjects is the bytes of heap objects, live or not yet swept.
func heapObjects() int64 {
	s := make([]metrics.Sample, 1)
	copy(s, heapSample)
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// resetHighWater resets VmHWM to the current RSS (proc(5), clear_refs 5)
// and returns that RSS.
func resetHighWater(b *testing.B) int64 {
	b.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("reset the RSS high-water mark: %v", err)
	}
	return procStatus(b, "VmRSS")
}

// procStatus reads one kB field of /proc/self/status, in bytes.
func procStatus(b *testing.B, field string) int64 {
	b.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == field {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("%s: %v", field, err)
			}
			return n << 10
		}
	}
	b.Fatalf("/proc/self/status has no %s", field)
	return 0
}
