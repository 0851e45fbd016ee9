package web

import "net/http"

type sandboxData struct {
	page
	Mail []CapturedMail
}

// sandboxPage lists the mail the dev sandbox captured, newest first: what
// postdesk sent (notifications, answers) and what was sent to it. It names
// every recipient and subject, so only staff see it; to others it does not
// exist.
func (s *server) sandboxPage(w http.ResponseWriter, r *http.Request, rq *request) {
	if !rq.actor.IsStaff() {
		s.errorPage(w, r, rq, http.StatusNotFound, "")
		return
	}
	s.render(w, http.StatusOK, "sandbox", sandboxData{page: s.base(w, r, rq, msgKey("Sandbox mail"), "sandbox"), Mail: s.sandboxMail()})
}
