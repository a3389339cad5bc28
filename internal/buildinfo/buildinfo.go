// Package buildinfo says which build of the gateway is running: the
// module's version and the commit it was built from, as the Go toolchain
// recorded them in the binary.
package buildinfo

import "runtime/debug"

// Info identifies a build.
type Info struct {
	Version   string // the module's version ("(devel)" for a local build)
	Revision  string // the VCS commit, with "+dirty" when the tree was modified
	GoVersion string
}

// Read returns what the binary records; fields it lacks are "unknown".
func Read() Info {
	info := Info{Version: "unknown", Revision: "unknown", GoVersion: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	info.GoVersion = bi.GoVersion
	if bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && info.Revision != "unknown" {
		info.Revision += "+dirty"
	}
	return info
}

// String is the one line `gateway version` prints.
func (i Info) String() string {
	return "gateway " + i.Version + " (commit " + i.Revision + ", " + i.GoVersion + ")"
}
