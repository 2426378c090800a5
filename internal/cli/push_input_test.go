package cli

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tierdeploy/tier/internal/testreg"
)

// runApp runs tier in e's project with a, whose streams it sets, and
// returns status, stdout and stderr.
func (e *env) runApp(a *app, args ...string) (int, string, string) {
	e.t.Helper()
	var out, errb bytes.Buffer
	a.stdout, a.stderr = &out, &errb
	if a.now == nil {
		a.now = func() time.Time { return e.clock }
	}
	code := run(context.Background(), a, append([]string{"--config", filepath.Join(e.dir, "tier.yaml")}, args...))
	return code, out.String(), errb.String()
}

// TestPushRefusesBadInputOffline: a --base, SOURCE or --env that cannot be
// right is bad input (exit 2) naming the value and the fix, and not one
// request leaves tier for it.
func TestPushRefusesBadInputOffline(t *testing.T) {
	e := newEnv(t)
	dir := e.files("v1", "1")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"base ../../etc", []string{"push", "api", dir, "--base", "../../etc"}, []string{`--base "../../etc" is not an image reference`, `".." path segment`, "write HOST/REPOSITORY[:TAG|@DIGEST]"}},
		{"base with ..", []string{"push", "api", dir, "--base", "ghcr.io/acme/../../base:1"}, []string{`--base "ghcr.io/acme/../../base:1" is not an image reference`, `".." path segment`}},
		{"source with ..", []string{"push", "api", "ghcr.io/acme/../../x:1"}, []string{`"ghcr.io/acme/../../x:1" is neither a file, a directory nor an image reference`, `".." path segment`, "write HOST/REPOSITORY"}},
		{"loopback source with ..", []string{"push", "api", "127.0.0.1:5000/a/../b:1"}, []string{`"127.0.0.1:5000/a/../b:1"`, `".." path segment`}},
		{"env NOEQUALS", []string{"push", "api", dir, "--env", "MODE=demo", "--env", "NOEQUALS"}, []string{`--env "NOEQUALS" is not KEY=VALUE`, "write --env NOEQUALS=VALUE"}},
		{"env without a name", []string{"push", "api", dir, "--env", "=x"}, []string{`--env "=x"`, "KEY=VALUE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			counter := testreg.NewCounter(nil)
			code, out, stderr := e.runApp(&app{transport: counter}, append(tc.args, "--commit", c1)...)
			if code != ExitUsage || out != "" {
				t.Fatalf("tier %s = exit %d, stdout %q; want 2 and nothing on stdout\nstderr: %s", strings.Join(tc.args, " "), code, out, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("tier %s: stderr %q does not contain %q", strings.Join(tc.args, " "), stderr, w)
				}
			}
			if n := counter.Total(); n != 0 {
				t.Errorf("tier %s sent %d requests (%v), want none", strings.Join(tc.args, " "), n, counter.Requests)
			}
		})
	}
}

// TestPushEchoIsBounded: values of a megabyte are bad input, and the
// message that names them stays short.
func TestPushEchoIsBounded(t *testing.T) {
	e := newEnv(t)
	huge := strings.Repeat("9", 1<<20)
	dir := e.files("v1", "1")
	for _, args := range [][]string{
		{"push", "api", dir, "--commit", huge},
		{"push", "api", dir, "--commit", c1, "--created", huge},
		{"push", "api", dir, "--commit", c1, "--env", huge},
		{"push", "api", dir, "--commit", c1, "--base", "ghcr.io/" + huge},
		{"push", "api", "./" + huge, "--commit", c1},
		{"promote", "dev", "--commit", huge},
	} {
		code, _, stderr := e.run(args...)
		label := strings.Join(args, " ")
		label = strings.ReplaceAll(label, huge, "<1 MiB of 9>")
		if code != ExitUsage || len(stderr) > 1024 {
			t.Errorf("tier %s = exit %d, %d bytes on stderr; want 2 and at most 1024:\n%.300s", label, code, len(stderr), stderr)
		}
	}
}

// TestPushSourceURLWithoutCredentials: a --source-url with user info and a
// token in its query is recorded without them, and tier says so without
// repeating them.
func TestPushSourceURLWithoutCredentials(t *testing.T) {
	const token, queryToken = "ghp_SourceUrlToken4d2e", "glpat-QueryToken81f0"
	e := newEnv(t)
	code, out, stderr := e.run("push", "api", e.files("v1", "1"), "--commit", c1,
		"--source-url", "https://ci-user:"+token+"@git.example.com/acme/api.git?private_token="+queryToken)
	if code != 0 {
		t.Fatalf("push = exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "--source-url is recorded without its user info") || !strings.Contains(stderr, "source=https://git.example.com/acme/api.git") {
		t.Errorf("push stderr = %q, want a warning naming the URL recorded", stderr)
	}
	found := false
	err := filepath.WalkDir(filepath.Join(e.dir, ".tier"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range []string{token, queryToken, "ci-user"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q", p, s)
			}
		}
		found = found || bytes.Contains(b, []byte(`"org.opencontainers.image.source":"https://git.example.com/acme/api.git"`))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Errorf("no manifest under .tier has the source annotation https://git.example.com/acme/api.git")
	}
	for _, s := range []string{token, queryToken} {
		if strings.Contains(out+stderr, s) {
			t.Errorf("push output repeats %q:\n%s\n%s", s, out, stderr)
		}
	}
}
