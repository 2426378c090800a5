package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadChecksStateDir(t *testing.T) {
	const rest = "services: {api: }\ntiers: [{name: dev, tag: dev}]\n"
	dir := t.TempDir()
	mustWrite := func(name string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustLink := func(target, name string) {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite("afile")
	mustLink("/etc", "etc-link")
	mustLink("/", "root-link")
	mustLink("afile", "file-link")
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustLink("state", "state-link")
	up := strings.Repeat("../", strings.Count(dir, "/")+2)

	tests := []struct {
		name, state string // state is the state_dir line, "" for none
		err         string // "" for no error
	}{
		{"not there yet", "state_dir: .tier", ""},
		{"a directory", "state_dir: state", ""},
		{"a symlink to a directory", "state_dir: state-link", ""},
		{"absolute, not there yet", "state_dir: /var/lib/tier-test-never-created", ""},
		{"a regular file", "state_dir: afile",
			`tier.yaml:1: state_dir "afile" (` + filepath.Join(dir, "afile") + `) is a regular file, not a directory: remove or rename it, or point state_dir at a directory`},
		{"a symlink to a regular file", "state_dir: file-link", `state_dir "file-link" (` + filepath.Join(dir, "file-link") + `) is a regular file, not a directory`},
		{"a symlink to /etc", "state_dir: etc-link",
			`tier.yaml:1: state_dir "etc-link" (` + filepath.Join(dir, "etc-link") + `) is a symlink to /etc, a system directory, which tier must not write into: point state_dir at a directory of tier's own`},
		{"through a symlink to /", "state_dir: root-link/usr", `state_dir "root-link/usr" (` + filepath.Join(dir, "root-link/usr") + `) leads through a symlink to /usr, a system directory`},
		{"the root", "state_dir: /", `tier.yaml:1: state_dir "/" is a system directory, which tier must not write into: point state_dir at a directory of tier's own`},
		{"/var", "state_dir: /var/", `state_dir "/var/" (/var) is a system directory`},
		{"up to the root", "state_dir: " + up, `(/) is a system directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "tier.yaml")
			if err := os.WriteFile(path, []byte(tt.state+"\n"+rest), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if tt.err == "" {
				if err != nil {
					t.Errorf("Load(%s) = %v, want no error", tt.state, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Load(%s) = %v, want ErrInvalid and %q", tt.state, err, tt.err)
			}
			// Parse looks at data only.
			if _, err := Parse(path, []byte(tt.state+"\n"+rest)); err != nil {
				t.Errorf("Parse(%s) = %v, want no error", tt.state, err)
			}
		})
	}

	t.Run("the default", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "tier.yaml")
		if err := os.WriteFile(path, []byte(rest), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ".tier"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		want := path + ": the state directory .tier (the default, as state_dir is not set) (" + filepath.Join(dir, ".tier") + ") is a regular file, not a directory"
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Load with a file named .tier = %v, want %q...", err, want)
		}
	})
}
