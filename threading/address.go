package threading

import (
	"errors"
	"fmt"
	"strings"
)

// maxLocalPart is the longest local part RFC 5321 4.5.3.1.1 allows.
const maxLocalPart = 64

// PlusAddress returns local+token@domain for categoryAddr local@domain, the
// address a reply to our mail goes to. It fails when categoryAddr is not a
// plain addr-spec, already carries a +tag, or the result would exceed the
// 64-octet local part of RFC 5321 4.5.3.1.1, and when token is empty or holds
// anything but ASCII letters, digits, '-' and '_'.
func PlusAddress(categoryAddr string, token string) (string, error) {
	at := strings.LastIndexByte(categoryAddr, '@')
	if at <= 0 || at == len(categoryAddr)-1 {
		return "", fmt.Errorf("threading: %q is not an address", categoryAddr)
	}
	local, domain := categoryAddr[:at], categoryAddr[at+1:]
	for i := 0; i < len(categoryAddr); i++ {
		c := categoryAddr[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"<>()[]\,;:`, c) >= 0 || (c == '@' && i != at) {
			return "", fmt.Errorf("threading: %q is not a plain address", categoryAddr)
		}
	}
	if strings.IndexByte(local, '+') >= 0 {
		return "", fmt.Errorf("threading: %q already has a +tag", categoryAddr)
	}
	if token == "" {
		return "", errors.New("threading: empty token")
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", fmt.Errorf("threading: token %q has a character not allowed in a local part", token)
		}
	}
	if n := len(local) + 1 + len(token); n > maxLocalPart {
		return "", fmt.Errorf("threading: local part of %d octets exceeds %d", n, maxLocalPart)
	}
	return local + "+" + token + "@" + domain, nil
}

// SplitPlus splits local+tag@domain into local@domain and tag, both lower-case.
// The tag starts at the first '+' (as Postfix's recipient_delimiter does); an
// address without one, or whose local part starts with '+', has no tag. Angle
// brackets and surrounding space are removed.
func SplitPlus(addr string) (base string, tag string) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr, ""
	}
	local, domain := addr[:at], addr[at+1:]
	plus := strings.IndexByte(local, '+')
	if plus <= 0 {
		return addr, ""
	}
	return local[:plus] + "@" + domain, local[plus+1:]
}
