// Package dovecottest starts a private Dovecot IMAP server for tests.
//
// Each call to Start runs its own Dovecot master process with its own
// dovecot.conf, passwd-file, base_dir, state_dir, log and maildirs, all under a
// t.TempDir folder, listening on free ports on 127.0.0.1 only. Nothing of the
// system's Dovecot configuration is read or touched, and the server is stopped
// by t.Cleanup.
//
// Run as root (the usual case in CI containers), the master runs as root, the
// login and internal processes as Debian's dovenull and dovecot, and the mail
// as the unprivileged SystemUser. Run as another user, everything runs as
// that user.
//
// Dovecot must be installed (Debian package dovecot-imapd); run
// scripts/install-deps. A missing binary fails the test, it does not skip it:
// the IMAP integration tests are part of the suite, not optional extras.
//
// Mail appended to a folder reaches an idling client about 500 ms later:
// Dovecot delays each file-system notification by a fixed NOTIFY_DELAY_MSECS
// (lib-storage/mailbox-watch.c) to gather a burst of changes into one, and
// no setting changes that (mailbox_idle_check_interval takes whole seconds,
// "Milliseconds not supported", and only adds a slower fallback check that
// each notification restarts; imap_idle_notify_interval is the keep-alive).
// Timings through IDLE include it; ingest's BenchmarkMailToNotification
// reports it apart.
//
// The config is written for Dovecot 2.3 (Debian 12, tested) or 2.4 (Debian 13,
// written from the 2.4 documentation, not tested here), chosen by the output of
// `dovecot --version`.
package dovecottest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// User is one IMAP account of the test server.
type User struct {
	Name, Password string
}

// DefaultUser is the account created when Start is given no users.
var DefaultUser = User{Name: "test", Password: "test"}

// SystemUser is the unprivileged system account that owns the mail files when
// the tests run as root. Start creates it with useradd when it is missing and
// falls back to nobody/nogroup when that fails.
const SystemUser = "postdesk-test"

// Server is a running private Dovecot instance.
type Server struct {
	// Addr is "127.0.0.1:port" of the plain-text IMAP listener (STARTTLS is
	// offered on it too); Host and Port are its parts.
	Addr string
	Host string
	Port int
	// TLSAddr and TLSPort name the implicit-TLS (IMAPS) listener, which uses
	// a self-signed certificate for 127.0.0.1 and "localhost"; RootCAs trusts it.
	TLSAddr string
	TLSPort int
	RootCAs *x509.CertPool
	// Dir is the instance folder (config, log, mail); Version is the output
	// of `dovecot --version`.
	Dir     string
	Version string

	bin   string
	conf  string
	log   string
	users map[string]string
	cmd   *exec.Cmd
	done  chan struct{} // closed when the master process has exited
}

// TLSConfig returns a client TLS config that trusts the server's certificate.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.RootCAs, ServerName: s.Host}
}

// Password returns the password of a user of this server.
func (s *Server) Password(t testing.TB, name string) string {
	t.Helper()
	pw, ok := s.users[name]
	if !ok {
		t.Fatalf("dovecottest: no user %q", name)
	}
	return pw
}

// Log returns the Dovecot log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

var startMu sync.Mutex // serialises useradd and port picking between parallel tests

// Start starts a private Dovecot instance with the given users (DefaultUser
// when none) and stops it when the test ends. It fails the test when Dovecot
// is not installed or does not start.
func Start(t testing.TB, users ...User) *Server {
	t.Helper()
	return StartWith(t, &Options{Users: users})
}

// Options are the settings of StartWith.
type Options struct {
	Users []User // DefaultUser when none
	// OAuth2Introspection, when set, adds the XOAUTH2 and OAUTHBEARER
	// mechanisms, checked by Dovecot's oauth2 passdb at this RFC 7662
	// introspection endpoint (introspection_mode = post): the token must be
	// active and its "username" the user's name. The users keep their
	// passwords for PLAIN and LOGIN.
	OAuth2Introspection string
	// PushScript, when set, is a Lua script for the push_notification_lua
	// driver (push.DovecotScript), loaded for IMAP with PushSettings as its
	// plugin settings (Dovecot 2.3 only).
	PushScript   string
	PushSettings map[string]string
}

// StartWith is Start with options.
func StartWith(t testing.TB, o *Options) *Server {
	t.Helper()
	s, err := Launch(t.TempDir(), o)
	if err != nil {
		t.Fatalf("dovecottest: %v", err)
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// Launch starts a private Dovecot instance in dir, an existing empty folder,
// for a caller that is not a test (the soak harness, internal/cmd/soak): the
// caller ends it with Kill. Start and StartWith are Launch with the test's
// temporary folder and cleanup.
func Launch(dir string, o *Options) (*Server, error) {
	users := o.Users
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/dovecot"); err2 == nil {
			bin = "/usr/sbin/dovecot"
		} else {
			return nil, errors.New("the dovecot binary is missing (not on PATH, not /usr/sbin/dovecot): run scripts/install-deps")
		}
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %w", bin, err)
	}
	version := strings.TrimSpace(string(out))
	v24, err := atLeast24(version)
	if err != nil {
		return nil, err
	}

	if len(users) == 0 {
		users = []User{DefaultUser}
	}
	pw := make(map[string]string)
	for _, u := range users {
		if u.Name == "" || strings.ContainsAny(u.Name, ":\r\n\t @%/") || strings.ContainsAny(u.Password, ":\r\n") {
			return nil, fmt.Errorf("unusable user %q (name must be non-empty without ':', space, '@', '%%', '/'; password without ':' or newlines)", u.Name)
		}
		pw[u.Name] = u.Password
	}

	acct, err := accounts()
	if err != nil {
		return nil, err
	}

	// The unprivileged Dovecot processes (login, imap as the mail user) must
	// reach the folder: testing creates TempDir and its parent with mode 0700.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"run", "state", "mail", "home"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"mail", "home"} {
		if err := chown(filepath.Join(dir, d), acct); err != nil {
			return nil, err
		}
	}
	certPool, err := writeCert(dir)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	var passwd strings.Builder
	for _, u := range users {
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s:%d:%d::%s::\n", u.Name, u.Password, acct.uid, acct.gid, filepath.Join(dir, "home", u.Name))
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd.String()), 0o644); err != nil {
		return nil, err
	}

	oauth2Conf := ""
	if o.OAuth2Introspection != "" {
		oauth2Conf = filepath.Join(dir, "dovecot-oauth2.conf.ext")
		// force_introspection: there is no tokeninfo_url; Dovecot goes to
		// the introspection endpoint for every login (no auth cache is set).
		ext := fmt.Sprintf("introspection_mode = post\nintrospection_url = %s\nforce_introspection = yes\n"+
			"username_attribute = username\nactive_attribute = active\nactive_value = true\n", o.OAuth2Introspection)
		if err := os.WriteFile(oauth2Conf, []byte(ext), 0o644); err != nil {
			return nil, err
		}
	}
	pushConf := ""
	if o.PushScript != "" {
		if v24 {
			return nil, fmt.Errorf("the push configuration is written for Dovecot 2.3 only (this is %s)", version)
		}
		script := filepath.Join(dir, "push.lua")
		if err := os.WriteFile(script, []byte(o.PushScript), 0o644); err != nil {
			return nil, err
		}
		pushConf = pushConfig(script, o.PushSettings)
	}
	s := &Server{
		Host:    "127.0.0.1",
		RootCAs: certPool,
		Dir:     dir,
		Version: version,
		bin:     bin,
		conf:    filepath.Join(dir, "dovecot.conf"),
		log:     filepath.Join(dir, "dovecot.log"),
		users:   pw,
	}

	// A free port found by listening on :0 may be taken again before Dovecot
	// binds it; try a few times.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			return nil, err
		}
		s.Port, s.TLSPort = ports[0], ports[1]
		s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
		s.TLSAddr = net.JoinHostPort(s.Host, strconv.Itoa(s.TLSPort))
		conf := config23(dir, acct, s.Port, s.TLSPort, oauth2Conf) + pushConf
		if v24 {
			if oauth2Conf != "" {
				return nil, fmt.Errorf("the oauth2 passdb is written for Dovecot 2.3 only (this is %s)", version)
			}
			conf = config24(dir, acct, s.Port, s.TLSPort)
		}
		if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		if lastErr = s.start(bin); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		return nil, fmt.Errorf("%w\n--- %s:\n%s", lastErr, s.log, s.Log())
	}
	return s, nil
}

// Kill ends the Dovecot of Launch at once (SIGKILL to its process group), as
// a crash or a pulled plug would; Restart starts it again.
func (s *Server) Kill() {
	select {
	case <-s.done:
	default:
		s.kill()
	}
}

// Restart starts a killed server again with the same config, ports and mail.
func (s *Server) Restart() error {
	s.Kill()
	return s.start(s.bin)
}

func (s *Server) start(bin string) error {
	_ = os.Remove(s.log)
	// -F keeps the master in the foreground, so it is our child process and
	// cannot outlive the test binary unnoticed.
	cmd := exec.Command(bin, "-F", "-c", s.conf)
	var stderr strings.Builder
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dovecot: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("dovecot exited at start: %s", strings.TrimSpace(stderr.String()))
		default:
		}
		ok1 := greets(s.Addr)
		ok2 := ok1 && greetsTLS(s.TLSAddr, s.TLSConfig())
		if ok1 && ok2 {
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("dovecot did not accept connections on %s and %s within 15s: %s", s.Addr, s.TLSAddr, strings.TrimSpace(stderr.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func greets(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "* OK")
}

func greetsTLS(addr string, cfg *tls.Config) bool {
	d := &net.Dialer{Timeout: time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "* OK")
}

func (s *Server) stop(t testing.TB) {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.done:
		t.Errorf("dovecottest: dovecot exited before the test ended\n--- %s:\n%s", s.log, s.Log())
		return
	default:
	}
	// A graceful SIGTERM costs about a second per instance (the master waits
	// for its children); the mail of a finished test is worthless, so kill
	// the whole process group and wait until it is gone.
	s.kill()
}

// kill ends the master and every process of its group (all of Dovecot's
// children stay in the group the master leads) and waits for them to go.
func (s *Server) kill() {
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-s.done
	// The children are reaped by init, not by us, which may take a while:
	// wait (bounded) until no live (non-zombie) process of the group is left,
	// so that nothing writes into the temp folder while it is removed.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		if !groupAlive(pgid) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// groupAlive reports whether a process of the group is alive and not a
// zombie, from /proc (Linux). Without /proc it answers false.
func groupAlive(pgid int) bool {
	if errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
		return false
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces and ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) < 3 || fields[0] == "Z" || fields[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(fields[2]); g == pgid {
			return true
		}
	}
	return false
}

// account is who owns the mail files and which users the Dovecot processes
// run as.
type account struct {
	uid, gid       int
	loginUser      string // default_login_user
	internalUser   string // default_internal_user
	group          string // default_internal_group when not root
	runningAsOwner bool   // not root: everything runs as the current user
}

func accounts() (account, error) {
	if os.Getuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return account{}, err
		}
		g, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
		if err != nil {
			return account{}, err
		}
		return account{uid: os.Getuid(), gid: os.Getgid(), loginUser: u.Username, internalUser: u.Username, group: g.Name, runningAsOwner: true}, nil
	}
	startMu.Lock()
	defer startMu.Unlock()
	a := account{loginUser: "dovenull", internalUser: "dovecot"}
	mail, err := user.Lookup(SystemUser)
	if err != nil {
		// Another test binary may create it at the same moment: look again
		// whatever useradd says.
		_ = exec.Command("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
			"--shell", "/usr/sbin/nologin", "--user-group", SystemUser).Run()
		mail, err = user.Lookup(SystemUser)
	}
	if err != nil {
		mail, err = user.Lookup("nobody")
		if err != nil {
			return account{}, fmt.Errorf("no user %s and no nobody: %v", SystemUser, err)
		}
	}
	a.uid, _ = strconv.Atoi(mail.Uid)
	a.gid, _ = strconv.Atoi(mail.Gid)
	// Debian's dovecot-core creates dovenull and dovecot; without them use
	// the mail user for the login and internal processes as well.
	if _, err := user.Lookup("dovenull"); err != nil {
		a.loginUser = mail.Username
	}
	if _, err := user.Lookup("dovecot"); err != nil {
		a.internalUser = mail.Username
	}
	return a, nil
}

func chown(path string, a account) error {
	if a.runningAsOwner {
		return nil
	}
	return os.Chown(path, a.uid, a.gid)
}

// config23 is a complete dovecot.conf for Dovecot 2.3: nothing is included
// from /etc/dovecot.
func config23(dir string, a account, port, tlsPort int, oauth2Conf string) string {
	mechs, oauthPassdb, passwdMechs := "plain login", "", ""
	if oauth2Conf != "" {
		// The passwords are for PLAIN and LOGIN only: a token refused by
		// the oauth2 passdb must not be tried as a password.
		mechs, passwdMechs = "plain login xoauth2 oauthbearer", "  mechanisms = plain login\n"
		oauthPassdb = fmt.Sprintf("auth_failure_delay = 0\n# no auth penalty for the tests' failed logins\nlogin_trusted_networks = 127.0.0.0/8\npassdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = %s\n}\n", oauth2Conf)
	}
	return fmt.Sprintf(`# written by postdesk/internal/dovecottest for Dovecot 2.3
instance_name = dovecottest-%[2]d
protocols = imap
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
info_log_path = %[1]s/dovecot.log
debug_log_path = %[1]s/dovecot.log
default_login_user = %[4]s
default_internal_user = %[5]s
first_valid_uid = 1
first_valid_gid = 1
%[6]s
ssl = yes
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
disable_plaintext_auth = no
auth_mechanisms = %[7]s
%[8]spassdb {
  driver = passwd-file
%[9]s  args = scheme=PLAIN username_format=%%n %[1]s/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%%n %[1]s/passwd
}
mail_location = maildir:%[1]s/mail/%%n
namespace inbox {
  inbox = yes
  separator = /
}
protocol imap {
  # tests open many sessions for one user at once (default 10)
  mail_max_userip_connections = 1000
}
service imap-login {
  chroot =
  inet_listener imap {
    port = %[2]d
  }
  inet_listener imaps {
    port = %[3]d
    ssl = yes
  }
}
service anvil {
  chroot =
}
`, dir, port, tlsPort, a.loginUser, a.internalUser, nonRoot(a, false), mechs, oauthPassdb, passwdMechs)
}

// pushConfig loads Dovecot's Lua push driver with script for IMAP sessions
// (APPEND is how tests deliver mail).
func pushConfig(script string, settings map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mail_plugins = $mail_plugins mail_lua notify push_notification push_notification_lua\nplugin {\n  push_notification_driver = lua:file=%s\n", script)
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s = %s\n", k, settings[k])
	}
	b.WriteString("}\n")
	return b.String()
}

// nonRoot is the config a non-root master needs: every process and socket
// belongs to the current user and group.
func nonRoot(a account, v24 bool) string {
	if !a.runningAsOwner {
		return ""
	}
	set := "$default_internal_user"
	if v24 {
		set = "$SET:default_internal_user"
	}
	return fmt.Sprintf("default_internal_group = %s\nservice auth {\n  user = %s\n}\nservice auth-worker {\n  user = %s\n}\n", a.group, set, set)
}

// config24 is the same for Dovecot 2.4, whose setting names changed
// (dovecot_config_version, auth_allow_cleartext, mail_driver/mail_path,
// named passdb/userdb blocks, ssl_server_*_file).
func config24(dir string, a account, port, tlsPort int) string {
	return fmt.Sprintf(`dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
# written by postdesk/internal/dovecottest for Dovecot 2.4
instance_name = dovecottest-%[2]d
protocols = imap
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
info_log_path = %[1]s/dovecot.log
debug_log_path = %[1]s/dovecot.log
default_login_user = %[4]s
default_internal_user = %[5]s
first_valid_uid = 1
first_valid_gid = 1
%[6]s
ssl = yes
ssl_server_cert_file = %[1]s/cert.pem
ssl_server_key_file = %[1]s/key.pem
auth_allow_cleartext = yes
auth_mechanisms = plain login
passdb passwd-file {
  passwd_file_path = %[1]s/passwd
  default_password_scheme = PLAIN
}
userdb passwd-file {
  passwd_file_path = %[1]s/passwd
}
mail_driver = maildir
mail_path = %[1]s/mail/%%{user}
namespace inbox {
  inbox = yes
  separator = /
}
protocol imap {
  # tests open many sessions for one user at once (default 10)
  mail_max_userip_connections = 1000
}
service imap-login {
  chroot =
  inet_listener imap {
    port = %[2]d
  }
  inet_listener imaps {
    port = %[3]d
    ssl = yes
  }
}
service anvil {
  chroot =
}
`, dir, port, tlsPort, a.loginUser, a.internalUser, nonRoot(a, true))
}

// atLeast24 parses `dovecot --version` output such as
// "2.3.19.1 (9b53102964)".
func atLeast24(version string) (bool, error) {
	f := strings.SplitN(strings.Fields(version + " ")[0], ".", 3)
	if len(f) < 2 {
		return false, fmt.Errorf("cannot parse dovecot version %q", version)
	}
	major, err1 := strconv.Atoi(f[0])
	minor, err2 := strconv.Atoi(f[1])
	if err := errors.Join(err1, err2); err != nil {
		return false, fmt.Errorf("cannot parse dovecot version %q: %v", version, err)
	}
	if major != 2 || minor < 3 {
		return false, fmt.Errorf("dovecot %s is not supported (2.3 or 2.4 needed)", version)
	}
	return minor >= 4, nil
}

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment ago.
func freePorts(n int) ([]int, error) {
	startMu.Lock()
	defer startMu.Unlock()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// writeCert writes a self-signed certificate for 127.0.0.1 and localhost to
// dir/cert.pem and dir/key.pem and returns a pool trusting it.
func writeCert(dir string) (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "dovecottest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	// Read by the master (root) only: the key may stay private.
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}
