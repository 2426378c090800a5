// Package promote moves builds through tiers in the registry: a mutable
// tier's tag moves to the promoted digest; a release tier gets a new
// immutable <tier>-<UTC time> tag. Rollback puts a tier back on an earlier
// build the same way, so release tags stay an append-only log.
package promote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/tags"
)

// ErrUsage is wrapped by errors about the request itself: an unknown tier or
// service, a missing source, conflicting flags.
var ErrUsage = errors.New("bad request")

// Promoter performs promotions and rollbacks against one registry.
type Promoter struct {
	Config  *config.Config
	Catalog *catalog.Catalog
	// Now is the clock release tags are cut with; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Request asks to promote a build to a tier.
type Request struct {
	Tier string
	// Services limits the promotion; empty means every service.
	Services []string
	// Commit (full or a unique prefix) or Digest names the build; when both
	// are empty the build comes from the tier's `from` tier.
	Commit string
	Digest string
	DryRun bool
}

// Status says what happened to one service's tier.
type Status string

// Outcomes of one service's promotion.
const (
	Moved     Status = "moved"     // a mutable tag now points at the build
	Released  Status = "released"  // a new release tag was cut
	Unchanged Status = "unchanged" // the tier already pointed at the build
	Planned   Status = "planned"   // dry run: what would happen
	// Superseded: another promotion moved the tag while this one wrote it;
	// the tag is left where the other put it.
	Superseded Status = "superseded"
)

// Result is the registry outcome of one service's promotion.
type Result struct {
	Service    string `json:"service"`
	Repository string `json:"repository"`
	Tier       string `json:"tier"`
	// Tag is the mutable tag moved or the release tag cut (or that would be).
	Tag            string `json:"tag"`
	Digest         string `json:"digest"`
	Commit         string `json:"commit,omitempty"`
	PreviousTag    string `json:"previous_tag,omitempty"`
	PreviousDigest string `json:"previous_digest,omitempty"`
	PreviousCommit string `json:"previous_commit,omitempty"`
	// Source says where the build came from: "commit", "digest" or
	// "tier <name>".
	Source string `json:"source"`
	Status Status `json:"status"`
}

// plan is one service's resolved promotion, decided before anything moves.
type plan struct {
	svc    config.Service
	tier   config.Tier
	digest v1.Hash
	source string
	cur    catalog.Current
	hasCur bool
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

// Promote resolves the build for every service first and changes nothing
// unless all resolve; then it moves each service's tag.
func (p *Promoter) Promote(ctx context.Context, req Request) ([]Result, error) {
	tier, services, err := p.target(req.Tier, req.Services)
	if err != nil {
		return nil, err
	}
	if req.Commit != "" && req.Digest != "" {
		return nil, fmt.Errorf("%w: give --commit or --digest, not both", ErrUsage)
	}
	if req.Commit == "" && req.Digest == "" && tier.From == "" {
		return nil, fmt.Errorf("%w: tier %s has no `from` tier to take a build from: pass --commit SHA or --digest sha256:...", ErrUsage, tier.Name)
	}
	plans := make([]plan, 0, len(services))
	for _, s := range services {
		pl := plan{svc: s, tier: tier}
		switch {
		case req.Digest != "":
			pl.digest, err = p.Catalog.ResolveDigest(ctx, s.Repository, req.Digest)
			pl.source = "digest"
		case req.Commit != "":
			_, pl.digest, err = p.Catalog.ResolveCommit(ctx, s.Repository, req.Commit)
			pl.source = "commit"
		default:
			pl.digest, err = p.fromTier(ctx, s, tier.From)
			pl.source = "tier " + tier.From
		}
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", s.Name, err)
		}
		plans = append(plans, pl)
	}
	return p.apply(ctx, plans, req.DryRun)
}

func (p *Promoter) target(tierName string, names []string) (config.Tier, []config.Service, error) {
	tier, ok := p.Config.Tier(tierName)
	if !ok {
		return config.Tier{}, nil, fmt.Errorf("%w: unknown tier %q: the tiers are %s", ErrUsage, tierName, tierNames(p.Config))
	}
	if len(names) == 0 {
		return tier, p.Config.Services, nil
	}
	var out []config.Service
	for _, n := range names {
		s, ok := p.Config.Service(n)
		if !ok {
			return config.Tier{}, nil, fmt.Errorf("%w: unknown service %q: the services are %s", ErrUsage, n, serviceNames(p.Config))
		}
		out = append(out, s)
	}
	return tier, out, nil
}

func (p *Promoter) fromTier(ctx context.Context, s config.Service, from string) (v1.Hash, error) {
	ft, _ := p.Config.Tier(from)
	cur, ok, err := p.Catalog.Current(ctx, s.Repository, ft)
	if err != nil {
		return v1.Hash{}, err
	}
	if !ok {
		return v1.Hash{}, fmt.Errorf("%w: tier %s has no build of %s yet: promote to %s first, or pass --commit", catalog.ErrNoBuild, from, s.Name, from)
	}
	return cur.Digest, nil
}

// apply moves each plan's tag; plans were all resolved beforehand.
func (p *Promoter) apply(ctx context.Context, plans []plan, dryRun bool) ([]Result, error) {
	var out []Result
	for i := range plans {
		pl := &plans[i]
		var err error
		pl.cur, pl.hasCur, err = p.Catalog.Current(ctx, pl.svc.Repository, pl.tier)
		if err != nil {
			return out, fmt.Errorf("service %s: %w", pl.svc.Name, err)
		}
		r, err := p.move(ctx, *pl, dryRun)
		if err != nil {
			return out, fmt.Errorf("service %s: %w", pl.svc.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (p *Promoter) move(ctx context.Context, pl plan, dryRun bool) (Result, error) {
	repo := pl.svc.Repository
	r := Result{Service: pl.svc.Name, Repository: p.Catalog.Registry.Name(repo),
		Tier: pl.tier.Name, Tag: pl.tier.Tag, Digest: pl.digest.String(), Source: pl.source}
	if b, err := p.Catalog.Build(ctx, repo, pl.digest); err == nil {
		r.Commit = b.Commit
	} else {
		return Result{}, err
	}
	if pl.hasCur {
		r.PreviousTag, r.PreviousDigest = pl.cur.Tag, pl.cur.Digest.String()
		if b, err := p.Catalog.Build(ctx, repo, pl.cur.Digest); err == nil {
			r.PreviousCommit = b.Commit
		}
	}
	if pl.hasCur && pl.cur.Digest == pl.digest {
		r.Tag, r.Status = pl.cur.Tag, Unchanged
		return r, nil
	}
	if pl.tier.Release {
		r.Tag = tags.Release(pl.tier.Name, p.now())
	}
	if dryRun {
		r.Status = Planned
		return r, nil
	}
	if pl.tier.Release {
		// A release tag is never overwritten.
		if d, err := p.Catalog.Registry.Head(ctx, repo, r.Tag); err == nil {
			return Result{}, fmt.Errorf("release tag %s already exists (pointing at %s); release tags are never overwritten: try again in a second", r.Tag, d.Digest)
		} else if nf := (*registry.NotFoundError)(nil); !errors.As(err, &nf) {
			return Result{}, err
		}
	}
	p.log().Info("tagging", "ref", p.Catalog.Registry.Ref(repo, r.Tag), "digest", r.Digest)
	if err := p.Catalog.Registry.Retag(ctx, repo, pl.digest, r.Tag); err != nil {
		var mm *registry.MismatchError
		if errors.As(err, &mm) && !pl.tier.Release {
			p.log().Warn("another promotion moved the tag meanwhile", "ref", mm.Ref, "now", mm.Got)
			r.Status = Superseded
			return r, nil
		}
		return Result{}, err
	}
	p.Catalog.Forget(repo)
	r.Status = Moved
	if pl.tier.Release {
		r.Status = Released
	}
	return r, nil
}

func tierNames(c *config.Config) string {
	return names(c.Tiers, func(t config.Tier) string { return t.Name })
}

func serviceNames(c *config.Config) string {
	return names(c.Services, func(s config.Service) string { return s.Name })
}

func names[T any](list []T, name func(T) string) string {
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = name(x)
	}
	return strings.Join(out, ", ")
}
