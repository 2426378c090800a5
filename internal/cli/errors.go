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

// exitError is an error that sets the exit status itself: a promotion
// that was not verified everywhere, a failed check.
type exitError struct {
	code int
	msg  string
	err  error
}

func (e *exitError) Error() string {
	if e.msg == "" && e.err != nil {
		return e.err.Error()
	}
	return e.msg
}

func (e *exitError) Unwrap() error { return e.err }

// partlyDone is the error of a command that did part of its job: exit 3.
// It wraps err when given; msg, when set, is its message.
func partlyDone(msg string, err error) error {
	return &exitError{code: ExitPartial, msg: msg, err: err}
}

// failed is the error of a command whose job failed: exit 1.
func failed(msg string) error { return &exitError{code: ExitFailed, msg: msg} }

// verdictError is the exit status of a promotion's report: nil when every
// environment was verified, 1 when none converged, 3 when some did.
func verdictError(rep *promote.Report) error {
	switch rep.Verdict() {
	case deploy.Done:
		return nil
	case deploy.NoneVerified:
		return failed(rep.Problem())
	}
	return partlyDone(rep.Problem(), nil)
}

// ExitCode maps an error to the exit status; this is the only place that
// does.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var nf *registry.NotFoundError
	var locked *embedded.LockedError
	switch {
	case errors.Is(err, config.ErrUsage),
		errors.Is(err, config.ErrInvalid),
		errors.Is(err, config.ErrNotFound),
		errors.Is(err, config.ErrExists),
		errors.Is(err, tags.ErrInvalid),
		errors.Is(err, catalog.ErrNoBuild),
		errors.Is(err, push.ErrSource),
		errors.Is(err, push.ErrBuildExists),
		errors.Is(err, embedded.ErrNotLoopback),
		errors.As(err, &nf),
		errors.As(err, &locked):
		return ExitUsage
	}
	return ExitFailed
}
