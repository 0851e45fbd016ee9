// Command benchreport is `make bench`: it runs each figure's Go benchmark
// once (go test -run '^$' -bench '^BenchmarkX$' -benchtime 1x ./pkg, with
// BENCH_SCALE and the environment passed through), within a time budget of
// its own, prints one line per figure (the figure, its baseline measured in
// the same run, the ratio, the target and whether it was met) and writes
// the whole as JSON to bench/results/<UTC time>.json.
//
// A benchmark that is missing, skipped or failing is printed as such, with
// its reason, and the others still run. The exit status is 0 when every
// chosen figure ran and reported its metrics, whatever the figures say:
// targets are for people to read, the status for scripts that need to know
// the run is complete.
//
//	go run ./internal/cmd/benchreport [-figures latency,web] [-out bench/results]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"postdesk/internal/benchscale"
)

func main() {
	only := flag.String("figures", os.Getenv("FIGURES"), "comma-separated figures to run, by name or number (default all): "+names())
	out := flag.String("out", "bench/results", "directory for the JSON summary")
	gocmd := flag.String("go", envOr("GO", "go"), "the go command")
	flag.Parse()

	chosen, err := choose(*only)
	if err == nil {
		err = parseBudgets(os.Getenv("BENCH_BUDGETS"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	started := time.Now().UTC()
	scale := benchscale.Scale()
	fmt.Printf("make bench: %d figure(s), %s=%g\n", len(chosen), benchscale.Env, scale)

	sum := summary{Started: started, Scale: scale}
	for _, f := range chosen {
		fmt.Printf("  running %s (%s ./%s, budget %v)...\n", f.Key, f.Bench, f.Pkg, budget(f, scale))
		sum.Figures = append(sum.Figures, run(ctx, *gocmd, f, scale))
	}
	sum.Seconds = time.Since(started).Seconds()

	fmt.Println()
	printTable(os.Stdout, sum)
	path, err := sum.write(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	fmt.Printf("summary: %s\n", path)
	if !sum.complete() {
		os.Exit(1)
	}
}

// maxOutput is how much of a benchmark's output the summary keeps: its end,
// where the result or the failure is (a benchmark stopped at its budget
// prints every goroutine's stack).
const maxOutput = 256 << 10

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func names() string {
	var ns []string
	for i, f := range figures {
		ns = append(ns, fmt.Sprintf("%d=%s", i+1, f.Key))
	}
	return strings.Join(ns, ", ")
}

// choose picks the figures named in a FIGURES list, in table order.
func choose(list string) ([]figure, error) {
	if strings.TrimSpace(list) == "" {
		return figures, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" {
			continue
		}
		found := false
		for i, f := range figures {
			if n == f.Key || n == fmt.Sprint(i+1) {
				want[f.Key], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("FIGURES: no figure %q (known: %s)", n, names())
		}
	}
	var fs []figure
	for _, f := range figures {
		if want[f.Key] {
			fs = append(fs, f)
		}
	}
	return fs, nil
}

// budget is the figure's time at BENCH_SCALE=1, grown in proportion above,
// or what BENCH_BUDGETS gives it.
func budget(f figure, scale float64) time.Duration {
	if d, ok := budgets[f.Key]; ok {
		return d
	}
	return time.Duration(float64(f.Budget) * max(1, scale))
}

// budgets are the figures' budgets set by BENCH_BUDGETS
// (latency=6m,web=5m), for a machine slower or faster than the one the
// defaults were chosen on.
var budgets = map[string]time.Duration{}

func parseBudgets(v string) error {
	for _, kv := range strings.Split(v, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, d, ok := strings.Cut(kv, "=")
		fs, err := choose(k)
		if !ok || err != nil || len(fs) != 1 {
			return fmt.Errorf("BENCH_BUDGETS: %q: want figure=duration, such as latency=6m", kv)
		}
		dur, err := time.ParseDuration(d)
		if err != nil || dur <= 0 {
			return fmt.Errorf("BENCH_BUDGETS: %q: want figure=duration, such as latency=6m", kv)
		}
		budgets[fs[0].Key] = dur
	}
	return nil
}

// result is one figure of the summary.
type result struct {
	Key       string    `json:"key"`
	Title     string    `json:"title"`
	Package   string    `json:"package"`
	Benchmark string    `json:"benchmark"`
	Name      string    `json:"name,omitempty"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason,omitempty"`
	Seconds   float64   `json:"seconds"`
	Budget    float64   `json:"budget_seconds"`
	Rows      []verdict `json:"rows,omitempty"`
	// Metrics is everything the benchmark reported, by unit.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Command string             `json:"command"`
	Output  string             `json:"output,omitempty"`
}

type summary struct {
	Started time.Time `json:"started"`
	Scale   float64   `json:"bench_scale"`
	Seconds float64   `json:"seconds"`
	Figures []result  `json:"figures"`
}

func (s summary) complete() bool {
	for _, f := range s.Figures {
		if f.Status != statusRan {
			return false
		}
	}
	return true
}

// write stores the summary as <dir>/<UTC start time>.json.
func (s summary) write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("results: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", fmt.Errorf("results: %w", err)
	}
	path := filepath.Join(dir, s.Started.Format("20060102T150405Z")+".json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("results: %w", err)
	}
	return path, nil
}

// run runs one figure's benchmark within its budget and judges it.
func run(ctx context.Context, gocmd string, f figure, scale float64) result {
	bud := budget(f, scale)
	if f.Prepare != nil {
		extra, why, err := f.Prepare(ctx)
		if err != nil {
			fmt.Printf("  %s: %v\n", f.Key, err)
		} else if extra > 0 {
			bud += extra
			fmt.Printf("  %s %s: budget %v\n", f.Key, why, bud)
		}
	}
	res := result{Key: f.Key, Title: f.Title, Package: "./" + f.Pkg, Benchmark: f.Bench, Budget: bud.Seconds()}
	args := []string{"test", "-v", "-run", "^$", "-bench", "^" + f.Bench + "$", "-benchtime", "1x", "-count", "1",
		"./" + f.Pkg}
	res.Command = gocmd + " " + strings.Join(args, " ")
	if ok, why := exists(f); !ok {
		res.Status, res.Reason = statusNotFound, why
		return res
	}
	// go test's -timeout does not bound benchmarks (the testing package
	// stops its alarm before they run), so the budget is kept here: at its
	// end the go command and the test binary, one process group, get
	// SIGQUIT, which makes the binary print where every goroutine was,
	// and SIGKILL if they are still there ten seconds later.
	cctx, cancel := context.WithTimeout(ctx, bud)
	defer cancel()
	cmd := exec.CommandContext(cctx, gocmd, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var below []proc
	cmd.Cancel = func() error {
		below = descendants(cmd.Process.Pid)
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGQUIT)
	}
	cmd.WaitDelay = 10 * time.Second
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	if below != nil {
		// Stopped at its budget: the test binary ran no cleanup, so the
		// servers it started (in groups of their own) are stopped here,
		// each by its id.
		stopAll(below, syscall.SIGTERM)
		for i := 0; i < 50 && anyAlive(below); i++ {
			time.Sleep(100 * time.Millisecond) // /proc has no way to wait for a process that is not our child
		}
		stopAll(below, syscall.SIGKILL)
	}
	res.Seconds = time.Since(start).Seconds()
	res.Output = tail(buf.String(), maxOutput)
	o := parse(f.Bench, buf.Bytes(), err)
	if errors.Is(cctx.Err(), context.DeadlineExceeded) {
		o.Status, o.Reason = statusFailed, fmt.Sprintf("exceeded its budget of %v", bud)
	}
	res.Name, res.Status, res.Reason, res.Metrics = o.Name, o.Status, o.Reason, o.Values
	if o.Status == statusRan {
		res.Rows = judge(f, o)
		for _, v := range res.Rows {
			if v.Value == nil {
				res.Status, res.Reason = statusIncomplete, "did not report "+v.Metric
				break
			}
		}
	}
	return res
}

// exists reports whether the package has the benchmark, from its source,
// so that a figure whose benchmark is not written yet is told apart from
// one that fails.
func exists(f figure) (bool, string) {
	files, _ := filepath.Glob(filepath.Join(f.Pkg, "*_test.go"))
	if len(files) == 0 {
		return false, fmt.Sprintf("no tests in ./%s", f.Pkg)
	}
	decl := regexp.MustCompile(`(?m)^func ` + regexp.QuoteMeta(f.Bench) + `\(`)
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err == nil && decl.Match(b) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("no func %s in ./%s", f.Bench, f.Pkg)
}

// printTable prints one line per figure: the figure's verdict (pass when
// every target is met), its first metric beside its baseline, the ratio,
// the target, that metric's result and the time taken against the budget;
// the figure's other metrics follow on indented lines, and a figure that
// did not run says why.
func printTable(w io.Writer, s summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tverdict\tmetric\tvalue\tbaseline\tratio\ttarget\tresult\ttime\t")
	for i, f := range s.Figures {
		label := fmt.Sprintf("%d %s", figureNumber(f.Key, i), f.Key)
		took := fmt.Sprintf("%.0fs of %.0fs", f.Seconds, f.Budget)
		if len(f.Rows) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\t\t\t%s\t%s\n", label, strings.ToUpper(f.Status), f.Benchmark, took, oneLine(f.Reason))
			continue
		}
		for j, v := range f.Rows {
			if j == 0 {
				note := ""
				if f.Status != statusRan {
					note = strings.ToUpper(f.Status) + ": " + oneLine(f.Reason)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", label, figureVerdict(f), v.Metric, opt(v.Value),
					baseline(v), opt(v.Ratio), v.Target, v.Result, took, note)
				continue
			}
			fmt.Fprintf(tw, "  ↳\t\t%s\t%s\t%s\t%s\t%s\t%s\t\t\n", v.Metric, opt(v.Value), baseline(v), opt(v.Ratio), v.Target, v.Result)
		}
	}
	fmt.Fprintf(tw, "total\t\t\t\t\t\t\t\t%.0fs\t\n", s.Seconds)
	tw.Flush()
}

// figureVerdict is pass when every target of the figure is met, miss when
// one is not, and "-" for a figure without targets.
func figureVerdict(f result) string {
	v := "-"
	for _, r := range f.Rows {
		switch r.Result {
		case "miss", "missing":
			return r.Result
		case "pass":
			v = "pass"
		}
	}
	return v
}

func figureNumber(key string, fallback int) int {
	for i, f := range figures {
		if f.Key == key {
			return i + 1
		}
	}
	return fallback + 1
}

func opt(x *float64) string {
	if x == nil {
		return "-"
	}
	return num(*x)
}

func baseline(v verdict) string {
	if v.BaselineUnit == "" {
		return "-"
	}
	return opt(v.Baseline) + " " + v.BaselineUnit
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
