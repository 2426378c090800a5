package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runGuarded runs tier like env.run, but fails the test instead of hanging
// when the command has not returned within 10 seconds, long after a
// correct one has. unblock, when given, then lets a blocked command return.
func (e *env) runGuarded(unblock func(), args ...string) (int, string, string) {
	e.t.Helper()
	type result struct {
		code        int
		out, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, out, stderr := e.run(args...)
		done <- result{code, out, stderr}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case r := <-done:
		return r.code, r.out, r.stderr
	case <-ctx.Done():
		if unblock != nil {
			unblock()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
			}
		}
		e.t.Fatalf("tier %s has not returned after 10s", strings.Join(args, " "))
		return 0, "", ""
	}
}

// Bad configuration input is exit status 2 with a message saying what is
// wrong, promptly, whatever the file is.
func TestConfigInput(t *testing.T) {
	const valid = "services:\n  api: {repository: api}\ntiers:\n  - {name: dev, tag: dev}\n"
	tests := []struct {
		name string
		// setup prepares env e and returns the arguments after --config
		// tier.yaml, and what lets a blocked run return.
		setup func(t *testing.T, e *env) (args []string, unblock func())
		want  []string // substrings of stderr
		hide  []string // what stderr must not hold
		max   int      // the longest stderr allowed; 0 for no limit
	}{
		{
			name: "fifo",
			setup: func(t *testing.T, e *env) ([]string, func()) {
				fifo := filepath.Join(t.TempDir(), "tier.yaml")
				if err := syscall.Mkfifo(fifo, 0o600); err != nil {
					t.Fatal(err)
				}
				return []string{"--config", fifo, "validate"}, func() {
					// A writer that closes at once ends a blocked read.
					if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
						f.Close()
					}
				}
			},
			want: []string{"tier.yaml: is a named pipe (FIFO), not a regular file: tier reads its configuration only from a regular file of at most 1 MiB"},
		},
		{
			name: "endless device",
			setup: func(t *testing.T, e *env) ([]string, func()) {
				if _, err := os.Stat("/dev/zero"); err != nil {
					t.Skip(err)
				}
				return []string{"-c", "/dev/zero", "validate"}, nil
			},
			want: []string{"/dev/zero: is a character device, not a regular file: tier reads its configuration only from a regular file of at most 1 MiB (1048576 bytes)"},
		},
		{
			name: "directory",
			setup: func(t *testing.T, e *env) ([]string, func()) {
				return []string{"-c", e.dir, "status"}, nil
			},
			want: []string{e0dir + ": is a directory, not a configuration file: name the file in it, for example --config " + e0dir + "/tier.yaml"},
		},
		{
			name: "larger than the bound",
			setup: func(t *testing.T, e *env) ([]string, func()) {
				e.config(valid + "#" + strings.Repeat(" ", 2<<20) + "\n")
				return []string{"validate"}, nil
			},
			want: []string{"tier.yaml: is 20972", " bytes, larger than 1 MiB (1048576 bytes), the most a configuration file may hold"},
		},
		{
			name: "long value",
			setup: func(t *testing.T, e *env) ([]string, func()) {
				e.config("services:\n  api: {repository: " + strings.Repeat("a", 500_000) + "}\ntiers:\n  - {name: dev, tag: dev}\n")
				return []string{"validate"}, nil
			},
			want: []string{`tier.yaml:2: service "api": repository "` + strings.Repeat("a", 64) + `"... (500000 characters) is not a valid repository name: it is 500000 characters long`},
			max:  1000,
		},
		{
			name: "not UTF-8",
			setup: func(t *testing.T, e *env) ([]string, func()) {
				e.config(valid + "# d\xe9ploiement\n")
				return []string{"validate"}, nil
			},
			want: []string{"tier.yaml:5: byte 0xE9 is not valid UTF-8 (column 4): save the file as UTF-8"},
		},
		{
			name: "state dir is a file",
			setup: func(t *testing.T, e *env) ([]string, func()) {
				if err := os.WriteFile(filepath.Join(e.dir, "state"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				e.config("state_dir: state\n" + valid)
				return []string{"status"}, nil
			},
			want: []string{`tier.yaml:1: state_dir "state" (`, `/state) is a regular file, not a directory: remove or rename it, or point state_dir at a directory`},
		},
		{
			name: "state dir is a symlink to /etc",
			setup: func(t *testing.T, e *env) ([]string, func()) {
				if err := os.Symlink("/etc", filepath.Join(e.dir, "state")); err != nil {
					t.Fatal(err)
				}
				e.config("# state\nstate_dir: state\n" + valid)
				return []string{"validate"}, nil
			},
			want: []string{`tier.yaml:2: state_dir "state" (`, `/state) is a symlink to /etc, a system directory, which tier must not write into: point state_dir at a directory of tier's own`},
		},
		{
			name: "credentials in the registry",
			setup: func(t *testing.T, e *env) ([]string, func()) {
				e.config("registry: \"deployer:hunter2hunter2@registry.example.com\"\n" + valid)
				return []string{"validate"}, nil
			},
			want: []string{"tier.yaml:1: registry holds credentials (the part before '@'), which do not belong in the registry address: write only the address (registry: registry.example.com) and log in with `docker login registry.example.com` or a Docker credential helper (see docs/registry.md)"},
			hide: []string{"hunter2", "deployer"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			args, unblock := tt.setup(t, e)
			code, out, stderr := e.runGuarded(unblock, args...)
			stderr = strings.ReplaceAll(stderr, e.dir, e0dir)
			if code != ExitUsage || out != "" {
				t.Errorf("tier %s = exit %d, stdout %q; want exit %d and nothing on stdout\nstderr: %.500s", strings.Join(args, " "), code, out, ExitUsage, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("tier %s: stderr %.1000q does not contain %q", strings.Join(args, " "), stderr, w)
				}
			}
			for _, h := range tt.hide {
				if strings.Contains(stderr, h) {
					t.Errorf("tier %s: stderr %.1000q shows %q", strings.Join(args, " "), stderr, h)
				}
			}
			if tt.max > 0 && len(stderr) > tt.max {
				t.Errorf("tier %s: stderr is %d bytes, want at most %d: %.300q...", strings.Join(args, " "), len(stderr), tt.max, stderr)
			}
		})
	}
}

// e0dir stands for the env's directory in expected messages.
const e0dir = "ENVDIR"
