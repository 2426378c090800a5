package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// env is a project directory with a tier.yaml, run against the embedded
// registry exactly as a user would.
type env struct {
	t     *testing.T
	dir   string
	clock time.Time
	// relative runs commands with --config tier.yaml (cwd is dir).
	relative bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), clock: time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC)}
	e.config(registryOnly)
	return e
}

// registryOnly has tiers but no environments: promotions move tags only.
const registryOnly = `services:
  api: {repository: api}
tiers:
  - {name: dev, tag: dev}
  - {name: staging, tag: staging, from: dev}
  - {name: prod, release: true, from: staging}
`

func (e *env) config(y string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, "tier.yaml"), []byte(y), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// run executes tier in the env's directory and returns status, stdout and
// stderr.
func (e *env) run(args ...string) (int, string, string) {
	e.t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, now: func() time.Time { return e.clock }}
	cfg := filepath.Join(e.dir, "tier.yaml")
	if e.relative {
		cfg = "tier.yaml"
	}
	args = append([]string{"--config", cfg}, args...)
	code := run(context.Background(), a, args)
	return code, out.String(), errb.String()
}

func (e *env) files(name string, content string) string {
	e.t.Helper()
	d := filepath.Join(e.dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "version.txt"), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return d
}

const (
	c1 = "1111111111111111111111111111111111111111"
	c2 = "2222222222222222222222222222222222222222"
)

func TestWalkthrough(t *testing.T) {
	e := newEnv(t)
	steps := []struct {
		args []string
		code int
		out  []string // substrings of stdout
		err  []string // substrings of stderr
	}{
		{[]string{"validate"}, 0, []string{"is valid: 1 services, 3 tiers, 0 environments"}, nil},
		{[]string{"push", "api", e.files("v1", "1"), "--commit", c1, "--entrypoint", "/bin/app"}, 0, []string{"pushed 127.0.0.1:", "/api:" + c1 + ": sha256:"}, nil},
		{[]string{"push", "api", e.files("v1", "1"), "--commit", c1, "--entrypoint", "/bin/app"}, 0, []string{"already holds this build"}, nil},
		{[]string{"push", "api", e.files("v1b", "other"), "--commit", c1}, 2, nil, []string{"builds are immutable", "--force"}},
		{[]string{"push", "api", e.files("v2", "2"), "--commit", c2, "--entrypoint", "/bin/app"}, 0, []string{"pushed"}, nil},
		{[]string{"promote", "dev", "--commit", "1111"}, 0, []string{"api      dev   dev", "moved", "tier dev has no environments: only the tag moved"}, nil},
		{[]string{"promote", "staging"}, 0, []string{"staging", "111111111111", "moved"}, nil},
		{[]string{"promote", "prod", "--dry-run"}, 0, []string{"prod-20201112T103000Z", "planned", "dry run: nothing was changed"}, nil},
		{[]string{"promote", "prod"}, 0, []string{"prod-20201112T103000Z", "released"}, nil},
		{[]string{"promote", "dev", "--commit", c2}, 0, []string{"moved"}, nil},
		{[]string{"status"}, 0, []string{"prod-20201112T103000Z", "222222222222", "111111111111"}, nil},
		{[]string{"promote", "qa"}, 2, nil, []string{`unknown tier "qa": the tiers are dev, staging, prod`}},
		{[]string{"promote", "dev", "--commit", "abcdef"}, 2, nil, []string{"no build of commit abcdef"}},
		{[]string{"promote", "dev", "--commit", "xyz"}, 2, nil, []string{"not a commit hash"}},
		{[]string{"promote"}, 2, nil, []string{"accepts 1 arg(s)", "tier --help"}},
		{[]string{"promote", "dev", "--bogus"}, 2, nil, []string{"unknown flag: --bogus"}},
		{[]string{"promote", "dev", "--commit", c1, "--parallel", "0"}, 2, nil, []string{"--parallel 0: deploy at least 1"}},
		{[]string{"rollback", "dev", "--to", c1, "--timeout", "-1s"}, 2, nil, []string{"--timeout -1s: give a positive duration"}},
		{[]string{"status", "--output", "yaml"}, 2, nil, []string{`--output "yaml": use table or json`}},
		{[]string{"rollback", "prod", "--to", "11/12/20-10:30"}, 2, nil, []string{"is not a time"}},
		{[]string{"rollback", "dev"}, 2, nil, []string{"keeps no timeline"}},
		{[]string{"push", "web", e.files("v1", "1"), "--commit", c1}, 2, nil, []string{`unknown service "web"`}},
		{[]string{"push", "api", "./missing", "--commit", c1}, 2, nil, []string{"does not exist"}},
		{[]string{"push", "api", e.files("v1", "1"), "--commit", "1234"}, 2, nil, []string{"not a full git commit hash"}},
	}
	for _, s := range steps {
		code, out, stderr := e.run(s.args...)
		if code != s.code {
			t.Fatalf("tier %s = exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(s.args, " "), code, s.code, out, stderr)
		}
		for _, w := range s.out {
			if !strings.Contains(out, w) {
				t.Errorf("tier %s: stdout %q does not contain %q", strings.Join(s.args, " "), out, w)
			}
		}
		for _, w := range s.err {
			if !strings.Contains(stderr, w) {
				t.Errorf("tier %s: stderr %q does not contain %q", strings.Join(s.args, " "), stderr, w)
			}
		}
		if s.code != 0 && out != "" {
			t.Errorf("tier %s failed but printed on stdout: %q", strings.Join(s.args, " "), out)
		}
	}

	// A day later prod rolls back to what was live at the end of the 12th;
	// a new release tag is cut.
	e.clock = time.Date(2020, 11, 13, 8, 0, 0, 0, time.UTC)
	if code, _, stderr := e.run("promote", "staging"); code != 0 {
		t.Fatalf("promote staging: %d %s", code, stderr)
	}
	if code, out, stderr := e.run("promote", "prod"); code != 0 || !strings.Contains(out, "prod-20201113T080000Z") {
		t.Fatalf("promote prod = %d, %q, %s", code, out, stderr)
	}
	e.clock = e.clock.Add(time.Hour)
	code, out, stderr := e.run("rollback", "prod", "--to", "2020-11-12", "-o", "json")
	if code != 0 {
		t.Fatalf("rollback = %d: %s", code, stderr)
	}
	var rb struct {
		Results []struct {
			Tag, Digest, Commit, Source, Status string
		}
		Environments []any
	}
	if err := json.Unmarshal([]byte(out), &rb); err != nil {
		t.Fatalf("rollback -o json: %v\n%s", err, out)
	}
	if len(rb.Results) != 1 || rb.Results[0].Tag != "prod-20201113T090000Z" || rb.Results[0].Commit != c1 || rb.Results[0].Source != "release prod-20201112T103000Z" || rb.Results[0].Status != "released" {
		t.Errorf("rollback results = %+v, want prod-20201113T090000Z on %s from release prod-20201112T103000Z", rb.Results, c1)
	}
	if rb.Environments == nil || len(rb.Environments) != 0 {
		t.Errorf("rollback json environments = %v, want []", rb.Environments)
	}

	code, out, _ = e.run("status", "prod", "-o", "json")
	var st struct {
		Tiers []struct {
			Service, Tier, Kind, Tag, Digest, Commit string
			Releases                                 int
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status -o json = %d: %s", code, out)
	}
	if len(st.Tiers) != 1 || st.Tiers[0].Tag != "prod-20201113T090000Z" || st.Tiers[0].Commit != c1 || st.Tiers[0].Releases != 3 || st.Tiers[0].Kind != "release" {
		t.Errorf("status prod = %+v, want prod-20201113T090000Z on %s, 3 releases", st.Tiers, c1)
	}
}

func TestInitRefusesToOverwrite(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "tier.yaml")
	os.Remove(path)
	if code, out, _ := e.run("init"); code != 0 || !strings.Contains(out, "wrote") {
		t.Fatalf("tier init = %d, %q", code, out)
	}
	os.WriteFile(path, []byte("# mine\n"), 0o644)
	code, out, stderr := e.run("init")
	if code != 2 || !strings.Contains(stderr, "--force") || out != "" {
		t.Fatalf("tier init over a file = %d, %q, %q; want 2 and a hint to use --force", code, out, stderr)
	}
	if b, _ := os.ReadFile(path); string(b) != "# mine\n" {
		t.Errorf("tier init changed the existing file")
	}
	if code, _, _ := e.run("init", "--force"); code != 0 {
		t.Fatalf("tier init --force = %d", code)
	}
	if code, _, stderr := e.run("validate"); code != 0 {
		t.Errorf("validate after init --force = %d: %s", code, stderr)
	}
}

func TestConfigErrors(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "tier.yaml")
	os.WriteFile(path, []byte("services:\n  api: {repository: api}\ntiers:\n  - {name: dev, tag: dev}\n  - {name: prod, release: true, from: staging}\n"), 0o644)
	for _, cmd := range [][]string{{"validate"}, {"status"}, {"promote", "dev"}} {
		code, _, stderr := e.run(cmd...)
		if code != 2 || !strings.Contains(stderr, "tier.yaml:5:") || !strings.Contains(stderr, "staging") {
			t.Errorf("tier %s with a bad from = %d, %q; want 2 naming tier.yaml:5", cmd[0], code, stderr)
		}
	}
	os.Remove(path)
	code, _, stderr := e.run("status")
	if code != 2 || !strings.Contains(stderr, "tier init") {
		t.Errorf("tier status without a config = %d, %q; want 2 suggesting tier init", code, stderr)
	}
}

func TestRegistryServeRefusals(t *testing.T) {
	e := newEnv(t)
	code, _, stderr := e.run("registry", "serve", "--addr", "0.0.0.0:0", "--dir", filepath.Join(e.dir, "reg"))
	if code != 2 || !strings.Contains(stderr, "--public") {
		t.Errorf("registry serve on 0.0.0.0 = %d, %q; want 2 suggesting --public", code, stderr)
	}
}
