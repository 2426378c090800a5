package local

import (
	"context"
	"fmt"
	"time"

	"github.com/tierdeploy/tier/target/health"
)

// waitHealthy polls p's health check every HealthInterval until it passes,
// p exits, HealthTimeout passes or ctx ends, and says which.
func (t *Target) waitHealthy(ctx context.Context, p *proc, port int, check string) error {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, t.o.HealthTimeout)
	defer cancel()
	tick := time.NewTicker(t.o.HealthInterval)
	defer tick.Stop()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(wctx, health.ProbeTimeout)
		err := health.Probe(pctx, "127.0.0.1", port, check)
		pcancel()
		// An exit wins over a probe: whatever answered was not p.
		select {
		case <-p.exited:
			return &exitError{state: p.state}
		default:
		}
		if err == nil {
			return nil
		}
		// A probe cut short by the deadline says less than the one before.
		if wctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-p.exited:
			return &exitError{state: p.state}
		case <-wctx.Done():
			if cerr := ctx.Err(); cerr != nil {
				return fmt.Errorf("stopped waiting for the health check after %s: %w (last probe: %v)", time.Since(start).Round(time.Millisecond), cerr, last)
			}
			return fmt.Errorf("health check timed out after %s: %v", t.o.HealthTimeout, last)
		case <-tick.C:
		}
	}
}
