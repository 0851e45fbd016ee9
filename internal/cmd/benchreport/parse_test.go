package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func captured(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fig(t *testing.T, key string) figure {
	t.Helper()
	for _, f := range figures {
		if f.Key == key {
			return f
		}
	}
	t.Fatalf("no figure %s", key)
	return figure{}
}

// row finds a judged metric.
func rowOf(t *testing.T, vs []verdict, metric string) verdict {
	t.Helper()
	for _, v := range vs {
		if v.Metric == metric {
			return v
		}
	}
	t.Fatalf("no row %s in %+v", metric, vs)
	return verdict{}
}

func TestParseAndJudge(t *testing.T) {
	for _, c := range []struct {
		file, figure string
		runErr       error
		status       string
		reason       string             // a part of the reason
		values       map[string]float64 // some of the reported values
		results      map[string]string  // metric -> pass/miss/-/missing
		ratios       map[string]float64
	}{
		{file: "outbound.txt", figure: "outbound", status: statusRan,
			values:  map[string]float64{"mails/s": 891.1, "gosmtp-mails/s": 11394, "mails": 2000, "one-session-mails/s": 539.1},
			results: map[string]string{"mails/s": "-", "one-session-mails/s": "-"},
			ratios:  map[string]float64{"mails/s": 0.07821, "one-session-mails/s": 539.1 / 10957}},
		{file: "latency.txt", figure: "latency", status: statusRan,
			values:  map[string]float64{"p50-ms": 535.2, "poll-p99-ms": 1522},
			results: map[string]string{"p50-ms": "miss", "p99-ms": "miss"},
			ratios:  map[string]float64{"p50-ms": 535.2 / 1456}},
		{file: "purge.txt", figure: "purge", status: statusRan,
			values: map[string]float64{"conversations": 50000, "purge-seconds": 9.5},
			// 9.5 s against 600 s scaled to 50,000 conversations (30 s).
			results: map[string]string{"purge-seconds": "pass", "slowdown-%": "pass"},
			ratios:  map[string]float64{"slowdown-%": 141.0 / 150}},
		{file: "memory-skip.txt", figure: "memory", status: statusSkipped, reason: "dovecot is not installed"},
		{file: "scaleout-fail.txt", figure: "scaleout", runErr: errors.New("exit status 1"), status: statusFailed,
			reason: "2 mails stored twice"},
		{file: "web-build-error.txt", figure: "web", runErr: errors.New("exit status 1"), status: statusFailed,
			reason: "undefined: seedMillion"},
		{file: "web-partial.txt", figure: "web", status: statusRan,
			results: map[string]string{"list-staff-p99-ms": "pass", "search-staff-p99-ms": "miss",
				"list-staff-p50-ms": "-", "page-customer-p99-ms": "missing"},
			ratios: map[string]float64{"list-staff-p99-ms": 31.0 / 1.5}},
	} {
		t.Run(c.file, func(t *testing.T) {
			f := fig(t, c.figure)
			o := parse(f.Bench, captured(t, c.file), c.runErr)
			if o.Status != c.status {
				t.Fatalf("status %q (%s), want %q", o.Status, o.Reason, c.status)
			}
			if !strings.Contains(o.Reason, c.reason) {
				t.Errorf("reason %q, want it to hold %q", o.Reason, c.reason)
			}
			for unit, want := range c.values {
				if got, ok := o.Values[unit]; !ok || got != want {
					t.Errorf("%s = %v (reported %v), want %v", unit, got, ok, want)
				}
			}
			if o.Status != statusRan {
				return
			}
			vs := judge(f, o)
			if len(vs) != len(f.Rows) {
				t.Fatalf("%d rows, want %d", len(vs), len(f.Rows))
			}
			for metric, want := range c.results {
				if got := rowOf(t, vs, metric).Result; got != want {
					t.Errorf("%s: %s, want %s", metric, got, want)
				}
			}
			for metric, want := range c.ratios {
				v := rowOf(t, vs, metric)
				if v.Ratio == nil || *v.Ratio < want*0.999 || *v.Ratio > want*1.001 {
					t.Errorf("%s: ratio %v, want %v", metric, v.Ratio, want)
				}
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	// The benchmark's package has no such function: found from the source,
	// before any go test runs.
	if ok, why := exists(figure{Pkg: "testdata", Bench: "BenchmarkNothing"}); ok || !strings.Contains(why, "no tests") {
		t.Errorf("exists: %v %q", ok, why)
	}
	// go test ran, but the benchmark printed nothing.
	out := "PASS\nok  \tpostdesk/web\t0.01s\n"
	if o := parse("BenchmarkWeb", []byte(out), nil); o.Status != statusNotFound {
		t.Errorf("status %q, want %q", o.Status, statusNotFound)
	}
}

func TestChoose(t *testing.T) {
	fs, err := choose("latency, 5")
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[0].Key != "latency" || fs[1].Key != "web" {
		t.Errorf("chose %+v", fs)
	}
	if fs, _ := choose(""); len(fs) != len(figures) {
		t.Errorf("empty FIGURES chose %d figures, want all %d", len(fs), len(figures))
	}
	if _, err := choose("latency,nope"); err == nil {
		t.Error("an unknown figure was accepted")
	}
}

// TestTable prints a summary of every kind of outcome: one line per figure
// (more for figures of several metrics, indented), the reasons of those that
// did not run, and the total.
func TestTable(t *testing.T) {
	s := summary{Scale: 0.05, Seconds: 123}
	add := func(key, file string, runErr error) {
		f := fig(t, key)
		o := parse(f.Bench, captured(t, file), runErr)
		r := result{Key: f.Key, Benchmark: f.Bench, Status: o.Status, Reason: o.Reason, Seconds: 1, Budget: 60}
		if o.Status == statusRan {
			r.Rows = judge(f, o)
		}
		s.Figures = append(s.Figures, r)
	}
	add("latency", "latency.txt", nil)
	add("memory", "memory-skip.txt", nil)
	add("outbound", "outbound.txt", nil)
	add("web", "web-build-error.txt", errors.New("exit status 1"))
	add("purge", "purge.txt", nil)
	s.Figures = append(s.Figures, result{Key: "scaleout", Benchmark: "BenchmarkScaleOut", Status: statusNotFound,
		Reason: "no func BenchmarkScaleOut in ./ingest"})
	var buf bytes.Buffer
	printTable(&buf, s)
	out := buf.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"2 latency", "p50-ms", "1456 poll-p50-ms", "p50-ms < 100", "miss",
		"3 memory", "SKIPPED", "memory_bench_test.go:40: dovecot is not installed",
		"4 outbound", "11394 gosmtp-mails/s", "0.0782", "10957 one-session-gosmtp-mails/s",
		"5 web", "FAILED", "undefined: seedMillion",
		"6 purge", "purge-seconds < 30 (600 at 1000000)", "pass",
		"7 scaleout", "NOT FOUND", "no func BenchmarkScaleOut in ./ingest",
		"total",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if s.complete() {
		t.Error("a summary with skipped and failed figures counts as complete")
	}
	// One line per figure, the later metrics of a figure on lines marked ↳.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var heads int
	for _, l := range lines[1 : len(lines)-1] {
		if !strings.HasPrefix(l, "  ↳") {
			heads++
		}
	}
	if heads != len(s.Figures) {
		t.Errorf("%d figure lines, want %d", heads, len(s.Figures))
	}
}

func TestWriteSummary(t *testing.T) {
	dir := t.TempDir()
	s := summary{Scale: 1, Figures: []result{{Key: "outbound", Status: statusRan}}}
	path, err := s.write(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"key": "outbound"`)) || filepath.Ext(path) != ".json" {
		t.Errorf("%s: %s", path, b)
	}
}

func TestBudgets(t *testing.T) {
	t.Cleanup(func() { budgets = map[string]time.Duration{} })
	if err := parseBudgets("latency=6m, 5=90s"); err != nil {
		t.Fatal(err)
	}
	if got := budget(fig(t, "latency"), 1); got != 6*time.Minute {
		t.Errorf("latency budget %v, want 6m", got)
	}
	if got := budget(fig(t, "web"), 1); got != 90*time.Second {
		t.Errorf("web budget %v, want 90s", got)
	}
	if got, want := budget(fig(t, "purge"), 2), 2*fig(t, "purge").Budget; got != want {
		t.Errorf("purge budget at BENCH_SCALE=2: %v, want %v", got, want)
	}
	for _, bad := range []string{"latency", "nope=1m", "web=soon", "web=-1s"} {
		if err := parseBudgets(bad); err == nil {
			t.Errorf("BENCH_BUDGETS=%q accepted", bad)
		}
	}
}

// TestStopsWhatItStarted: the processes below one the driver started are
// found through /proc, and stopped by their ids.
func TestStopsWhatItStarted(t *testing.T) {
	// sh prints the id of its sleep once it has forked it.
	cmd := exec.Command("sh", "-c", "sleep 300 & echo $!; wait")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("no sh: %v", err)
	}
	defer cmd.Process.Kill() //nolint:errcheck // when the test fails
	var sleepPID int
	if _, err := fmt.Fscan(stdout, &sleepPID); err != nil {
		t.Fatal(err)
	}
	below := descendants(cmd.Process.Pid)
	if len(below) != 1 || below[0].pid != sleepPID {
		t.Fatalf("descendants of sh: %+v, want its sleep %d", below, sleepPID)
	}
	stopAll(below, syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sh: %v", err)
	}
	if anyAlive(below) {
		t.Error("the sleep outlived SIGTERM")
	}
}
