package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// Observe reports what env's container runs, as its engine says: the
// digest of its image when it runs, Deploying while a replacement exists
// or Docker's health check is starting, Failed when it has exited or
// Docker reports it unhealthy. An engine that cannot be reached is an
// error.
func (t *Target) Observe(ctx context.Context, env config.Environment, svc config.Service) (target.Observation, error) {
	wrap := func(err error) error { return fmt.Errorf("observing %s in %s: %w", svc.Name, env.Name, err) }
	dc, err := dockerOf(env)
	if err != nil {
		return target.Observation{}, err
	}
	e, err := t.engine(dc)
	if err != nil {
		return target.Observation{}, wrap(err)
	}
	name, next := dc.Container, dc.Container+nextSuffix
	cur, err := inspect(ctx, e, name)
	if err != nil {
		return target.Observation{}, wrap(err)
	}
	nxt, err := inspect(ctx, e, next)
	if err != nil {
		return target.Observation{}, wrap(err)
	}
	if cur == nil && nxt == nil {
		return target.Observation{State: target.NotDeployed}, nil
	}
	if cur != nil {
		if err := owned(cur, env, svc); err != nil {
			return target.Observation{State: target.Failed, Reason: err.Error()}, nil
		}
	}

	var o target.Observation
	for _, c := range []*container.InspectResponse{cur, nxt} {
		if c == nil || c.State.Status != container.StateRunning {
			continue
		}
		h, err := t.digestOf(ctx, e, c)
		if errors.Is(err, errNoDigest) {
			// Not something tier deployed: it runs, but not a build.
			return target.Observation{State: target.Failed, Reason: err.Error()}, nil
		}
		if err != nil {
			return target.Observation{}, wrap(err)
		}
		if !slices.Contains(o.Running, h) {
			o.Running = append(o.Running, h)
		}
	}
	if len(o.Running) > 0 && dc.Port != 0 {
		o.URL = "http://" + net.JoinHostPort(e.probeHost, strconv.Itoa(dc.Port)) + "/"
	}
	if nxt != nil {
		o.State, o.Reason = target.Deploying, fmt.Sprintf("a deploy is in progress: container %s exists", next)
		return o, nil
	}

	st := cur.State
	switch st.Status {
	case container.StateRunning:
		o.State = target.Running
		if h := st.Health; hasDockerHealth(cur) && h != nil {
			switch h.Status {
			case container.Starting:
				o.State, o.Reason = target.Deploying, "Docker health check is starting"
			case container.Unhealthy:
				o.State, o.Reason = target.Failed, fmt.Sprintf("Docker health check failing (%d in a row): %s", h.FailingStreak, healthOutput(h))
			}
		}
	case container.StatePaused:
		o.State, o.Reason = target.Failed, fmt.Sprintf("container %s is paused", name)
	case container.StateRestarting:
		o.State = target.Failed
		o.Reason = t.withLog(ctx, e, cur, fmt.Sprintf("container %s keeps restarting: it exited with code %d (restarted %d times)", name, st.ExitCode, cur.RestartCount))
	case container.StateCreated:
		o.State, o.Reason = target.Failed, fmt.Sprintf("container %s was created but never started", name)
		if st.Error != "" {
			o.Reason += ": " + st.Error
		}
	default: // exited, dead, removing
		reason := (&ExitError{Container: name, Code: st.ExitCode, OOMKilled: st.OOMKilled, Message: strings.TrimSpace(st.Error)}).Error()
		if st.FinishedAt != "" && !strings.HasPrefix(st.FinishedAt, "0001-") {
			reason += " at " + st.FinishedAt
		}
		o.State, o.Reason = target.Failed, t.withLog(ctx, e, cur, reason)
	}
	return o, nil
}

// withLog appends c's last log lines to reason.
func (t *Target) withLog(ctx context.Context, e *engine, c *container.InspectResponse, reason string) string {
	lines := t.tail(ctx, e, c.ID)
	if len(lines) == 0 {
		return reason
	}
	return reason + "; last lines:\n  " + strings.Join(lines, "\n  ")
}

// Stop stops and removes env's container and any replacement an
// interrupted deploy left: the environment is not deployed afterwards.
// Images stay on the engine.
func (t *Target) Stop(ctx context.Context, env config.Environment, svc config.Service) error {
	wrap := func(err error) error { return fmt.Errorf("stopping %s in %s: %w", svc.Name, env.Name, err) }
	dc, err := dockerOf(env)
	if err != nil {
		return err
	}
	e, err := t.engine(dc)
	if err != nil {
		return wrap(err)
	}
	name := dc.Container
	unlock, err := t.lock(ctx, e, name)
	if err != nil {
		return wrap(err)
	}
	defer unlock()
	for _, n := range []string{name + nextSuffix, name} {
		c, err := inspect(ctx, e, n)
		if err != nil {
			return wrap(err)
		}
		if c == nil {
			continue
		}
		if err := owned(c, env, svc); err != nil {
			return wrap(err)
		}
		t.log.Info("stopping", "environment", env.Name, "service", svc.Name, "container", n, "engine", e.addr)
		if err := t.stop(ctx, e, c.ID); err != nil {
			return wrap(fmt.Errorf("stopping container %s on %s: %w", n, e.addr, err))
		}
		if err := remove(ctx, e, c.ID); err != nil {
			return wrap(err)
		}
	}
	return nil
}
