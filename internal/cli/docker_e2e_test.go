package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/tierdeploy/tier/internal/dockertest"
	"github.com/tierdeploy/tier/target/targettest"
)

// TestDockerAndSwarmEndToEnd runs the seed's method on real engines: the
// embedded registry serves the builds, dev and mb-dev are containers on two
// engines (two "accounts"), staging and prod are Swarm services, and tier
// status reads what the engines really run.
func TestDockerAndSwarmEndToEnd(t *testing.T) {
	hosts := dockertest.Hosts(t, 2)
	reg := dockertest.Registry(t)
	const (
		c1   = "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1"
		c2   = "e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2"
		cBad = "ebadebadebadebadebadebadebadebadebadebad"
	)
	d1 := dockertest.Push(t, reg, "api", dockertest.Build{Version: "v1", Commit: c1})
	d2 := dockertest.Push(t, reg, "api", dockertest.Build{Version: "v2", Commit: c2})
	dockertest.Push(t, reg, "api", dockertest.Build{Version: "bad", Commit: cBad, Env: []string{"DEMO_APP_EXIT=3"}})

	manager := dockertest.Client(t, hosts[0])
	stamp := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	pDev, pMb, pStg, pProd := targettest.FreePort(t), targettest.FreePort(t), targettest.FreePort(t), targettest.FreePort(t)
	stg, prod := "tcli-staging-"+stamp, "tcli-prod-"+stamp
	for _, s := range []struct {
		name    string
		port    int
		failure swarm.FailureAction
	}{{stg, pStg, swarm.UpdateFailureActionPause}, {prod, pProd, swarm.UpdateFailureActionRollback}} {
		createService(t, manager, s.name, reg.Host()+"/api@"+d1.String(), s.port, s.failure)
	}
	e := newEnv(t)
	e.config(fmt.Sprintf(`registry: %s
services:
  api: {repository: api}
tiers:
  - {name: dev, tag: dev}
  - {name: staging, tag: staging, from: dev}
  - {name: prod, release: true, from: staging}
environments:
  dev:     {tier: dev, tenant: default, docker: {host: %q, container: tcli-dev-%s, port: %d, network: host, health: /healthz}}
  mb-dev:  {tier: dev, tenant: mb, docker: {host: %q, container: tcli-mbdev-%s, port: %d, network: host, health: /healthz}}
  staging: {tier: staging, tenant: default, swarm: {host: %q, service: %s}}
  prod:    {tier: prod, tenant: default, swarm: {host: %q, service: %s}}
`, reg.Host(), hosts[0], stamp, pDev, hosts[1], stamp, pMb, hosts[0], stg, hosts[0], prod))
	clients := []*client.Client{dockertest.Client(t, hosts[0]), dockertest.Client(t, hosts[1])}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i, name := range []string{"tcli-dev-" + stamp, "tcli-mbdev-" + stamp} {
			if _, err := clients[i].ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true}); err != nil {
				t.Errorf("removing %s: %v", name, err)
			}
		}
	})

	mustRun := func(code int, args ...string) string {
		t.Helper()
		got, out, stderr := e.run(args...)
		if got != code {
			t.Fatalf("tier %s = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, out, stderr)
		}
		return out + stderr
	}

	// dev and mb-dev, on two engines, at once.
	mustRun(0, "promote", "dev", "--commit", c2, "--timeout", "2m")
	for _, p := range []int{pDev, pMb} {
		if got := version(t, p); !strings.HasPrefix(got, "v2@") {
			t.Errorf("port %d serves %s after promoting dev, want v2", p, got)
		}
	}
	// staging and prod on Swarm.
	mustRun(0, "promote", "staging", "--timeout", "2m")
	mustRun(0, "promote", "prod", "--timeout", "2m")
	for _, p := range []int{pStg, pProd} {
		if got := version(t, p); !strings.HasPrefix(got, "v2@") {
			t.Errorf("swarm port %d serves %s, want v2", p, got)
		}
	}

	// tier status matches what the engines report.
	st := envStatuses(t, e)
	for _, x := range st {
		if x.State != "in-sync" || len(x.RunningDigests) != 1 || x.RunningDigests[0] != d2.String() {
			t.Errorf("status %s = %s running %v, want in-sync on %s", x.Name, x.State, x.RunningDigests, d2)
		}
	}
	for i, name := range []string{"tcli-dev-" + stamp, "tcli-mbdev-" + stamp} {
		in, err := dockertest.Client(t, hosts[i]).ContainerInspect(t.Context(), name, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(in.Container.Config.Image, "@"+d2.String()) {
			t.Errorf("docker inspect %s: image %s, want @%s as tier status says", name, in.Container.Config.Image, d2)
		}
	}

	// A build that exits at once: dev keeps serving v2, exit 1.
	out := mustRun(1, "promote", "dev", "--commit", cBad, "--timeout", "2m")
	if !strings.Contains(out, "exit") {
		t.Errorf("failed promote output does not say the process exited:\n%s", out)
	}
	for _, p := range []int{pDev, pMb} {
		if got := version(t, p); !strings.HasPrefix(got, "v2@") {
			t.Errorf("port %d serves %s after the failed promotion, want v2 still", p, got)
		}
	}

	// prod's service rolls back (failure_action rollback): reported failed.
	e.clock = e.clock.Add(time.Hour)
	out = mustRun(1, "promote", "prod", "--commit", cBad, "--timeout", "3m")
	if !strings.Contains(out, "rolled back") {
		t.Errorf("prod rollback not reported as rolled back:\n%s", out)
	}

	// Drift made by hand: staging's service set to v1 behind tier's back.
	setImage(t, manager, stg, reg.Host()+"/api@"+d1.String())
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var got string
		for _, x := range envStatuses(t, e) {
			if x.Name == "staging" {
				got = x.State
			}
		}
		if got == "drifted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("staging = %s after a manual image change, want drifted", got)
		}
		time.Sleep(time.Second)
	}
}

type envStatus struct {
	Name           string
	State          string
	RunningDigests []string `json:"running_digests"`
}

func envStatuses(t *testing.T, e *env) []envStatus {
	t.Helper()
	code, out, stderr := e.run("status", "-o", "json")
	var g struct{ Environments []envStatus }
	if code != 0 || json.Unmarshal([]byte(out), &g) != nil {
		t.Fatalf("status -o json = %d: %s %s", code, out, stderr)
	}
	return g.Environments
}

func createService(t *testing.T, c *client.Client, name, image string, port int, failure swarm.FailureAction) {
	t.Helper()
	one := uint64(1)
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: image, Env: []string{"PORT=" + strconv.Itoa(port), "TIER_ENVIRONMENT=" + name}},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: "host"}},
		},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
		UpdateConfig: &swarm.UpdateConfig{Parallelism: 1, Order: swarm.UpdateOrderStopFirst, FailureAction: failure, Monitor: 3 * time.Second},
	}
	if _, err := c.ServiceCreate(t.Context(), client.ServiceCreateOptions{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := c.ServiceRemove(ctx, name, client.ServiceRemoveOptions{}); err != nil {
			t.Errorf("removing service %s: %v", name, err)
		}
	})
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if version(t, port) != "" && !strings.HasPrefix(version(t, port), "down") {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("service %s never answered on port %d", name, port)
}

// setImage changes a service's image by hand, as `docker service update
// --image` does.
func setImage(t *testing.T, c *client.Client, name, image string) {
	t.Helper()
	in, err := c.ServiceInspect(t.Context(), name, client.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := in.Service.Spec
	spec.TaskTemplate.ContainerSpec.Image = image
	if _, err := c.ServiceUpdate(t.Context(), in.Service.ID, client.ServiceUpdateOptions{Version: in.Service.Version, Spec: spec}); err != nil {
		t.Fatal(err)
	}
}
