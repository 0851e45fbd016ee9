package conversation

import "time"

// SetCountsClock sets the clock the panel's kept numbers age by.
func SetCountsClock(s *Service, now func() time.Time) { s.counts.now = now }

// SetCountsHooks sets the hooks of the panel's shared counts: counted runs
// in a count between reading the numbers and keeping them, waiting once a
// miss has joined or begun its count.
func SetCountsHooks(s *Service, counted, waiting func()) {
	s.counts.counted, s.counts.waiting = counted, waiting
}
