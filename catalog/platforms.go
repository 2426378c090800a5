package catalog

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Platforms returns the digests of the platform manifests of digest in
// repo when it is an image index (a multi-platform build), and nothing
// when it is a single image. Platforms that pull an index report the
// manifest they pulled for their platform (ECS's imageDigest does), so
// any of these runs the build.
func (c *Catalog) Platforms(ctx context.Context, repo string, digest v1.Hash) ([]v1.Hash, error) {
	desc, err := c.Manifest(ctx, repo, digest)
	if err != nil {
		return nil, err
	}
	if !desc.MediaType.IsIndex() {
		return nil, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []v1.Hash
	for _, d := range m.Manifests {
		out = append(out, d.Digest)
	}
	return out, nil
}
