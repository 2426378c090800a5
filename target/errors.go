package target

import (
	"cmp"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DeployError says a new build did not become healthy where a target ran
// it itself (a local process, a Docker container). The target stopped it
// and, when Restored is set, started the previous build again.
type DeployError struct {
	Environment string
	Service     string
	// Digest is the build that failed.
	Digest v1.Hash
	// Reason says why: "exited with status 3", "container api-next exited
	// with code 3", "health check timed out after 1m0s: GET
	// http://127.0.0.1:8081/healthz answered 500 Internal Server Error", ...
	Reason string
	// ExitCode is the failed build's exit status when it exited, -1 when
	// it did not or the target cannot tell.
	ExitCode int
	// Previous is the digest that ran when the deploy began ("" if none).
	Previous string
	// Restored is the digest running again (Previous), or "" when nothing
	// was restored.
	Restored string
	// RestoreErr says why restoring Previous failed.
	RestoreErr error
	// PreviousName names what ran Previous, for the message: "the previous
	// build" (the default), "the previous container api".
	PreviousName string
	// RestoreVerb says how the target brings Previous back, for the
	// message: "restoring" (the default), "restarting" (a stopped
	// container started again).
	RestoreVerb string
	// Log holds the last lines the failed build wrote; LogSource says
	// where they come from ("/state/logs/dev/api.log", "container
	// api-next").
	Log       []string
	LogSource string
	// Err is the cause behind Reason; it wraps the context's error when
	// the deploy was cancelled or ran out of time.
	Err error
}

func (e *DeployError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deploying %s %s to %s: %s", e.Service, Short(e.Digest.String()), e.Environment, e.Reason)
	prev := cmp.Or(e.PreviousName, "the previous build")
	switch {
	case e.Restored != "":
		fmt.Fprintf(&b, "; restored %s (%s)", prev, Short(e.Restored))
	case e.RestoreErr != nil:
		fmt.Fprintf(&b, "; %s %s (%s) failed too: %v", cmp.Or(e.RestoreVerb, "restoring"), prev, Short(e.Previous), e.RestoreErr)
	default:
		b.WriteString("; nothing ran before, so nothing runs now")
	}
	if len(e.Log) > 0 {
		fmt.Fprintf(&b, "\nlast lines of %s:", e.LogSource)
		for _, l := range e.Log {
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *DeployError) Unwrap() error { return e.Err }
