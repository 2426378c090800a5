package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// OCI annotation keys tier writes on every build and reads back.
const (
	AnnotationRevision = "org.opencontainers.image.revision"
	AnnotationCreated  = "org.opencontainers.image.created"
	AnnotationSource   = "org.opencontainers.image.source"
)

// Build is what the registry says about one image: its digest and the
// provenance annotations on its manifest.
type Build struct {
	Digest    v1.Hash `json:"digest"`
	MediaType string  `json:"media_type"`
	// Commit is the org.opencontainers.image.revision annotation; empty
	// when the manifest carries none.
	Commit string `json:"commit,omitempty"`
	// Created is the org.opencontainers.image.created annotation, else the
	// image config's creation time; zero when neither is known.
	Created time.Time `json:"created,omitzero"`
	Source  string    `json:"source,omitempty"`
}

// Build fetches the manifest of digest in repo and reads its annotations.
func (c *Client) Build(ctx context.Context, repo string, digest v1.Hash) (Build, error) {
	d, err := c.Manifest(ctx, repo, digest)
	if err != nil {
		return Build{}, err
	}
	return c.BuildOf(repo, d)
}

// BuildOf reads the annotations of a manifest already fetched from repo.
// Only a manifest without a created annotation costs a request more: the
// image config's creation time is read then.
func (c *Client) BuildOf(repo string, d *remote.Descriptor) (Build, error) {
	digest := d.Digest
	var m struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		return Build{}, fmt.Errorf("reading manifest %s: %w", c.Ref(repo, digest.String()), err)
	}
	b := Build{Digest: digest, MediaType: string(d.MediaType), Commit: m.Annotations[AnnotationRevision], Source: m.Annotations[AnnotationSource]}
	if t, err := time.Parse(time.RFC3339, m.Annotations[AnnotationCreated]); err == nil {
		b.Created = t.UTC()
	} else if d.MediaType.IsImage() {
		if img, err := d.Image(); err == nil {
			if cfg, err := img.ConfigFile(); err == nil && !cfg.Created.IsZero() {
				b.Created = cfg.Created.UTC()
			}
		}
	}
	return b, nil
}
