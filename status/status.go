// Package status answers "what is deployed where". Registry reads what the
// registry says each tier runs (per service and tier: the tag, the digest
// it points to, that build's commit and age, and for release tiers the
// current release and how many exist); Environments adds what each
// environment's platform says it runs, compares the two and gives each
// environment its state: the grid of `tier status`.
package status

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
)

// TierView is what the registry says one tier of one service points to.
// Field names are the JSON API's.
type TierView struct {
	Service    string `json:"service"`
	Repository string `json:"repository"`
	Tier       string `json:"tier"`
	// Kind is "mutable" or "release".
	Kind string `json:"kind"`
	// Tag is the mutable tag, or the current (newest) release tag.
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest,omitempty"`
	Commit string `json:"commit,omitempty"`
	// Created is when the build was made (its created annotation).
	Created    *time.Time `json:"created,omitempty"`
	AgeSeconds int64      `json:"age_seconds,omitempty"`
	// Releases counts the release tags of a release tier.
	Releases   int        `json:"releases,omitempty"`
	ReleasedAt *time.Time `json:"released_at,omitempty"`
	// Promoted is false when the tier has never pointed at a build.
	Promoted bool `json:"promoted"`
}

// Options filter a report.
type Options struct {
	Tier    string
	Service string
	// Now is the clock ages are measured against.
	Now time.Time
}

// Registry reads every (service, tier) pair in parallel, in config order.
func Registry(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, o Options) ([]TierView, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	var rows []TierView
	var pairs []struct {
		s config.Service
		t config.Tier
	}
	for _, s := range cfg.Services {
		if o.Service != "" && s.Name != o.Service {
			continue
		}
		for _, t := range cfg.Tiers {
			if o.Tier != "" && t.Name != o.Tier {
				continue
			}
			pairs = append(pairs, struct {
				s config.Service
				t config.Tier
			}{s, t})
		}
	}
	rows = make([]TierView, len(pairs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, p := range pairs {
		g.Go(func() error {
			r, err := one(ctx, cat, p.s, p.t, o.Now)
			rows[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return rows, nil
}

func one(ctx context.Context, cat *catalog.Catalog, s config.Service, t config.Tier, now time.Time) (TierView, error) {
	r := TierView{Service: s.Name, Repository: cat.Registry.Name(s.Repository), Tier: t.Name, Kind: "mutable", Tag: t.Tag}
	if t.Release {
		r.Kind, r.Tag = "release", ""
	}
	cur, ok, err := cat.Current(ctx, s.Repository, t)
	if err != nil || !ok {
		return r, err
	}
	r.Promoted, r.Tag, r.Digest, r.Releases = true, cur.Tag, cur.Digest.String(), cur.Releases
	if t.Release {
		at := cur.ReleasedAt
		r.ReleasedAt = &at
	}
	b, err := cat.Build(ctx, s.Repository, cur.Digest)
	if err != nil {
		return r, err
	}
	r.Commit = b.Commit
	if !b.Created.IsZero() {
		c := b.Created
		r.Created = &c
		r.AgeSeconds = int64(now.Sub(c).Seconds())
	}
	return r, nil
}
