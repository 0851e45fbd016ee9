package ingest

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postdesk/metrics"
)

// The go-live import: the mail a folder holds when postdesk first connects.

// existingUntil is the highest UID in the folder at the first SELECT: UIDNEXT
// - 1 (RFC 3501 section 2.3.1.1: every UID assigned so far is below it), or,
// from a server that sends no UIDNEXT, the highest UID a search finds.
func existingUntil(c *imapclient.Client, sel *imap.SelectData) (uint32, error) {
	if sel.UIDNext > 0 {
		return uint32(sel.UIDNext) - 1, nil
	}
	if sel.NumMessages == 0 {
		return 0, nil
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("uid search all: %w", err)
	}
	set, ok := data.All.(imap.UIDSet)
	if !ok {
		return 0, nil
	}
	uids, ok := set.Nums()
	if !ok {
		return 0, errors.New("uid search all: the server answered a dynamic set")
	}
	if len(uids) == 0 {
		return 0, nil
	}
	return uint32(slices.Max(uids)), nil
}

// importRun is the go-live import's progress.
type importRun struct {
	done, total int
	start, last time.Time
}

// importing starts (or, after a reconnect, resumes counting) the import when
// some of the sorted uids are archive.
func (w *Worker) importing(uids []imap.UID, until uint32) {
	pending := 0
	for _, u := range uids {
		if uint32(u) <= until {
			pending++
		}
	}
	if pending == 0 {
		if w.imp != nil {
			w.importDone() // the rest vanished from the folder before it was fetched
		}
		return
	}
	now := time.Now()
	if w.imp == nil {
		w.imp = &importRun{start: now, last: now}
		w.log.Info("ingest: importing the mail already in the folder as the archive (existing: quiet): nobody is mailed about it",
			"mails", pending, "until_uid", until)
	}
	w.imp.total = w.imp.done + pending
	w.importMetrics()
}

// imported counts one archive mail stored; it logs the progress every
// progressEvery and once at the end.
func (w *Worker) imported() {
	r := w.imp
	if r == nil {
		return
	}
	r.done++
	w.importMetrics()
	if r.done >= r.total {
		w.importDone()
		return
	}
	now := time.Now()
	if now.Sub(r.last) < w.progressEvery {
		return
	}
	r.last = now
	rate := float64(r.done) / max(now.Sub(r.start).Seconds(), 1e-3)
	eta := time.Duration(float64(r.total-r.done) / rate * float64(time.Second))
	w.log.Info("ingest: importing the existing mail", "done", r.done, "of", r.total,
		"per_second", fmt.Sprintf("%.1f", rate), "eta", eta.Round(time.Second))
}

func (w *Worker) importDone() {
	r := w.imp
	elapsed := time.Since(r.start)
	w.log.Info("ingest: import of the existing mail done", "mails", r.done, "took", elapsed.Round(time.Millisecond),
		"per_second", fmt.Sprintf("%.1f", float64(r.done)/max(elapsed.Seconds(), 1e-3)))
	r.total = r.done
	w.importMetrics()
	w.imp = nil
}

func (w *Worker) importMetrics() {
	r := w.imp
	metrics.ImportDone.WithLabelValues(w.opts.Name).Set(float64(r.done))
	metrics.ImportRemaining.WithLabelValues(w.opts.Name).Set(float64(r.total - r.done))
}
