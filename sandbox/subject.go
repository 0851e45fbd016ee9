package sandbox

import "mime"

// mimeWordDecoder decodes RFC 2047 subjects for the captured-mail list.
type mimeWordDecoder struct{ mime.WordDecoder }

func (d *mimeWordDecoder) decode(s string) string {
	out, err := d.DecodeHeader(s)
	if err != nil {
		return s
	}
	return out
}
