// Package demo runs the seed article's scenario end to end on the embedded
// defaults: an embedded registry, three builds of a tiny web app made
// without Docker, six environments (dev, mb-dev, staging, mb-staging, prod,
// mb-prod) as local processes, and the promotions dev -> staging -> prod
// release, then newer builds to dev and staging.
package demo

import (
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/deploy"
	"github.com/tierdeploy/tier/internal/targets"
	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/registry/embedded"
	"github.com/tierdeploy/tier/status"
	"github.com/tierdeploy/tier/target"
)

// Options configure a demo run.
type Options struct {
	// Dir is the project directory; it gets a tier.yaml and .tier/. Empty
	// means a temporary directory removed at the end.
	Dir string
	// Once verifies every environment over HTTP, then stops everything and
	// returns; otherwise Run serves until ctx ends.
	Once bool
	// App is the executable the demo images run as "<App> demo-app"; empty
	// means this program (for the docker target, a static build of it).
	App string
	// Target is "local" (the default) or "docker".
	Target string
	// DockerHost is the engine of the docker target; empty means DOCKER_HOST.
	DockerHost string
	Now        func() time.Time
	Out        io.Writer
	Log        *slog.Logger
	// Ready, when set, is called with the result once every environment is
	// up, before serving.
	Ready func(Summary)
}

// Build is one version of the demo app.
type Build struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Digest  string `json:"digest"`
}

// Summary is what the demo did: its project, builds and final grid.
type Summary struct {
	Dir    string
	Builds []Build
	Grid   status.Grid
}

// envs are the seed's six environments.
var envs = []struct{ name, tier, tenant string }{
	{"dev", "dev", "default"}, {"mb-dev", "dev", "mb"},
	{"staging", "staging", "default"}, {"mb-staging", "staging", "mb"},
	{"prod", "prod", "default"}, {"mb-prod", "prod", "mb"},
}

// commitOf makes a stable, commit-shaped hash for a demo version.
func commitOf(version string) string {
	h := sha1.Sum([]byte("tier demo " + version))
	return hex.EncodeToString(h[:])
}

// Run plays the scenario and prints each step to o.Out.
func Run(ctx context.Context, o Options) (res Summary, err error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	o.Log = cmp.Or(o.Log, slog.New(slog.DiscardHandler))
	o.Target = cmp.Or(o.Target, "local")
	if o.Target == "docker" {
		if err := engineAnswers(ctx, o.DockerHost, o.Log); err != nil {
			return res, err
		}
	}
	if o.App == "" {
		var cleanup func()
		if o.App, cleanup, err = appBinary(ctx, o.Target); err != nil {
			return res, err
		}
		defer cleanup()
	}
	say := func(format string, args ...any) { fmt.Fprintf(o.Out, format+"\n", args...) }
	res.Dir = o.Dir
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return res, err
		}
	} else {
		dir, err := os.MkdirTemp("", "tier-demo-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		res.Dir = dir
	}
	cfg, err := writeConfig(res.Dir, o.Target, o.DockerHost)
	if err != nil {
		return res, err
	}
	say("tier demo: the seed's method on the embedded defaults (project %s)", res.Dir)

	regDir := filepath.Join(cfg.StatePath(), "registry")
	// Serving until interrupted, the demo owns the registry in serve mode,
	// so that other tier commands on its project can use it meanwhile.
	var addr string
	if o.Once {
		a, release, err := embedded.Open(ctx, regDir, o.Log)
		if err != nil {
			return res, err
		}
		defer release()
		addr = a
	} else {
		srv, err := embedded.Serve(ctx, regDir, "127.0.0.1:0", o.Log)
		if err != nil {
			return res, err
		}
		defer srv.Close(context.WithoutCancel(ctx))
		addr = srv.Addr()
	}
	reg, err := registry.New(addr, registry.Options{})
	if err != nil {
		return res, err
	}
	say("embedded registry on %s, storage %s", addr, regDir)

	ts := targets.New(targets.Options{Config: cfg, Registry: reg, Log: o.Log})
	defer ts.Close()
	// Whatever happens, stop what the demo started.
	defer func() {
		err = errors.Join(err, stopAll(context.WithoutCancel(ctx), cfg, ts.For))
		say("stopped what the demo started")
	}()

	// 1. Every build is pushed once, tagged with its commit.
	if res.Builds, err = pushBuilds(ctx, reg, res.Dir, o.App); err != nil {
		return res, err
	}
	for _, b := range res.Builds {
		say("push     api %s as api:%s  (%s)", b.Version, b.Commit[:12], b.Digest[:19])
	}

	// 2. Promote through the tiers, deploying each tier's environments.
	pr := &promote.Promoter{Config: cfg, Registry: reg, Targets: ts.For, Poll: 50 * time.Millisecond, Now: o.Now, Log: o.Log}
	steps := []promote.Request{
		{Tier: "dev", Commit: commitOf("v1")[:7]},
		{Tier: "staging"},
		{Tier: "prod"},
		{Tier: "dev", Commit: commitOf("v2")[:7]},
		{Tier: "staging"},
		{Tier: "dev", Commit: commitOf("v3")[:7]},
	}
	for _, req := range steps {
		rep, err := pr.Promote(ctx, req)
		if err != nil {
			return res, fmt.Errorf("promote %s: %w", req.Tier, err)
		}
		for _, c := range rep.Tags {
			say("promote  %-8s %-22s -> %s %s", c.Tier, c.Tag, versionOf(res.Builds, c.Digest), c.Status)
		}
		for _, r := range rep.Environments {
			say("  deploy %-11s %-9s %.1fs %s", r.Environment, r.Outcome, r.Seconds, r.Reason)
		}
		if rep.Verdict() != deploy.Done {
			return res, fmt.Errorf("promote %s: not every environment was verified: %s", req.Tier, rep.Problem())
		}
	}

	// 3. What is deployed where.
	res.Grid, err = status.Environments(ctx, cfg, catalog.New(reg), ts.For, status.Options{Now: o.Now()})
	if err != nil {
		return res, err
	}
	say("")
	say("%-8s %-18s %-18s %-18s", "api", "DEV", "STAGING", "PROD")
	for _, tenant := range []string{"default", "mb"} {
		row := fmt.Sprintf("%-8s", tenant)
		for _, tier := range []string{"dev", "staging", "prod"} {
			for _, e := range res.Grid.Environments {
				if e.Tenant == tenant && e.Tier == tier {
					row += fmt.Sprintf(" %-18s", versionOf(res.Builds, first(e.RunningDigests))+" "+string(e.State))
				}
			}
		}
		say("%s", row)
	}
	say("")
	for _, e := range res.Grid.Environments {
		say("  %-11s %s", e.Name, e.URL)
	}
	if o.Once {
		if err := verify(ctx, res); err != nil {
			return res, err
		}
		say("")
		say("verified over HTTP: every environment serves the version its tier points to")
		return res, nil
	}
	if o.Ready != nil {
		o.Ready(res)
	}
	say("")
	say("serving until interrupted (Ctrl-C); in another shell: tier --config %s status", filepath.Join(res.Dir, config.DefaultFile))
	<-ctx.Done()
	return res, nil
}

// stopAll stops, in every environment, what the demo's targets started.
func stopAll(ctx context.Context, cfg *config.Config, targets target.Factory) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var errs []error
	for _, e := range cfg.Environments {
		tg, err := targets(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st, ok := tg.(target.Stopper)
		if !ok {
			continue
		}
		for _, s := range cfg.Services {
			errs = append(errs, st.Stop(ctx, e, s))
		}
	}
	return errors.Join(errs...)
}

// writeConfig writes the demo's tier.yaml with six environments on free
// ports, as local processes or as containers on one Docker engine (host
// network).
func writeConfig(dir, kind, dockerHost string) (*config.Config, error) {
	y := "# tier demo: the seed's six environments.\nservices:\n  api: {repository: api}\n" +
		"tiers:\n  - {name: dev, tag: dev}\n  - {name: staging, tag: staging, from: dev}\n  - {name: prod, release: true, from: staging}\n" +
		"environments:\n"
	for _, e := range envs {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		block := fmt.Sprintf("local: {port: %d, health: /healthz}", port)
		if kind == "docker" {
			host := ""
			if dockerHost != "" {
				host = fmt.Sprintf("host: %q, ", dockerHost)
			}
			block = fmt.Sprintf("docker: {%scontainer: tier-demo-%s, port: %d, network: host, health: /healthz}", host, e.name, port)
		}
		y += fmt.Sprintf("  %s: {tier: %s, tenant: %s, %s}\n", e.name, e.tier, e.tenant, block)
	}
	path := filepath.Join(dir, config.DefaultFile)
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		return nil, err
	}
	return config.Load(path)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
