package targets

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/targettest"
)

// counted is a target that counts how often it was closed.
type counted struct {
	*targettest.Target
	closes *atomic.Int32
}

func (c counted) Close() error { c.closes.Add(1); return nil }

func TestSet(t *testing.T) {
	var made, closes atomic.Int32
	saved := kinds["local"]
	kinds["local"] = func(Options) target.Target {
		made.Add(1)
		return counted{targettest.New(), &closes}
	}
	t.Cleanup(func() { kinds["local"] = saved })

	s := New(Options{Config: &config.Config{}})
	local := config.Environment{Name: "dev", Target: config.Target{Local: &config.Local{Port: 1}}}
	var wg sync.WaitGroup
	got := make([]target.Target, 16)
	for i := range got {
		wg.Go(func() {
			tg, err := s.For(local)
			if err != nil {
				t.Errorf("For(local) error = %v", err)
			}
			got[i] = tg
		})
	}
	wg.Wait()
	if made.Load() != 1 {
		t.Errorf("16 concurrent For(local) made %d targets, want 1", made.Load())
	}
	for _, tg := range got {
		if tg != got[0] {
			t.Fatalf("For(local) returned different targets: %v and %v", tg, got[0])
		}
	}

	k8s := config.Environment{Name: "edge", Target: config.Target{Kubernetes: &config.Kubernetes{Deployment: "api"}}}
	if _, err := s.For(k8s); err == nil || !strings.Contains(err.Error(), "the kubernetes target is not available in this version of tier") {
		t.Errorf("For(kubernetes) error = %v, want not available", err)
	}

	if err := s.Close(); err != nil || closes.Load() != 1 {
		t.Errorf("Close() = %v after closing %d targets, want nil after 1", err, closes.Load())
	}
	// A target asked for after Close is a new one.
	if _, err := s.For(local); err != nil || made.Load() != 2 {
		t.Errorf("For(local) after Close = %v, made %d, want a new target", err, made.Load())
	}
}

// Every kind of target config knows, except kubernetes, has a maker.
func TestEveryKindHasATarget(t *testing.T) {
	for _, k := range []string{"local", "docker", "swarm", "ecs"} {
		if kinds[k] == nil {
			t.Errorf("kinds[%q] is missing", k)
		}
	}
	cfg := &config.Config{Registry: "012345678922.dkr.ecr.us-east-1.amazonaws.com", Tiers: []config.Tier{{Name: "prod", Release: true}}}
	s := New(Options{Config: cfg})
	defer s.Close()
	for _, tc := range []config.Target{
		{Local: &config.Local{Port: 1}}, {Docker: &config.Docker{Container: "api"}}, {Swarm: &config.Swarm{Service: "api"}}, {ECS: &config.ECS{Cluster: "c", Service: "s"}},
	} {
		if tg, err := s.For(config.Environment{Name: "e", Target: tc}); err != nil || tg == nil {
			t.Errorf("For(%s) = %v, %v, want a target", tc.Kind(), tg, err)
		}
	}
}
