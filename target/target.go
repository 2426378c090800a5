// Package target defines what tier needs from a deploy target: deploy one
// pinned digest to one environment, and observe what the platform runs
// there. Each platform (local processes, Docker, Swarm, ECS, Kubernetes)
// implements Target in its own package; what only some platforms can do
// (stop what they started, check their own setup for `tier doctor`) are
// optional interfaces a target may also implement.
package target

import (
	"context"
	"errors"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/config"
)

// Deployment is one service of one environment to be set to one build:
// what a promotion plans and the engine hands to the environment's target.
type Deployment struct {
	Environment config.Environment
	Service     config.Service
	// Image is the full pinned reference: host/repo@sha256:...
	Image string
	// Repository is host/repo, Tag the tier's tag (or release tag) the
	// digest was promoted under.
	Repository string
	Tag        string
	Digest     v1.Hash
	Commit     string
	// Platforms lists the digests of the platform manifests when Digest is
	// an image index (a multi-platform build): platforms that report the
	// manifest they pulled for their platform run the build too.
	Platforms []v1.Hash
}

// RunBy reports whether obs shows the platform running exactly this
// deployment's build (its digest, or any platform manifest of it) and
// nothing else, with no rollout in flight.
func (d Deployment) RunBy(obs Observation) bool {
	return obs.RunsOnly(d.Digest, d.Platforms...)
}

// State is the state of an environment (PRODUCT.md). A target reports
// Running, Deploying, Failed or NotDeployed; `tier status` turns Running
// into InSync or Drifted by comparing what runs with what the registry
// says should, and reports Unreachable when the target cannot be asked.
type State string

// States.
const (
	// Running: the platform runs Observation.Running and no rollout is in
	// flight.
	Running State = "running"
	// Deploying: a rollout is in flight.
	Deploying State = "deploying"
	// Failed: the last rollout failed or the platform rolled it back.
	Failed State = "failed"
	// NotDeployed: nothing runs there yet.
	NotDeployed State = "not-deployed"
	// InSync: runs exactly the digest its tier's tag points to.
	InSync State = "in-sync"
	// Drifted: runs something else.
	Drifted State = "drifted"
	// Unreachable: the target could not be asked.
	Unreachable State = "unreachable"
)

// Observation is what the platform reports for one service of one
// environment.
type Observation struct {
	State State
	// Running lists the digests the platform runs (more than one during a
	// rollout, or when replicas differ).
	Running []v1.Hash
	// Reason explains Failed (or Deploying) in the platform's words.
	Reason string
	// URL is where the service answers, when the target knows.
	URL string
}

// RunsOnly reports whether the platform runs digest (or, for an image
// index, any of its platform manifests) and nothing else, with no rollout
// in flight.
func (o Observation) RunsOnly(digest v1.Hash, platforms ...v1.Hash) bool {
	if o.State != Running || len(o.Running) == 0 {
		return false
	}
	for _, d := range o.Running {
		if d != digest && !slices.Contains(platforms, d) {
			return false
		}
	}
	return true
}

// Target deploys to and observes one kind of platform.
type Target interface {
	// Deploy starts setting the service of d.Environment to d.Digest. It
	// may return before the rollout converges; the engine then waits with
	// Observe. It must be safe to call again with the same deployment.
	Deploy(ctx context.Context, d Deployment) error
	// Observe reports what the platform runs for svc in env.
	Observe(ctx context.Context, env config.Environment, svc config.Service) (Observation, error)
	// Close releases what the target holds (platform API clients). Some
	// targets cannot be used afterwards; callers close a target last.
	Close() error
}

// Factory returns the target of an environment. Implementations return one
// target per kind and may be called concurrently.
type Factory func(env config.Environment) (Target, error)

// Stopper is a Target that can stop what it started for svc in env and
// remove it (the demo's cleanup).
type Stopper interface {
	Stop(ctx context.Context, env config.Environment, svc config.Service) error
}

// Throttled is a Target whose platform limits how much it takes at once:
// Slot names the endpoint env's deploys go to (an AWS account and region, a
// Docker engine) and how many environments may deploy through it at once.
// The engine holds a slot for the length of an environment's rollout.
type Throttled interface {
	Slot(env config.Environment) (key string, limit int)
}

// Checker is a Target with checks of its own for `tier doctor`: that env's
// credentials work, its cluster and service exist, it may pull images of
// svcs. Targets that do not implement it are checked by observing each
// service.
type Checker interface {
	Check(ctx context.Context, env config.Environment, svcs []config.Service) []Finding
}

// Finding is the outcome of one doctor check of one environment. Field
// names are the JSON API's.
type Finding struct {
	Environment string `json:"environment"`
	Check       string `json:"check"`
	OK          bool   `json:"ok"`
	Detail      string `json:"detail"`
	Fix         string `json:"fix,omitempty"`
	// Warn marks a finding that passes (OK is true) but names a risk to
	// act on, with Fix saying how: a lifecycle rule that can expire
	// releases, a task definition another tool registered.
	Warn bool `json:"warning,omitempty"`
}

// Permanent reports whether err says that observing again cannot succeed
// (access denied, the service does not exist): errors that implement
// Permanent() bool and return true.
func Permanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// Short abbreviates a digest to its algorithm and first 12 hex digits
// (sha256:0b06d36a347e), and a commit or an ID to 12 characters, for
// messages and tables. Anything else is returned whole.
func Short(s string) string {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		if len(s) > i+13 {
			return s[:i+13]
		}
		return s
	}
	if len(s) > 12 && !strings.ContainsAny(s, "/@") {
		return s[:12]
	}
	return s
}
