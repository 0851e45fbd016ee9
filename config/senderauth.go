package config

import (
	"fmt"
	"strings"
)

// SenderAuth says whose Authentication-Results headers (RFC 8601) are
// trusted, and whether staff powers by mail need them to prove the sender.
type SenderAuth struct {
	AuthservIDs []string `yaml:"authserv_ids"` // hosts whose Authentication-Results count; all others are ignored
	StaffPowers string   `yaml:"staff_powers"` // require_pass (default with authserv_ids) | off
}

// Values of sender_auth.staff_powers.
const (
	StaffPowersRequirePass = "require_pass"
	StaffPowersOff         = "off"
)

// RequirePass reports whether staff powers by mail need a DMARC or aligned
// DKIM pass from a trusted header.
func (s *SenderAuth) RequirePass() bool {
	return len(s.AuthservIDs) > 0 && s.StaffPowers == StaffPowersRequirePass
}

func (s *SenderAuth) setDefaults() {
	for i, id := range s.AuthservIDs {
		s.AuthservIDs[i] = strings.ToLower(strings.TrimSpace(id))
	}
	if s.StaffPowers == "" {
		s.StaffPowers = StaffPowersOff
		if len(s.AuthservIDs) > 0 {
			s.StaffPowers = StaffPowersRequirePass
		}
	}
}

func (s *SenderAuth) check(p *parser) {
	for i, id := range s.AuthservIDs {
		if id == "" || strings.ContainsAny(id, " \t;@") {
			p.add(fmt.Sprintf("sender_auth.authserv_ids[%d]", i), "want a host name such as mx.example.com, got %q", id)
		}
	}
	switch s.StaffPowers {
	case StaffPowersRequirePass:
		if len(s.AuthservIDs) == 0 {
			p.add("sender_auth.staff_powers", "require_pass needs sender_auth.authserv_ids: whose Authentication-Results to trust")
		}
	case StaffPowersOff:
		p.warn("sender_auth", "staff powers by email (replies sent to the customer, #take, #solved, #note) rest on the From header alone, which anyone can forge; set sender_auth.authserv_ids to your receiving MTA")
	default:
		p.add("sender_auth.staff_powers", "unknown value %q (want require_pass or off)", s.StaffPowers)
	}
}
