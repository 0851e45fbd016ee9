package web

import "net/url"

// apiView is the view of GET /api/v1/conversations?view=...: one of the
// control panel's views (open, mine, unassigned, waiting, solved,
// role:KEY; see conversation.Filter.View), combined with the other
// filters. Without one the API lists every conversation, as it did before
// there were views; an unknown view is refused with 400 by the service.
func apiView(q url.Values) string { return q.Get("view") }
