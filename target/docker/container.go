package docker

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// nextSuffix names the replacement container while a deploy checks it.
const nextSuffix = "-next"

// Labels tier puts on the containers it creates.
const (
	LabelEnvironment = "tier.environment"
	LabelService     = "tier.service"
	LabelTier        = "tier.tier"
	LabelTenant      = "tier.tenant"
	LabelDigest      = "tier.digest"
	LabelCommit      = "tier.commit"
	LabelRepository  = "tier.repository"
	// LabelSpec is a hash of the settings that shape the container (its
	// environment variables, port and network mode), so that a changed
	// configuration redeploys even the digest that runs.
	LabelSpec = "tier.spec"
)

// containerEnv is the container's environment: docker.env, then PORT and
// the TIER_* variables, which win over docker.env. The image's Env lies
// beneath (the engine merges it).
func containerEnv(d target.Deployment, dc *config.Docker) []string {
	vars := maps.Clone(dc.Env)
	if vars == nil {
		vars = map[string]string{}
	}
	if dc.Port != 0 {
		vars["PORT"] = strconv.Itoa(dc.Port)
	}
	vars["TIER_ENVIRONMENT"] = d.Environment.Name
	vars["TIER_TIER"] = d.Environment.Tier
	vars["TIER_TENANT"] = d.Environment.Tenant
	vars["TIER_SERVICE"] = d.Service.Name
	vars["TIER_DIGEST"] = d.Digest.String()
	vars["TIER_COMMIT"] = d.Commit
	env := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// specHash hashes what shapes a container besides its digest: its
// environment (but the build's TIER_DIGEST and TIER_COMMIT), port and
// network mode.
func specHash(env []string, dc *config.Docker) string {
	h := sha256.New()
	for _, v := range env {
		if strings.HasPrefix(v, "TIER_DIGEST=") || strings.HasPrefix(v, "TIER_COMMIT=") {
			continue
		}
		fmt.Fprintf(h, "env %q\n", v)
	}
	fmt.Fprintf(h, "port %d\nnetwork %q\n", dc.Port, dc.Network)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// publishes reports whether a container in network mode n gets its port
// published: not with the host's network stack, none, or another
// container's.
func publishes(n container.NetworkMode) bool {
	return !n.IsHost() && !n.IsNone() && !n.IsContainer()
}

// createOptions is how the replacement container name is created for d.
// It starts with restart policy "no"; Deploy sets "unless-stopped" once it
// is healthy.
func createOptions(d target.Deployment, dc *config.Docker, e *engine, name string) client.ContainerCreateOptions {
	env := containerEnv(d, dc)
	cfg := &container.Config{
		Image: d.Image,
		Env:   env,
		Labels: map[string]string{
			LabelEnvironment: d.Environment.Name,
			LabelService:     d.Service.Name,
			LabelTier:        d.Environment.Tier,
			LabelTenant:      d.Environment.Tenant,
			LabelDigest:      d.Digest.String(),
			LabelCommit:      d.Commit,
			LabelRepository:  d.Repository,
			LabelSpec:        specHash(env, dc),
		},
	}
	hc := &container.HostConfig{
		NetworkMode:   container.NetworkMode(dc.Network),
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
	}
	if dc.Port != 0 && publishes(hc.NetworkMode) {
		p, _ := network.PortFrom(uint16(dc.Port), network.TCP)
		b := network.PortBinding{HostPort: strconv.Itoa(dc.Port)}
		if e.local {
			b.HostIP = netip.MustParseAddr("127.0.0.1")
		}
		cfg.ExposedPorts = network.PortSet{p: {}}
		hc.PortBindings = network.PortMap{p: {b}}
	}
	return client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: hc}
}

// inspect returns the container called name, or nil when there is none.
func inspect(ctx context.Context, e *engine, name string) (*container.InspectResponse, error) {
	r, err := e.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inspecting container %s on %s: %w", name, e.addr, err)
	}
	c := r.Container
	// The engine also matches a prefix of a container ID: "abc" may be
	// another container whose ID starts so.
	if c.Name != "/"+name && c.ID != name {
		return nil, nil
	}
	if c.State == nil {
		c.State = &container.State{}
	}
	if c.Config == nil {
		c.Config = &container.Config{}
	}
	return &c, nil
}

// remove removes the container called name, running or not, if it exists.
func remove(ctx context.Context, e *engine, name string) error {
	_, err := e.cli.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("removing container %s on %s: %w", name, e.addr, err)
	}
	return nil
}

// hasDockerHealth reports whether c has a Docker HEALTHCHECK, its own or
// its image's (the engine merges the image's into the container's config
// at create).
func hasDockerHealth(c *container.InspectResponse) bool {
	hc := c.Config.Healthcheck
	return hc != nil && len(hc.Test) > 0 && hc.Test[0] != "NONE"
}

// healthOutput is the output of c's last Docker health check, trimmed.
func healthOutput(h *container.Health) string {
	if h == nil || len(h.Log) == 0 || h.Log[len(h.Log)-1] == nil {
		return ""
	}
	last := h.Log[len(h.Log)-1]
	out := strings.TrimSpace(last.Output)
	if len(out) > 300 {
		out = out[:300] + "…"
	}
	return cmp.Or(out, fmt.Sprintf("exit code %d", last.ExitCode))
}

// digestOf returns the digest c runs, read from the engine: the digest of
// the reference c was created from, which the engine resolved to c's
// image, checked against that image's RepoDigests. A container created
// from a tag has only the RepoDigests to go by.
func (t *Target) digestOf(ctx context.Context, e *engine, c *container.InspectResponse) (v1.Hash, error) {
	fromRef, ok := target.PinnedDigest(c.Config.Image)
	img, err := e.cli.ImageInspect(ctx, c.Image)
	if err != nil {
		if ok && cerrdefs.IsNotFound(err) {
			return fromRef, nil
		}
		return v1.Hash{}, fmt.Errorf("inspecting image %s of container %s on %s: %w", c.Image, strings.TrimPrefix(c.Name, "/"), e.addr, err)
	}
	var repo []v1.Hash
	for _, rd := range img.RepoDigests {
		if h, ok := target.PinnedDigest(rd); ok && !slices.Contains(repo, h) {
			repo = append(repo, h)
		}
	}
	switch {
	case ok && (len(repo) == 0 || slices.Contains(repo, fromRef)):
		return fromRef, nil
	case len(repo) == 1:
		if ok {
			t.log.Warn("container's image reference disagrees with its image's registry digest; trusting the image",
				"container", c.Name, "reference", c.Config.Image, "repo_digest", repo[0].String())
		}
		return repo[0], nil
	case ok:
		return fromRef, nil
	}
	if h, err := v1.NewHash(c.Config.Labels[LabelDigest]); err == nil && slices.Contains(repo, h) {
		return h, nil
	}
	if len(repo) == 0 {
		return v1.Hash{}, fmt.Errorf("%w: container %s on %s runs image %s, which has no registry digest: deploy a build with tier", errNoDigest, strings.TrimPrefix(c.Name, "/"), e.addr, c.Config.Image)
	}
	return v1.Hash{}, fmt.Errorf("%w: container %s on %s runs image %s, which has %d registry digests", errNoDigest, strings.TrimPrefix(c.Name, "/"), e.addr, c.Config.Image, len(repo))
}

// errNoDigest says the engine cannot tell which digest a container runs.
var errNoDigest = errors.New("digest unknown")

// tail returns the last LogLines lines container id wrote to stdout and
// stderr, or nil when the engine has none to give.
func (t *Target) tail(ctx context.Context, e *engine, id string) []string {
	rc, err := e.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(t.o.LogLines),
	})
	if err != nil {
		t.log.Warn("reading container logs", "container", id, "err", err)
		return nil
	}
	defer rc.Close()
	var buf bytes.Buffer
	// Both streams into one buffer keeps the engine's interleaving.
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		t.log.Warn("reading container logs", "container", id, "err", err)
	}
	return lastLines(buf.String(), t.o.LogLines)
}

// lastLines splits s into lines and returns the last n, each cut to 300
// characters.
func lastLines(s string, n int) []string {
	s = strings.TrimRight(s, "\r\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if len(l) > 300 {
			l = l[:300] + "…"
		}
		lines[i] = l
	}
	return lines
}
