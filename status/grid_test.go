package status_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/push"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/status"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/targettest"
)

// TestEnvironments checks every state of the grid against what a scripted
// platform reports.
func TestEnvironments(t *testing.T) {
	ctx := context.Background()
	c, err := registry.New(testreg.New(t), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	local := func(name, tier, tenant string) config.Environment {
		return config.Environment{Name: name, Tier: tier, Tenant: tenant, Target: config.Target{Local: &config.Local{Port: 1}}}
	}
	cfg := &config.Config{
		Services: []config.Service{{Name: "api", Repository: "api"}},
		Tiers:    []config.Tier{{Name: "dev", Tag: "dev"}, {Name: "prod", Release: true, From: "dev"}},
		Environments: []config.Environment{
			local("dev", "dev", "default"), local("mb-dev", "dev", "mb"), local("dev-eu", "dev", "eu"),
			local("dev-us", "dev", "us"), local("dev-ap", "dev", "ap"), local("prod", "prod", "default"), local("mb-prod", "prod", "mb"),
		},
	}
	commit := "abcdefabcdefabcdefabcdefabcdefabcdefabcd"
	img, _ := random.Image(64, 1)
	b, err := push.Push(ctx, c, img, push.Request{Repository: "api", Commit: commit, Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	other := targettest.Hash("other")
	// No targets: the environments stay as scripted below.
	p := &promote.Promoter{Config: cfg, Registry: c}
	if _, err := p.Promote(ctx, promote.Request{Tier: "dev", Commit: commit}); err != nil {
		t.Fatal(err)
	}
	tg := targettest.New()
	tg.Set("dev", targettest.Script{}, b.Digest)
	tg.Set("mb-dev", targettest.Script{}, other)
	tg.Set("dev-eu", targettest.Script{ObserveErr: errors.New("dial tcp: connection refused")})
	tg.Set("dev-us", targettest.Script{Never: true}, b.Digest)
	tg.Set("dev-ap", targettest.Script{ConvergeAfter: 0, RollBack: "circuit breaker rolled it back"}, other)
	tg.Set("prod", targettest.Script{})
	tg.Set("mb-prod", targettest.Script{}, b.Digest)
	// dev-us and dev-ap are mid-rollout; start them through the target.
	for _, n := range []string{"dev-us", "dev-ap"} {
		var env config.Environment
		for _, e := range cfg.Environments {
			if e.Name == n {
				env = e
			}
		}
		if err := tg.Deploy(ctx, target.Deployment{Environment: env, Service: cfg.Services[0], Digest: b.Digest}); err != nil {
			t.Fatal(err)
		}
	}
	g, err := status.Environments(ctx, cfg, catalog.New(c), func(config.Environment) (target.Target, error) { return tg, nil }, status.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]target.State{
		"dev":     target.InSync,
		"mb-dev":  target.Drifted,
		"dev-eu":  target.Unreachable,
		"dev-us":  target.Deploying,
		"dev-ap":  target.Failed,
		"prod":    target.NotDeployed,
		"mb-prod": target.Drifted, // runs a build, but prod has no release yet
	}
	for _, e := range g.Environments {
		if e.State != want[e.Name] {
			t.Errorf("Environments() %s = %s (%s), want %s", e.Name, e.State, e.Reason, want[e.Name])
		}
		if e.Tier == "dev" && (e.DesiredDigest != b.Digest.String() || e.DesiredCommit != commit) {
			t.Errorf("Environments() %s desired = %s %s, want %s %s", e.Name, e.DesiredDigest, e.DesiredCommit, b.Digest, commit)
		}
	}
	if len(g.Environments) != len(want) {
		t.Errorf("Environments() = %d rows, want %d", len(g.Environments), len(want))
	}
	if g.InSync() {
		t.Errorf("InSync() = true with drifted environments")
	}
	byName := map[string]status.EnvironmentView{}
	for _, e := range g.Environments {
		byName[e.Name] = e
	}
	if r := byName["dev-eu"].Reason; r != "dial tcp: connection refused" {
		t.Errorf("dev-eu reason = %q, want the observe error", r)
	}
	if r := byName["dev-ap"].Reason; r != "circuit breaker rolled it back" {
		t.Errorf("dev-ap reason = %q, want the platform's", r)
	}
	if c := byName["dev"].RunningCommit; c != commit {
		t.Errorf("dev running commit = %q, want %s", c, commit)
	}
}
