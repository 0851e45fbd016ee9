package config

import (
	"strings"
	"testing"
)

func TestSenderAuth(t *testing.T) {
	block := "sender_auth:\n  authserv_ids: [mx.example.com]\n  staff_powers: require_pass\n"
	for _, tc := range []struct {
		name        string
		block       string
		requirePass bool
		warning     string // a part of the one warning expected, "" for none
		problem     string // a part of the error expected
	}{
		{"as in DESIGN.md", block, true, "", ""},
		{"require_pass is the default with authserv_ids", "sender_auth:\n  authserv_ids: [MX.example.com]\n", true, "", ""},
		{"no sender_auth: From alone, warned", "", false, "rest on the From header alone", ""},
		{"off: From alone, warned", "sender_auth:\n  authserv_ids: [mx.example.com]\n  staff_powers: off\n", false, "rest on the From header alone", ""},
		{"require_pass without authserv_ids", "sender_auth:\n  staff_powers: require_pass\n", false, "", "needs sender_auth.authserv_ids"},
		{"unknown mode", "sender_auth:\n  authserv_ids: [mx.example.com]\n  staff_powers: trust_me\n", false, "", `unknown value "trust_me"`},
		{"not a host", "sender_auth:\n  authserv_ids: [\"mx.example.com; dmarc=pass\"]\n", false, "", "sender_auth.authserv_ids[0]"},
		{"misspelt key", "sender_auth:\n  authserv_id: [mx.example.com]\n", false, "", "sender_auth.authserv_id: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(valid, block, tc.block, 1)
			c, warnings, err := Parse("postdesk.yaml", []byte(y), lookup)
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("error %v, want one about %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.SenderAuth.RequirePass(); got != tc.requirePass {
				t.Errorf("RequirePass = %v, want %v", got, tc.requirePass)
			}
			if tc.warning == "" && len(warnings) != 0 || tc.warning != "" && (len(warnings) != 1 || !strings.Contains(warnings[0].Message, tc.warning)) {
				t.Errorf("warnings %v, want %q", warnings, tc.warning)
			}
			if tc.requirePass && c.SenderAuth.AuthservIDs[0] != "mx.example.com" {
				t.Errorf("authserv_ids %v not lower-cased", c.SenderAuth.AuthservIDs)
			}
		})
	}
}
