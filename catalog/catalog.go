// Package catalog answers questions about builds and tiers from the
// registry alone: what a tier's tag points to now, which releases a release
// tier has cut and when, and which build a commit prefix names.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/tags"
)

// ErrNoBuild is wrapped when a commit, digest or tier names no build.
var ErrNoBuild = errors.New("build not found")

// Catalog reads tiers and builds from one registry. It caches tag lists,
// manifests (by digest: their bytes never change) and build annotations for
// its lifetime, which is one command. A manifest is fetched once per
// catalog: resolving a tag fetches it (a GET, where a HEAD would give the
// digest alone), and reading its build or retagging it later reuses it.
type Catalog struct {
	Registry *registry.Client

	mu        sync.Mutex
	tags      map[string][]string
	builds    map[string]registry.Build
	manifests map[string]*remote.Descriptor
}

// New returns a catalog over c.
func New(c *registry.Client) *Catalog {
	return &Catalog{Registry: c, tags: map[string][]string{}, builds: map[string]registry.Build{},
		manifests: map[string]*remote.Descriptor{}}
}

// Manifest returns the manifest of digest in repo, fetched by digest once
// per catalog unless resolving a tag already fetched it.
func (c *Catalog) Manifest(ctx context.Context, repo string, digest v1.Hash) (*remote.Descriptor, error) {
	key := repo + "@" + digest.String()
	c.mu.Lock()
	d, ok := c.manifests[key]
	c.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := c.Registry.Manifest(ctx, repo, digest)
	if err != nil {
		return nil, err
	}
	c.keep(repo, d)
	return d, nil
}

// resolve fetches the manifest ref (a tag) names in repo and keeps it: its
// digest is what a HEAD would have said, and its bytes spare a later fetch
// by digest.
func (c *Catalog) resolve(ctx context.Context, repo, ref string) (*remote.Descriptor, error) {
	d, err := c.Registry.Get(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	c.keep(repo, d)
	return d, nil
}

func (c *Catalog) keep(repo string, d *remote.Descriptor) {
	c.mu.Lock()
	c.manifests[repo+"@"+d.Digest.String()] = d
	c.mu.Unlock()
}

// Tags lists repo's tags, once per catalog.
func (c *Catalog) Tags(ctx context.Context, repo string) ([]string, error) {
	c.mu.Lock()
	t, ok := c.tags[repo]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := c.Registry.Tags(ctx, repo)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.tags[repo] = t
	c.mu.Unlock()
	return t, nil
}

// Forget drops cached tags of repo after the caller changed them.
func (c *Catalog) Forget(repo string) {
	c.mu.Lock()
	delete(c.tags, repo)
	c.mu.Unlock()
}

// Build returns the annotations of a build, with its commit filled in from a
// commit tag on the same digest when the manifest carries no revision.
func (c *Catalog) Build(ctx context.Context, repo string, digest v1.Hash) (registry.Build, error) {
	key := repo + "@" + digest.String()
	c.mu.Lock()
	b, ok := c.builds[key]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	d, err := c.Manifest(ctx, repo, digest)
	if err != nil {
		return registry.Build{}, err
	}
	b, err = c.Registry.BuildOf(repo, d)
	if err != nil {
		return registry.Build{}, err
	}
	if b.Commit == "" {
		b.Commit, err = c.commitTagOf(ctx, repo, digest)
		if err != nil {
			return registry.Build{}, err
		}
	}
	c.mu.Lock()
	c.builds[key] = b
	c.mu.Unlock()
	return b, nil
}

func (c *Catalog) commitTagOf(ctx context.Context, repo string, digest v1.Hash) (string, error) {
	all, err := c.Tags(ctx, repo)
	if err != nil {
		return "", err
	}
	for _, t := range all {
		if !tags.IsCommit(t) {
			continue
		}
		d, err := c.Registry.Head(ctx, repo, t)
		if err != nil {
			return "", err
		}
		if d.Digest == digest {
			return t, nil
		}
	}
	return "", nil
}

// Release is one release tag of a release tier.
type Release struct {
	Tag  string    `json:"tag"`
	Time time.Time `json:"time"`
}

// Releases lists the release tags of tier in repo, oldest first.
func (c *Catalog) Releases(ctx context.Context, repo, tier string) ([]Release, error) {
	all, err := c.Tags(ctx, repo)
	if err != nil {
		return nil, err
	}
	var out []Release
	for _, t := range all {
		if at, ok := tags.ParseRelease(tier, t); ok {
			out = append(out, Release{Tag: t, Time: at})
		}
	}
	slices.SortFunc(out, func(a, b Release) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// Current is what a tier points to now in one repository.
type Current struct {
	// Tag is the mutable tag, or the newest release tag.
	Tag    string
	Digest v1.Hash
	// Releases is the number of release tags of a release tier.
	Releases int
	// ReleasedAt is the time of the newest release.
	ReleasedAt time.Time
}

// Current returns what tier points to in repo; ok is false when the tier
// has never been promoted there. It fetches the tag's manifest, which the
// catalog keeps for Build and Manifest.
func (c *Catalog) Current(ctx context.Context, repo string, tier config.Tier) (Current, bool, error) {
	cur := Current{Tag: tier.Tag}
	if tier.Release {
		rel, err := c.Releases(ctx, repo, tier.Name)
		if err != nil {
			return Current{}, false, err
		}
		if len(rel) == 0 {
			return Current{}, false, nil
		}
		last := rel[len(rel)-1]
		cur.Tag, cur.Releases, cur.ReleasedAt = last.Tag, len(rel), last.Time
	}
	d, err := c.resolve(ctx, repo, cur.Tag)
	var nf *registry.NotFoundError
	if errors.As(err, &nf) {
		return Current{}, false, nil
	}
	if err != nil {
		return Current{}, false, err
	}
	cur.Digest = d.Digest
	return cur, true, nil
}

// ResolveCommit finds the build tagged with the commit that prefix starts.
// The prefix must name exactly one commit tag, unless it is a whole commit
// with a tag of its own: that tag is the build, found with one request
// (its manifest, kept) without listing the repository's tags.
func (c *Catalog) ResolveCommit(ctx context.Context, repo, prefix string) (string, v1.Hash, error) {
	if !tags.IsCommitPrefix(prefix) {
		return "", v1.Hash{}, fmt.Errorf("%w: %q is not a commit hash or a prefix of one (4 to 64 lower-case hex digits)", tags.ErrInvalid, registry.Clip(prefix))
	}
	if tags.IsCommit(prefix) {
		d, err := c.resolve(ctx, repo, prefix)
		var nf *registry.NotFoundError
		switch {
		case err == nil:
			return prefix, d.Digest, nil
		case !errors.As(err, &nf):
			return "", v1.Hash{}, err
		}
		// A SHA-1 commit may still start a SHA-256 one's tag.
	}
	all, err := c.Tags(ctx, repo)
	if err != nil {
		return "", v1.Hash{}, err
	}
	var hits []string
	for _, t := range all {
		if tags.IsCommit(t) && strings.HasPrefix(t, prefix) {
			hits = append(hits, t)
		}
	}
	switch len(hits) {
	case 0:
		return "", v1.Hash{}, fmt.Errorf("%w: no build of commit %s in %s: push it first with `tier push`", ErrNoBuild, prefix, c.Registry.Name(repo))
	case 1:
	default:
		return "", v1.Hash{}, fmt.Errorf("%w: commit prefix %s is ambiguous in %s: it matches %s; give more digits", tags.ErrInvalid, prefix, c.Registry.Name(repo), strings.Join(short(hits, maxListed), ", "))
	}
	d, err := c.resolve(ctx, repo, hits[0])
	if err != nil {
		return "", v1.Hash{}, err
	}
	return hits[0], d.Digest, nil
}

// ResolveDigest checks that digest exists in repo, fetching (and keeping)
// its manifest.
func (c *Catalog) ResolveDigest(ctx context.Context, repo, digest string) (v1.Hash, error) {
	h, err := v1.NewHash(digest)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("%w: %q is not a digest (sha256:<64 hex digits>)", tags.ErrInvalid, registry.Clip(digest))
	}
	d, err := c.Manifest(ctx, repo, h)
	var nf *registry.NotFoundError
	if errors.As(err, &nf) {
		return v1.Hash{}, fmt.Errorf("%w: %s is not in %s: give the digest of a build pushed there", ErrNoBuild, h, repo)
	}
	if err != nil {
		return v1.Hash{}, err
	}
	return d.Digest, nil
}

// maxListed is how many matching commits an ambiguity error lists.
const maxListed = 5

// short abbreviates commits to 12 digits, listing at most n of them and
// then how many more there are.
func short(commits []string, n int) []string {
	out := make([]string, 0, min(len(commits), n+1))
	for i, c := range commits {
		if i == n {
			out = append(out, fmt.Sprintf("and %d more", len(commits)-n))
			break
		}
		out = append(out, c[:min(12, len(c))])
	}
	return out
}
