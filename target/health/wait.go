package health

import (
	"context"
	"fmt"
	"time"
)

// Wait is how a target waits for a build it started to become healthy.
type Wait struct {
	// What names what is waited for, in messages: "container api-next",
	// "process 4242".
	What string
	// Timeout bounds the wait; Interval is the time between checks.
	Timeout, Interval time.Duration
	// Wake, when not nil, runs the next check at once instead of at the
	// next tick when it becomes ready (closed: the process exited). It
	// wakes Until once.
	Wake <-chan struct{}
}

// Until runs check every Interval until it reports done, Timeout passes
// or ctx ends, and says which. check reports done with a nil error once
// the build is healthy and with an error once it never will be (it
// exited); otherwise its error says why the build is not healthy yet, and
// the last such reason ends up in Until's error: "health check timed out
// after 1m0s: <reason>", or, when ctx ended first, an error wrapping ctx's
// cause.
func (w Wait) Until(ctx context.Context, check func(ctx context.Context) (done bool, err error)) error {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	tick := time.NewTicker(w.Interval)
	defer tick.Stop()
	wake := w.Wake
	var last error
	for {
		done, err := check(wctx)
		if done {
			return err
		}
		// A check cut short by the deadline says less than the one before.
		if wctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-wctx.Done():
			if cerr := context.Cause(ctx); cerr != nil {
				return fmt.Errorf("stopped waiting for %s to become healthy after %s: %w (last check: %v)", w.What, time.Since(start).Round(time.Millisecond), cerr, last)
			}
			return fmt.Errorf("health check timed out after %s: %v", w.Timeout, last)
		case <-wake:
			wake = nil
		case <-tick.C:
		}
	}
}

// Sleep waits for d or until ctx ends, and returns ctx's error then.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
