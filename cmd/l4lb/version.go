package main

import "runtime/debug"

// version names the build: the module version, or the VCS revision of a
// build from a checkout, or "(devel)".
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" && (v == "" || v == "(devel)") {
		return rev[:min(12, len(rev))] + dirty
	}
	if v == "" {
		return "(devel)"
	}
	return v
}
