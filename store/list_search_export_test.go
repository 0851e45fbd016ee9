package store

// SetRareHitsForTest sets how many hits make a search path frequent (walked)
// rather than rare (read from its index), until the returned func restores
// it; for tests that run serially.
func SetRareHitsForTest(n int) (restore func()) {
	old := rareHits
	rareHits = n
	return func() { rareHits = old }
}
