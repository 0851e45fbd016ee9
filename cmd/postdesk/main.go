// Command postdesk is the one binary: it serves, migrates and administers.
// This file is wiring only; the rules live in the packages it calls.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"postdesk/buildinfo"
)

const usage = `usage: postdesk COMMAND [--config FILE]

commands:
  serve                      run the service (migrates and applies the config first)
  dev [--listen A] [--imap A] [--smtp A]
                             run the service on embedded demo settings with a local
                             IMAP/SMTP sandbox; no config needed
  migrate                    apply database migrations
  purge [--dry-run]          delete what has passed its retention now (--dry-run: only list it)
  check-config               check the config file and name every mistake
  version                    print the version, commit and build time
  oauth login --mailbox NAME | --smtp
                             sign a mailbox (or the SMTP relay's user) in with OAuth2
                             (device flow) and save its refresh token
  token create --user EMAIL  print a new API token for a user
  user password --user EMAIL set a user's web password (asked on a terminal, or one line on stdin)
  user reset-mfa --user EMAIL remove a user's second factor (TOTP) and recovery codes, end their sessions
  person export --email ADDRESS --out FILE.zip [--with-notes]
                             everything about one person (GDPR Art. 15), as a zip
  person erase --email ADDRESS [--dry-run]
                             delete or anonymise everything about one person (GDPR Art. 17)

--config defaults to postdesk.yaml.
`

// errUsage marks a mistake in the command line; main prints the usage for it.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "postdesk: %v\n\n%s", err, usage)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "postdesk: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command", errUsage)
	}
	cmd, args := args[0], args[1:]
	if cmd == "token" || cmd == "user" || cmd == "oauth" || cmd == "person" {
		if len(args) == 0 {
			return fmt.Errorf("%w: %s needs a subcommand", errUsage, cmd)
		}
		cmd, args = cmd+" "+args[0], args[1:]
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configFile := fs.String("config", "postdesk.yaml", "config file")
	userEmail := fs.String("user", "", "user email")
	mailboxName := fs.String("mailbox", "", "oauth login: the mailbox")
	dryRun := fs.Bool("dry-run", false, "purge, person erase: list what would go, delete nothing")
	personEmail := fs.String("email", "", "person export|erase: the person's address")
	outFile := fs.String("out", "", "person export: the zip file to write")
	withNotes := fs.Bool("with-notes", false, "person export: include internal notes and delivery reports")
	devListen := fs.String("listen", "127.0.0.1:8080", "dev: web address")
	devIMAP := fs.String("imap", "127.0.0.1:1143", "dev: sandbox IMAP address")
	// --smtp is dev's sandbox address and oauth login's choice of the relay.
	devSMTP, smtpLogin := new(string), new(bool)
	if cmd == "dev" {
		fs.StringVar(devSMTP, "smtp", "127.0.0.1:2525", "dev: sandbox SMTP address")
	} else {
		fs.BoolVar(smtpLogin, "smtp", false, "oauth login: the smtp relay's login")
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected %q", errUsage, fs.Arg(0))
	}
	log := newLogger(stderr)
	switch cmd {
	case "serve":
		return serve(ctx, *configFile, log)
	case "dev":
		return dev(ctx, devOptions{Listen: *devListen, IMAP: *devIMAP, SMTP: *devSMTP}, stdout, log)
	case "migrate":
		return migrate(ctx, *configFile, stdout)
	case "purge":
		return purge(ctx, *configFile, *dryRun, stdout, log)
	case "check-config":
		return checkConfig(*configFile, stdout)
	case "version":
		fmt.Fprintln(stdout, buildinfo.Read())
		return nil
	case "oauth login":
		if (*mailboxName == "") == !*smtpLogin {
			return fmt.Errorf("%w: oauth login needs --mailbox NAME or --smtp", errUsage)
		}
		return oauthLogin(ctx, *configFile, *mailboxName, stdout)
	case "token create":
		if *userEmail == "" {
			return fmt.Errorf("%w: token create needs --user EMAIL", errUsage)
		}
		return tokenCreate(ctx, *configFile, *userEmail, stdout)
	case "person export":
		if *personEmail == "" || *outFile == "" {
			return fmt.Errorf("%w: person export needs --email ADDRESS --out FILE.zip", errUsage)
		}
		return personExport(ctx, *configFile, *personEmail, *outFile, *withNotes, stdout)
	case "person erase":
		if *personEmail == "" {
			return fmt.Errorf("%w: person erase needs --email ADDRESS", errUsage)
		}
		return personErase(ctx, *configFile, *personEmail, *dryRun, stdout)
	case "user password":
		if *userEmail == "" {
			return fmt.Errorf("%w: user password needs --user EMAIL", errUsage)
		}
		return userPassword(ctx, *configFile, *userEmail, os.Stdin, stdout)
	case "user reset-mfa":
		if *userEmail == "" {
			return fmt.Errorf("%w: user reset-mfa needs --user EMAIL", errUsage)
		}
		return userResetMFA(ctx, *configFile, *userEmail, stdout)
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// logLevel is the level of the loggers newLogger makes; loadConfig sets it
// from log_level once the config is read (info until then).
var logLevel = new(slog.LevelVar)

// newLogger writes text to a terminal and JSON to anything else (journald,
// files, collectors), so both people and machines read it well.
func newLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevel}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, opts))
		}
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// setLogLevel applies log_level (checked by config: debug, info, warn, error).
func setLogLevel(level string) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err == nil {
		logLevel.Set(l)
	}
}
