package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"postdesk/metrics"
	"postdesk/store/storetest"
)

const cfg = `
database_url: postgres://unused
secret: 0123456789abcdef0123456789abcdef
smtp: {host: 127.0.0.1}
categories:
  - {key: payroll, name: Payroll, addresses: [payroll@example.com], roles: [payroll-team]}
roles:
  - {key: payroll-team, name: Payroll team, staff: true}
`

// Requests are counted by the pattern that served them, not by URL, and the
// build is labelled in postdesk_build_info.
func TestHTTPRouteMetricsAndBuildInfo(t *testing.T) {
	st, _ := storetest.Org(t, cfg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /conversations/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	mux.Handle("GET /metrics", metrics.Handler(st))
	srv := httptest.NewServer(metrics.Instrument(mux))
	defer srv.Close()
	for _, p := range []string{"/conversations/1", "/conversations/2", "/nowhere"} {
		res, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	body := string(b)
	for _, want := range []string{
		`postdesk_http_requests_total{code="404",route="GET /conversations/{id}"} 2`,
		`postdesk_http_requests_total{code="404",route="unmatched"} 1`,
		`postdesk_http_request_duration_seconds_count{route="GET /conversations/{id}"} 2`,
		`postdesk_build_info{goversion="go`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in /metrics", want)
		}
	}
}
