package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// proc is a process as /proc shows it: its id, its parent's, and its start
// time, which tells it apart from a later process given the same id.
type proc struct {
	pid, ppid int
	start     string
}

// readProc reads /proc/<pid>/stat; ok is false when the process is gone.
func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return proc{}, false
	}
	// The command name, in parentheses, may hold spaces: the fields that
	// follow are counted from its closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return proc{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return proc{}, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return proc{}, false
	}
	return proc{pid: pid, ppid: ppid, start: f[19]}, true
}

// descendants lists every process below pid. A benchmark's servers that
// left the test binary's process group (the test Dovecot has a group of
// its own) are among them, and would outlive a test binary stopped at its
// budget, which runs no cleanup.
func descendants(pid int) []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]proc{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(n); ok {
			children[p.ppid] = append(children[p.ppid], p)
		}
	}
	var out []proc
	queue := []int{pid}
	for len(queue) > 0 {
		for _, c := range children[queue[0]] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
		queue = queue[1:]
	}
	return out
}

// stopAll sends sig to each of the processes that is still the same
// process (same start time).
func stopAll(ps []proc, sig syscall.Signal) {
	for _, p := range ps {
		if now, ok := readProc(p.pid); ok && now.start == p.start {
			_ = syscall.Kill(p.pid, sig)
		}
	}
}

func anyAlive(ps []proc) bool {
	for _, p := range ps {
		if now, ok := readProc(p.pid); ok && now.start == p.start {
			return true
		}
	}
	return false
}
