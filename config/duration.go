package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a Go duration in the file ("30s", "5m").
type Duration struct {
	D   time.Duration
	Set bool
	bad string // the problem, reported by check with its key
}

// UnmarshalYAML reads Go's duration syntax. A bad value is kept as a problem
// rather than returned, so that decoding goes on and every mistake is listed.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		d.bad = fmt.Sprintf("bad duration %q: want Go syntax such as 30s or 5m", n.Value)
		return nil
	}
	d.D, d.Set = v, true
	return nil
}

// Retention is how long a conversation is kept. Months and years are calendar
// months so that "4y" ends on the same date four years later, as the law reads
// it, rather than after 4*365 days; days and weeks are calendar days.
type Retention struct {
	Months int
	Days   int
	Exact  time.Duration // Go-syntax part: 36h, 90m, 10s
	Set    bool
	bad    string // the problem, reported by check with its key
}

var retentionPattern = regexp.MustCompile(`^(\d+)(y|mo|w|d)$`)

// MaxRetentionYears bounds a retention: no law asks for more, and anything larger
// is a typing error that, stored as a PostgreSQL interval (months and days
// are 32-bit), could wrap round to a negative retention that purges
// everything at once (357913941y is -4 months).
const MaxRetentionYears = 100

// maxRetention is MaxRetentionYears in the units a retention is written in.
var maxRetention = map[string]int{"y": MaxRetentionYears, "mo": 12 * MaxRetentionYears, "w": 5217, "d": 36525}

// maxExact is MaxRetentionYears as a Go duration (365.25 days a year).
const maxExact = time.Duration(MaxRetentionYears*36525/100) * 24 * time.Hour

// ParseRetention reads Go's syntax (36h, 90m, 10s) or whole days, weeks, months
// and years (90d, 6w, 18mo, 4y).
func ParseRetention(s string) (Retention, error) {
	s = strings.TrimSpace(s)
	if m := retentionPattern.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > maxRetention[m[2]] {
			return Retention{}, fmt.Errorf("bad retention %q: longer than %d years", s, MaxRetentionYears)
		}
		r := Retention{Set: true}
		switch m[2] {
		case "y":
			r.Months = 12 * n
		case "mo":
			r.Months = n
		case "w":
			r.Days = 7 * n
		case "d":
			r.Days = n
		}
		return r, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return Retention{}, fmt.Errorf("bad retention %q: want 4y, 18mo, 6w, 90d or Go syntax such as 36h", s)
	}
	if d < 0 {
		return Retention{}, fmt.Errorf("bad retention %q: negative", s)
	}
	if d > maxExact {
		return Retention{}, fmt.Errorf("bad retention %q: longer than %d years", s, MaxRetentionYears)
	}
	return Retention{Exact: d, Set: true}, nil
}

// UnmarshalYAML reads ParseRetention's syntax; a bad value is kept as a
// problem for check to report under its key.
func (r *Retention) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseRetention(n.Value)
	if err != nil {
		*r = Retention{Set: true, bad: err.Error()}
		return nil
	}
	*r = v
	return nil
}

// Zero reports a retention of nothing at all.
func (r Retention) Zero() bool { return r.Months == 0 && r.Days == 0 && r.Exact == 0 }

// Shorter reports whether the retention is under d (months count as 28 days,
// the shortest they can be).
func (r Retention) Shorter(d time.Duration) bool {
	total := time.Duration(r.Months)*28*24*time.Hour + time.Duration(r.Days)*24*time.Hour + r.Exact
	return total < d
}

// After returns t plus the retention, in calendar terms.
func (r Retention) After(t time.Time) time.Time {
	return t.AddDate(0, r.Months, r.Days).Add(r.Exact)
}

func (r Retention) String() string {
	var parts []string
	switch {
	case r.Months != 0 && r.Months%12 == 0:
		parts = append(parts, fmt.Sprintf("%dy", r.Months/12))
	case r.Months != 0:
		parts = append(parts, fmt.Sprintf("%dmo", r.Months))
	}
	if r.Days != 0 {
		parts = append(parts, fmt.Sprintf("%dd", r.Days))
	}
	if r.Exact != 0 || len(parts) == 0 {
		parts = append(parts, r.Exact.String())
	}
	return strings.Join(parts, "")
}
