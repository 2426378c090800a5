package target

import (
	"strings"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// PinnedDigest returns the digest an image reference pins
// ("host/repo@sha256:..." or "host/repo:tag@sha256:..."), and false when
// it pins none.
func PinnedDigest(ref string) (v1.Hash, bool) {
	i := strings.LastIndexByte(ref, '@')
	if i < 0 {
		return v1.Hash{}, false
	}
	h, err := v1.NewHash(ref[i+1:])
	return h, err == nil
}

// SameImage reports whether two image references name the same thing once
// normalized ("api:dev" and "docker.io/library/api:dev" do).
func SameImage(a, b string) bool {
	if a == b {
		return true
	}
	ra, err1 := reference.ParseNormalizedNamed(a)
	rb, err2 := reference.ParseNormalizedNamed(b)
	return err1 == nil && err2 == nil && ra.String() == rb.String()
}
