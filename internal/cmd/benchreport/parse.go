package main

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// Status of a figure's run.
const (
	statusRan        = "ran"        // every metric of the figure reported
	statusIncomplete = "incomplete" // ran, but some metrics are missing
	statusFailed     = "failed"
	statusSkipped    = "skipped"
	statusNotFound   = "not found"
)

// outcome is what one benchmark run gave.
type outcome struct {
	Status string
	Reason string
	Name   string             // full benchmark name, sub-benchmark included
	Values map[string]float64 // by unit, as the benchmark reported them
}

// parse reads the output of `go test -bench` for the benchmark bench: the
// result line (with golang.org/x/perf/benchfmt, the reader of the Go
// benchmark format, whose original units are kept: its tidying would turn
// the figures' own units into others), and the --- SKIP / --- FAIL blocks
// that benchfmt does not read, with the lines logged under them as the
// reason. runErr is the error of the go test process, if any.
func parse(bench string, out []byte, runErr error) outcome {
	o := outcome{Values: map[string]float64{}}
	r := benchfmt.NewReader(bytes.NewReader(out), bench)
	for r.Scan() {
		res, ok := r.Result().(*benchfmt.Result)
		// benchfmt's names drop the "Benchmark" prefix.
		if !ok || "Benchmark"+string(res.Name.Base()) != bench {
			continue
		}
		o.Name = "Benchmark" + string(res.Name.Full())
		for _, v := range res.Values {
			unit, val := v.Unit, v.Value
			if v.OrigUnit != "" {
				unit, val = v.OrigUnit, v.OrigValue
			}
			o.Values[unit] = val
		}
	}
	// The sub-benchmark's settings (conversations=1000000) are sizes too.
	for _, part := range strings.Split(o.Name, "/")[1:] {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		v, _, _ = strings.Cut(v, "-") // the -GOMAXPROCS suffix
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			if _, have := o.Values[k]; !have {
				o.Values[k] = f
			}
		}
	}

	skip, fail := blocks(out, bench)
	switch {
	case len(fail) > 0 || (runErr != nil && len(o.Values) == 0):
		o.Status = statusFailed
		o.Reason = firstOf(fail)
		if o.Reason == "" {
			o.Reason = lastLines(out, runErr)
		}
	case len(o.Values) == 0 && len(skip) > 0:
		o.Status, o.Reason = statusSkipped, firstOf(skip)
	case len(o.Values) == 0:
		o.Status, o.Reason = statusNotFound, fmt.Sprintf("go test ran no %s", bench)
	case runErr != nil:
		o.Status, o.Reason = statusFailed, lastLines(out, runErr)
	default:
		o.Status = statusRan
	}
	return o
}

// blocks returns the reasons of the --- SKIP and --- FAIL lines of the
// benchmark: the lines indented under the line (as go test prints them
// without -v) or, when there are none, those since the benchmark's name
// line above it (as with -v, which the driver passes because without it a
// skipped benchmark prints nothing at all).
func blocks(out []byte, bench string) (skip, fail []string) {
	lines := strings.Split(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n")
	indented := func(l string) bool {
		return strings.HasPrefix(l, "    ") && !strings.HasPrefix(strings.TrimSpace(l), "--- ")
	}
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "panic: test timed out") {
			fail = append(fail, t)
			continue
		}
		var into *[]string
		switch {
		case strings.HasPrefix(t, "--- SKIP: "+bench):
			into = &skip
		case strings.HasPrefix(t, "--- FAIL: "+bench):
			into = &fail
		default:
			continue
		}
		var why []string
		for j := i + 1; j < len(lines) && indented(lines[j]); j++ {
			why = append(why, strings.TrimSpace(lines[j]))
		}
		if len(why) == 0 {
			j := i
			for j > 0 && indented(lines[j-1]) {
				j--
			}
			for _, w := range lines[j:i] {
				why = append(why, strings.TrimSpace(w))
			}
		}
		*into = append(*into, strings.Join(why, "; "))
	}
	return skip, fail
}

func firstOf(ss []string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// lastLines is the end of the output of a run that failed without a FAIL
// block of its own (a build error, a crash), for the reason.
func lastLines(out []byte, runErr error) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l == "FAIL" || strings.HasPrefix(l, "FAIL\t") || strings.HasPrefix(l, "exit status") {
			continue
		}
		keep = append(keep, l)
	}
	if len(keep) > 3 {
		keep = keep[len(keep)-3:]
	}
	s := strings.Join(keep, "; ")
	if runErr != nil {
		if s == "" {
			return runErr.Error()
		}
		return s + " (" + runErr.Error() + ")"
	}
	return s
}

// verdict is one judged row.
type verdict struct {
	Metric       string   `json:"metric"`
	Value        *float64 `json:"value"`
	Baseline     *float64 `json:"baseline,omitempty"`
	BaselineUnit string   `json:"baseline_unit,omitempty"`
	Ratio        *float64 `json:"ratio,omitempty"`
	Target       string   `json:"target,omitempty"`
	Result       string   `json:"result"` // pass, miss, missing, or "-" without a target
}

// judge compares each of the figure's rows with its target.
func judge(f figure, o outcome) []verdict {
	var vs []verdict
	for _, r := range f.Rows {
		v := verdict{Metric: r.Metric, BaselineUnit: r.Baseline, Result: "-"}
		if x, ok := o.Values[r.Metric]; ok {
			v.Value = &x
		}
		if r.Baseline != "" {
			if x, ok := o.Values[r.Baseline]; ok {
				v.Baseline = &x
			}
		}
		switch {
		case r.Ratio != "":
			if x, ok := o.Values[r.Ratio]; ok {
				v.Ratio = &x
			}
		case r.Multiple:
			v.Ratio = v.Value
		case v.Baseline != nil && *v.Baseline != 0:
			of := v.Value
			if r.RatioOf != "" {
				of = nil
				if x, ok := o.Values[r.RatioOf]; ok {
					of = &x
				}
			}
			if of != nil {
				x := *of / *v.Baseline
				v.Ratio = &x
			}
		}
		if v.Ratio == nil && r.Ratio != "" && v.Value != nil && v.Baseline != nil && *v.Baseline != 0 {
			x := *v.Value / *v.Baseline // the benchmark did not report its own
			v.Ratio = &x
		}
		if t := r.Target; t != nil {
			limit := t.Limit
			if t.PerUnit != "" {
				if size, ok := o.Values[t.PerUnit]; ok && size > 0 {
					limit = t.Limit * size / t.PerBase
				}
			}
			on := r.Metric
			x := v.Value
			if t.On == "ratio" {
				on, x = "ratio", v.Ratio
			}
			v.Target = fmt.Sprintf("%s %s %s", on, t.Op, num(limit))
			if t.PerUnit != "" && limit != t.Limit {
				v.Target += fmt.Sprintf(" (%s at %s)", num(t.Limit), num(t.PerBase))
			}
			switch {
			case x == nil || math.IsNaN(*x):
				v.Result = "missing"
			case meets(*x, t.Op, limit):
				v.Result = "pass"
			default:
				v.Result = "miss"
			}
		}
		if v.Value == nil {
			v.Result = "missing"
		}
		vs = append(vs, v)
	}
	return vs
}

func meets(x float64, op string, limit float64) bool {
	switch op {
	case "<":
		return x < limit
	case ">=":
		return x >= limit
	case "=":
		return x == limit
	}
	return false
}

// num prints a figure with as many digits as it needs: 1022, 69.4, 0.068.
func num(x float64) string {
	a := math.Abs(x)
	switch {
	case x == math.Trunc(x) && a < 1e15:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case a >= 1:
		return strconv.FormatFloat(x, 'f', 2, 64)
	default:
		return strconv.FormatFloat(x, 'g', 3, 64)
	}
}
