package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// Deploy runs d.Digest in d.Environment's container and returns once the
// replacement is healthy and has taken the container's name, or once it
// has failed and the old container (if one ran) runs again; the failure
// is a *target.DeployError. Deploying the digest that already runs healthy, with
// the same settings, changes nothing.
func (t *Target) Deploy(ctx context.Context, d target.Deployment) error {
	env, svc := d.Environment, d.Service
	wrap := func(err error) error { return fmt.Errorf("deploying %s to %s: %w", svc.Name, env.Name, err) }
	dc, err := dockerOf(env)
	if err != nil {
		return err
	}
	if h, ok := target.PinnedDigest(d.Image); !ok || h != d.Digest {
		return wrap(fmt.Errorf("image %q is not pinned to digest %s: deploy HOST/REPO@%s", d.Image, d.Digest, d.Digest))
	}
	e, err := t.engine(dc)
	if err != nil {
		return wrap(err)
	}
	name, next := dc.Container, dc.Container+nextSuffix
	unlock, err := t.lock(ctx, e, name)
	if err != nil {
		return wrap(err)
	}
	defer unlock()
	log := t.log.With("environment", env.Name, "service", svc.Name, "container", name, "engine", e.addr, "digest", d.Digest.String())

	opts := createOptions(d, dc, e, next)
	old, err := inspect(ctx, e, name)
	if err != nil {
		return wrap(err)
	}
	var prev string // what the old container runs, for messages
	oldRunning := false
	if old != nil {
		if err := owned(old, env, svc); err != nil {
			return wrap(err)
		}
		oldRunning = old.State.Running || old.State.Restarting
	}
	if oldRunning {
		prev = old.Config.Image
		if h, err := t.digestOf(ctx, e, old); err != nil {
			log.Warn("reading the old container's digest", "err", err)
		} else {
			prev = h.String()
		}
		if prev == d.Digest.String() && old.Config.Labels[LabelSpec] == opts.Config.Labels[LabelSpec] {
			herr := healthy(ctx, e, old, dc)
			if herr == nil {
				// A replacement left by an interrupted deploy would read
				// as a deploy in flight.
				if err := remove(ctx, e, next); err != nil {
					return wrap(err)
				}
				log.Info("already running")
				return nil
			}
			log.Info("running but not healthy; replacing it", "err", herr)
		}
	}

	if err := t.pull(ctx, e, d.Image, log); err != nil {
		return wrap(err)
	}
	if err := remove(ctx, e, next); err != nil {
		return wrap(err)
	}
	// Created before the old container stops: a spec the engine refuses
	// changes nothing.
	created, err := e.cli.ContainerCreate(ctx, opts)
	if err != nil {
		return wrap(fmt.Errorf("creating container %s on %s: %w", next, e.addr, err))
	}
	for _, w := range created.Warnings {
		log.Debug("engine warning", "warning", w)
	}

	// From here on the old container is stopped or about to be: finish
	// the switch or put it back even when ctx ends.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*t.o.StopTimeout+t.o.HealthTimeout+time.Minute)
	defer cancel()
	var cause error
	if oldRunning {
		log.Info("stopping the old container", "previous", prev)
		cause = t.stop(ctx, e, old.ID)
		if cause != nil {
			cause = fmt.Errorf("stopping the old container %s: %w", name, cause)
		}
	}
	if cause == nil {
		if _, err := e.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
			cause = fmt.Errorf("starting container %s: %w", next, err)
		} else {
			log.Info("started the replacement; waiting for it to become healthy", "id", created.ID[:12])
			cause = t.waitHealthy(ctx, e, created.ID, next, dc)
		}
	}
	if cause == nil {
		if err := t.takeOver(cctx, e, created.ID, old, name); err != nil {
			return wrap(err)
		}
		log.Info("running", "id", created.ID[:12])
		return nil
	}

	log.Warn("the replacement failed", "reason", cause)
	de := &target.DeployError{Environment: env.Name, Service: svc.Name, Digest: d.Digest, Reason: cause.Error(), ExitCode: -1,
		PreviousName: "the previous container " + name, RestoreVerb: "restarting", LogSource: "container " + next, Err: cause}
	var xe *ExitError
	if errors.As(cause, &xe) {
		de.ExitCode = xe.Code
	}
	de.Log = t.tail(cctx, e, created.ID)
	if err := remove(cctx, e, created.ID); err != nil {
		log.Error("removing the failed replacement", "err", err)
	}
	if oldRunning {
		de.Previous = prev
		if err := t.restore(cctx, e, old, name, dc); err != nil {
			log.Error("restarting the old container failed", "err", err)
			de.RestoreErr = err
		} else {
			log.Info("restarted the old container", "previous", prev)
			de.Restored = prev
		}
	}
	return de
}

// owned checks that container c, found under env's container name, is
// env's and runs svc, or carries no tier labels at all.
func owned(c *container.InspectResponse, env config.Environment, svc config.Service) error {
	n := strings.TrimPrefix(c.Name, "/")
	if c.Config.Labels[LabelEnvironment] == "" {
		return fmt.Errorf("container %s was not created by tier (it has no %s label): remove it, or give the environment another container name", n, LabelEnvironment)
	}
	if e := c.Config.Labels[LabelEnvironment]; e != "" && e != env.Name {
		return fmt.Errorf("container %s belongs to environment %s, not %s: give each environment its own container name, or remove the container", n, e, env.Name)
	}
	if s := c.Config.Labels[LabelService]; s != "" && s != svc.Name {
		return fmt.Errorf("container %s runs service %s, not %s: a docker environment runs one service, so give each service its own environment and container", n, s, svc.Name)
	}
	return nil
}

// stop stops container id, waiting up to StopTimeout before the engine
// kills it.
func (t *Target) stop(ctx context.Context, e *engine, id string) error {
	secs := int((t.o.StopTimeout + time.Second - 1) / time.Second)
	_, err := e.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// takeOver makes the healthy replacement id the environment's container:
// restart policy unless-stopped, the old container removed, the name
// taken.
func (t *Target) takeOver(ctx context.Context, e *engine, id string, old *container.InspectResponse, name string) error {
	_, err := e.cli.ContainerUpdate(ctx, id, client.ContainerUpdateOptions{
		RestartPolicy: &container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
	})
	if err != nil {
		// It runs and is healthy; it just will not come back by itself.
		t.log.Warn("setting restart policy unless-stopped", "container", name+nextSuffix, "err", err)
	}
	if old != nil {
		if err := remove(ctx, e, old.ID); err != nil {
			return fmt.Errorf("the replacement %s%s is healthy, but %w", name, nextSuffix, err)
		}
	}
	if _, err := e.cli.ContainerRename(ctx, id, client.ContainerRenameOptions{NewName: name}); err != nil {
		return fmt.Errorf("the replacement is healthy, but renaming %s%s to %s on %s failed: %w", name, nextSuffix, name, e.addr, err)
	}
	return nil
}

// restore starts the old container again and waits for it to be healthy.
func (t *Target) restore(ctx context.Context, e *engine, old *container.InspectResponse, name string, dc *config.Docker) error {
	if _, err := e.cli.ContainerStart(ctx, old.ID, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("starting container %s: %w", name, err)
	}
	// Check it the way it was configured when it was created.
	odc := *dc
	for _, v := range old.Config.Env {
		if p, ok := strings.CutPrefix(v, "PORT="); ok {
			if n, err := strconv.Atoi(p); err == nil {
				odc.Port = n
			}
		}
	}
	return t.waitHealthy(ctx, e, old.ID, name, &odc)
}

// pull makes the engine hold ref, pulling it unless it has it.
func (t *Target) pull(ctx context.Context, e *engine, ref string, log *slog.Logger) error {
	_, err := e.cli.ImageInspect(ctx, ref)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspecting image %s on %s: %w", ref, e.addr, err)
	}
	log.Info("pulling", "image", ref)
	resp, err := e.cli.ImagePull(ctx, ref, client.ImagePullOptions{RegistryAuth: t.auth(ctx, ref, log)})
	if err != nil {
		return fmt.Errorf("pulling %s on %s: %w", ref, e.addr, err)
	}
	defer resp.Close()
	// Wait drains the stream and fails on an error message in it: the
	// request itself succeeds before the pull does.
	if err := resp.Wait(ctx); err != nil {
		return fmt.Errorf("pulling %s on %s: %w", ref, e.addr, err)
	}
	return nil
}

// auth returns the encoded credentials the keychain holds for ref's
// registry, or "" for none (and for loopback registries).
func (t *Target) auth(ctx context.Context, ref string, log *slog.Logger) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return ""
	}
	reg := r.Context().Registry
	host := reg.RegistryStr()
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if ip := net.ParseIP(h); h == "localhost" || ip != nil && ip.IsLoopback() {
		return ""
	}
	a, err := authn.Resolve(ctx, t.o.Keychain, reg)
	if err != nil {
		log.Warn("no registry credentials; pulling anonymously", "registry", host, "err", err)
		return ""
	}
	c, err := authn.Authorization(ctx, a)
	if err != nil || c == nil {
		if err != nil {
			log.Warn("no registry credentials; pulling anonymously", "registry", host, "err", err)
		}
		return ""
	}
	if c.Username == "" && c.Password == "" && c.Auth == "" && c.IdentityToken == "" && c.RegistryToken == "" {
		return ""
	}
	enc, err := authconfig.Encode(registry.AuthConfig{
		Username: c.Username, Password: c.Password, Auth: c.Auth,
		IdentityToken: c.IdentityToken, RegistryToken: c.RegistryToken, ServerAddress: host,
	})
	if err != nil {
		return ""
	}
	return enc
}
