package promote

import (
	"context"
	"errors"
	"fmt"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/tags"
)

// TagStatus says what happened to one service's tier tag.
type TagStatus string

// What can happen to a service's tier tag.
const (
	Moved     TagStatus = "moved"     // a mutable tag now points at the build
	Released  TagStatus = "released"  // a new release tag was cut
	Unchanged TagStatus = "unchanged" // the tier already pointed at the build
	Planned   TagStatus = "planned"   // dry run: what would happen
	// Superseded: another promotion moved the tag while this one wrote it;
	// the tag is left where the other put it.
	Superseded TagStatus = "superseded"
)

// TagChange is the registry side of one service's promotion: which tag
// moved (or was cut) from which build to which. Field names are the JSON
// API's.
type TagChange struct {
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
	// Source says where the build came from: "commit", "digest",
	// "tier <name>", "release <tag>" or "tag <tag>".
	Source string    `json:"source"`
	Status TagStatus `json:"status"`
}

// apply moves each plan's tag, in order; plans were all resolved
// beforehand. On an error it returns the changes made so far.
func (p *Promoter) apply(ctx context.Context, cat *catalog.Catalog, plans []plan, dryRun bool) ([]TagChange, error) {
	var out []TagChange
	for _, pl := range plans {
		c, err := p.move(ctx, cat, pl, dryRun)
		if err != nil {
			return out, fmt.Errorf("service %s: %w", pl.svc.Name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func (p *Promoter) move(ctx context.Context, cat *catalog.Catalog, pl plan, dryRun bool) (TagChange, error) {
	repo := pl.svc.Repository
	cur, hasCur, err := cat.Current(ctx, repo, pl.tier)
	if err != nil {
		return TagChange{}, err
	}
	c := TagChange{Service: pl.svc.Name, Repository: p.Registry.Name(repo),
		Tier: pl.tier.Name, Tag: pl.tier.Tag, Digest: pl.digest.String(), Source: pl.source}
	b, err := cat.Build(ctx, repo, pl.digest)
	if err != nil {
		return TagChange{}, err
	}
	c.Commit = b.Commit
	if hasCur {
		c.PreviousTag, c.PreviousDigest = cur.Tag, cur.Digest.String()
		if b, err := cat.Build(ctx, repo, cur.Digest); err == nil {
			c.PreviousCommit = b.Commit
		}
	}
	if hasCur && cur.Digest == pl.digest {
		c.Tag, c.Status = cur.Tag, Unchanged
		return c, nil
	}
	if pl.tier.Release {
		c.Tag = tags.Release(pl.tier.Name, p.now())
	}
	if dryRun {
		c.Status = Planned
		return c, nil
	}
	if pl.tier.Release {
		// A release tag is never overwritten.
		if d, err := p.Registry.Head(ctx, repo, c.Tag); err == nil {
			return TagChange{}, fmt.Errorf("release tag %s already exists (pointing at %s); release tags are never overwritten: try again in a second", c.Tag, d.Digest)
		} else if nf := (*registry.NotFoundError)(nil); !errors.As(err, &nf) {
			return TagChange{}, err
		}
	}
	p.log().Info("tagging", "ref", p.Registry.Ref(repo, c.Tag), "digest", c.Digest)
	if err := p.Registry.Retag(ctx, repo, pl.digest, c.Tag); err != nil {
		var mm *registry.MismatchError
		if errors.As(err, &mm) && !pl.tier.Release {
			p.log().Warn("another promotion moved the tag meanwhile", "ref", mm.Ref, "now", mm.Got)
			c.Status = Superseded
			return c, nil
		}
		return TagChange{}, err
	}
	cat.Forget(repo)
	c.Status = Moved
	if pl.tier.Release {
		c.Status = Released
	}
	return c, nil
}
