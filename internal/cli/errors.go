package cli

import (
	"errors"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/deploy"
	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/push"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/registry/embedded"
	"github.com/tierdeploy/tier/tags"
)

// Exit statuses, as documented in the README.
const (
	ExitOK      = 0 // done and verified
	ExitFailed  = 1 // failed
	ExitUsage   = 2 // bad input: usage, config, unknown tier, invalid tag, build not found
	ExitPartial = 3 // partly done
)

// errUsage marks command-line mistakes (unknown flags, wrong arguments).
var errUsage = errors.New("usage")

// ExitCode maps an error to the exit status; this is the only place that
// does.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var de *deployError
	if errors.As(err, &de) {
		if de.verdict == deploy.FailedAll {
			return ExitFailed
		}
		return ExitPartial
	}
	var nf *registry.NotFoundError
	var locked *embedded.LockedError
	switch {
	case errors.Is(err, errUsage),
		errors.Is(err, config.ErrInvalid),
		errors.Is(err, config.ErrNotFound),
		errors.Is(err, config.ErrExists),
		errors.Is(err, tags.ErrInvalid),
		errors.Is(err, catalog.ErrNoBuild),
		errors.Is(err, promote.ErrUsage),
		errors.Is(err, push.ErrSource),
		errors.Is(err, push.ErrBuildExists),
		errors.Is(err, embedded.ErrNotLoopback),
		errors.As(err, &nf),
		errors.As(err, &locked):
		return ExitUsage
	}
	return ExitFailed
}
