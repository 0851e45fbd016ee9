// Package benchscale sizes the benchmarks that `make bench` runs.
//
// Every figure of `make bench` has a default size (10,000 mails, 1,000,000
// conversations, ...) chosen so that the whole run stays under 15 minutes on
// a 2-core machine. BENCH_SCALE multiplies every size at once: 0.1 for a
// quick look, 2 for a larger machine. A benchmark asks N for its counts
// instead of reading the variable itself, so that one knob scales them all.
package benchscale

import (
	"fmt"
	"math"
	"os"
	"strconv"
)

// Env is the variable that scales every benchmark.
const Env = "BENCH_SCALE"

// Scale is BENCH_SCALE as a number, 1 when unset. A value that is not a
// positive number panics, naming the variable: a benchmark run on a size
// nobody asked for would print figures that mean nothing.
func Scale() float64 {
	v := os.Getenv(Env)
	if v == "" {
		return 1
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		panic(fmt.Sprintf("%s=%q: want a positive number such as 0.1 or 2", Env, v))
	}
	return f
}

// N is base scaled by BENCH_SCALE, at least min.
func N(base, min int) int {
	n := int(math.Round(float64(base) * Scale()))
	if n < min {
		return min
	}
	return n
}
