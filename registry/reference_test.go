package registry

import (
	"errors"
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

func TestParseReference(t *testing.T) {
	digest := "sha256:" + strings.Repeat("a", 64)
	for _, s := range []string{
		"ghcr.io/acme/api:1.2",
		"127.0.0.1:5000/api@" + digest,
		"localhost:5000/team/worker:dev",
		"[::1]:5000/api:dev",
		"ubuntu",
		"library/ubuntu:24.04",
		"registry.example.com/a.b/c__d/e--f:v1",
		"ghcr.io/acme/api:1.2@" + digest,
	} {
		if _, err := ParseReference(s); err != nil {
			t.Errorf("ParseReference(%q) error = %v, want nil", s, err)
		}
	}
	for _, tc := range []struct{ ref, want string }{
		{"../../etc", `has a ".." path segment`},
		{"..", `has a ".." path segment`},
		{"ghcr.io/acme/../../x:1", `has a ".." path segment`},
		{"127.0.0.1:5000/a/../b", `has a ".." path segment`},
		{"ghcr.io/./api", `has a "." path segment`},
		{"ghcr.io/acme//api", "empty path segment"},
		{"/etc/passwd", "empty path segment"},
		{"ghcr.io/acme/..api", `path component "..api"`},
		{"ghcr.io/Acme/api", `path component "Acme"`},
		{"..:5000/api", `registry "..:5000" is not a host name`},
		{"-bad.io/api", "is not a host name"},
		{"ghcr.io:99999/api", "invalid port"},
		{"[zz]:5000/api", "invalid IPv6 address"},
		{"ghcr.io/api:-dev", "is not an OCI tag"},
		{"ghcr.io/api:", "is not an OCI tag"},
		{"ghcr.io/api@sha256:xyz", "is not sha256:<64 hex digits>"},
		{"Not A Reference!", "white space"},
		{"ghcr.io/api\x1b[31m", "control characters"},
		{"ghcr.io/" + strings.Repeat("a", 300), "a name has at most 255"},
		{strings.Repeat("a", 1<<20), "a reference has at most 512"},
	} {
		t.Run(tc.ref[:min(len(tc.ref), 40)], func(t *testing.T) {
			_, err := ParseReference(tc.ref)
			var re *ReferenceError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "HOST/REPOSITORY") {
				t.Fatalf("ParseReference(%q) error = %v, want a *ReferenceError saying %q and the form", tc.ref, err, tc.want)
			}
			if n := len(err.Error()); n > 2*MaxEcho+300 {
				t.Errorf("ParseReference(%d bytes) error is %d bytes long, want it bounded", len(tc.ref), n)
			}
		})
	}
}

func TestNewAndRepositoryRefusePathTricks(t *testing.T) {
	for _, host := range []string{"..", "../x", "ghcr.io/../x", "ghcr.io/acme/..", "a..b:5000", strings.Repeat("h", 1<<16)} {
		_, err := New(host, Options{})
		if err == nil || !strings.Contains(err.Error(), "is not HOST[:PORT][/PATH]") {
			t.Errorf("New(%.40q) error = %v, want it refused as not HOST[:PORT][/PATH]", host, err)
		} else if len(err.Error()) > 2*MaxEcho+200 {
			t.Errorf("New(%d bytes) error is %d bytes long, want it bounded", len(host), len(err.Error()))
		}
	}
	for _, host := range []string{"127.0.0.1:5000", "ghcr.io/acme", "[::1]:5000", "012345678922.dkr.ecr.us-east-1.amazonaws.com"} {
		if _, err := New(host, Options{}); err != nil {
			t.Errorf("New(%q) error = %v, want nil", host, err)
		}
	}
	c, err := New("127.0.0.1:5000", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"../etc", "api/..", "a/./b", "", strings.Repeat("a/", 1<<15) + "a"} {
		_, err := c.Repository(repo)
		if err == nil || !strings.Contains(err.Error(), "is not a repository name") {
			t.Errorf("Repository(%.40q) error = %v, want it refused", repo, err)
		} else if len(err.Error()) > 2*MaxEcho+200 {
			t.Errorf("Repository(%d bytes) error is %d bytes long, want it bounded", len(repo), len(err.Error()))
		}
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("é", MaxEcho) // 2 bytes each
	for _, tc := range []struct{ in, want string }{
		{"api", "api"},
		{strings.Repeat("a", MaxEcho), strings.Repeat("a", MaxEcho)},
		{strings.Repeat("a", MaxEcho+1), strings.Repeat("a", MaxEcho) + "…"},
		{long, strings.Repeat("é", MaxEcho/2) + "…"},
		{"a" + long, "a" + strings.Repeat("é", MaxEcho/2-1) + "…"},
	} {
		if got := Clip(tc.in); got != tc.want {
			t.Errorf("Clip(%d bytes) = %q, want %q", len(tc.in), got, tc.want)
		}
	}
}
