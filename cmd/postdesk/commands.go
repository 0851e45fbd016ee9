package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"postdesk/config"
	"postdesk/conversation"
	"postdesk/health"
	"postdesk/ingest"
	"postdesk/metrics"
	"postdesk/outbound"
	"postdesk/push"
	"postdesk/retention"
	"postdesk/senderauth"
	"postdesk/signinlink"
	"postdesk/store"
	"postdesk/templates"
	"postdesk/threading"
	"postdesk/trace"
	"postdesk/web"
)

func loadConfig(file string) (*config.Config, error) {
	c, warnings, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		slog.Warn("config", "file", file, "problem", w.String())
	}
	setLogLevel(c.LogLevel)
	return c, nil
}

// configuredStore loads the config and opens its database; the caller closes it.
func configuredStore(ctx context.Context, file string) (*config.Config, *store.Store, error) {
	c, err := loadConfig(file)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, c.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	return c, st, nil
}

func openStore(ctx context.Context, url string) (*store.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return store.Open(ctx, url)
}

func checkConfig(file string, stdout io.Writer) error {
	c, warnings, err := config.Load(file)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(stdout, w.String())
	}
	fmt.Fprintf(stdout, "%s: ok (%d categories, %d roles, %d users, %d mailboxes)\n",
		file, len(c.Categories), len(c.Roles), len(c.Users), len(c.Mailboxes))
	return nil
}

func migrate(ctx context.Context, file string, stdout io.Writer) error {
	_, st, err := configuredStore(ctx, file)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	for _, m := range applied {
		fmt.Fprintf(stdout, "applied %s\n", m)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	}
	return nil
}

func tokenCreate(ctx context.Context, file, email string, stdout io.Writer) error {
	_, st, err := configuredStore(ctx, file)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user %s (users come from the config file, applied by serve)", email)
	} else if err != nil {
		return err
	}
	tok, err := st.CreateAPIToken(ctx, u.ID, "cli")
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// serve migrates, applies the config and runs until ctx ends, then shuts down
// within a grace period.
func serve(ctx context.Context, file string, log *slog.Logger) error {
	c, err := loadConfig(file)
	if err != nil {
		return err
	}
	return runService(ctx, c, log, nil)
}

// devHooks are what `postdesk dev` adds to the service.
type devHooks struct {
	// seed runs once the database is migrated and configured, before
	// anything is served.
	seed func(context.Context, *store.Store, *conversation.Service) error
	// sandboxMail lists the sandbox's captured mail for the web view.
	sandboxMail func() []web.CapturedMail
}

// runService is serve and dev alike; only dev passes hooks.
func runService(ctx context.Context, c *config.Config, log *slog.Logger, dev *devHooks) error {
	st, err := openStore(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		log.Info("migrated", "applied", applied)
	}
	if err := st.ApplyConfig(ctx, c); err != nil {
		return err
	}
	log.Info("config applied", "categories", len(c.Categories), "roles", len(c.Roles), "users", len(c.Users))

	signer, err := threading.NewSigner([]byte(c.Secret))
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	svc := conversation.New(st, &conversation.Options{MessageIDDomain: messageIDDomain(c), Signer: signer, Logger: log,
		SenderAuth: &senderauth.Policy{AuthservIDs: c.SenderAuth.AuthservIDs, RequirePass: c.SenderAuth.RequirePass()}})
	mails, err := templates.Load(c.TemplatesDir)
	if err != nil {
		return fmt.Errorf("templates: %w", err)
	}
	sendOpts := &outbound.Options{Host: c.SMTP.Host, Port: c.SMTP.Port, TLS: c.SMTP.TLS, Sessions: c.SMTP.Sessions,
		Username: c.SMTP.Username, Password: c.SMTP.Password, PublicURL: c.PublicURL, Signer: signer, Templates: mails,
		Conversations: svc, Logger: log.With("component", "outbound")}
	if sendOpts.LinkKeys, err = signinlink.New([]byte(c.Secret)); err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	smtpAuth, smtpTLS, err := mailLogin(c.SMTP.Login, log)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	sendOpts.TLSConfig = smtpTLS
	if smtpAuth != nil {
		sendOpts.Auth = smtpAuth
	}
	if c.Tracing("smtp") {
		relay := net.JoinHostPort(c.SMTP.Host, strconv.Itoa(c.SMTP.Port))
		sendOpts.Trace = func(session int) io.Writer { return trace.Writer(log.With("session", session), "smtp", relay) }
	}
	sender := outbound.New(st, sendOpts)
	if dev != nil && dev.seed != nil {
		if err := dev.seed(ctx, st, svc); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	workers, err := startMailboxes(ctx, c, st, svc, log)
	if err != nil {
		return err
	}
	workers.Go(func(ctx context.Context) {
		if err := sender.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("outbox worker stopped", "err", err)
		}
	})
	// One listening connection wakes every queue's worker the moment a
	// transaction of any instance queues work for it.
	wake := map[string]func(){
		store.ChannelOutbox: sender.Wake,
	}
	workers.Go(func(ctx context.Context) {
		st.Listen(ctx, wake, func() { log.Debug("listening for queued work") }, log.With("component", "listen"))
	})
	defer func() {
		workers.stop()
		workers.Wait()
	}()

	mux := http.NewServeMux()
	checker := &health.Checker{St: st, Relay: sender}
	for _, m := range c.Mailboxes {
		// A worker reports after every poll: with IDLE at least every safety
		// poll, without it every poll_interval. Twice that is stale.
		checker.Mailboxes = append(checker.Mailboxes, health.Mailbox{Name: m.Name,
			MaxAge: 2*max(m.PollInterval.D, ingest.DefaultSafetyPoll) + time.Minute})
	}
	checker.Register(mux)
	if c.IMAPPush.Secret != "" {
		h, err := push.NewHandler(c.IMAPPush.Secret, pushMailboxes(c), st, log.With("component", "push"))
		if err != nil {
			return fmt.Errorf("imap_push: %w", err)
		}
		mux.Handle(push.Path, h)
	}
	// /metrics is on listen, or, with metrics_listen, only there: it need
	// not face the internet.
	var metricsMux *http.ServeMux
	if c.MetricsListen == "" {
		mux.Handle("GET /metrics", metrics.Handler(st))
	} else {
		mux.Handle("/metrics", http.NotFoundHandler()) // rather than the sign-in page
		metricsMux = http.NewServeMux()
		metricsMux.Handle("GET /metrics", metrics.Handler(st))
	}
	// One more listening connection carries every conversation's changes to
	// the open pages of this instance (web/live.go).
	live := web.NewLive(st, svc, log.With("component", "live"))
	workers.Go(live.Run)
	webOpts := &web.Options{Store: st, Service: svc, PublicURL: c.PublicURL, Secret: []byte(c.Secret),
		TemplatesDir: c.TemplatesDir, Logger: log.With("component", "web"), SignIn: signIn(c), Location: c.Location(), Live: live}
	if dev != nil {
		webOpts.SandboxMail = dev.sandboxMail
	}
	if webOpts.TrustedProxies, err = trustedProxies(c.TrustedProxies); err != nil {
		return err
	}
	pages, err := web.New(webOpts)
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	mux.Handle("/", pages)
	eps := []endpoint{{key: "listen", addr: c.Listen, h: metrics.Instrument(mux)}}
	if metricsMux != nil {
		eps = append(eps, endpoint{key: "metrics_listen", addr: c.MetricsListen, h: metricsMux})
	}
	return serveHTTP(ctx, log, eps, "public_url", c.PublicURL, "database", redactURL(c.DatabaseURL))
}

// endpoint is one address served, named by its config key.
type endpoint struct {
	key, addr string
	h         http.Handler
}

// serveHTTP listens on every endpoint (all of them, or it fails before
// serving any), logs "serving" with their addresses and logAttrs, and serves
// until ctx ends; then it shuts them all down within a grace period.
func serveHTTP(ctx context.Context, log *slog.Logger, eps []endpoint, logAttrs ...any) error {
	var srvs []*http.Server
	errc := make(chan error, len(eps))
	attrs := []any{}
	for _, ep := range eps {
		ln, err := net.Listen("tcp", ep.addr)
		if err != nil {
			for _, srv := range srvs {
				srv.Close()
			}
			return fmt.Errorf("%s: %w", ep.key, err)
		}
		srv := &http.Server{Handler: ep.h, ReadHeaderTimeout: 10 * time.Second}
		srvs = append(srvs, srv)
		go func() { errc <- srv.Serve(ln) }()
		attrs = append(attrs, ep.key, ln.Addr().String())
	}
	log.Info("serving", append(attrs, logAttrs...)...)

	select {
	case <-ctx.Done():
	case err := <-errc:
		for _, srv := range srvs {
			srv.Close()
		}
		return fmt.Errorf("http: %w", err)
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, srv := range srvs {
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	log.Info("stopped")
	return nil
}

// redactURL hides a password in a connection URL before it is logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if strings.Contains(raw, "password=") {
			return "(connection string)"
		}
		return raw
	}
	return u.Redacted()
}

// userPassword sets a user's web password: asked twice without echo on a
// terminal, or read as one line from a pipe (for scripts).
func userPassword(ctx context.Context, file, email string, stdin *os.File, stdout io.Writer) error {
	_, st, err := configuredStore(ctx, file)
	if err != nil {
		return err
	}
	defer st.Close()
	var pw string
	if term.IsTerminal(int(stdin.Fd())) {
		fmt.Fprintf(stdout, "New password for %s: ", email)
		a, err := term.ReadPassword(int(stdin.Fd()))
		fmt.Fprintln(stdout)
		if err != nil {
			return fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stdout, "Again: ")
		b, err := term.ReadPassword(int(stdin.Fd()))
		fmt.Fprintln(stdout)
		if err != nil {
			return fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return errors.New("the passwords differ; nothing was changed")
		}
		pw = string(a)
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read password from standard input: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if err := web.SetPassword(ctx, st, email, pw); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user %s (users come from the config file, applied by serve)", email)
		}
		return err
	}
	fmt.Fprintf(stdout, "password set for %s; their other sessions have ended\n", email)
	return nil
}

// purge runs the retention purge once, now; --dry-run lists what would go.
func purge(ctx context.Context, file string, dryRun bool, stdout io.Writer, log *slog.Logger) error {
	c, st, err := configuredStore(ctx, file)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := newRetention(c, st, log)
	if err != nil {
		return err
	}
	actor := "cli"
	if u := os.Getenv("USER"); u != "" {
		actor = "cli:" + u
	}
	rep, err := r.PurgeNow(ctx, dryRun, actor)
	if rep != nil {
		rep.Write(stdout)
	}
	if errors.Is(err, retention.ErrRunning) {
		return errors.New("another purge is running; try again later")
	}
	return err
}
