package web

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"postdesk/store"
)

// attachmentPage serves a file to a user who may see its conversation.
func (s *server) attachmentPage(w http.ResponseWriter, r *http.Request, rq *request) {
	at, data, err := s.svc.Attachment(r.Context(), rq.actor, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, rq, err)
		return
	}
	serveAttachment(w, at, data)
}

// safeTypes are served under their own content type; every other file,
// above all text/html and image/svg+xml, which could run script in
// postdesk's origin, goes out as application/octet-stream.
var safeTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/bmp": true,
	"application/pdf": true, "text/plain": true, "text/csv": true,
	"application/zip": true, "application/msword": true, "application/vnd.ms-excel": true,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   true,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         true,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": true,
	"application/vnd.oasis.opendocument.text":                                   true,
	"application/vnd.oasis.opendocument.spreadsheet":                            true,
}

// safeContentType is the type a stored file is served with.
func safeContentType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !safeTypes[strings.ToLower(mt)] {
		return "application/octet-stream"
	}
	return strings.ToLower(mt)
}

// serveAttachment writes a file as a download: Content-Disposition attachment
// with an ASCII filename and the exact one in filename* (RFC 6266, RFC 8187),
// a safe content type, nosniff, and a policy that lets nothing in it run.
func serveAttachment(w http.ResponseWriter, at *store.Attachment, data []byte) {
	h := w.Header()
	h.Set("Content-Type", safeContentType(at.ContentType))
	h.Set("Content-Disposition", contentDisposition(at.Filename))
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(data) //nolint:errcheck
}

// contentDisposition builds `attachment; filename="..."; filename*=UTF-8”...`.
func contentDisposition(name string) string {
	if name == "" {
		name = "attachment"
	}
	var ascii, ext strings.Builder
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || r > 0x7e || strings.ContainsRune(`"\%;<>:/|?*`, r):
			ascii.WriteByte('_')
		default:
			ascii.WriteRune(r)
		}
	}
	for _, b := range []byte(name) {
		if isAttrChar(b) {
			ext.WriteByte(b)
		} else {
			ext.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(b)|0x100, 16)[1:]))
		}
	}
	return `attachment; filename="` + ascii.String() + `"; filename*=UTF-8''` + ext.String()
}

// isAttrChar is RFC 8187's attr-char: what filename* keeps unencoded.
func isAttrChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", b) >= 0
}
