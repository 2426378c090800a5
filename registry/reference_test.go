package registry

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tierdeploy/tier/tags"
)

// FuzzReference checks that any repository and tag or digest a user or a
// config can give either is refused or names exactly what was given.
func FuzzReference(f *testing.F) {
	for _, s := range [][2]string{
		{"api", "dev"},
		{"team/worker", "prod-20201112T103000Z"},
		{"api", "sha256:" + strings.Repeat("a", 64)},
		{"api", "prod-11/12/20-10:30"},
		{"API", "dev"},
		{"api", "sha256:xyz"},
		{"a//b", "x"},
	} {
		f.Add(s[0], s[1])
	}
	c, err := New("127.0.0.1:5000", Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, repo, ref string) {
		r, err := c.reference(repo, ref)
		if err != nil {
			return
		}
		if got := r.Context().RepositoryStr(); got != repo {
			t.Fatalf("reference(%q, %q) repository = %q, want %q", repo, ref, got, repo)
		}
		if got := r.Identifier(); got != ref {
			t.Fatalf("reference(%q, %q) identifier = %q, want %q", repo, ref, got, ref)
		}
		if _, isTag := r.(name.Tag); isTag && tags.Validate(ref) != nil {
			t.Fatalf("reference(%q, %q) accepted a tag the OCI grammar refuses", repo, ref)
		}
	})
}
