package mailparse

import "bytes"

// split is a multipart body cut at its delimiter lines.
type split struct {
	parts  [][]byte // sub-slices of the body
	closed bool     // the close delimiter was found
	padded bool     // a delimiter line had text after the boundary
}

// splitMultipart cuts a multipart body at its delimiter lines (RFC 2046
// section 5.1.1). The preamble and epilogue are dropped, and the line end
// before a delimiter belongs to the delimiter. closed is false when the close
// delimiter is missing, as in a truncated mail; the last part then runs to
// the end of body. At most max parts are returned: a mail of a million empty
// parts must not cost a million slices when only a few hundred will be read.
//
// A delimiter line may end in white space (the transport padding of section
// 5.1.1) and then any text, as mime4j and Thunderbird accept, but the
// boundary itself must end there: "--abc-1" is the delimiter of a nested
// boundary "abc-1", not of "abc". Only when that finds no delimiter at all is
// every line that starts with "--" and the boundary taken as one.
//
// go-message's multipart reader streams the same thing, but stops for good at
// a part whose header it cannot read; with the whole mail in memory, slicing
// keeps the parts after a damaged one and copies nothing.
func splitMultipart(body []byte, boundary string, max int) split {
	sp := splitAt(body, boundary, max, false)
	if len(sp.parts) == 0 {
		if loose := splitAt(body, boundary, max, true); len(loose.parts) > 0 {
			loose.padded = true
			return loose
		}
	}
	return sp
}

func splitAt(body []byte, boundary string, max int, loose bool) split {
	var sp split
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
		switch {
		case len(bytes.Trim(line, " \t")) == 0:
		case line[0] == ' ' || line[0] == '\t' || loose:
			sp.padded = true
		default:
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
			sp.parts = append(sp.parts, body[start:end])
		}
		if isClose || len(sp.parts) >= max {
			sp.closed = true
			return sp
		}
		start, i = next, next
	}
	if start >= 0 {
		sp.parts = append(sp.parts, body[start:])
	}
	return sp
}
