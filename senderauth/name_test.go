package senderauth

import "testing"

func TestMisleadingName(t *testing.T) {
	for _, tc := range []struct {
		name, addr string
		want       bool
	}{
		{"Aino Example", "aino@example.com", false},
		{"", "aino@example.com", false},
		{"aino@example.com", "aino@example.com", false},
		{"AINO@Example.com", "aino@example.com", false},
		{"aino@example.com", "evil@x.example", true},
		{"Aino Example (aino@example.com)", "evil@x.example", true},
		{"Aino <aino@example.com>", "evil@x.example", true},
		{"Support @ Example", "evil@x.example", false},
	} {
		if got := MisleadingName(tc.name, tc.addr); got != tc.want {
			t.Errorf("MisleadingName(%q, %q) = %v, want %v", tc.name, tc.addr, got, tc.want)
		}
	}
}
