package mailparse

import (
	"path"
	"strings"
	"unicode/utf8"
)

// cleanFilename reduces a sender's file name to a base name that is safe to
// offer for download: no directories (either slash), no control or bidi
// override characters (which disguise "invoice\u202Efdp.exe" as a PDF), no
// leading dots that would hide the file or name a parent directory, at most
// MaxFilenameBytes (within what every file system accepts) with the extension
// kept. cut tells that the name was shortened.
func cleanFilename(name string) (clean string, cut bool) {
	name = sanitize(name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
			return -1
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ". ")
	if len(name) > MaxFilenameBytes {
		ext := path.Ext(name)
		if len(ext) > 16 || !utf8.ValidString(ext) {
			ext = ""
		}
		base, _ := cutString(name, MaxFilenameBytes-len(ext))
		return base + ext, true
	}
	return name, false
}

// defaultNames are the names of attachments that arrive without one.
var defaultNames = map[string]string{
	"application/ms-tnef":              "winmail.dat",
	"application/vnd.ms-tnef":          "winmail.dat",
	"message/rfc822":                   "message.eml",
	"message/global":                   "message.eml",
	"message/delivery-status":          "delivery-status.txt",
	"message/disposition-notification": "disposition-notification.txt",
	"text/rfc822-headers":              "headers.txt",
	"text/calendar":                    "invite.ics",
	"application/pgp-signature":        "signature.asc",
	"application/pkcs7-signature":      "smime.p7s",
	"application/x-pkcs7-signature":    "smime.p7s",
}

// extensions maps media types to the extension of a made-up name.
var extensions = map[string]string{
	"application/pdf":          ".pdf",
	"application/rtf":          ".rtf",
	"application/zip":          ".zip",
	"application/gzip":         ".gz",
	"application/json":         ".json",
	"application/xml":          ".xml",
	"application/msword":       ".doc",
	"application/vnd.ms-excel": ".xls",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   ".docx",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         ".xlsx",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
	"application/vnd.oasis.opendocument.text":                                   ".odt",
	"application/vnd.oasis.opendocument.spreadsheet":                            ".ods",
	"text/plain":    ".txt",
	"text/html":     ".html",
	"text/csv":      ".csv",
	"text/xml":      ".xml",
	"text/vcard":    ".vcf",
	"text/x-vcard":  ".vcf",
	"image/jpeg":    ".jpg",
	"image/pjpeg":   ".jpg",
	"image/png":     ".png",
	"image/gif":     ".gif",
	"image/webp":    ".webp",
	"image/bmp":     ".bmp",
	"image/tiff":    ".tif",
	"image/heic":    ".heic",
	"image/svg+xml": ".svg",
	"audio/mpeg":    ".mp3",
	"video/mp4":     ".mp4",
}

// defaultFilename makes up a name from the media type: "attachment.pdf",
// "image.png". The table is built in, not mime.ExtensionsByType, whose answer
// depends on the host's mime.types.
func defaultFilename(typ string) string {
	if n, ok := defaultNames[typ]; ok {
		return n
	}
	base := "attachment"
	if strings.HasPrefix(typ, "image/") {
		base = "image"
	}
	ext, ok := extensions[typ]
	if !ok {
		ext = ".bin"
	}
	return base + ext
}
