// Package demo runs the seed article's scenario end to end on the embedded
// defaults: an embedded registry, three builds of a tiny web app made
// without Docker, six environments (dev, mb-dev, staging, mb-staging, prod,
// mb-prod) as local processes, and the promotions dev -> staging -> prod
// release, then newer builds to dev and staging.
package demo

import (
	"context"
	"crypto/sha1"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/deploy"
	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/push"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/registry/embedded"
	"github.com/tierdeploy/tier/status"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/docker"
	"github.com/tierdeploy/tier/target/local"
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
	Ready func(Result)
}

// Build is one version of the demo app.
type Build struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Digest  string `json:"digest"`
}

// Result is what the demo did.
type Result struct {
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
func Run(ctx context.Context, o Options) (res Result, err error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Target == "" {
		o.Target = "local"
	}
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

	var loc deployTarget
	switch o.Target {
	case "local":
		loc = local.New(local.Options{Dir: filepath.Join(cfg.StatePath(), "local"), Registry: reg, Log: o.Log})
	case "docker":
		d := docker.New(docker.Options{Log: o.Log})
		defer d.Close()
		loc = d
	default:
		return res, fmt.Errorf("demo target %q: use local or docker", o.Target)
	}
	// Whatever happens, stop what the demo started.
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, e := range cfg.Environments {
			for _, s := range cfg.Services {
				if serr := loc.Stop(sctx, e, s); serr != nil {
					err = errors.Join(err, serr)
				}
			}
		}
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
	pr := &promote.Promoter{Config: cfg, Now: o.Now}
	eng := &deploy.Engine{
		Target: func(config.Environment) (target.Target, error) { return loc, nil },
		Poll:   50 * time.Millisecond,
		Log:    o.Log,
	}
	steps := []promote.Request{
		{Tier: "dev", Commit: commitOf("v1")[:7]},
		{Tier: "staging"},
		{Tier: "prod"},
		{Tier: "dev", Commit: commitOf("v2")[:7]},
		{Tier: "staging"},
		{Tier: "dev", Commit: commitOf("v3")[:7]},
	}
	for _, req := range steps {
		pr.Catalog = catalog.New(reg)
		rs, err := pr.Promote(ctx, req)
		if err != nil {
			return res, fmt.Errorf("promote %s: %w", req.Tier, err)
		}
		var its []deploy.Item
		for _, r := range rs {
			d, err := v1.NewHash(r.Digest)
			if err != nil {
				return res, err
			}
			svc, _ := cfg.Service(r.Service)
			its = append(its, deploy.Plan(cfg, r.Tier, svc, r.Repository, r.Tag, d, r.Commit)...)
			say("promote  %-8s %-22s -> %s %s", r.Tier, r.Tag, versionOf(res.Builds, r.Digest), r.Status)
		}
		rep := eng.Run(ctx, its, false)
		for _, r := range rep.Results {
			say("  deploy %-11s %-9s %.1fs %s", r.Environment, r.Outcome, r.Seconds, r.Reason)
		}
		if rep.Verdict() != deploy.Done {
			return res, fmt.Errorf("promote %s: not every environment was verified", req.Tier)
		}
	}

	// 3. What is deployed where.
	res.Grid, err = status.Environments(ctx, cfg, catalog.New(reg), func(config.Environment) (target.Target, error) { return loc, nil }, status.Options{Now: o.Now()})
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

// deployTarget is a target the demo can also clean up.
type deployTarget interface {
	target.Target
	Stop(ctx context.Context, env config.Environment, svc config.Service) error
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

// pushBuilds makes three versions of the demo app: one layer holding the
// app (this executable) shared by all, one layer per version, and pushes
// each as api:<commit>.
//
// Each version has a fixed creation time, so the same app binary always
// gives the same digests and a second run on one project finds its builds
// already pushed.
func pushBuilds(ctx context.Context, reg *registry.Client, dir, app string) ([]Build, error) {
	appDir := filepath.Join(dir, "build", "app")
	if err := os.MkdirAll(filepath.Join(appDir, "app"), 0o755); err != nil {
		return nil, err
	}
	if err := copyFile(app, filepath.Join(appDir, "app", "tier"), 0o755); err != nil {
		return nil, err
	}
	appLayer, err := push.DirLayer(appDir, time.Unix(0, 0))
	if err != nil {
		return nil, err
	}
	var out []Build
	for i, v := range []string{"v1", "v2", "v3"} {
		created := time.Date(2020, 11, 10+i, 10, 30, 0, 0, time.UTC)
		vdir := filepath.Join(dir, "build", v)
		if err := os.MkdirAll(filepath.Join(vdir, "app"), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(vdir, "app", "VERSION"), []byte(v+"\n"), 0o644); err != nil {
			return nil, err
		}
		vl, err := push.DirLayer(vdir, time.Unix(0, 0))
		if err != nil {
			return nil, err
		}
		img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), appLayer, vl)
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", runtime.GOARCH
		cf.Config.Entrypoint = []string{"/app/tier", "demo-app"}
		cf.Config.Env = []string{"VERSION=" + v}
		cf.Config.WorkingDir = "/app"
		cf.Created = v1.Time{Time: created}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return nil, err
		}
		p, err := push.Push(ctx, reg, img, push.Request{Repository: "api", Commit: commitOf(v), Created: created})
		if err != nil {
			return nil, err
		}
		out = append(out, Build{Version: v, Commit: p.Commit, Digest: p.Digest.String()})
	}
	return out, nil
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// verify asks every environment over HTTP what it serves and checks it is
// the build its tier points to, for the right environment.
func verify(ctx context.Context, res Result) error {
	want := map[string]string{"dev": "v3", "staging": "v2", "prod": "v1"}
	var errs []error
	for _, e := range res.Grid.Environments {
		info, err := fetchInfo(ctx, e.URL)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", e.Name, err))
		case info.Version != want[e.Tier] || info.Environment != e.Name || info.Digest != e.DesiredDigest || e.State != status.InSync:
			errs = append(errs, fmt.Errorf("%s serves %+v (state %s), want %s of %s", e.Name, info, e.State, want[e.Tier], e.DesiredDigest))
		}
	}
	return errors.Join(errs...)
}

func fetchInfo(ctx context.Context, url string) (AppInfo, error) {
	var info AppInfo
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"version", nil)
	if err != nil {
		return info, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return info, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("GET %sversion: %s", url, resp.Status)
	}
	return info, json.NewDecoder(resp.Body).Decode(&info)
}

func versionOf(builds []Build, digest string) string {
	for _, b := range builds {
		if b.Digest == digest {
			return b.Version
		}
	}
	return "-"
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// appBinary returns the program the demo images run: this executable, or
// for containers a static build of it (containers have no C library to
// load a dynamically linked one).
func appBinary(ctx context.Context, kind string) (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	if kind != "docker" || isStatic(self) {
		return self, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "tier-demo-app-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	out := filepath.Join(dir, "tier")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/tierdeploy/tier/cmd/tier")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("the docker demo needs a static tier binary and building one failed (%v: %s): run it from the tier source tree, or build with CGO_ENABLED=0 go build ./cmd/tier", err, b)
	}
	return out, cleanup, nil
}

// isStatic reports whether the ELF executable at path needs no dynamic
// loader.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// engineAnswers checks, before anything is built, that the Docker engine
// of the docker demo answers.
func engineAnswers(ctx context.Context, host string, log *slog.Logger) error {
	d := docker.New(docker.Options{Log: log})
	defer d.Close()
	probe := config.Environment{Name: "tier-demo-probe", Target: config.Target{Docker: &config.Docker{Host: host, Container: "tier-demo-probe"}}}
	if _, err := d.Observe(ctx, probe, config.Service{Name: "api", Repository: "api"}); err != nil {
		where := host
		if where == "" {
			where = "DOCKER_HOST (" + nonEmpty(os.Getenv("DOCKER_HOST"), "the default socket") + ")"
		}
		return fmt.Errorf("the docker demo needs a Docker engine, and the one at %s does not answer: %v: start one (scripts/docker-engines.sh start), or pass --docker-host", where, err)
	}
	return nil
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
