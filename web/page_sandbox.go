package web

import "net/http"

type sandboxData struct {
	page
	Mail []CapturedMail
}

// sandboxPage lists the mail the dev sandbox captured, newest first: what
// postdesk sent (notifications, answers) and what was sent to it.
func (s *server) sandboxPage(w http.ResponseWriter, r *http.Request, rq *request) {
	s.render(w, http.StatusOK, "sandbox", sandboxData{page: s.base(w, r, rq, "Sandbox mail", "sandbox"), Mail: s.sandboxMail()})
}
