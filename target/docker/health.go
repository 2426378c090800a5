package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target/health"
)

// settleTime is how long a container without a port must keep running to
// count as healthy.
const settleTime = 2 * time.Second

// errUnhealthy marks a container Docker reported unhealthy.
var errUnhealthy = errors.New("Docker health check reported unhealthy")

// healthy checks once whether the running container c is healthy: Docker's
// verdict when it has a HEALTHCHECK, else tier's probe when dc names a
// port. A container with neither counts as healthy while it runs.
func healthy(ctx context.Context, e *engine, c *container.InspectResponse, dc *config.Docker) error {
	if c.State.Status != container.StateRunning {
		return fmt.Errorf("container is %s", c.State.Status)
	}
	if hasDockerHealth(c) {
		h := c.State.Health
		if h == nil || h.Status != container.Healthy {
			status := container.Starting
			if h != nil {
				status = h.Status
			}
			return fmt.Errorf("Docker health status is %s", status)
		}
		return nil
	}
	if dc.Port == 0 {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, health.ProbeTimeout)
	defer cancel()
	return health.Probe(pctx, e.probeHost, dc.Port, dc.Health)
}

// waitHealthy checks container id every HealthInterval until it is healthy
// (see the package documentation), exits, HealthTimeout passes or ctx
// ends, and says which. An exit is an *ExitError.
func (t *Target) waitHealthy(ctx context.Context, e *engine, id, name string, dc *config.Docker) error {
	start := time.Now()
	w := health.Wait{What: "container " + name, Timeout: t.o.HealthTimeout, Interval: t.o.HealthInterval}
	return w.Until(ctx, func(ctx context.Context) (bool, error) {
		c, err := inspect(ctx, e, id)
		switch {
		case err != nil:
			return ctx.Err() == nil, err
		case c == nil:
			return true, fmt.Errorf("container %s disappeared", name)
		}
		err = t.check(ctx, e, c, name, dc, start)
		var xe *ExitError
		return err == nil || errors.As(err, &xe) || errors.Is(err, errUnhealthy), err
	})
}

// check is one round of waitHealthy for the inspected container c.
func (t *Target) check(ctx context.Context, e *engine, c *container.InspectResponse, name string, dc *config.Docker, start time.Time) error {
	if err := exited(c, name); err != nil {
		return err
	}
	if hasDockerHealth(c) {
		h := c.State.Health
		switch {
		case h == nil || h.Status == container.Starting || h.Status == container.NoHealthcheck:
			out := healthOutput(h)
			if out == "" {
				return errors.New("Docker health status is starting")
			}
			return fmt.Errorf("Docker health status is starting (last check: %s)", out)
		case h.Status == container.Healthy:
			return nil
		default:
			return fmt.Errorf("%w after %d failed checks: %s", errUnhealthy, h.FailingStreak, healthOutput(h))
		}
	}
	if dc.Port == 0 {
		if time.Since(start) < settleTime {
			return fmt.Errorf("container has run for less than %s", settleTime)
		}
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, health.ProbeTimeout)
	err := health.Probe(pctx, e.probeHost, dc.Port, dc.Health)
	cancel()
	if err != nil {
		return err
	}
	// An exit wins over a probe: whatever answered was not the container.
	c2, ierr := inspect(ctx, e, c.ID)
	if ierr != nil {
		return ierr
	}
	if c2 == nil {
		return fmt.Errorf("container %s disappeared", name)
	}
	return exited(c2, name)
}

// exited returns an *ExitError when c is not running.
func exited(c *container.InspectResponse, name string) error {
	st := c.State
	switch st.Status {
	case container.StateRunning:
		return nil
	case container.StatePaused:
		return fmt.Errorf("container %s is paused", name)
	case container.StateCreated:
		// Started but not yet running is not an exit; a start that failed
		// leaves an error.
		if st.Error == "" {
			return nil
		}
	}
	return &ExitError{Container: name, Code: st.ExitCode, OOMKilled: st.OOMKilled, Message: strings.TrimSpace(st.Error)}
}
