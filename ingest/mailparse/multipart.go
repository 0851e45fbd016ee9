package mailparse

import "bytes"

// splitMultipart cuts a multipart body at its delimiter lines (RFC 2046
// section 5.1.1). The preamble and epilogue are dropped, and the line end
// before a delimiter belongs to the delimiter. Parts are sub-slices of body.
// closed is false when the close delimiter is missing, as in a truncated
// mail; the last part then runs to the end of body. At most max parts are
// returned: a mail of a million empty parts must not cost a million slices
// when only a few hundred will be read.
//
// go-message's multipart reader streams the same thing, but stops for good at
// a part whose header it cannot read; with the whole mail in memory, slicing
// keeps the parts after a damaged one and copies nothing.
func splitMultipart(body []byte, boundary string, max int) (parts [][]byte, closed bool) {
	delim := []byte("--" + boundary)
	start := -1
	for i := 0; i < len(body); {
		j := bytes.Index(body[i:], delim)
		if j < 0 {
			break
		}
		j += i
		i = j + 1
		if j > 0 && body[j-1] != '\n' {
			continue
		}
		k := j + len(delim)
		isClose := bytes.HasPrefix(body[k:], []byte("--"))
		if isClose {
			k += 2
		}
		line, next := cutLine(body, k)
		if len(bytes.Trim(line, " \t")) > 0 {
			continue // "--boundaryX" is another boundary, not this one
		}
		if start >= 0 {
			end := j
			if end > start && body[end-1] == '\n' {
				end--
				if end > start && body[end-1] == '\r' {
					end--
				}
			}
			parts = append(parts, body[start:end])
		}
		if isClose || len(parts) >= max {
			return parts, true
		}
		start, i = next, next
	}
	if start >= 0 {
		parts = append(parts, body[start:])
	}
	return parts, false
}
