package deploy_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/client"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/deploy"
	"github.com/tierdeploy/tier/internal/dockertest"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/docker"
)

// BenchmarkDockerTier promotes one tier of 6 docker environments (3 on each
// of two engines, as the seed's two accounts) with the engine's parallel
// fan-out, and the same environments one after another. Each iteration
// alternates between two builds, so every environment really pulls,
// replaces and health-checks a container.
func BenchmarkDockerTier(b *testing.B) {
	hosts := dockertest.Hosts(b, 2)
	reg := dockertest.Registry(b)
	builds := []v1.Hash{
		dockertest.Push(b, reg, "api", dockertest.Build{Version: "v1", Commit: "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1"}),
		dockertest.Push(b, reg, "api", dockertest.Build{Version: "v2", Commit: "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"}),
	}
	svc := config.Service{Name: "api", Repository: "api"}
	var envs []config.Environment
	for i := range 6 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		envs = append(envs, config.Environment{Name: fmt.Sprintf("bench%d", i), Tier: "dev", Tenant: "default", Target: config.Target{Docker: &config.Docker{
			Host: hosts[i%2], Container: fmt.Sprintf("tdk-bench-%d", i), Port: port, Network: "host", Health: "/healthz"}}})
	}
	tg := docker.New(docker.Options{})
	b.Cleanup(func() {
		for _, e := range envs {
			c := dockertest.Client(b, e.Target.Docker.Host)
			c.ContainerRemove(context.Background(), e.Target.Docker.Container, client.ContainerRemoveOptions{Force: true})
		}
		tg.Close()
	})
	for _, bc := range []struct {
		name     string
		parallel int
	}{{"parallel-6", 0}, {"serial-6", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				d := builds[i%2]
				i++
				var its []target.Deployment
				for _, e := range envs {
					its = append(its, target.Deployment{Environment: e, Service: svc, Repository: reg.Name("api"), Tag: "dev", Digest: d})
				}
				e := &deploy.Engine{Target: func(config.Environment) (target.Target, error) { return tg, nil }, Parallel: bc.parallel}
				if rep := e.Run(context.Background(), its, false); deploy.VerdictOf(rep) != deploy.Done {
					b.Fatalf("Run() = %+v", rep)
				}
			}
		})
	}
}
