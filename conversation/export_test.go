package conversation

import "time"

// SetCountsClock sets the clock the panel's kept numbers age by.
func SetCountsClock(s *Service, now func() time.Time) { s.counts.now = now }
