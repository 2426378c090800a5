package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/tags"
)

func newCatalog(t *testing.T) (*catalog.Catalog, string) {
	t.Helper()
	host := testreg.New(t)
	c, err := registry.New(host, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return catalog.New(c), host
}

func pushCommit(t *testing.T, c *registry.Client, repo, commit string) {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(context.Background(), repo, commit, img); err != nil {
		t.Fatal(err)
	}
}

func TestResolveCommitMessages(t *testing.T) {
	ctx := context.Background()
	cat, host := newCatalog(t)
	for i := range 7 {
		pushCommit(t, cat.Registry, "api", fmt.Sprintf("aaaa%d%035d", i, 0))
	}
	tests := []struct {
		name, repo, prefix string
		is                 error
		want               string
		not                string
	}{
		{"no build", "hostile", "abcd", catalog.ErrNoBuild, "no build of commit abcd in " + host + "/hostile: push it first", "hostile::"},
		{"ambiguous", "api", "aaaa", tags.ErrInvalid, "commit prefix aaaa is ambiguous in " + host + "/api: it matches aaaa00000000, aaaa10000000, aaaa20000000, aaaa30000000, aaaa40000000, and 2 more; give more digits", ""},
		{"not hex", "api", "xyz", tags.ErrInvalid, `"xyz" is not a commit hash`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := cat.ResolveCommit(ctx, tc.repo, tc.prefix)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ResolveCommit(%s, %s) error = %v, want %v containing %q", tc.repo, tc.prefix, err, tc.is, tc.want)
			}
			if tc.not != "" && strings.Contains(err.Error(), tc.not) {
				t.Errorf("ResolveCommit(%s, %s) error = %q, contains %q", tc.repo, tc.prefix, err, tc.not)
			}
		})
	}
}

func TestEchoedValuesAreBounded(t *testing.T) {
	ctx := context.Background()
	cat, _ := newCatalog(t)
	huge := strings.Repeat("z", 1<<20)
	_, _, err := cat.ResolveCommit(ctx, "api", huge)
	if !errors.Is(err, tags.ErrInvalid) || len(err.Error()) > registry.MaxEcho+200 {
		t.Errorf("ResolveCommit(1 MiB prefix) error = %.200q (%d bytes), want ErrInvalid and at most %d bytes", err, len(err.Error()), registry.MaxEcho+200)
	}
	_, err = cat.ResolveDigest(ctx, "api", "sha256:"+huge)
	if !errors.Is(err, tags.ErrInvalid) || len(err.Error()) > registry.MaxEcho+200 {
		t.Errorf("ResolveDigest(1 MiB digest) error = %.200q (%d bytes), want ErrInvalid and at most %d bytes", err, len(err.Error()), registry.MaxEcho+200)
	}
}
