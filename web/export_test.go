package web

import "sync"

var (
	linkHookOnce sync.Once
	linkMu       sync.Mutex
	linkWaiters  = map[string]chan struct{}{}
)

// LinkDone returns a channel that is sent to each time a link request for
// email has been handled in the background (tests run in parallel, each
// with addresses of its own).
func LinkDone(email string) <-chan struct{} {
	linkHookOnce.Do(func() {
		afterLink = func(e string) {
			linkMu.Lock()
			ch := linkWaiters[e]
			linkMu.Unlock()
			if ch != nil {
				ch <- struct{}{}
			}
		}
	})
	linkMu.Lock()
	defer linkMu.Unlock()
	ch := make(chan struct{}, 16)
	linkWaiters[email] = ch
	return ch
}
