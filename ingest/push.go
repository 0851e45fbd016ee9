package ingest

// Wake asks the worker to poll its folder now instead of waiting for the
// server's EXISTS or the next poll: the mail server has said, out of band,
// that new mail arrived (package push). It never blocks; wake-ups while a
// poll is pending merge into one. A worker without a session (connecting,
// waiting for the lease, backing off) polls when its session starts anyway.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}
