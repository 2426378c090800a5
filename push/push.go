package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/tags"
)

// ErrBuildExists is wrapped when a different image is already pushed under
// the commit tag.
var ErrBuildExists = errors.New("build exists")

// Request is one push.
type Request struct {
	Repository string
	Commit     string
	Created    time.Time
	// SourceURL becomes org.opencontainers.image.source when set, with
	// any credentials removed first (see SourceURL).
	SourceURL string
	// Force replaces a different image already pushed under the commit tag.
	Force bool
}

// Status says what a push did.
type Status string

// Push outcomes.
const (
	Pushed    Status = "pushed"
	Unchanged Status = "unchanged"
	Replaced  Status = "replaced"
)

// Receipt says what one push did.
type Receipt struct {
	Repository string  `json:"repository"`
	Ref        string  `json:"ref"`
	Commit     string  `json:"commit"`
	Digest     v1.Hash `json:"digest"`
	Status     Status  `json:"status"`
	// Previous is the digest the commit tag pointed to before a forced
	// replacement.
	Previous string `json:"previous,omitempty"`
}

// Push annotates t with the build's provenance and pushes it as
// <repo>:<commit>. Builds are immutable: pushing different content under an
// existing commit tag is refused unless r.Force; pushing the same content
// again is a no-op.
func Push(ctx context.Context, c *registry.Client, t remote.Taggable, r Request) (Receipt, error) {
	if !tags.IsCommit(r.Commit) {
		return Receipt{}, fmt.Errorf("%w: commit %q is not a full git commit hash (40 or 64 lower-case hex digits): pass --commit $(git rev-parse HEAD)", tags.ErrInvalid, registry.Clip(r.Commit))
	}
	ann := map[string]string{
		registry.AnnotationRevision: r.Commit,
		registry.AnnotationCreated:  r.Created.UTC().Format(time.RFC3339),
	}
	if src := SourceURL(r.SourceURL); src != "" {
		ann[registry.AnnotationSource] = src
	}
	switch v := t.(type) {
	case v1.Image:
		t = mutate.Annotations(v, ann).(v1.Image)
	case v1.ImageIndex:
		t = mutate.Annotations(v, ann).(v1.ImageIndex)
	default:
		return Receipt{}, fmt.Errorf("pushing %T: not an image or an index", t)
	}
	res := Receipt{Repository: r.Repository, Ref: c.Ref(r.Repository, r.Commit), Commit: r.Commit, Status: Pushed}
	existing, err := c.Head(ctx, r.Repository, r.Commit)
	var nf *registry.NotFoundError
	switch {
	case errors.As(err, &nf):
	case err != nil:
		return Receipt{}, err
	default:
		same, err := sameContent(ctx, c, r.Repository, existing.Digest, t)
		if err != nil {
			return Receipt{}, err
		}
		if same {
			res.Digest, res.Status = existing.Digest, Unchanged
			return res, nil
		}
		if !r.Force {
			return Receipt{}, fmt.Errorf("%w: %s already holds another image (%s); builds are immutable: push a new commit, or pass --force to replace it", ErrBuildExists, res.Ref, existing.Digest)
		}
		res.Status, res.Previous = Replaced, existing.Digest.String()
	}
	d, err := c.Write(ctx, r.Repository, r.Commit, t)
	if err != nil {
		return Receipt{}, err
	}
	res.Digest = d
	return res, nil
}

// sameContent reports whether the pushed manifest at digest carries the same
// content as t: the same config and layers (images) or the same child
// manifests (indexes), whatever the annotations say.
func sameContent(ctx context.Context, c *registry.Client, repo string, digest v1.Hash, t remote.Taggable) (bool, error) {
	d, err := c.Manifest(ctx, repo, digest)
	if err != nil {
		return false, err
	}
	switch v := t.(type) {
	case v1.Image:
		if !d.MediaType.IsImage() {
			return false, nil
		}
		old, err := v1.ParseManifest(bytes.NewReader(d.Manifest))
		if err != nil {
			return false, err
		}
		m, err := v.Manifest()
		if err != nil {
			return false, err
		}
		return old.Config.Digest == m.Config.Digest && slices.EqualFunc(old.Layers, m.Layers, sameDigest), nil
	case v1.ImageIndex:
		if !d.MediaType.IsIndex() {
			return false, nil
		}
		old, err := v1.ParseIndexManifest(bytes.NewReader(d.Manifest))
		if err != nil {
			return false, err
		}
		m, err := v.IndexManifest()
		if err != nil {
			return false, err
		}
		return slices.EqualFunc(old.Manifests, m.Manifests, sameDigest), nil
	}
	return false, nil
}

func sameDigest(a, b v1.Descriptor) bool { return a.Digest == b.Digest }
