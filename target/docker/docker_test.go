package docker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/client"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/dockertest"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/docker"
	"github.com/tierdeploy/tier/target/targettest"
)

var api = config.Service{Name: "api", Repository: "api"}

// builds are the demo app's images in a test registry.
type builds struct {
	reg                       *registry.Client
	v1, v2, crash             v1.Hash
	health, unhealthy, bad500 v1.Hash
	commits                   map[v1.Hash]string
}

// hcCheck is the demo images' Docker HEALTHCHECK.
var hcCheck = []string{"CMD", "/app/tier", "demo-app", "--check"}

// setup pushes the demo app's builds to a fresh embedded registry: v1 and
// v2; crash exits at once with status 3; health has a Docker HEALTHCHECK;
// unhealthy has one and fails it; bad500 has none and answers /healthz
// with 500.
func setup(t *testing.T) *builds {
	t.Helper()
	b := &builds{reg: dockertest.Registry(t), commits: map[v1.Hash]string{}}
	push := func(version, commit string, hc []string, env ...string) v1.Hash {
		h := dockertest.Push(t, b.reg, "api", dockertest.Build{Version: version, Commit: commit, Env: env, Healthcheck: hc})
		b.commits[h] = commit
		return h
	}
	b.v1 = push("v1", strings.Repeat("1", 40), nil)
	b.v2 = push("v2", strings.Repeat("2", 40), nil)
	b.crash = push("v3-crash", strings.Repeat("3", 40), nil, "DEMO_APP_EXIT=3")
	b.health = push("v4-health", strings.Repeat("4", 40), hcCheck)
	b.unhealthy = push("v5-unhealthy", strings.Repeat("5", 40), hcCheck, "DEMO_APP_HEALTH=500")
	b.bad500 = push("v6-bad500", strings.Repeat("6", 40), nil, "DEMO_APP_HEALTH=500")
	return b
}

// deployment of digest h to env.
func (b *builds) deployment(env config.Environment, h v1.Hash) target.Deployment {
	return target.Deployment{
		Environment: env, Service: api,
		Image:      b.reg.Host() + "/api@" + h.String(),
		Repository: b.reg.Host() + "/api", Tag: env.Tier,
		Digest: h, Commit: b.commits[h],
	}
}

// prefix is unique to this test run, for container names.
var prefix = "tdk-" + strconv.FormatInt(time.Now().UnixNano()%(1<<40), 36) + "-"

// environment returns an environment whose container lives on host, on a
// free port, with network "host", and removes its containers when the
// test ends.
func environment(t *testing.T, tgt *docker.Target, host, name, tenant, health string) config.Environment {
	t.Helper()
	env := config.Environment{
		Name: name, Tier: "dev", Tenant: tenant,
		Target: config.Target{Docker: &config.Docker{
			Host: host, Container: prefix + name, Port: targettest.FreePort(t), Network: "host", Health: health,
		}},
	}
	cli := dockertest.Client(t, host)
	t.Cleanup(func() {
		ctx := context.Background()
		if err := tgt.Stop(ctx, env, api); err != nil {
			t.Errorf("Stop(%s) = %v, want nil", name, err)
		}
		// Whatever a failed test left behind.
		for _, n := range []string{env.Target.Docker.Container, env.Target.Docker.Container + "-next"} {
			cli.ContainerRemove(ctx, n, client.ContainerRemoveOptions{Force: true})
		}
	})
	return env
}

func newTarget(t *testing.T, o docker.Options) *docker.Target {
	t.Helper()
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if o.HealthTimeout == 0 {
		o.HealthTimeout = 30 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 5 * time.Second
	}
	tgt := docker.New(o)
	t.Cleanup(func() {
		if err := tgt.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	})
	return tgt
}

// testWriter sends the target's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// appInfo is what GET /version of the demo app answers.
type appInfo struct {
	Version     string `json:"version"`
	Environment string `json:"environment"`
	Digest      string `json:"digest"`
}

func version(t *testing.T, env config.Environment) appInfo {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/version", env.Target.Docker.Port)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var info appInfo
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatalf("GET %s = %s %q: %v", url, resp.Status, body, err)
	}
	return info
}

// running is the observation of a container that runs h.
func running(env config.Environment, h v1.Hash) target.Observation {
	return target.Observation{
		State: target.Running, Running: []v1.Hash{h},
		URL: fmt.Sprintf("http://127.0.0.1:%d/", env.Target.Docker.Port),
	}
}

func observe(t *testing.T, tgt *docker.Target, env config.Environment, want target.Observation) target.Observation {
	t.Helper()
	o, err := tgt.Observe(context.Background(), env, api)
	if err != nil {
		t.Fatalf("Observe(%s) error = %v, want nil", env.Name, err)
	}
	if want.State != "" && !reflect.DeepEqual(o, want) {
		t.Errorf("Observe(%s) = %+v, want %+v", env.Name, o, want)
	}
	return o
}

func inspect(t *testing.T, cli *client.Client, name string) client.ContainerInspectResult {
	t.Helper()
	r, err := cli.ContainerInspect(context.Background(), name, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("ContainerInspect(%s) = %v", name, err)
	}
	return r
}

// containers lists the names of all containers whose name starts with
// name.
func containers(t *testing.T, cli *client.Client, name string) []string {
	t.Helper()
	r, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("name", "^/"+name)})
	if err != nil {
		t.Fatalf("ContainerList = %v", err)
	}
	var names []string
	for _, c := range r.Items {
		names = append(names, strings.TrimPrefix(c.Names[0], "/"))
	}
	return names
}

// TestDeploy walks one environment through first deploy, redeploy, a
// no-op, a build that crashes, a container stopped by hand and removal.
func TestDeploy(t *testing.T) {
	host := dockertest.Hosts(t, 1)[0]
	b := setup(t)
	tgt := newTarget(t, docker.Options{})
	cli := dockertest.Client(t, host)
	env := environment(t, tgt, host, "dev", "default", "/healthz")
	name := env.Target.Docker.Container
	ctx := context.Background()

	t.Run("not deployed", func(t *testing.T) {
		observe(t, tgt, env, target.Observation{State: target.NotDeployed})
	})

	t.Run("first deploy", func(t *testing.T) {
		if err := tgt.Deploy(ctx, b.deployment(env, b.v1)); err != nil {
			t.Fatalf("Deploy(v1) = %v, want nil", err)
		}
		if got := version(t, env); got.Version != "v1" || got.Environment != "dev" || got.Digest != b.v1.String() {
			t.Errorf("GET /version = %+v, want v1 in dev with digest %s", got, b.v1)
		}
		observe(t, tgt, env, running(env, b.v1))
		c := inspect(t, cli, name).Container
		if want := b.reg.Host() + "/api@" + b.v1.String(); c.Config.Image != want {
			t.Errorf("ContainerInspect(%s).Config.Image = %q, want %q", name, c.Config.Image, want)
		}
		if got := c.Config.Labels[docker.LabelDigest]; got != b.v1.String() {
			t.Errorf("label %s = %q, want %s", docker.LabelDigest, got, b.v1)
		}
		if got := c.HostConfig.RestartPolicy.Name; got != "unless-stopped" {
			t.Errorf("restart policy = %q, want unless-stopped", got)
		}
		if got := string(c.HostConfig.NetworkMode); got != "host" {
			t.Errorf("network mode = %q, want host", got)
		}
	})

	var id string
	t.Run("redeploy", func(t *testing.T) {
		if err := tgt.Deploy(ctx, b.deployment(env, b.v2)); err != nil {
			t.Fatalf("Deploy(v2) = %v, want nil", err)
		}
		if got := version(t, env); got.Version != "v2" {
			t.Errorf("GET /version = %+v, want v2", got)
		}
		if got := containers(t, cli, name); !reflect.DeepEqual(got, []string{name}) {
			t.Errorf("containers named %s* = %q, want only %s", name, got, name)
		}
		observe(t, tgt, env, running(env, b.v2))
		id = inspect(t, cli, name).Container.ID
	})

	t.Run("another environment's container", func(t *testing.T) {
		other := env
		other.Name = "staging"
		err := tgt.Deploy(ctx, b.deployment(other, b.v1))
		if err == nil || !strings.Contains(err.Error(), "belongs to environment dev") {
			t.Errorf("Deploy(staging, container of dev) = %v, want an error naming environment dev", err)
		}
		if o := observe(t, tgt, other, target.Observation{}); o.State != target.Failed {
			t.Errorf("Observe(staging, container of dev) = %+v, want failed", o)
		}
		observe(t, tgt, env, running(env, b.v2))
	})

	t.Run("same digest again is a no-op", func(t *testing.T) {
		if err := tgt.Deploy(ctx, b.deployment(env, b.v2)); err != nil {
			t.Fatalf("Deploy(v2) again = %v, want nil", err)
		}
		if got := inspect(t, cli, name).Container.ID; got != id {
			t.Errorf("container ID after deploying v2 again = %s, want %s (unchanged)", got[:12], id[:12])
		}
	})

	t.Run("crashing build restores the old container", func(t *testing.T) {
		err := tgt.Deploy(ctx, b.deployment(env, b.crash))
		var de *target.DeployError
		if !errors.As(err, &de) {
			t.Fatalf("Deploy(crash) = %v, want a *target.DeployError", err)
		}
		t.Logf("Deploy(crash) = %v", err)
		if de.ExitCode != 3 || !strings.Contains(err.Error(), "exited with code 3") {
			t.Errorf("Deploy(crash) = %v (exit code %d), want it to name exit code 3", err, de.ExitCode)
		}
		if !strings.Contains(err.Error(), "exiting with status 3") {
			t.Errorf("Deploy(crash) = %v, want the container's log line %q", err, "exiting with status 3")
		}
		if de.Restored != b.v2.String() || !strings.Contains(err.Error(), "restored the previous container") {
			t.Errorf("Deploy(crash).Restored = %q, message %q; want %s restored", de.Restored, err, b.v2)
		}
		if got := version(t, env); got.Version != "v2" {
			t.Errorf("GET /version after the failed deploy = %+v, want v2", got)
		}
		// The engine runs the old container again; the failure of the
		// rollout is Deploy's error, not a state of the platform.
		observe(t, tgt, env, running(env, b.v2))
		if got := inspect(t, cli, name).Container.ID; got != id {
			t.Errorf("container ID after the failed deploy = %s, want %s (the old one)", got[:12], id[:12])
		}
		if got := containers(t, cli, name); !reflect.DeepEqual(got, []string{name}) {
			t.Errorf("containers named %s* = %q, want only %s", name, got, name)
		}
	})

	t.Run("container stopped by hand", func(t *testing.T) {
		if _, err := cli.ContainerStop(ctx, name, client.ContainerStopOptions{}); err != nil {
			t.Fatalf("ContainerStop(%s) = %v", name, err)
		}
		o := observe(t, tgt, env, target.Observation{})
		if o.State != target.Failed || !strings.Contains(o.Reason, "exited") || o.Running != nil {
			t.Errorf("Observe(dev) = %+v, want failed, \"exited\", nothing running", o)
		}
		t.Logf("Observe(dev).Reason = %q", o.Reason)
		// Deploying the same digest starts a fresh container.
		if err := tgt.Deploy(ctx, b.deployment(env, b.v2)); err != nil {
			t.Fatalf("Deploy(v2) after the stop = %v, want nil", err)
		}
		observe(t, tgt, env, running(env, b.v2))
	})

	t.Run("changed settings redeploy the same digest", func(t *testing.T) {
		id := inspect(t, cli, name).Container.ID
		env := env
		dc := *env.Target.Docker
		dc.Env = map[string]string{"GREETING": "hello"}
		env.Target.Docker = &dc
		if err := tgt.Deploy(ctx, b.deployment(env, b.v2)); err != nil {
			t.Fatalf("Deploy(v2, new env) = %v, want nil", err)
		}
		c := inspect(t, cli, name).Container
		if c.ID == id {
			t.Errorf("container ID = %s, want a new container for the new settings", id[:12])
		}
		found := false
		for _, v := range c.Config.Env {
			found = found || v == "GREETING=hello"
		}
		if !found {
			t.Errorf("container env = %q, want GREETING=hello", c.Config.Env)
		}
	})

	t.Run("stop", func(t *testing.T) {
		if err := tgt.Stop(ctx, env, api); err != nil {
			t.Fatalf("Stop(dev) = %v, want nil", err)
		}
		observe(t, tgt, env, target.Observation{State: target.NotDeployed})
		if got := containers(t, cli, name); len(got) != 0 {
			t.Errorf("containers named %s* after Stop = %q, want none", name, got)
		}
	})
}

// TestHealth covers the three ways a replacement is judged: Docker's
// HEALTHCHECK passing, Docker's HEALTHCHECK failing, and tier's own HTTP
// check failing.
func TestHealth(t *testing.T) {
	host := dockertest.Hosts(t, 1)[0]
	b := setup(t)
	cli := dockertest.Client(t, host)
	ctx := context.Background()

	t.Run("Docker health check", func(t *testing.T) {
		tgt := newTarget(t, docker.Options{})
		// No health of tier's: the image's HEALTHCHECK decides.
		env := environment(t, tgt, host, "hc", "default", "")
		name := env.Target.Docker.Container
		if err := tgt.Deploy(ctx, b.deployment(env, b.health)); err != nil {
			t.Fatalf("Deploy(health) = %v, want nil", err)
		}
		c := inspect(t, cli, name).Container
		if c.State.Health == nil || c.State.Health.Status != "healthy" {
			t.Errorf("ContainerInspect(%s).State.Health = %+v, want healthy", name, c.State.Health)
		}
		observe(t, tgt, env, running(env, b.health))

		err := tgt.Deploy(ctx, b.deployment(env, b.unhealthy))
		var de *target.DeployError
		if !errors.As(err, &de) {
			t.Fatalf("Deploy(unhealthy) = %v, want a *target.DeployError", err)
		}
		t.Logf("Deploy(unhealthy) = %v", err)
		if !strings.Contains(de.Reason, "unhealthy") || de.ExitCode != -1 {
			t.Errorf("Deploy(unhealthy).Reason = %q (exit code %d), want Docker's unhealthy verdict", de.Reason, de.ExitCode)
		}
		if de.Restored != b.health.String() {
			t.Errorf("Deploy(unhealthy).Restored = %q, want %s", de.Restored, b.health)
		}
		if got := version(t, env); got.Version != "v4-health" {
			t.Errorf("GET /version = %+v, want v4-health", got)
		}
		observe(t, tgt, env, running(env, b.health))
	})

	t.Run("tier's HTTP check", func(t *testing.T) {
		tgt := newTarget(t, docker.Options{HealthTimeout: 3 * time.Second})
		env := environment(t, tgt, host, "http", "default", "/healthz")
		if err := tgt.Deploy(ctx, b.deployment(env, b.v1)); err != nil {
			t.Fatalf("Deploy(v1) = %v, want nil", err)
		}
		// Observe while the deploy runs: the replacement exists from its
		// creation until Deploy gives up on it, at least HealthTimeout.
		done := make(chan error)
		go func() { done <- tgt.Deploy(ctx, b.deployment(env, b.bad500)) }()
		var during []target.Observation
		var err error
	poll:
		for {
			select {
			case err = <-done:
				break poll
			case <-time.After(100 * time.Millisecond):
				o, oerr := tgt.Observe(ctx, env, api)
				if oerr != nil {
					t.Errorf("Observe(http) during the deploy = %v, want nil", oerr)
				}
				during = append(during, o)
			}
		}
		sawDeploying := false
		for _, o := range during {
			sawDeploying = sawDeploying || o.State == target.Deploying && strings.Contains(o.Reason, "-next")
		}
		if !sawDeploying {
			t.Errorf("Observe(http) during the deploy = %+v, want deploying at some point", during)
		}
		var de *target.DeployError
		if !errors.As(err, &de) {
			t.Fatalf("Deploy(bad500) = %v, want a *target.DeployError", err)
		}
		t.Logf("Deploy(bad500) = %v", err)
		if !strings.Contains(de.Reason, "timed out") || !strings.Contains(de.Reason, "500") {
			t.Errorf("Deploy(bad500).Reason = %q, want a timeout naming the 500 answer", de.Reason)
		}
		if got := version(t, env); got.Version != "v1" {
			t.Errorf("GET /version = %+v, want v1", got)
		}
		observe(t, tgt, env, running(env, b.v1))
	})

	t.Run("cancelled deploy still restores", func(t *testing.T) {
		tgt := newTarget(t, docker.Options{})
		env := environment(t, tgt, host, "cancel", "default", "/healthz")
		if err := tgt.Deploy(ctx, b.deployment(env, b.v1)); err != nil {
			t.Fatalf("Deploy(v1) = %v, want nil", err)
		}
		cctx, cancel := context.WithTimeout(ctx, 4*time.Second)
		defer cancel()
		// bad500 never passes; the context ends while Deploy waits.
		err := tgt.Deploy(cctx, b.deployment(env, b.bad500))
		var de *target.DeployError
		if !errors.As(err, &de) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Deploy(bad500) with a 4s context = %v, want a *target.DeployError wrapping the deadline", err)
		}
		if de.Restored != b.v1.String() {
			t.Errorf("Deploy(bad500).Restored = %q, want %s", de.Restored, b.v1)
		}
		if got := version(t, env); got.Version != "v1" {
			t.Errorf("GET /version = %+v, want v1", got)
		}
	})
}

// TestTwoEngines deploys dev and mb-dev, on separate engines like the
// seed's separate accounts, at the same time.
func TestTwoEngines(t *testing.T) {
	hosts := dockertest.Hosts(t, 2)
	b := setup(t)
	tgt := newTarget(t, docker.Options{})
	envs := []config.Environment{
		environment(t, tgt, hosts[0], "dev", "default", "tcp"),
		environment(t, tgt, hosts[1], "mb-dev", "mb", "/healthz"),
	}
	errs := make([]error, len(envs))
	var wg sync.WaitGroup
	for i, env := range envs {
		wg.Go(func() { errs[i] = tgt.Deploy(context.Background(), b.deployment(env, b.v2)) })
	}
	wg.Wait()
	for i, env := range envs {
		t.Run(env.Name, func(t *testing.T) {
			if errs[i] != nil {
				t.Fatalf("Deploy(%s, v2) = %v, want nil", env.Name, errs[i])
			}
			if got := version(t, env); got.Version != "v2" || got.Environment != env.Name {
				t.Errorf("GET /version = %+v, want v2 in %s", got, env.Name)
			}
			observe(t, tgt, env, running(env, b.v2))
			cli := dockertest.Client(t, hosts[i])
			if got := inspect(t, cli, env.Target.Docker.Container).Container.Config.Labels[docker.LabelEnvironment]; got != env.Name {
				t.Errorf("label %s on %s = %q, want %s", docker.LabelEnvironment, hosts[i], got, env.Name)
			}
		})
	}
}

// TestUnreachable: an engine that does not answer is an error, not a
// state.
func TestUnreachable(t *testing.T) {
	tgt := newTarget(t, docker.Options{})
	env := config.Environment{Name: "gone", Tier: "dev", Tenant: "default", Target: config.Target{Docker: &config.Docker{
		Host: "unix://" + t.TempDir() + "/nothing.sock", Container: "api",
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o, err := tgt.Observe(ctx, env, api)
	if err == nil {
		t.Fatalf("Observe(unreachable engine) = %+v, nil; want an error", o)
	}
	if !client.IsErrConnectionFailed(err) {
		t.Errorf("Observe(unreachable engine) = %v, want a connection failure", err)
	}
}
