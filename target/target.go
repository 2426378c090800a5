// Package target defines what tier needs from a deploy target: deploy one
// pinned digest to one environment, and observe what the platform runs
// there. Each platform (local processes, Docker, Swarm, ECS, Kubernetes)
// implements Target in its own package.
package target

import (
	"context"
	"errors"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/config"
)

// Deployment is one service of one environment to be set to one build.
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
}

// State is what an environment is doing, as its platform says.
type State string

// States a target reports. The engine and `tier status` derive in-sync and
// drifted by comparing Running with the desired digest.
const (
	// Running: the platform runs Running and no rollout is in flight.
	Running State = "running"
	// Deploying: a rollout is in flight.
	Deploying State = "deploying"
	// Failed: the last rollout failed or the platform rolled it back.
	Failed State = "failed"
	// NotDeployed: nothing runs there yet.
	NotDeployed State = "not-deployed"
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

// RunsOnly reports whether the platform runs exactly digest and nothing
// else, with no rollout in flight.
func (o Observation) RunsOnly(digest v1.Hash) bool {
	if o.State != Running || len(o.Running) == 0 {
		return false
	}
	for _, d := range o.Running {
		if d != digest {
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
