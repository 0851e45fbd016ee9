package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// buildPostdesk builds the binary under test into dir.
func buildPostdesk(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "postdesk")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/postdesk")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/postdesk: %w\n%s", err, out)
	}
	return bin, nil
}

// Postgres is a private cluster: its own data directory and port, started
// and stopped by the harness (as scripts/postgres does it: owned by the
// postgres system user when the harness runs as root).
type Postgres struct {
	bindir, data string
	Port         int
	asPostgres   bool
}

func startPostgres(ctx context.Context, dir string) (*Postgres, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionLess(dirs[i], dirs[j]) })
	if len(dirs) == 0 {
		return nil, errors.New("no /usr/lib/postgresql/*/bin: install PostgreSQL (apt-get install postgresql, or make test once)")
	}
	p := &Postgres{bindir: dirs[len(dirs)-1], data: filepath.Join(dir, "pg"), asPostgres: os.Getuid() == 0}
	if err := os.Mkdir(p.data, 0o700); err != nil {
		return nil, err
	}
	if p.asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres system user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(p.data, uid, gid); err != nil {
			return nil, err
		}
	}
	if out, err := p.run(ctx, "initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "-E", "UTF8"); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p.Port = port
	conf := fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nfsync = on\nmax_connections = 200\n", port, p.data)
	f, err := os.OpenFile(filepath.Join(p.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(conf)
	f.Close()
	if err != nil {
		return nil, err
	}
	if out, err := p.ctl(ctx, "start"); err != nil {
		return nil, fmt.Errorf("pg_ctl start: %w\n%s", err, out)
	}
	return p, nil
}

func versionLess(a, b string) bool {
	va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
	vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
	return va < vb
}

func (p *Postgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
}

func (p *Postgres) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	path := filepath.Join(p.bindir, prog)
	var cmd *exec.Cmd
	if p.asPostgres {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = "/"
	return cmd.CombinedOutput()
}

func (p *Postgres) ctl(ctx context.Context, action string, extra ...string) ([]byte, error) {
	args := append([]string{"-D", p.data, "-l", filepath.Join(p.data, "server.log"), "-w", "-t", "60", action}, extra...)
	return p.run(ctx, "pg_ctl", args...)
}

// RestartImmediate is a crash of the database: no checkpoint, every
// connection cut, recovery from the WAL on start.
func (p *Postgres) RestartImmediate(ctx context.Context) error {
	if out, err := p.ctl(ctx, "restart", "-m", "immediate"); err != nil {
		return fmt.Errorf("pg_ctl restart -m immediate: %w\n%s", err, out)
	}
	return nil
}

func (p *Postgres) Stop() {
	_, _ = p.ctl(context.Background(), "stop", "-m", "fast")
}

// Instance is one `postdesk serve`.
type Instance struct {
	N      int
	bin    string
	config string
	env    []string
	logf   *os.File

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	killed bool // by the harness, since the last start
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (in *Instance) Start(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd != nil && !closed(in.done) {
		return nil // already running: two faults' restarts met
	}
	in.killed = false
	cmd := exec.Command(in.bin, "serve", "--config", in.config)
	cmd.Env = append(os.Environ(), in.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = in.logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start instance %d: %w", in.N, err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintf(in.logf, "%s\n", line)
			if !once && strings.Contains(line, `"msg":"serving"`) {
				once = true
				close(ready)
			}
		}
		_ = cmd.Wait()
		close(done)
	}()
	in.cmd, in.done = cmd, done
	select {
	case <-ready:
		return nil
	case <-done:
		return fmt.Errorf("instance %d exited at start (see %s)", in.N, in.logf.Name())
	case <-time.After(90 * time.Second):
		return fmt.Errorf("instance %d did not serve within 90s (see %s)", in.N, in.logf.Name())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kill is kill -9.
func (in *Instance) Kill() {
	in.mu.Lock()
	cmd, done := in.cmd, in.done
	in.killed = true
	in.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Down reports whether the instance is not running, for whatever reason.
func (in *Instance) Down() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.done != nil && closed(in.done)
}

// Died reports whether the instance exited without the harness killing it.
func (in *Instance) Died() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.done != nil && closed(in.done) && !in.killed
}

func (in *Instance) Stop() {
	in.mu.Lock()
	cmd, done := in.cmd, in.done
	in.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		in.Kill()
	}
}
