package push_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/push"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/tags"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

var created = time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC)

func client(t *testing.T, host string) *registry.Client {
	t.Helper()
	c, err := registry.New(host, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func loader(t *testing.T) *push.Loader {
	return &push.Loader{
		Registry: func(host string) (*registry.Client, error) { return registry.New(host, registry.Options{}) },
		Files:    push.FilesOptions{Entrypoint: []string{"/bin/app"}, Env: []string{"MODE=demo"}, WorkingDir: "/srv", Created: created},
	}
}

// annotations reads back the pushed manifest's annotations.
func annotations(t *testing.T, c *registry.Client, repo string, d v1.Hash) registry.Build {
	t.Helper()
	b, err := c.Build(context.Background(), repo, d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPushSources(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	srcDigest, _ := img.Digest()
	// An OCI layout with one image.
	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	// A docker-archive tarball, as `docker save` writes.
	tarPath := filepath.Join(dir, "app.tar")
	if err := tarball.WriteToFile(tarPath, name.MustParseReference("app:latest"), img); err != nil {
		t.Fatal(err)
	}
	// A directory of files.
	files := filepath.Join(dir, "files")
	os.MkdirAll(filepath.Join(files, "bin"), 0o755)
	os.WriteFile(filepath.Join(files, "bin", "app"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.WriteFile(filepath.Join(files, "index.html"), []byte("<h1>v1</h1>"), 0o644)
	// An image in another registry.
	other := testreg.New(t)
	if _, err := client(t, other).Write(ctx, "upstream/app", "1.0", img); err != nil {
		t.Fatal(err)
	}

	host := testreg.New(t)
	c := client(t, host)
	tests := []struct {
		source string
		kind   push.Kind
		layers int // layers of the pushed image
	}{
		{filepath.Join(dir, "layout"), push.KindLayout, 2},
		{tarPath, push.KindTarball, 2},
		{files, push.KindFiles, 1},
		{other + "/upstream/app:1.0", push.KindReference, 2},
	}
	for i, tc := range tests {
		t.Run(string(tc.kind), func(t *testing.T) {
			repo := "app" + string(rune('a'+i))
			got, kind, err := loader(t).Load(ctx, tc.source)
			if err != nil {
				t.Fatalf("Load(%s) error = %v", tc.source, err)
			}
			if kind != tc.kind {
				t.Errorf("Load(%s) kind = %s, want %s", tc.source, kind, tc.kind)
			}
			res, err := push.Push(ctx, c, got, push.Request{Repository: repo, Commit: commit, Created: created, SourceURL: "https://example.com/acme/app"})
			if err != nil {
				t.Fatalf("Push() error = %v", err)
			}
			if res.Status != push.Pushed {
				t.Errorf("Push() status = %s, want pushed", res.Status)
			}
			d, err := c.Head(ctx, repo, commit)
			if err != nil || d.Digest != res.Digest {
				t.Fatalf("%s:%s = %v, %v, want %s", repo, commit, d.Digest, err, res.Digest)
			}
			b := annotations(t, c, repo, res.Digest)
			if b.Commit != commit || !b.Created.Equal(created) || b.Source != "https://example.com/acme/app" {
				t.Errorf("annotations = %+v, want revision %s, created %s, source set", b, commit, created)
			}
			pushed, err := remote.Image(mustRef(t, host+"/"+repo+":"+commit))
			if err != nil {
				t.Fatal(err)
			}
			ls, _ := pushed.Layers()
			if len(ls) != tc.layers {
				t.Errorf("layers = %d, want %d", len(ls), tc.layers)
			}
			if tc.kind == push.KindFiles {
				cf, _ := pushed.ConfigFile()
				if strings.Join(cf.Config.Entrypoint, " ") != "/bin/app" || cf.Config.WorkingDir != "/srv" || !strings.Contains(strings.Join(cf.Config.Env, ","), "MODE=demo") || cf.OS != "linux" {
					t.Errorf("config = %+v, want entrypoint /bin/app, workdir /srv, env MODE=demo, os linux", cf.Config)
				}
			} else {
				// Same layers as the source: nothing rebuilt.
				src, _ := img.Layers()
				for j := range ls {
					a, _ := ls[j].Digest()
					b, _ := src[j].Digest()
					if a != b {
						t.Errorf("layer %d = %s, want %s", j, a, b)
					}
				}
				if res.Digest == srcDigest {
					t.Errorf("pushed digest equals the unannotated source's")
				}
			}
		})
	}
}

func TestPushFilesIsReproducible(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a"), 0o644)
	l := loader(t)
	one, _, err := l.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	// Touch the file: mtimes must not change the digest.
	os.Chtimes(filepath.Join(dir, "a.txt"), time.Now(), time.Now().Add(time.Hour))
	two, _, err := l.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := one.(v1.Image).Digest()
	d2, _ := two.(v1.Image).Digest()
	if d1 != d2 {
		t.Errorf("digests of the same directory = %s and %s, want equal", d1, d2)
	}
}

func TestPushBuildsAreImmutable(t *testing.T) {
	ctx := context.Background()
	c := client(t, testreg.New(t))
	first, _ := random.Image(512, 1)
	res, err := push.Push(ctx, c, first, push.Request{Repository: "api", Commit: commit, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	// The same content again, even with another created time: a no-op.
	again, err := push.Push(ctx, c, first, push.Request{Repository: "api", Commit: commit, Created: created.Add(time.Hour)})
	if err != nil || again.Status != push.Unchanged || again.Digest != res.Digest {
		t.Errorf("Push(same image) = %+v, %v, want unchanged at %s", again, err, res.Digest)
	}
	// Different content under the same commit: refused.
	second, _ := random.Image(512, 1)
	_, err = push.Push(ctx, c, second, push.Request{Repository: "api", Commit: commit, Created: created})
	if !errors.Is(err, push.ErrBuildExists) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("Push(other image) error = %v, want ErrBuildExists naming --force", err)
	}
	if d, _ := c.Head(ctx, "api", commit); d.Digest != res.Digest {
		t.Errorf("refused push moved the commit tag to %s", d.Digest)
	}
	forced, err := push.Push(ctx, c, second, push.Request{Repository: "api", Commit: commit, Created: created, Force: true})
	if err != nil || forced.Status != push.Replaced || forced.Previous != res.Digest.String() {
		t.Fatalf("Push(--force) = %+v, %v, want replaced (previous %s)", forced, err, res.Digest)
	}
	if d, _ := c.Head(ctx, "api", commit); d.Digest != forced.Digest {
		t.Errorf("after --force %s = %s, want %s", commit[:7], d.Digest, forced.Digest)
	}
}

func TestPushRejects(t *testing.T) {
	ctx := context.Background()
	c := client(t, testreg.New(t))
	img, _ := random.Image(64, 1)
	_, err := push.Push(ctx, c, img, push.Request{Repository: "api", Commit: "abc123", Created: created})
	if !errors.Is(err, tags.ErrInvalid) || !strings.Contains(err.Error(), "not a full git commit hash") {
		t.Errorf("Push(commit abc123) error = %v, want invalid commit", err)
	}
	dir := t.TempDir()
	for _, tc := range []struct{ name, src, want string }{
		{"missing path", "./does-not-exist", "does not exist"},
		{"not a tarball", writeFile(t, dir, "junk.tar", "junk"), "docker-archive"},
		{"bad reference", "Not A Reference!", "neither a file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := loader(t).Load(ctx, tc.src)
			if !errors.Is(err, push.ErrSource) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load(%q) error = %v, want ErrSource containing %q", tc.src, err, tc.want)
			}
		})
	}
	// A layout with two images is ambiguous.
	lp, _ := layout.Write(filepath.Join(dir, "two"), empty.Index)
	a, _ := random.Image(64, 1)
	b, _ := random.Image(64, 1)
	lp.AppendImage(a)
	lp.AppendImage(b)
	_, _, err = loader(t).Load(ctx, filepath.Join(dir, "two"))
	if !errors.Is(err, push.ErrSource) || !strings.Contains(err.Error(), "lists 2 manifests") {
		t.Errorf("Load(two-image layout) error = %v, want it to say it lists 2 manifests", err)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLoadRefusesBadInputOffline checks that a source or option that
// cannot be right is bad input, naming the value and the fix, and that no
// registry is contacted for it.
func TestLoadRefusesBadInputOffline(t *testing.T) {
	ctx := context.Background()
	files := t.TempDir()
	writeFile(t, files, "a.txt", "a")
	tests := []struct {
		name string
		src  string
		opts push.FilesOptions
		want []string
	}{
		{"source with ..", "ghcr.io/acme/../../x:1", push.FilesOptions{}, []string{`"ghcr.io/acme/../../x:1"`, `".." path segment`, "HOST/REPOSITORY"}},
		{"loopback source with ..", "127.0.0.1:5000/a/../b:1", push.FilesOptions{}, []string{`"127.0.0.1:5000/a/../b:1"`, `".." path segment`}},
		{"base ../../etc", files, push.FilesOptions{Base: "../../etc"}, []string{`--base "../../etc"`, `".." path segment`, "HOST/REPOSITORY"}},
		{"base with .. inside", files, push.FilesOptions{Base: "ghcr.io/acme/../base:1"}, []string{`--base "ghcr.io/acme/../base:1"`, `".." path segment`}},
		{"base as a path", files, push.FilesOptions{Base: "/srv/base"}, []string{`--base "/srv/base"`, "empty path segment"}},
		{"env without =", files, push.FilesOptions{Env: []string{"MODE=demo", "NOEQUALS"}}, []string{`--env "NOEQUALS" is not KEY=VALUE`, "--env NOEQUALS=VALUE"}},
		{"env without a name", files, push.FilesOptions{Env: []string{"=value"}}, []string{`--env "=value"`, "KEY=VALUE"}},
		{"env with a space in its name", files, push.FilesOptions{Env: []string{"A B=1"}}, []string{`--env "A B=1"`}},
		// The options are checked whatever SOURCE is.
		{"env with an image reference", "ghcr.io/acme/api:1", push.FilesOptions{Env: []string{"NOEQUALS"}}, []string{`--env "NOEQUALS"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			contacted := 0
			l := &push.Loader{Files: tc.opts, Registry: func(host string) (*registry.Client, error) {
				contacted++
				return nil, errors.New("no registry may be contacted")
			}}
			_, _, err := l.Load(ctx, tc.src)
			if !errors.Is(err, push.ErrSource) {
				t.Fatalf("Load(%q) error = %v, want ErrSource", tc.src, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load(%q) error = %q, want it to contain %q", tc.src, err, w)
				}
			}
			if contacted != 0 {
				t.Errorf("Load(%q) asked for %d registry clients, want none", tc.src, contacted)
			}
		})
	}
}

// TestEchoedValuesAreBounded feeds values of a megabyte: the errors that
// repeat them stay short.
func TestEchoedValuesAreBounded(t *testing.T) {
	ctx := context.Background()
	huge := strings.Repeat("x", 1<<20)
	c := client(t, testreg.New(t))
	img, _ := random.Image(64, 1)
	_, pushErr := push.Push(ctx, c, img, push.Request{Repository: "api", Commit: huge, Created: created})
	errs := map[string]error{"Push(commit)": pushErr}
	for name, tc := range map[string]struct {
		src  string
		opts push.FilesOptions
	}{
		"missing path": {"./" + huge, push.FilesOptions{}},
		"reference":    {"ghcr.io/" + huge, push.FilesOptions{}},
		"base":         {t.TempDir(), push.FilesOptions{Base: "ghcr.io/" + huge}},
		"env":          {t.TempDir(), push.FilesOptions{Env: []string{huge}}},
	} {
		l := loader(t)
		l.Files = tc.opts
		_, _, errs["Load("+name+")"] = l.Load(ctx, tc.src)
	}
	// A source registry whose refusal is huge.
	hostile := testreg.NewWithHandler(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"errors":[{"code":"DENIED","message":%q}]}`, huge[:60<<10])
		})
	})
	_, _, err := loader(t).Load(ctx, hostile+"/hostile/app:1")
	var ue *registry.UnauthorizedError
	if !errors.As(err, &ue) {
		t.Errorf("Load(a reference the registry refuses) error = %v, want *registry.UnauthorizedError", err)
	}
	errs["Load(refused reference)"] = err
	for name, err := range errs {
		if err == nil {
			t.Errorf("%s error = nil, want one", name)
			continue
		}
		if n := len(err.Error()); n > 4*registry.MaxEcho+400 {
			t.Errorf("%s error is %d bytes long, want it bounded:\n%.200s...", name, n, err)
		}
	}
}

func TestSourceURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://github.com/acme/api", "https://github.com/acme/api"},
		{"oauth2:ab/cd@gitlab.com:acme/api.git", "gitlab.com:acme/api.git"},
		{"https:/user:TOKEN@host/x", "host/x"},
		{"git@github.com:team/a@b.git", "git@github.com:team/a@b.git"},
		{"https://user:TOKEN@git.example.com/acme/api.git", "https://git.example.com/acme/api.git"},
		{"https://TOKEN@github.com/acme/api.git", "https://github.com/acme/api.git"},
		{"https://gitlab.example.com/acme/api.git?private_token=TOKEN&x=1", "https://gitlab.example.com/acme/api.git"},
		{"https://example.com/acme/api#access_token=TOKEN", "https://example.com/acme/api"},
		{"ssh://git:TOKEN@example.com:2222/acme/api.git", "ssh://example.com:2222/acme/api.git"},
		{"git@github.com:acme/api.git", "git@github.com:acme/api.git"},
		{"user:TOKEN@example.com:acme/api.git", "example.com:acme/api.git"},
		{"example.com:acme/api.git?token=TOKEN", "example.com:acme/api.git"},
		{"https://user:TO KEN@%zz/x", ""},
		{"  https://github.com/acme/api\n", "https://github.com/acme/api"},
		{"", ""},
	} {
		if got := push.SourceURL(tc.in); got != tc.want {
			t.Errorf("SourceURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPushRecordsSourceWithoutCredentials(t *testing.T) {
	ctx := context.Background()
	c := client(t, testreg.New(t))
	img, _ := random.Image(64, 1)
	res, err := push.Push(ctx, c, img, push.Request{Repository: "api", Commit: commit, Created: created,
		SourceURL: "https://user:SECRET-TOKEN@git.example.com/acme/api.git?private_token=QUERY-TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	if b := annotations(t, c, "api", res.Digest); b.Source != "https://git.example.com/acme/api.git" {
		t.Errorf("source annotation = %q, want https://git.example.com/acme/api.git", b.Source)
	}
	d, err := c.Manifest(ctx, "api", res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"SECRET-TOKEN", "QUERY-TOKEN"} {
		if strings.Contains(string(d.Manifest), secret) {
			t.Errorf("pushed manifest contains %q:\n%s", secret, d.Manifest)
		}
	}
}
