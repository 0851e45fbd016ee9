package templates

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// webEmbedded holds the web view's page templates (*.html, html/template,
// each parsed with layout.html) and its static assets (static/style.css,
// static/app.js).
//
//go:embed web
var webEmbedded embed.FS

// WebFS returns the web view's files rooted at the web folder: page templates
// at the top, static assets under static/. When dir (the config's
// templates_dir) is not empty, a file at dir/web/NAME replaces the embedded
// NAME and every other file still comes from the binary. A file under dir/web
// that names no embedded file is an error, so that a typo is not ignored in
// silence; dir/web itself may be missing.
func WebFS(dir string) (fs.FS, error) {
	sub, err := fs.Sub(webEmbedded, "web")
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return sub, nil
	}
	top := filepath.Join(dir, "web")
	err = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != top {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(top, p)
		if err != nil {
			return err
		}
		if st, err := fs.Stat(sub, filepath.ToSlash(rel)); err != nil || st.IsDir() {
			return fmt.Errorf("templates_dir: %s: no embedded web file of that name (want one of %s)", p, strings.Join(webNames(sub), ", "))
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return sub, nil
	}
	if err != nil {
		return nil, err
	}
	return webOverlayFS{top: os.DirFS(top), base: sub}, nil
}

// webNames lists the embedded web files, for error messages.
func webNames(sub fs.FS) []string {
	var ns []string
	fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error { //nolint:errcheck // embedded
		if err == nil && !d.IsDir() {
			ns = append(ns, p)
		}
		return nil
	})
	return ns
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
