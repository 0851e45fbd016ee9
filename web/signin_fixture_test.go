package web_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"postdesk/web"
)

// second starts another instance of the web side over the fixture's
// database and clock, as a second process behind a load balancer would be.
func (f *fixture) second(mods ...func(*web.Options)) *fixture {
	f.t.Helper()
	g := &fixture{t: f.t, ctx: f.ctx, st: f.st, svc: f.svc, pwSet: map[string]bool{}}
	var h http.Handler
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	f.t.Cleanup(g.srv.Close)
	opts := &web.Options{Store: f.st, Service: f.svc, PublicURL: g.srv.URL, Secret: testSecret,
		Logger: slog.New(slog.DiscardHandler),
		Now:    func() time.Time { return time.Now().Add(time.Duration(f.offset.Load())) }}
	for _, mod := range mods {
		mod(opts)
	}
	var err error
	if h, err = web.New(opts); err != nil {
		f.t.Fatal(err)
	}
	return g
}
