package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"postdesk/metrics"
	"postdesk/store/storetest"
)

// documented is one row of the table in docs/metrics.md.
type documented struct {
	typ       string
	labels    []string
	fromStart bool
}

var docRow = regexp.MustCompile("^\\| `(postdesk_[a-z_]+)` \\| (counter|gauge|histogram) \\| *([a-z_, ]*?) *\\| (yes|no) \\|")

// documentedSeries reads the series table of docs/metrics.md.
func documentedSeries(t *testing.T) map[string]documented {
	t.Helper()
	f, err := os.Open("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc := map[string]documented{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := docRow.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var labels []string
		for l := range strings.SplitSeq(m[3], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
		slices.Sort(labels)
		doc[m[1]] = documented{typ: m[2], labels: labels, fromStart: m[4] == "yes"}
	}
	if len(doc) < 20 {
		t.Fatalf("only %d series rows in docs/metrics.md: the table's layout changed?", len(doc))
	}
	return doc
}

func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// Every series docs/metrics.md lists is in a scrape right after start, with
// the documented type and labels, counters at 0 and every fixed label value
// present; every postdesk_ series served is in the list.
func TestMetricsDocumented(t *testing.T) {
	t.Parallel()
	doc := documentedSeries(t)
	dbURL := storetest.EmptyURL(t)
	listen := freePort(t)
	f := writeConfig(t, dbURL, listen)
	b, _ := os.ReadFile(f)
	// Nothing listens at the mailbox's port: its series are there anyway.
	b = append(b, fmt.Sprintf(`mailboxes:
  - {name: payroll, host: 127.0.0.1, port: %s, tls: none, username: payroll, password: secret, category: payroll}
`, strings.TrimPrefix(freePort(t), "127.0.0.1:"))...)
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	startServe(t, dbURL, f)

	fixed := map[string]map[string][]string{
		"postdesk_mails_ingested_total":         {"kind": metrics.IngestKinds, "mailbox": {"payroll"}},
		"postdesk_mails_duplicate_total":        {"by": metrics.DuplicateRules, "mailbox": {"payroll"}},
		"postdesk_smtp_delivery_attempts_total": {"result": metrics.SendResults},
		"postdesk_purged_total":                 {"what": metrics.PurgedKinds},
		"postdesk_imap_deletions_total":         {"result": metrics.DeletionResults},
		"postdesk_outbox_rows":                  {"status": {"pending", "sent", "failed"}},
		"postdesk_conversations":                {"status": {"new", "open", "waiting", "solved"}},
	}
	fams := scrape(t, listen)
	for name, d := range doc {
		fam, ok := fams[name]
		if !ok {
			if d.fromStart {
				t.Errorf("%s is documented as there from start but not in the first scrape", name)
			}
			continue
		}
		checkFamily(t, name, d, fam, fixed[name])
		if d.fromStart && fam.GetType() == dto.MetricType_COUNTER {
			for _, m := range fam.Metric {
				if v := m.GetCounter().GetValue(); v != 0 {
					t.Errorf("%s %v = %v right after start, want 0", name, m.Label, v)
				}
			}
		}
	}
	for name := range fams {
		if _, ok := doc[name]; strings.HasPrefix(name, "postdesk_") && !ok {
			t.Errorf("%s is served but not documented in docs/metrics.md", name)
		}
	}

	// The HTTP series are there per route once it has served a request:
	// the first scrape was one.
	fams = scrape(t, listen)
	for name, d := range doc {
		if !d.fromStart {
			if fam, ok := fams[name]; !ok {
				t.Errorf("%s not served after a request", name)
			} else {
				checkFamily(t, name, d, fam, nil)
			}
		}
	}
	if !hasSample(fams["postdesk_http_requests_total"], map[string]string{"route": "GET /metrics", "code": "200"}) {
		t.Errorf("no postdesk_http_requests_total for GET /metrics")
	}
}

// checkFamily compares a served family with its documented type and labels,
// and with the label values it must have from start.
func checkFamily(t *testing.T, name string, d documented, fam *dto.MetricFamily, fixed map[string][]string) {
	t.Helper()
	if got := strings.ToLower(fam.GetType().String()); got != d.typ {
		t.Errorf("%s is a %s, documented as a %s", name, got, d.typ)
	}
	values := map[string][]string{}
	for _, m := range fam.Metric {
		var names []string
		for _, l := range m.Label {
			names = append(names, l.GetName())
			values[l.GetName()] = append(values[l.GetName()], l.GetValue())
		}
		slices.Sort(names)
		if !slices.Equal(names, d.labels) {
			t.Errorf("%s has labels %v, documented %v", name, names, d.labels)
			return
		}
	}
	for label, want := range fixed {
		for _, v := range want {
			if !slices.Contains(values[label], v) {
				t.Errorf("%s has no series with %s=%q at start", name, label, v)
			}
		}
	}
}

func hasSample(fam *dto.MetricFamily, labels map[string]string) bool {
	if fam == nil {
		return false
	}
	for _, m := range fam.Metric {
		n := 0
		for _, l := range m.Label {
			if labels[l.GetName()] == l.GetValue() {
				n++
			}
		}
		if n == len(labels) {
			return true
		}
	}
	return false
}
