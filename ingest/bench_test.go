package ingest

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkMailToConversation measures how long a mail takes from the moment
// it is appended to the Dovecot mailbox until its routed conversation and
// notification rows are committed: with IDLE, and, as the baseline from the
// same run, with polling every second (IDLE off).
func BenchmarkMailToConversation(b *testing.B) {
	for _, mode := range []struct {
		name string
		idle bool
	}{{"idle", true}, {"poll-1s", false}} {
		b.Run(mode.name, func(b *testing.B) {
			e := newDeskEnv(b)
			opts := e.options()
			opts.DisableIdle = !mode.idle
			if !mode.idle {
				opts.PollInterval = time.Second
			}
			start(b, opts, e.desk, e.desk, nil)
			// Let the worker connect and settle before timing.
			e.dovecot.Append(b, e.user.Name, "INBOX", customerMail("warmup"))
			waitFor(b, 30*time.Second, "the warm-up mail", func() bool { return e.inbound(b) == 1 })
			b.ResetTimer()
			for i := range b.N {
				e.dovecot.Append(b, e.user.Name, "INBOX", customerMail(fmt.Sprintf("bench%d", i)))
				waitFor(b, 30*time.Second, "the conversation", func() bool { return e.inbound(b) == i+2 })
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/mail")
		})
	}
}
