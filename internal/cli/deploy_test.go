package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/demo"
	"github.com/tierdeploy/tier/internal/targets"
	"github.com/tierdeploy/tier/target/local"
	"github.com/tierdeploy/tier/target/targettest"
)

// TestMain lets the test binary run as the demo web app inside images, as
// "tier demo-app" does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "demo-app" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := demo.App(ctx)
		stop()
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// appDir makes a directory holding this test binary as app/server, to push
// as an image whose entrypoint is "/app/server demo-app".
func appDir(t *testing.T, dir string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(dir, "appimg")
	os.MkdirAll(filepath.Join(d, "app"), 0o755)
	in, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "app", "server"), in, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func version(t *testing.T, port int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/version", port))
	if err != nil {
		return "down: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var info demo.AppInfo
	json.Unmarshal(b, &info)
	return info.Version + "@" + info.Environment
}

func TestPromoteDeploysLocalEnvironments(t *testing.T) {
	e := newEnv(t)
	// As a user does: from the project directory, with a relative config.
	t.Chdir(e.dir)
	e.relative = true
	pDev, pMb, pStg := targettest.FreePort(t), targettest.FreePort(t), targettest.FreePort(t)
	e.config(registryOnly + fmt.Sprintf(`environments:
  dev:     {tier: dev, tenant: default, local: {port: %d, health: /healthz}}
  mb-dev:  {tier: dev, tenant: mb, local: {port: %d, health: /healthz}}
  staging: {tier: staging, tenant: default, local: {port: %d, health: /missing}}
`, pDev, pMb, pStg))
	t.Cleanup(func() {
		for _, env := range []string{"dev", "mb-dev", "staging"} {
			stopLocal(t, e, env)
		}
	})
	app := appDir(t, e.dir)
	for _, v := range []struct{ commit, version string }{{c1, "v1"}, {c2, "v2"}} {
		if code, _, stderr := e.run("push", "api", app, "--commit", v.commit, "--entrypoint", "/app/server,demo-app", "--env", "VERSION="+v.version); code != 0 {
			t.Fatalf("push %s = %d: %s", v.version, code, stderr)
		}
	}
	// Dry run: the plan, nothing started.
	code, out, _ := e.run("promote", "dev", "--commit", c1, "--dry-run")
	if code != 0 || !strings.Contains(out, "planned") || !strings.HasPrefix(version(t, pDev), "down") {
		t.Fatalf("promote --dry-run = %d, %q; dev answers %s", code, out, version(t, pDev))
	}
	// Every environment of dev at once: exit 0, both serve v1.
	code, out, stderr := e.run("promote", "dev", "--commit", c1)
	if code != 0 {
		t.Fatalf("promote dev = %d\n%s\n%s", code, out, stderr)
	}
	if got := version(t, pDev); got != "v1@dev" {
		t.Errorf("dev serves %s, want v1@dev", got)
	}
	if got := version(t, pMb); got != "v1@mb-dev" {
		t.Errorf("mb-dev serves %s, want v1@mb-dev", got)
	}
	if !strings.Contains(out, "verified") || !strings.Contains(stderr, "dev/api: deploying") {
		t.Errorf("promote dev output lacks the summary or progress:\n%s\n%s", out, stderr)
	}
	// Re-running converges without redeploying.
	code, out, _ = e.run("promote", "dev", "--commit", c1, "-o", "json")
	var rep struct {
		Environments []struct{ Environment, Outcome, Reason string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Environments) != 2 || rep.Environments[0].Reason != "already running" {
		t.Errorf("promote dev again = %d, %s; want verified, already running", code, out)
	}
	// staging's health check never passes: all of staging times out, exit 1.
	// The build is unpacked already (dev runs it): 3s cover starting it and
	// the failing health probes.
	code, out, stderr = e.run("promote", "staging", "--timeout", "3s")
	if code != 1 || !strings.Contains(out, "timed-out") || !strings.Contains(out, "answered 404") || !strings.Contains(stderr, "1 of 1 environments not verified: staging/api (timed-out)") {
		t.Errorf("promote staging = %d, want 1\n%s\n%s", code, out, stderr)
	}
	// The grid: dev and mb-dev in sync, staging failed.
	code, out, _ = e.run("status", "-o", "json")
	var g struct {
		Environments []struct {
			Name, Tier, Tenant, Service, Target, State string
			DesiredDigest                              string   `json:"desired_digest"`
			DesiredCommit                              string   `json:"desired_commit"`
			RunningDigests                             []string `json:"running_digests"`
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &g) != nil {
		t.Fatalf("status -o json = %d: %s", code, out)
	}
	states := map[string]string{}
	for _, x := range g.Environments {
		states[x.Name] = x.State
		if x.Name == "dev" && (x.DesiredCommit != c1 || len(x.RunningDigests) != 1 || x.RunningDigests[0] != x.DesiredDigest || x.Target != "local" || x.Tenant != "default") {
			t.Errorf("status dev = %+v, want running exactly the desired %s", x, c1)
		}
	}
	if states["dev"] != "in-sync" || states["mb-dev"] != "in-sync" || states["staging"] != "failed" {
		t.Errorf("states = %v, want dev, mb-dev in-sync and staging failed", states)
	}
	if code, _, _ := e.run("status", "--check"); code != 3 {
		t.Errorf("status --check with a failed environment = %d, want 3", code)
	}
	code, out, _ = e.run("status")
	if code != 0 || !strings.Contains(out, "1111111 in-sync") || !strings.Contains(out, "DEV") {
		t.Errorf("status grid = %d:\n%s", code, out)
	}
	// v2 to dev where mb-dev's port is taken by something else: dev
	// converges, mb-dev fails and keeps... nothing to restore it to but v1.
	stopLocal(t, e, "mb-dev")
	blocker, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", pMb))
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	go http.Serve(blocker, http.NotFoundHandler())
	code, out, stderr = e.run("promote", "dev", "--commit", c2, "--timeout", "15s")
	if code != 3 || !strings.Contains(stderr, "1 of 2 environments not verified: mb-dev/api") {
		t.Errorf("promote dev v2 with mb-dev broken = %d, want 3\n%s\n%s", code, out, stderr)
	}
	if got := version(t, pDev); got != "v2@dev" {
		t.Errorf("dev serves %s, want v2@dev", got)
	}
}

// stopLocal stops the local process of env through the local target.
func stopLocal(t *testing.T, e *env, name string) {
	t.Helper()
	cfg, err := config.Load(filepath.Join(e.dir, "tier.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tg := local.New(local.Options{Dir: targets.LocalDir(cfg)})
	svc, _ := cfg.Service("api")
	for _, env := range cfg.Environments {
		if env.Name == name {
			if err := tg.Stop(context.Background(), env, svc); err != nil {
				t.Errorf("stopping %s: %v", name, err)
			}
		}
	}
}
