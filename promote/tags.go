package promote

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/tags"
	"github.com/tierdeploy/tier/target"
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
	// Overwritten: a racing release overwrote the release tag this one
	// cut, and cutting another for the build failed.
	Overwritten TagStatus = "overwritten"
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
	// Note says what happened on the way, when something did: a release
	// tag taken by a racing release, so this build was released under the
	// next free second.
	Note string `json:"note,omitempty"`
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
		// A release tag is never overwritten: one another release cut this
		// second moves this one to the next free second.
		taken := ""
		if d, err := p.Registry.Head(ctx, repo, c.Tag); err == nil {
			taken = fmt.Sprintf("%s already held %s", c.Tag, target.Short(d.Digest.String()))
			if c.Tag, err = p.nextFree(ctx, repo, c.Tier, c.Tag); err != nil {
				return TagChange{}, err
			}
		} else if nf := (*registry.NotFoundError)(nil); !errors.As(err, &nf) {
			return TagChange{}, err
		}
		if err := p.release(ctx, cat, repo, pl.digest, &c); err != nil {
			return TagChange{}, err
		}
		if taken != "" {
			c.Note = fmt.Sprintf("%s (release tags are never overwritten): released as %s", taken, c.Tag)
		}
		cat.Forget(repo)
		return c, nil
	}
	p.log().Info("tagging", "ref", p.Registry.Ref(repo, c.Tag), "digest", c.Digest)
	desc, err := cat.Manifest(ctx, repo, pl.digest)
	if err != nil {
		return TagChange{}, err
	}
	if err := p.Registry.RetagManifest(ctx, repo, desc, c.Tag); err != nil {
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

// maxReleaseTries bounds how many seconds a release moves on when racing
// releases keep taking its tag.
const maxReleaseTries = 10

// release cuts c.Tag for digest, checked free just before. A generic OCI
// registry cannot create a tag only if it is free, so two releases in one
// second may both write it: when the tag then holds another build (read
// back after writing, or refused by an immutable ECR repository), the
// build is released under the next free second instead, and c.Note says
// so. When the write was sent but its outcome is unknown, the error says
// the tag may exist.
// The manifest comes from cat, so one the promotion read is not fetched
// again.
func (p *Promoter) release(ctx context.Context, cat *catalog.Catalog, repo string, digest v1.Hash, c *TagChange) error {
	first := c.Tag
	desc, err := cat.Manifest(ctx, repo, digest)
	if err != nil {
		return err
	}
	for try := 0; ; try++ {
		p.log().Info("tagging", "ref", p.Registry.Ref(repo, c.Tag), "digest", c.Digest)
		err := p.Registry.RetagManifest(ctx, repo, desc, c.Tag)
		if err == nil {
			c.Status = Released
			if c.Tag != first {
				c.Note = fmt.Sprintf("%s was taken by a racing release of another build: released as %s", first, c.Tag)
			}
			return nil
		}
		if !p.taken(ctx, repo, digest, c.Tag, err) {
			// Did the write land? Then the release is done; otherwise the
			// tag may still exist, and a rerun must know.
			if d, herr := p.Registry.Head(ctx, repo, c.Tag); herr == nil && d.Digest == digest {
				c.Status = Released
				return nil
			}
			return fmt.Errorf("%w; release tag %s may exist now (the write was sent): run the command again, it finds the tag", err, p.Registry.Ref(repo, c.Tag))
		}
		if try+1 >= maxReleaseTries {
			return fmt.Errorf("release tags %s to %s were all taken by racing releases: try again", first, c.Tag)
		}
		// Taken by a racing release: the next free second.
		if c.Tag, err = p.nextFree(ctx, repo, c.Tier, c.Tag); err != nil {
			return err
		}
	}
}

// nextFree returns the first release tag of tier after tag that repo does
// not have.
func (p *Promoter) nextFree(ctx context.Context, repo, tier, tag string) (string, error) {
	at, _ := tags.ParseRelease(tier, tag)
	for {
		at = at.Add(time.Second)
		next := tags.Release(tier, at)
		_, err := p.Registry.Head(ctx, repo, next)
		if nf := (*registry.NotFoundError)(nil); errors.As(err, &nf) {
			return next, nil
		}
		if err != nil {
			return "", err
		}
	}
}

// taken reports whether err from writing tag says another build holds it:
// it reads back another digest, or the registry refused to overwrite it.
func (p *Promoter) taken(ctx context.Context, repo string, digest v1.Hash, tag string, err error) bool {
	var mm *registry.MismatchError
	if errors.As(err, &mm) {
		return mm.Got != digest
	}
	if errors.Is(err, registry.ErrTagExists) {
		d, herr := p.Registry.Head(ctx, repo, tag)
		return herr == nil && d.Digest != digest
	}
	return false
}

// recheckReleases reads each release tag this promotion cut again, no
// sooner than ReleaseSettle after the last write: a racing release that
// wrote the same tag after this one read it back took it, and this build's
// entry in the release log is gone. Such a build is released again under
// the next free second, and that tag is checked the same way, until every
// release tag holds its build (at most maxReleaseTries rounds). It returns
// whether any release was cut again. A build that could not be released
// again is reported Overwritten.
func (p *Promoter) recheckReleases(ctx context.Context, cat *catalog.Catalog, changes []TagChange, written time.Time) (bool, error) {
	again := false
	settle := cmp.Or(p.ReleaseSettle, DefaultReleaseSettle)
	for round := 0; slices.ContainsFunc(changes, func(c TagChange) bool { return c.Status == Released }); round++ {
		if wait := settle - time.Since(written); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return again, ctx.Err()
			case <-t.C:
			}
		}
		moved := false
		for i := range changes {
			c := &changes[i]
			if c.Status != Released {
				continue
			}
			svc, _ := p.Config.Service(c.Service)
			d, err := p.Registry.Head(ctx, svc.Repository, c.Tag)
			if err != nil {
				return again, fmt.Errorf("service %s: reading release tag %s again: %w", c.Service, c.Tag, err)
			}
			if d.Digest.String() == c.Digest {
				continue
			}
			lost, holder := c.Tag, target.Short(d.Digest.String())
			if round+1 >= maxReleaseTries {
				c.Status, c.Note = Overwritten, fmt.Sprintf("%s was overwritten by a racing release of %s, and racing releases kept taking the next ones", lost, holder)
				return again, fmt.Errorf("service %s: %s", c.Service, c.Note)
			}
			digest, err := v1.NewHash(c.Digest)
			if err == nil {
				c.Tag, err = p.nextFree(ctx, svc.Repository, c.Tier, lost)
			}
			if err == nil {
				err = p.release(ctx, cat, svc.Repository, digest, c)
			}
			if err != nil {
				c.Tag, c.Status, c.Note = lost, Overwritten, fmt.Sprintf("%s was overwritten by a racing release of %s; releasing this build again failed", lost, holder)
				return again, fmt.Errorf("service %s: %s was overwritten by a racing release of %s; releasing again: %w", c.Service, lost, holder, err)
			}
			c.Note = fmt.Sprintf("%s was overwritten by a racing release of %s: released again as %s", lost, holder, c.Tag)
			again, moved = true, true
		}
		if !moved {
			return again, nil
		}
		written = time.Now()
	}
	return again, nil
}
