// Package targettest provides a scripted deploy target for tests and
// benchmarks of the engine, where each environment's behaviour (latency,
// time to converge, failures, rollbacks, a wrong digest) is set by the
// test, and helpers for the tests of the real targets.
package targettest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// Script is how one environment behaves.
type Script struct {
	// Latency is how long every Deploy and Observe call takes.
	Latency time.Duration
	// ConvergeAfter is how long after Deploy returns the new digest runs.
	ConvergeAfter time.Duration
	// DeployErr makes Deploy fail.
	DeployErr error
	// Never keeps the rollout in flight forever.
	Never bool
	// RollBack makes the platform roll the rollout back once it would have
	// converged: the old digest runs and the state is failed with this
	// reason.
	RollBack string
	// Reports makes the platform report this digest instead of the one
	// deployed once converged.
	Reports *v1.Hash
	// ObserveErr makes Observe fail.
	ObserveErr error
	// FailedProbes makes the first FailedProbes observations after a
	// rollout converged report it failed, as a health probe answered by
	// "connection reset" would, before it reports running.
	FailedProbes int
}

type envState struct {
	script   Script
	running  []v1.Hash
	pending  *v1.Hash
	deployAt time.Time
	failed   string
	// probes counts the failed probes reported since the last rollout.
	probes int
}

// Target is a scripted target.Target, safe for concurrent use.
type Target struct {
	mu      sync.Mutex
	envs    map[string]*envState
	deploys []string
	active  int
	// MaxActive is the most Deploy calls seen in flight at once.
	MaxActive int
}

var _ target.Target = (*Target)(nil)

// New returns a target where every environment follows def unless Set.
func New() *Target { return &Target{envs: map[string]*envState{}} }

func key(env config.Environment, svc config.Service) string { return env.Name + "/" + svc.Name }

// Set scripts env (all services) and says what it runs now.
func (t *Target) Set(env string, s Script, running ...v1.Hash) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.envs[env] = &envState{script: s, running: running}
}

func (t *Target) state(env config.Environment) *envState {
	st, ok := t.envs[env.Name]
	if !ok {
		st = &envState{}
		t.envs[env.Name] = st
	}
	return st
}

// Deploys lists "env/service@digest" for every Deploy call, in order.
func (t *Target) Deploys() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.deploys...)
}

// Running returns what env runs now.
func (t *Target) Running(env string) []v1.Hash {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.envs[env]
	if st == nil {
		return nil
	}
	t.advance(st)
	return append([]v1.Hash(nil), st.running...)
}

func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// Deploy implements target.Target.
func (t *Target) Deploy(ctx context.Context, d target.Deployment) error {
	t.mu.Lock()
	st := t.state(d.Environment)
	s := st.script
	t.active++
	t.MaxActive = max(t.MaxActive, t.active)
	t.deploys = append(t.deploys, key(d.Environment, d.Service)+"@"+d.Digest.String())
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.active--
		t.mu.Unlock()
	}()
	if err := wait(ctx, s.Latency); err != nil {
		return err
	}
	if s.DeployErr != nil {
		return s.DeployErr
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	dig := d.Digest
	st.pending, st.deployAt, st.failed, st.probes = &dig, time.Now(), "", 0
	return nil
}

// advance applies a pending rollout whose time has come.
func (t *Target) advance(st *envState) {
	s := st.script
	if st.pending == nil || s.Never || time.Since(st.deployAt) < s.ConvergeAfter {
		return
	}
	switch {
	case s.RollBack != "":
		st.failed = s.RollBack
	case s.Reports != nil:
		st.running = []v1.Hash{*s.Reports}
	default:
		st.running = []v1.Hash{*st.pending}
	}
	st.pending = nil
}

// Observe implements target.Target.
func (t *Target) Observe(ctx context.Context, env config.Environment, svc config.Service) (target.Observation, error) {
	t.mu.Lock()
	s := t.state(env).script
	t.mu.Unlock()
	if err := wait(ctx, s.Latency); err != nil {
		return target.Observation{}, err
	}
	if s.ObserveErr != nil {
		return target.Observation{}, s.ObserveErr
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.state(env)
	t.advance(st)
	o := target.Observation{State: target.Running, Running: append([]v1.Hash(nil), st.running...)}
	switch {
	case st.failed != "":
		o.State, o.Reason = target.Failed, st.failed
	case st.pending == nil && len(st.running) > 0 && st.probes < s.FailedProbes:
		st.probes++
		o.State, o.Reason = target.Failed, "health check failing: read: connection reset by peer"
	case st.pending != nil:
		o.State = target.Deploying
	case len(st.running) == 0:
		o.State = target.NotDeployed
	}
	return o, nil
}

// Close implements target.Target; a scripted target holds nothing.
func (t *Target) Close() error { return nil }

// Hash makes a digest from a short name, for readable tests.
func Hash(name string) v1.Hash {
	h, _, err := v1.SHA256(strings.NewReader(name))
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return h
}
