package queue

import (
	"context"
	"errors"
	"testing"
	"time"
)

// drainer records each drain on a channel and answers from a script.
type drainer struct {
	calls   chan int
	n       int
	answers []func() (bool, error) // by call; past the end: (false, nil)
}

func (d *drainer) drain(ctx context.Context) (bool, error) {
	d.n++
	d.calls <- d.n
	if d.n-1 < len(d.answers) {
		return d.answers[d.n-1]()
	}
	return false, nil
}

func start(t *testing.T, d *drainer, opts *Options) *Runner {
	t.Helper()
	r := NewRunner("test", d.drain, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// await returns the number of the next drain, failing after a generous
// deadline (a hang, not a timing check).
func await(t *testing.T, calls <-chan int) int {
	t.Helper()
	select {
	case n := <-calls:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no drain")
		return 0
	}
}

func TestWakeDrainsAtOnce(t *testing.T) {
	d := &drainer{calls: make(chan int, 10)}
	r := start(t, d, &Options{Poll: time.Hour})
	if n := await(t, d.calls); n != 1 {
		t.Fatalf("first drain %d", n)
	}
	r.Wake()
	if n := await(t, d.calls); n != 2 {
		t.Fatalf("drain after wake %d", n)
	}
}

func TestFullBatchDrainsAgain(t *testing.T) {
	full := func() (bool, error) { return true, nil }
	d := &drainer{calls: make(chan int, 10), answers: []func() (bool, error){full, full, full}}
	start(t, d, &Options{Poll: time.Hour})
	for want := 1; want <= 4; want++ {
		if n := await(t, d.calls); n != want {
			t.Fatalf("drain %d, want %d", n, want)
		}
	}
	select {
	case n := <-d.calls:
		t.Fatalf("drain %d after an empty batch, without a wake-up", n)
	default:
	}
}

func TestErrorRetriedAfterBackoff(t *testing.T) {
	fail := func() (bool, error) { return false, errors.New("database down") }
	d := &drainer{calls: make(chan int, 10), answers: []func() (bool, error){fail, fail}}
	start(t, d, &Options{Poll: time.Hour, ErrorBackoff: time.Millisecond, ErrorBackoffMax: 2 * time.Millisecond})
	for want := 1; want <= 3; want++ {
		if n := await(t, d.calls); n != want {
			t.Fatalf("drain %d, want %d", n, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		attempt int
		want    time.Duration // before jitter
	}{
		{1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute}, {6, 32 * time.Minute}, {7, time.Hour}, {50, time.Hour},
	} {
		for range 20 {
			got := Backoff(c.attempt, time.Minute, time.Hour)
			if got > c.want || got < c.want-c.want/5 {
				t.Fatalf("Backoff(%d) = %v, want %v less at most a fifth", c.attempt, got, c.want)
			}
		}
	}
}
