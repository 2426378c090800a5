package config

import (
	"io/fs"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// systemDirs are the directories tier refuses as its state directory,
// itself or at the end of symlinks: tier creates, rewrites and removes
// files under its state directory. Directories below them (/var/lib/tier)
// are fine.
var systemDirs = map[string]bool{
	"/": true, "/bin": true, "/boot": true, "/dev": true, "/etc": true, "/home": true,
	"/lib": true, "/lib32": true, "/lib64": true, "/libx32": true, "/media": true,
	"/mnt": true, "/opt": true, "/proc": true, "/root": true, "/run": true,
	"/sbin": true, "/srv": true, "/sys": true, "/tmp": true,
	"/usr": true, "/usr/bin": true, "/usr/lib": true, "/usr/lib64": true, "/usr/libexec": true,
	"/usr/local": true, "/usr/local/bin": true, "/usr/sbin": true, "/usr/share": true,
	"/var": true, "/var/cache": true, "/var/lib": true, "/var/log": true, "/var/run": true,
	"/var/spool": true, "/var/tmp": true,
	// macOS, where /etc, /tmp and /var lead to /private/...
	"/Applications": true, "/Library": true, "/System": true, "/Users": true, "/Volumes": true,
	"/private": true, "/private/etc": true, "/private/tmp": true, "/private/var": true,
}

// systemDir reports whether path, absolute and clean, is a system
// directory or the root of a volume.
func systemDir(path string) bool {
	return systemDirs[filepath.ToSlash(path)] || filepath.Dir(path) == path
}

// stateDir checks, when the parser looks at the disk, the state directory
// dir (as written; "" for the default) given at n (nil for the default).
// It refuses one that is, or leads through symlinks to, a system
// directory, and one that exists and is not a directory. One that does not
// exist is fine: tier creates it when it needs it.
func (p *parser) stateDir(dir string, n *yaml.Node) {
	if !p.disk {
		return
	}
	name := "state_dir " + p.quote(dir)
	if dir == "" {
		dir, name = DefaultStateDir, "the state directory "+DefaultStateDir+" (the default, as state_dir is not set)"
	}
	path := (&Config{Path: p.file, StateDir: dir}).StatePath()
	fi, err := os.Lstat(path)
	if err != nil {
		return // not there yet, or not readable: the command that uses it says so
	}
	// The paths shown exist, so the system bounds their length; they are
	// shown whole, as the way to find what to change.
	if path != dir {
		name += " (" + p.hide(path) + ")"
	}
	const fix = "point state_dir at a directory of tier's own, such as .tier (the default, next to this file) or /var/lib/tier"
	resolved, err := filepath.EvalSymlinks(path)
	switch {
	case systemDir(path):
		p.add(n, fix, "%s is a system directory, which tier must not write into", name)
		return
	case err == nil && systemDir(resolved):
		how := "leads through a symlink to"
		if fi.Mode()&fs.ModeSymlink != 0 {
			how = "is a symlink to"
		}
		p.add(n, fix, "%s %s %s, a system directory, which tier must not write into", name, how, p.hide(resolved))
		return
	}
	if fi, err = os.Stat(path); err != nil || fi.IsDir() {
		return
	}
	p.add(n, "remove or rename it, or point state_dir at a directory", "%s is %s, not a directory", name, fileKind(fi.Mode()))
}
