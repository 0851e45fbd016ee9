// Package quote cuts the quoted history off a reply written in a mail client.
//
// A support worker answers a notification by pressing Reply and typing above
// (or, bottom-posting, below) the quoted original; the customer must get only
// the new text. Strip returns that text; Split also returns the history, so the
// caller can keep it.
//
// Mail clients mark history in three ways, and all three are recognised:
//
//   - an attribution line before "> " quoted lines (Gmail, Apple Mail,
//     Thunderbird), in the client's language: "On ... wrote:";
//   - a block of header lines copied from the original (Outlook desktop and
//     web): "From:", "Sent:", "To:", "Subject:", often after a line of
//     underscores, or a "-----Original Message-----" line;
//   - "> " quoting on its own (RFC 3676 section 4.5), which may be above,
//     below or between the new text.
//
// The rule that shapes the package: losing what someone wrote is worse than
// sending a little history along. So a line is only treated as the start of
// history when it has the full shape a client produces (an attribution with a
// date, a From line followed by the other header lines), forwarded messages
// are never cut, and when everything looks quoted the text is returned as it
// was rather than as nothing.
//
// Everything here is a pure function of its input.
package quote

import "strings"

// Strip returns the new text of a reply: the quoted history removed (or, in
// an interleaved reply, the quoted lines removed and the answers between them
// kept in order), then a signature block starting at a line exactly "-- "
// (RFC 3676 section 4.3) and leading and trailing blank lines removed.
// Line ends in the result are "\n"; CRLF in the input is accepted.
//
// When nothing is left, Strip returns text unchanged: a mail that is all
// quotation (a forwarded quote, say) is better delivered whole than empty.
//
// Strip is idempotent: Strip(Strip(x)) == Strip(x).
func Strip(text string) string {
	fresh, _ := Split(text)
	return fresh
}

// Split returns what Strip returns as fresh, and the history it cut as
// quoted: the attribution and header lines, the quoted lines and everything
// after the point where history starts, in their original order, with "\n"
// line ends and without leading or trailing blank lines. The signature belongs
// to neither half. When Strip would return text unchanged, quoted is "".
func Split(text string) (fresh, quoted string) {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		// TrimRight, not TrimSuffix: "\r\r\n" must not leave a "\r" that a
		// second pass would remove (Strip is idempotent).
		lines[i] = strings.TrimRight(l, "\r")
	}

	// Text from a forwarded-message line on is the content being passed on,
	// not history of this reply, and is kept as written.
	limit := len(lines)
	for i, l := range lines {
		if isForwardMarker(l) {
			limit = i
			break
		}
	}
	own := lines[:limit]

	history := make([]bool, len(lines))
	markQuoteBlocks(own, history)
	cut := findCut(own, history)
	ownEnd := limit
	if cut >= 0 {
		ownEnd = cut
		for i := cut; i < len(lines); i++ {
			history[i] = true
		}
	}

	var out []string
	removed, sig := false, false
	for i := 0; i < ownEnd; i++ {
		l := lines[i]
		switch {
		case history[i]:
			removed = true
			continue
		case l == "-- ":
			// RFC 3676 section 4.3: the signature runs from "-- " to the end
			// of the message, here the end of this writer's own text.
			sig = true
		}
		if sig {
			continue
		}
		// Removing a quoted block between two answers leaves the blank lines
		// that surrounded it; keep one.
		if isBlank(l) {
			if removed && len(out) > 0 && isBlank(out[len(out)-1]) {
				continue
			}
		} else {
			removed = false
		}
		out = append(out, l)
	}
	if cut < 0 {
		out = append(out, lines[limit:]...)
	}
	fresh = strings.Join(trimBlank(out), "\n")
	if fresh == "" {
		return text, ""
	}

	var q []string
	for i, h := range history {
		if h {
			q = append(q, lines[i])
		}
	}
	return fresh, strings.Join(trimBlank(q), "\n")
}

// markQuoteBlocks marks in history every block of "> " quoted lines in own
// (with the blank lines inside it) and the attribution line that introduces
// it, if there is one. Every quoted line is marked, wherever it is, so an
// interleaved reply keeps the answers between the blocks, and a bottom-posted
// one keeps the text after the block.
func markQuoteBlocks(own []string, history []bool) {
	for i := 0; i < len(own); {
		if !isQuoted(own[i]) {
			i++
			continue
		}
		last := i
		for j := i; j < len(own) && (isQuoted(own[j]) || isBlank(own[j])); j++ {
			if isQuoted(own[j]) {
				last = j
			}
		}
		for k := i; k <= last; k++ {
			history[k] = true
		}

		// The attribution is the nearest line above, across blank lines, or
		// the two nearest when the client wrapped it (Gmail's plain text
		// wraps at 78 columns, leaving "wrote:" alone on the next line).
		p := i - 1
		for p >= 0 && !history[p] && isBlank(own[p]) {
			p--
		}
		start := -1
		switch {
		case p < 0 || history[p]:
		case isAttribution(own[p]):
			start = p
		case p > 0 && !history[p-1] && !isBlank(own[p-1]) && !isQuoted(own[p-1]) &&
			isAttribution(own[p-1]+" "+own[p]):
			start = p - 1
		}
		if start >= 0 {
			for k := start; k < i; k++ {
				history[k] = true
			}
		}
		i = last + 1
	}
}

// findCut returns the index in own of the first line where history starts
// and runs to the end of the text, or -1. Lines already in history (quoted
// blocks) are skipped, so the header window below counts only the lines left.
func findCut(own []string, history []bool) int {
	var rest []int
	for i := range own {
		if !history[i] {
			rest = append(rest, i)
		}
	}
	for r, i := range rest {
		l := own[i]
		// An attribution still here introduces no "> " block: the client
		// quoted without marks (HTML converted to text), so the history is
		// everything after it. Only one-line attributions count here; a
		// wrapped one is trusted only when quoted lines follow it.
		if isOriginalSeparator(l) || isAttribution(l) {
			return i
		}
		if fromLabels[headerLabel(l)] && headerBlockFollows(own, rest[r+1:]) {
			// Outlook draws a line of underscores above the header block.
			for q := r - 1; q >= 0; q-- {
				p := own[rest[q]]
				if isBlank(p) {
					continue
				}
				if isUnderscoreLine(p) {
					return rest[q]
				}
				break
			}
			return i
		}
	}
	return -1
}

// headerWindow is how many non-blank lines after a From line may hold the
// other header lines. Outlook writes From, Sent, To, Cc, Subject; a long To
// or Cc wraps onto more lines.
const headerWindow = 6

// headerBlockFollows reports whether the lines at next (indexes into own)
// hold, within headerWindow non-blank lines, both a date line (Sent:/Date:)
// and a To: or Subject: line: the rest of an Outlook header block.
func headerBlockFollows(own []string, next []int) bool {
	seen, date, to := 0, false, false
	for _, i := range next {
		if seen == headerWindow {
			break
		}
		l := own[i]
		if isBlank(l) {
			continue
		}
		seen++
		label := headerLabel(l)
		date = date || dateLabels[label]
		to = to || toLabels[label]
		if date && to {
			return true
		}
	}
	return false
}

func isQuoted(l string) bool { return strings.HasPrefix(l, ">") }

func isBlank(l string) bool { return strings.TrimSpace(l) == "" }

// trimBlank drops blank lines at both ends.
func trimBlank(lines []string) []string {
	for len(lines) > 0 && isBlank(lines[0]) {
		lines = lines[1:]
	}
	for len(lines) > 0 && isBlank(lines[len(lines)-1]) {
		lines = lines[:len(lines)-1]
	}
	return lines
}
