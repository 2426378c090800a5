package catalog_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/tags"
)

// TestResolveWholeCommit checks how a whole commit resolves: to its own tag
// when it has one, else as a prefix of the commit tags (a SHA-1 commit may
// start a SHA-256 one's tag), and not at all when neither.
func TestResolveWholeCommit(t *testing.T) {
	ctx := t.Context()
	cat, _ := newCatalog(t)
	sha1 := strings.Repeat("ab", 20)
	sha256 := strings.Repeat("cd", 32)
	for _, c := range []string{sha1, sha1 + strings.Repeat("0", 24), sha256} {
		pushCommit(t, cat.Registry, "api", c)
	}
	for _, tc := range []struct {
		name, commit, want string
		is                 error
	}{
		{"own tag", sha1, sha1, nil},
		{"SHA-256", sha256, sha256, nil},
		{"starts a SHA-256 tag", sha256[:40], sha256, nil},
		{"none", strings.Repeat("ef", 20), "", catalog.ErrNoBuild},
		{"bad", strings.Repeat("EF", 20), "", tags.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tag, d, err := cat.ResolveCommit(ctx, "api", tc.commit)
			if tc.is != nil {
				if !errors.Is(err, tc.is) {
					t.Fatalf("ResolveCommit(api, %s) = %s, %v; want an error wrapping %v", tc.commit, tag, err, tc.is)
				}
				return
			}
			if err != nil || tag != tc.want {
				t.Fatalf("ResolveCommit(api, %s) = %s, %v; want %s", tc.commit, tag, err, tc.want)
			}
			head, err := cat.Registry.Head(ctx, "api", tc.want)
			if err != nil || head.Digest != d {
				t.Errorf("ResolveCommit(api, %s) digest = %s, want %s (Head: %v)", tc.commit, d, head.Digest, err)
			}
		})
	}
}
