// Package promote runs tier's main use case in one call: a promotion (or a
// rollback) of a build to a tier. It resolves the build for every service
// before anything moves, moves each service's tier tag (or cuts a new
// immutable <tier>-<UTC time> release tag) in the registry, plans one
// deployment per environment of the tier, deploys them through the rollout
// engine (package deploy), checks afterwards that no other promotion moved
// the tag meanwhile, and returns one Report with its verdict.
//
// Rollback puts a tier back on an earlier build the same way; for a release
// tier it cuts a new release tag, so release tags stay an append-only log.
// Front ends (the CLI, the demo, the server) open a Promoter, call it and
// print the Report.
package promote

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/deploy"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/target"
)

// Promoter runs promotions and rollbacks of one configuration against one
// registry, deploying through the environments' targets. It is safe for
// concurrent use when its fields are not changed.
type Promoter struct {
	Config   *config.Config
	Registry *registry.Client
	// Targets returns each environment's target. A promotion of a tier
	// with environments and no Targets fails their deployments.
	Targets target.Factory
	// Parallel bounds how many environments deploy at once
	// (deploy.DefaultParallel when 0); Timeout bounds each environment's
	// rollout (deploy.DefaultTimeout when 0).
	Parallel int
	Timeout  time.Duration
	// Poll is the first wait between observations of a rollout (the
	// engine's default when 0).
	Poll time.Duration
	// Progress receives live per-environment events; may be nil.
	Progress func(deploy.Event)
	// ReleaseSettle is how long after writing a release tag the promotion
	// reads it again to catch a racing release that overwrote it
	// (DefaultReleaseSettle when 0): a racer that saw the tag free before
	// this write lands its own write within that time.
	ReleaseSettle time.Duration
	// Now is the clock release tags are cut with; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// DefaultReleaseSettle is the default Promoter.ReleaseSettle.
const DefaultReleaseSettle = 2 * time.Second

// Request asks to promote a build to a tier.
type Request struct {
	Tier string
	// Services limits the promotion; empty means every service.
	Services []string
	// Commit (full or a unique prefix) or Digest names the build; when both
	// are empty the build comes from the tier's `from` tier.
	Commit string
	Digest string
	// DryRun observes every environment and reports what would change;
	// nothing moves and nothing is deployed.
	DryRun bool
}

// plan is one service's resolved promotion, decided before anything moves.
type plan struct {
	svc    config.Service
	tier   config.Tier
	digest v1.Hash
	source string
}

func (p *Promoter) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Promoter) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Promote promotes a build to req.Tier and deploys it to every environment
// of the tier. It resolves the build for every service first and changes
// nothing unless all resolve.
//
// The error is non-nil only when the promotion could not run to its end:
// bad input (errors.Is config.ErrUsage, catalog.ErrNoBuild, tags.ErrInvalid)
// or the registry failing. Then nothing changed, unless the Report, which
// is nil otherwise, lists tags that had already moved. When the error is
// nil, the Report's Verdict says whether every environment was verified.
func (p *Promoter) Promote(ctx context.Context, req Request) (*Report, error) {
	tier, services, err := p.lookup(req.Tier, req.Services)
	if err != nil {
		return nil, err
	}
	if req.Commit != "" && req.Digest != "" {
		return nil, config.Usagef("give --commit or --digest, not both")
	}
	if req.Commit == "" && req.Digest == "" && tier.From == "" {
		return nil, config.Usagef("tier %s has no `from` tier to take a build from: pass --commit SHA or --digest sha256:...", tier.Name)
	}
	cat := catalog.New(p.Registry)
	plans := make([]plan, 0, len(services))
	for _, s := range services {
		pl := plan{svc: s, tier: tier}
		switch {
		case req.Digest != "":
			pl.digest, err = cat.ResolveDigest(ctx, s.Repository, req.Digest)
			pl.source = "digest"
		case req.Commit != "":
			_, pl.digest, err = cat.ResolveCommit(ctx, s.Repository, req.Commit)
			pl.source = "commit"
		default:
			pl.digest, err = p.fromTier(ctx, cat, s, tier.From)
			pl.source = "tier " + tier.From
		}
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", s.Name, err)
		}
		plans = append(plans, pl)
	}
	return p.run(ctx, cat, tier, plans, req.DryRun)
}

// lookup returns the tier and the services a request names.
func (p *Promoter) lookup(tierName string, names []string) (config.Tier, []config.Service, error) {
	tier, err := p.Config.LookupTier(tierName)
	if err != nil {
		return config.Tier{}, nil, err
	}
	if len(names) == 0 {
		return tier, p.Config.Services, nil
	}
	var out []config.Service
	for _, n := range names {
		s, err := p.Config.LookupService(n)
		if err != nil {
			return config.Tier{}, nil, err
		}
		out = append(out, s)
	}
	return tier, out, nil
}

func (p *Promoter) fromTier(ctx context.Context, cat *catalog.Catalog, s config.Service, from string) (v1.Hash, error) {
	ft, _ := p.Config.Tier(from)
	cur, ok, err := cat.Current(ctx, s.Repository, ft)
	if err != nil {
		return v1.Hash{}, err
	}
	if !ok {
		return v1.Hash{}, fmt.Errorf("%w: tier %s has no build of %s yet: promote to %s first, or pass --commit", catalog.ErrNoBuild, from, s.Name, from)
	}
	return cur.Digest, nil
}

// run moves the tags of resolved plans, then deploys every environment of
// the tier and checks that no other promotion moved a tag meanwhile.
func (p *Promoter) run(ctx context.Context, cat *catalog.Catalog, tier config.Tier, plans []plan, dryRun bool) (*Report, error) {
	rep := &Report{Tier: tier.Name, DryRun: dryRun, Environments: []deploy.Result{}}
	var err error
	rep.Tags, err = p.apply(ctx, cat, plans, dryRun)
	written := time.Now()
	if err != nil {
		if len(rep.Tags) == 0 {
			return nil, err
		}
		var moved []string
		for _, c := range rep.Tags {
			moved = append(moved, c.Service)
		}
		err = fmt.Errorf("%w; the tags of %s had already moved and were not deployed: run the command again to converge", err, strings.Join(moved, ", "))
		// The release tags cut are reported: check them as after a deploy.
		if !dryRun {
			if _, rerr := p.recheckReleases(ctx, cat, rep.Tags, written); rerr != nil {
				err = fmt.Errorf("%w; %w", err, rerr)
			}
		}
		rep.Stopped = err.Error()
		return rep, err
	}
	deployments, err := p.plan(ctx, cat, rep.Tags)
	if err != nil {
		return rep, err
	}
	eng := &deploy.Engine{
		Target:   p.Targets,
		Parallel: p.Parallel,
		Timeout:  p.Timeout,
		Poll:     p.Poll,
		Log:      p.log(),
		Progress: p.Progress,
		Current: func(ctx context.Context, svc config.Service) (v1.Hash, string, error) {
			return p.current(ctx, tier, svc)
		},
		Platforms: func(ctx context.Context, svc config.Service, d v1.Hash) []v1.Hash {
			ps, _ := cat.Platforms(ctx, svc.Repository, d)
			return ps
		},
		Commit: func(ctx context.Context, svc config.Service, d v1.Hash) string {
			b, err := cat.Build(ctx, svc.Repository, d)
			if err != nil {
				return ""
			}
			return b.Commit
		},
	}
	rep.Environments = eng.Run(ctx, deployments, dryRun)
	if dryRun {
		return rep, nil
	}
	// A racing release may have overwritten a release tag after this
	// promotion read it back: cut it again, then bring the environments to
	// what the tier's newest release is now.
	again, err := p.recheckReleases(ctx, cat, rep.Tags, written)
	if err != nil {
		rep.Stopped = err.Error()
		return rep, err
	}
	if again {
		// Deploy what was released again; the engine then follows the
		// tier to its newest release.
		var redo []TagChange
		for _, c := range rep.Tags {
			if strings.Contains(c.Note, "released again") {
				redo = append(redo, c)
			}
		}
		deployments, err = p.plan(ctx, cat, redo)
		if err != nil {
			rep.Stopped = err.Error()
			return rep, err
		}
		again := eng.Run(ctx, deployments, false)
		for i, e := range rep.Environments {
			for _, a := range again {
				if a.Environment == e.Environment && a.Service == e.Service {
					rep.Environments[i] = a
				}
			}
		}
	}
	return rep, nil
}

// plan lists what changes deploy, with the platform manifests of builds
// that are image indexes (read through cat, which keeps every manifest).
func (p *Promoter) plan(ctx context.Context, cat *catalog.Catalog, changes []TagChange) ([]target.Deployment, error) {
	deployments, err := Deployments(p.Config, changes)
	if err != nil {
		return nil, err
	}
	for i := range deployments {
		d := &deployments[i]
		if d.Platforms, err = cat.Platforms(ctx, d.Service.Repository, d.Digest); err != nil {
			return nil, fmt.Errorf("service %s: reading the manifest of %s: %w", d.Service.Name, target.Short(d.Digest.String()), err)
		}
	}
	return deployments, nil
}

// current re-reads, bypassing every cache, what the tier's tag of svc
// points to now and that build's commit.
func (p *Promoter) current(ctx context.Context, tier config.Tier, svc config.Service) (v1.Hash, string, error) {
	cat := catalog.New(p.Registry)
	cur, ok, err := cat.Current(ctx, svc.Repository, tier)
	if err != nil {
		return v1.Hash{}, "", fmt.Errorf("re-reading tier %s of %s: %w", tier.Name, svc.Name, err)
	}
	if !ok {
		return v1.Hash{}, "", fmt.Errorf("re-reading tier %s of %s: its tag is gone", tier.Name, svc.Name)
	}
	commit := ""
	if b, err := cat.Build(ctx, svc.Repository, cur.Digest); err == nil {
		commit = b.Commit
	}
	return cur.Digest, commit, nil
}

// Deployments lists what a promotion's tag changes deploy: one deployment
// per environment of the tier that runs a promoted service, in config
// order. Services whose tag another promotion moved while this one wrote
// it are left to that promotion.
func Deployments(cfg *config.Config, changes []TagChange) ([]target.Deployment, error) {
	var out []target.Deployment
	for _, c := range changes {
		if c.Status == Superseded {
			continue
		}
		svc, _ := cfg.Service(c.Service)
		d, err := v1.NewHash(c.Digest)
		if err != nil {
			return nil, fmt.Errorf("service %s: digest %q: %w", c.Service, registry.Clip(c.Digest), err)
		}
		for _, env := range cfg.EnvironmentsOf(c.Tier) {
			if env.Runs(svc.Name) {
				out = append(out, target.Deployment{Environment: env, Service: svc, Image: c.Repository + "@" + c.Digest,
					Repository: c.Repository, Tag: c.Tag, Digest: d, Commit: c.Commit})
			}
		}
	}
	return out, nil
}
