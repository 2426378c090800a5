// Package demo runs the seed article's scenario end to end on the embedded
// defaults: an embedded registry, three builds of a tiny app made without
// Docker, and the tag moves of dev -> staging -> prod releases, a newer
// build to dev, and a production rollback by date.
package demo

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/embedded"
	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/push"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/status"
)

// Options configure a demo run.
type Options struct {
	// Dir is the project directory; it gets a tier.yaml and .tier/. Empty
	// means a temporary directory removed at the end.
	Dir string
	// Now is the real clock; the demo's release history is laid out over
	// the two days before it.
	Now func() time.Time
	Out io.Writer
}

// Build is one version of the demo app.
type Build struct {
	Version string
	Commit  string
	Digest  string
}

// Result is what the demo did, for tests and for the final summary.
type Result struct {
	Dir    string
	Builds []Build
	Status status.Report
}

// commitOf makes a stable, commit-shaped hash for a demo version.
func commitOf(version string) string {
	h := sha1.Sum([]byte("tier demo " + version))
	return hex.EncodeToString(h[:])
}

// Run plays the scenario and prints each step to o.Out.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	res := Result{Dir: o.Dir}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "tier-demo-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		res.Dir = dir
	}
	cfgPath := filepath.Join(res.Dir, config.DefaultFile)
	if err := config.WriteSample(cfgPath, true); err != nil {
		return res, err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return res, err
	}
	say := func(format string, args ...any) { fmt.Fprintf(o.Out, format+"\n", args...) }
	say("tier demo: the seed's method on the embedded registry (project %s)", res.Dir)

	addr, release, err := embedded.Open(ctx, filepath.Join(cfg.StatePath(), "registry"), nil)
	if err != nil {
		return res, err
	}
	defer release()
	reg, err := registry.New(addr, registry.Options{})
	if err != nil {
		return res, err
	}
	say("embedded registry on %s, storage %s", addr, filepath.Join(cfg.StatePath(), "registry"))

	// 1. Every build is pushed once, tagged with its commit.
	now := o.Now().UTC().Truncate(time.Second)
	for i, v := range []string{"v1", "v2", "v3"} {
		files := filepath.Join(res.Dir, "build-"+v)
		if err := os.MkdirAll(files, 0o755); err != nil {
			return res, err
		}
		page := fmt.Sprintf("<h1>demo api %s</h1>\n", v)
		if err := os.WriteFile(filepath.Join(files, "index.html"), []byte(page), 0o644); err != nil {
			return res, err
		}
		created := now.Add(time.Duration(i-3) * 24 * time.Hour)
		l := &push.Loader{Files: push.FilesOptions{Entrypoint: []string{"/bin/api"}, Env: []string{"VERSION=" + v}, Created: created}}
		img, _, err := l.Load(ctx, files)
		if err != nil {
			return res, err
		}
		p, err := push.Push(ctx, reg, img, push.Request{Repository: "api", Commit: commitOf(v), Created: created})
		if err != nil {
			return res, err
		}
		res.Builds = append(res.Builds, Build{Version: v, Commit: p.Commit, Digest: p.Digest.String()})
		say("push     api %s  -> %s  (%s)", v, p.Ref, short(p.Digest.String()))
	}

	clock := now.Add(-48 * time.Hour)
	pr := &promote.Promoter{Config: cfg, Now: func() time.Time { return clock }}
	step := func(label string, f func() ([]promote.Result, error)) error {
		pr.Catalog = catalog.New(reg)
		rs, err := f()
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		for _, r := range rs {
			say("%-8s %-7s %-24s -> %s (commit %s) %s", label, r.Tier, r.Tag, short(r.Digest), r.Commit[:7], r.Status)
		}
		return nil
	}
	// 2. Promote v1 up the ladder two days ago; 3. v2 a day later;
	// then v3 reaches dev; then prod rolls back to what was live two days ago.
	plan := []struct {
		label string
		at    time.Time
		f     func() ([]promote.Result, error)
	}{
		{"promote", now.Add(-48 * time.Hour), func() ([]promote.Result, error) {
			return pr.Promote(ctx, promote.Request{Tier: "dev", Commit: commitOf("v1")[:7]})
		}},
		{"promote", now.Add(-47 * time.Hour), func() ([]promote.Result, error) { return pr.Promote(ctx, promote.Request{Tier: "staging"}) }},
		{"promote", now.Add(-46 * time.Hour), func() ([]promote.Result, error) { return pr.Promote(ctx, promote.Request{Tier: "prod"}) }},
		{"promote", now.Add(-24 * time.Hour), func() ([]promote.Result, error) {
			return pr.Promote(ctx, promote.Request{Tier: "dev", Commit: commitOf("v2")[:7]})
		}},
		{"promote", now.Add(-23 * time.Hour), func() ([]promote.Result, error) { return pr.Promote(ctx, promote.Request{Tier: "staging"}) }},
		{"promote", now.Add(-22 * time.Hour), func() ([]promote.Result, error) { return pr.Promote(ctx, promote.Request{Tier: "prod"}) }},
		{"promote", now.Add(-time.Hour), func() ([]promote.Result, error) {
			return pr.Promote(ctx, promote.Request{Tier: "dev", Commit: commitOf("v3")[:7]})
		}},
		{"rollback", now, func() ([]promote.Result, error) {
			return pr.Rollback(ctx, promote.RollbackRequest{Tier: "prod", To: now.Add(-46 * time.Hour).Format(time.RFC3339)})
		}},
	}
	for _, s := range plan {
		clock = s.at
		if err := step(s.label, s.f); err != nil {
			return res, err
		}
	}
	res.Status, err = status.Registry(ctx, cfg, catalog.New(reg), status.Options{Now: now})
	if err != nil {
		return res, err
	}
	say("")
	say("what each tier points to now (tier status):")
	for _, t := range res.Status.Tiers {
		say("  %-8s %-24s commit %s  %s", t.Tier, t.Tag, t.Commit[:7], versionOf(res.Builds, t.Digest))
	}
	say("")
	say("no environment was deployed: this version of tier moves registry tags only.")
	return res, nil
}

func versionOf(builds []Build, digest string) string {
	for _, b := range builds {
		if b.Digest == digest {
			return b.Version
		}
	}
	return "?"
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
