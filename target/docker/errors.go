package docker

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/target"
)

// DeployError says a new build did not become healthy in its container.
// The target removed that container and, when Restored is set, started
// the previous container again.
type DeployError struct {
	Environment string
	Service     string
	// Container is the environment's container name; the build was tried
	// in Container+"-next".
	Container string
	// Digest is the build that failed.
	Digest v1.Hash
	// Reason says why: "container api-next exited with code 3", "Docker
	// health check reported unhealthy: ...", "health check timed out
	// after 1m0s: GET http://127.0.0.1:8081/healthz answered 500 Internal
	// Server Error", ...
	Reason string
	// ExitCode is the failed container's exit status when it exited, -1
	// when it did not.
	ExitCode int
	// Log holds the last lines the failed container wrote (stdout and
	// stderr, interleaved as the engine recorded them).
	Log []string
	// Previous is the digest the old container ran when the deploy began
	// ("" if none ran).
	Previous string
	// Restored is the digest running again in the old container, or ""
	// when nothing was restored.
	Restored string
	// RestoreErr says why starting the old container again failed.
	RestoreErr error
	// Err is the cause behind Reason; it wraps the context's error when
	// the deploy was cancelled or ran out of time.
	Err error
}

func (e *DeployError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deploying %s %s to %s: %s", e.Service, target.Short(e.Digest.String()), e.Environment, e.Reason)
	switch {
	case e.Restored != "":
		fmt.Fprintf(&b, "; restored the previous container %s (%s)", e.Container, target.Short(e.Restored))
	case e.RestoreErr != nil:
		fmt.Fprintf(&b, "; restarting the previous container %s (%s) failed too: %v", e.Container, target.Short(e.Previous), e.RestoreErr)
	default:
		b.WriteString("; no previous container was running, so nothing runs now")
	}
	if len(e.Log) > 0 {
		fmt.Fprintf(&b, "\nlast lines of container %s%s:", e.Container, nextSuffix)
		for _, l := range e.Log {
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *DeployError) Unwrap() error { return e.Err }

// ExitError says a container exited while tier waited for it to become
// healthy.
type ExitError struct {
	Container string
	Code      int
	OOMKilled bool
	// Message is the engine's error for the container (State.Error), if
	// any: a command that could not be started, for example.
	Message string
}

func (e *ExitError) Error() string {
	s := fmt.Sprintf("container %s exited with code %d", e.Container, e.Code)
	if e.OOMKilled {
		s += " (killed: out of memory)"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}
