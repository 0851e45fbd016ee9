// Package buildinfo says which build of postdesk is running, from what the
// Go toolchain records in the binary (runtime/debug.ReadBuildInfo): the
// module version (set by `go install postdesk@vX` or a tagged build), the
// VCS revision and time (set when built in a git checkout), and the Go
// version. Nothing needs to be passed with -ldflags.
package buildinfo

import (
	"fmt"
	"runtime/debug"
)

// revision and buildTime are set with -ldflags "-X postdesk/buildinfo.revision=..."
// where the toolchain cannot stamp them (a container build without .git).
var revision, buildTime string

// Info is the build's description; fields the toolchain did not record are
// "unknown" (or false).
type Info struct {
	Version   string // module version, "(devel)" for a plain go build
	Revision  string // vcs.revision
	Time      string // vcs.time, RFC 3339
	Modified  bool   // vcs.modified: built from a checkout with local changes
	GoVersion string
}

// Read returns this binary's Info.
func Read() Info {
	i := Info{Version: "unknown", Revision: "unknown", Time: "unknown", GoVersion: "unknown"}
	if revision != "" {
		i.Revision = revision
	}
	if buildTime != "" {
		i.Time = buildTime
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return i
	}
	i.GoVersion = bi.GoVersion
	if bi.Main.Version != "" {
		i.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// String is the line `postdesk version` prints.
func (i Info) String() string {
	rev := i.Revision
	if i.Modified {
		rev += " (modified)"
	}
	return fmt.Sprintf("postdesk %s\ncommit %s\nbuilt %s\n%s", i.Version, rev, i.Time, i.GoVersion)
}
