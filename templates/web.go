package templates

import (
	"embed"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// webEmbedded holds the web view's page templates (*.html) and its static
// assets (static/): the layout, one template per page, the stylesheet and the
// one small script.
//
//go:embed web
var webEmbedded embed.FS

// WebFS returns the web view's files rooted at the web folder: page templates
// at the top, static assets under static/. When dir is not empty, a file at
// dir/web/NAME overrides the embedded NAME (so templates_dir holds the same
// layout as this package: mail/ and web/); every file not overridden comes
// from the binary.
func WebFS(dir string) fs.FS {
	sub, err := fs.Sub(webEmbedded, "web")
	if err != nil {
		panic(err) // the embedded folder always exists
	}
	if dir == "" {
		return sub
	}
	return webOverlayFS{top: os.DirFS(filepath.Join(dir, "web")), base: sub}
}

// webOverlayFS reads a file from top when it is there, otherwise from base.
type webOverlayFS struct {
	top, base fs.FS
}

func (o webOverlayFS) Open(name string) (fs.File, error) {
	f, err := o.top.Open(name)
	if err == nil {
		if st, serr := f.Stat(); serr == nil && !st.IsDir() {
			return f, nil
		}
		f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return o.base.Open(name)
}
