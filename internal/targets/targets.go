// Package targets builds the deploy target of each environment: the one
// place that knows every kind of target. A new kind adds one line to
// kinds, next to its configuration block (package config) and its own
// package under target/.
package targets

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/awscred"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/docker"
	"github.com/tierdeploy/tier/target/ecs"
	"github.com/tierdeploy/tier/target/local"
	"github.com/tierdeploy/tier/target/swarm"
)

// Options are what the targets need, given once.
type Options struct {
	// Config is the project: its state directory (the local target's
	// processes), its registry host and its release tiers (the ecs target).
	Config *config.Config
	// Registry is the client the local target pulls images with.
	Registry *registry.Client
	// AWS hands out each environment's AWS configuration (the ecs target);
	// nil means a new awscred.Cache.
	AWS *awscred.Cache
	// HealthTimeout bounds the wait for a build the local and docker
	// targets started to become healthy (their default when 0).
	HealthTimeout time.Duration
	Log           *slog.Logger
}

// kinds makes the target of each kind of environment (config.Target.Kind).
var kinds = map[string]func(o Options) target.Target{
	"local": func(o Options) target.Target {
		return local.New(local.Options{Dir: LocalDir(o.Config), Registry: o.Registry, Log: o.Log, HealthTimeout: o.HealthTimeout})
	},
	"docker": func(o Options) target.Target {
		return docker.New(docker.Options{Log: o.Log, HealthTimeout: o.HealthTimeout})
	},
	"swarm": func(o Options) target.Target { return swarm.New(swarm.Options{Log: o.Log}) },
	"ecs": func(o Options) target.Target {
		return ecs.New(ecs.Options{Creds: o.AWS, Log: o.Log, ReleaseTiers: releaseTiers(o.Config), Registry: o.Config.Registry})
	},
}

// Set makes each kind of target once, on first use, and closes them all.
// It is safe for concurrent use.
type Set struct {
	o    Options
	mu   sync.Mutex
	made map[string]target.Target
}

// New returns a Set that makes targets with o.
func New(o Options) *Set {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.AWS == nil {
		o.AWS = &awscred.Cache{}
	}
	return &Set{o: o, made: map[string]target.Target{}}
}

// For returns the target of env: one per kind for the Set, each caching
// its platform clients. Its method value is a target.Factory.
func (s *Set) For(env config.Environment) (target.Target, error) {
	kind := env.Target.Kind()
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.made[kind]; ok {
		return t, nil
	}
	newTarget, ok := kinds[kind]
	if !ok {
		return nil, fmt.Errorf("the %s target is not available in this version of tier", kind)
	}
	t := newTarget(s.o)
	s.made[kind] = t
	return t, nil
}

// Close closes every target made.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for kind, t := range s.made {
		errs = append(errs, t.Close())
		delete(s.made, kind)
	}
	return errors.Join(errs...)
}

// LocalDir is where the local target of cfg keeps its processes' state.
func LocalDir(cfg *config.Config) string { return filepath.Join(cfg.StatePath(), "local") }

func releaseTiers(cfg *config.Config) map[string]bool {
	out := map[string]bool{}
	for _, t := range cfg.Tiers {
		out[t.Name] = t.Release
	}
	return out
}
