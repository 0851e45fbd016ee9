package senderauth

import (
	"regexp"
	"strings"
)

// addrInName finds something shaped like an address in a display name.
var addrInName = regexp.MustCompile(`[^\s<>()"',;:@]+@[^\s<>()"',;:@]+\.[^\s<>()"',;:@]+`)

// MisleadingName reports whether a display name holds an address other than
// the real one, as in "aino@example.com" <evil@x.example>: shown as it is,
// it would pass for that address. Wherever postdesk shows a sender it shows
// the real address; a name this reports is shown with a warning.
func MisleadingName(name, addr string) bool {
	for _, a := range addrInName.FindAllString(name, -1) {
		if !strings.EqualFold(strings.Trim(a, "."), strings.TrimSpace(addr)) {
			return true
		}
	}
	return false
}
