package local

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/target"
)

// DeployError says a new build did not become healthy. The target stopped
// it and, when Restored is set, started the previous build again. Its
// message is also recorded as the environment's failure reason, which
// Observe reports.
type DeployError struct {
	Environment string
	Service     string
	// Digest is the build that failed.
	Digest v1.Hash
	// Reason says why: "exited with status 3", "health check timed out
	// after 1m0s: GET http://127.0.0.1:8081/healthz answered 500 Internal
	// Server Error", ...
	Reason string
	// Log holds the last lines the failed process wrote to LogPath.
	Log     []string
	LogPath string
	// Previous is the digest whose process ran when the deploy began ("" if
	// none ran).
	Previous string
	// Restored is the digest running again (Previous), or "" when nothing
	// was restored.
	Restored string
	// RestoreErr says why restoring Previous failed.
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
		fmt.Fprintf(&b, "; restored the previous build %s", target.Short(e.Restored))
	case e.RestoreErr != nil:
		fmt.Fprintf(&b, "; restoring the previous build %s failed too: %v", target.Short(e.Previous), e.RestoreErr)
	default:
		b.WriteString("; nothing runs now")
	}
	if len(e.Log) > 0 {
		fmt.Fprintf(&b, "\nlast lines of %s:", e.LogPath)
		for _, l := range e.Log {
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *DeployError) Unwrap() error { return e.Err }
