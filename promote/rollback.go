package promote

import (
	"context"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/tags"
	"github.com/tierdeploy/tier/target"
)

// RollbackRequest asks to put a tier back on an earlier build.
type RollbackRequest struct {
	Tier     string
	Services []string
	// To names the build: for a release tier a time or date (the release
	// that was current then), a release tag, a commit or a digest; for a
	// mutable tier a commit, a digest or a tag. Empty means the release
	// before the current one (release tiers only).
	To     string
	DryRun bool
}

// Rollback resolves the target build of every service, then points the tier
// at it: a mutable tier's tag moves back; a release tier gets a new release
// tag now, so its tags stay an append-only log of what was live when.
//
// Then every environment of the tier is deployed as with Promote, and the
// error and Report mean what they mean there.
func (p *Promoter) Rollback(ctx context.Context, req RollbackRequest) (*Report, error) {
	tier, services, err := p.lookup(req.Tier, req.Services)
	if err != nil {
		return nil, err
	}
	cat := catalog.New(p.Registry)
	r := &rollback{Promoter: p, cat: cat}
	plans := make([]plan, 0, len(services))
	for _, s := range services {
		pl := plan{svc: s, tier: tier}
		pl.digest, pl.source, err = r.target(ctx, s, tier, req.To)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", s.Name, err)
		}
		plans = append(plans, pl)
	}
	// Every build gone back to must still exist (a registry lifecycle
	// policy may have expired it) before any tag moves.
	for _, pl := range plans {
		if _, err := cat.Build(ctx, pl.svc.Repository, pl.digest); err != nil {
			return nil, fmt.Errorf("service %s: the build to go back to, %s (%s), cannot be read: %w; nothing was moved (if a lifecycle policy expired it, see tier doctor)", pl.svc.Name, target.Short(pl.digest.String()), pl.source, err)
		}
	}
	return p.run(ctx, cat, tier, plans, req.DryRun)
}

// rollback resolves the build a rollback goes back to, through one catalog.
type rollback struct {
	*Promoter
	cat *catalog.Catalog
}

func (p *rollback) target(ctx context.Context, s config.Service, tier config.Tier, to string) (v1.Hash, string, error) {
	repo := s.Repository
	switch {
	case to == "" && !tier.Release:
		return v1.Hash{}, "", config.Usagef("tier %s is mutable and keeps no timeline: pass --to COMMIT or --to sha256:DIGEST", tier.Name)
	case to == "":
		return p.previousRelease(ctx, repo, tier)
	case strings.HasPrefix(to, "sha256:"):
		d, err := p.cat.ResolveDigest(ctx, repo, to)
		return d, "digest", err
	}
	if tier.Release {
		if _, ok := tags.ParseRelease(tier.Name, to); ok {
			d, err := p.Registry.Head(ctx, repo, to)
			if err != nil {
				return v1.Hash{}, "", err
			}
			return d.Digest, "release " + to, nil
		}
		if at, err := tags.ParseTime(to); err == nil {
			return p.releaseAt(ctx, repo, tier, at)
		}
	}
	if _, err := tags.ParseTime(to); err == nil && !tier.Release {
		return v1.Hash{}, "", config.Usagef("--to %q is a time, but tier %s is mutable and keeps no timeline, so times do not apply: pass --to COMMIT or --to sha256:DIGEST", registry.Clip(to), tier.Name)
	}
	if tags.IsCommitPrefix(to) {
		_, d, err := p.cat.ResolveCommit(ctx, repo, to)
		return d, "commit", err
	}
	if !tier.Release {
		if tags.Validate(to) == nil {
			d, err := p.Registry.Head(ctx, repo, to)
			if err != nil {
				return v1.Hash{}, "", err
			}
			return d.Digest, "tag " + to, nil
		}
		return v1.Hash{}, "", config.Usagef("--to %q is not a commit, a digest or a tag; tier %s is mutable, so times do not apply", registry.Clip(to), tier.Name)
	}
	return v1.Hash{}, "", config.Usagef("--to %q is not a time (2020-11-12, 2020-11-12T10:30Z), a release tag (%s), a commit or a digest", registry.Clip(to), tags.Release(tier.Name, time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC)))
}

// releaseAt finds the release that was current at t: the newest release cut
// at or before t.
func (p *rollback) releaseAt(ctx context.Context, repo string, tier config.Tier, at time.Time) (v1.Hash, string, error) {
	rel, err := p.cat.Releases(ctx, repo, tier.Name)
	if err != nil {
		return v1.Hash{}, "", err
	}
	var pick *catalog.Release
	for i := range rel {
		if !rel[i].Time.After(at) {
			pick = &rel[i]
		}
	}
	if pick == nil {
		if len(rel) == 0 {
			return v1.Hash{}, "", fmt.Errorf("%w: tier %s has no releases of %s yet", catalog.ErrNoBuild, tier.Name, repo)
		}
		return v1.Hash{}, "", fmt.Errorf("%w: no release of %s in %s was live at %s: the first, %s, came later", catalog.ErrNoBuild, tier.Name, repo, at.Format(time.RFC3339), rel[0].Tag)
	}
	d, err := p.Registry.Head(ctx, repo, pick.Tag)
	if err != nil {
		return v1.Hash{}, "", err
	}
	return d.Digest, "release " + pick.Tag, nil
}

// previousRelease finds the newest release whose build differs from the
// current one.
func (p *rollback) previousRelease(ctx context.Context, repo string, tier config.Tier) (v1.Hash, string, error) {
	rel, err := p.cat.Releases(ctx, repo, tier.Name)
	if err != nil {
		return v1.Hash{}, "", err
	}
	if len(rel) == 0 {
		return v1.Hash{}, "", fmt.Errorf("%w: tier %s has no releases of %s yet", catalog.ErrNoBuild, tier.Name, repo)
	}
	cur, err := p.Registry.Head(ctx, repo, rel[len(rel)-1].Tag)
	if err != nil {
		return v1.Hash{}, "", err
	}
	for i := len(rel) - 2; i >= 0; i-- {
		d, err := p.Registry.Head(ctx, repo, rel[i].Tag)
		if err != nil {
			return v1.Hash{}, "", err
		}
		if d.Digest != cur.Digest {
			return d.Digest, "release " + rel[i].Tag, nil
		}
	}
	return v1.Hash{}, "", fmt.Errorf("%w: tier %s of %s has no earlier release with another build: pass --to", catalog.ErrNoBuild, tier.Name, repo)
}
