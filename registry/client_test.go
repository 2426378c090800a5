package registry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/registry"
)

func newClient(t *testing.T, host string, rt http.RoundTripper) *registry.Client {
	t.Helper()
	c, err := registry.New(host, registry.Options{Transport: rt})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pushRandom(t *testing.T, c *registry.Client, repo, tag string) v1.Hash {
	t.Helper()
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Write(context.Background(), repo, tag, img)
	if err != nil {
		t.Fatalf("Write(%s:%s) error = %v", repo, tag, err)
	}
	return d
}

func TestRetagCopiesManifestByDigest(t *testing.T) {
	ctx := context.Background()
	host := testreg.New(t)
	counter := testreg.NewCounter(nil)
	c := newClient(t, host, counter)
	d := pushRandom(t, c, "api", "aaaa")
	idx, err := random.Index(512, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	di, err := c.Write(ctx, "api", "bbbb", idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		digest v1.Hash
		media  string
	}{
		{"image", d, "application/vnd.docker.distribution.manifest.v2+json"},
		{"index", di, "application/vnd.oci.image.index.v1+json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counter.Reset()
			if err := c.Retag(ctx, "api", tc.digest, "dev"); err != nil {
				t.Fatalf("Retag() error = %v", err)
			}
			// The manifest is fetched by digest, never by tag.
			if got := counter.Count("GET manifests"); got != 1 {
				t.Errorf("GET manifests = %d, want 1", got)
			}
			if n := counter.Count("GET blobs") + counter.Count("HEAD blobs") + counter.Count("PUT blobs/uploads") + counter.Count("POST blobs/uploads"); n != 0 {
				t.Errorf("blob requests = %d, want 0", n)
			}
			byDigest, err := remote.Get(mustRef(t, host+"/api@"+tc.digest.String()))
			if err != nil {
				t.Fatal(err)
			}
			byTag, err := remote.Get(mustRef(t, host+"/api:dev"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(byTag.Manifest, byDigest.Manifest) {
				t.Errorf("manifest under dev differs from the one under %s", tc.digest)
			}
			if string(byTag.MediaType) != tc.media {
				t.Errorf("media type = %s, want %s", byTag.MediaType, tc.media)
			}
			if byTag.Digest != tc.digest {
				t.Errorf("dev = %s, want %s", byTag.Digest, tc.digest)
			}
		})
	}
}

func TestRetagNotFound(t *testing.T) {
	c := newClient(t, testreg.New(t), nil)
	pushRandom(t, c, "api", "aaaa")
	missing := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	err := c.Retag(context.Background(), "api", missing, "dev")
	var nf *registry.NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("Retag(missing) error = %v, want *NotFoundError", err)
	}
	if !strings.Contains(err.Error(), missing.String()) {
		t.Errorf("error %q does not name the digest", err)
	}
}

// rewriting makes the registry answer tag reads with another digest, as a
// registry that converts manifests (or a concurrent writer) would.
func TestRetagReadBackMismatch(t *testing.T) {
	var other string
	host := testreg.NewWithHandler(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead && strings.HasSuffix(r.URL.Path, "/manifests/dev") && other != "" {
				r.URL.Path = strings.TrimSuffix(r.URL.Path, "dev") + other
			}
			h.ServeHTTP(w, r)
		})
	})
	c := newClient(t, host, nil)
	d1 := pushRandom(t, c, "api", "aaaa")
	d2 := pushRandom(t, c, "api", "bbbb")
	other = d2.String()
	err := c.Retag(context.Background(), "api", d1, "dev")
	var mm *registry.MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("Retag() error = %v, want *MismatchError", err)
	}
	if mm.Want != d1 || mm.Got != d2 {
		t.Errorf("MismatchError = want %s got %s, want want %s got %s", mm.Want, mm.Got, d1, d2)
	}
}

// errorBody answers manifest PUTs with a registry error, as ECR and others do.
func errorOnPut(status int, body string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/dev") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				io.WriteString(w, body)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestTypedErrors(t *testing.T) {
	tests := []struct {
		name  string
		wrap  func(http.Handler) http.Handler
		check func(error) bool
		want  string
	}{
		{
			name: "ECR immutable repository",
			wrap: errorOnPut(400, `{"errors":[{"code":"TAG_INVALID","message":"The image tag 'dev' already exists in the 'api' repository and cannot be overwritten because the repository is immutable."}]}`),
			check: func(err error) bool {
				var e *registry.TagImmutableError
				return errors.As(err, &e) && e.Tag == "dev"
			},
			want: "put-image-tag-mutability --repository-name api --image-tag-mutability MUTABLE",
		},
		{
			name: "ECR immutable tag",
			wrap: errorOnPut(400, `{"errors":[{"code":"TAG_INVALID","message":"The image tag 'dev' already exists in the 'api' repository and cannot be overwritten because the tag is immutable."}]}`),
			check: func(err error) bool {
				var e *registry.TagImmutableError
				return errors.As(err, &e)
			},
			want: "IMMUTABLE_WITH_EXCLUSION",
		},
		{
			name: "TAG_IMMUTABLE code",
			wrap: errorOnPut(409, `{"errors":[{"code":"TAG_IMMUTABLE","message":"tag is immutable"}]}`),
			check: func(err error) bool {
				var e *registry.TagImmutableError
				return errors.As(err, &e)
			},
			want: `tag "dev"`,
		},
		{
			name: "denied",
			wrap: errorOnPut(403, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`),
			check: func(err error) bool {
				var e *registry.UnauthorizedError
				return errors.As(err, &e)
			},
			want: "docker login",
		},
		{
			name: "unauthorized",
			wrap: errorOnPut(401, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`),
			check: func(err error) bool {
				var e *registry.UnauthorizedError
				return errors.As(err, &e)
			},
			want: "refused access",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, testreg.NewWithHandler(t, tc.wrap), nil)
			d := pushRandom(t, c, "api", "aaaa")
			err := c.Retag(context.Background(), "api", d, "dev")
			if err == nil || !tc.check(err) {
				t.Fatalf("Retag() error = %v (%T), not the expected type", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Retag() error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPlainHTTPOnlyForLoopback(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:5000", true},
		{"localhost:5000", true},
		{"[::1]:5000", true},
		{"10.1.2.3:5000", false},
		{"192.168.1.10:5000", false},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			if got := registry.IsLoopback(tc.host); got != tc.ok {
				t.Errorf("IsLoopback(%q) = %v, want %v", tc.host, got, tc.ok)
			}
		})
	}
	// A private address: go-containerregistry falls back to http after
	// https fails; tier refuses that fallback.
	var reached bool
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Scheme == "http" {
			reached = true
		}
		return nil, errors.New("no https here")
	})
	c := newClient(t, "10.1.2.3:5000", rt)
	_, err := c.Head(context.Background(), "api", "dev")
	var ph *registry.PlainHTTPError
	if !errors.As(err, &ph) {
		t.Fatalf("Head() on 10.1.2.3 error = %v, want *PlainHTTPError", err)
	}
	if reached {
		t.Errorf("a plain-HTTP request reached the transport")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTagsOfMissingRepositoryIsEmpty(t *testing.T) {
	c := newClient(t, testreg.New(t), nil)
	got, err := c.Tags(context.Background(), "nothing")
	if err != nil || len(got) != 0 {
		t.Errorf("Tags(nothing) = %v, %v, want [], nil", got, err)
	}
}

func TestIsECR(t *testing.T) {
	for host, want := range map[string]bool{
		"012345678922.dkr.ecr.us-east-1.amazonaws.com":     true,
		"012345678922.dkr.ecr.cn-north-1.amazonaws.com.cn": true,
		"ghcr.io":        false,
		"127.0.0.1:5000": false,
	} {
		if got := registry.IsECR(host); got != want {
			t.Errorf("IsECR(%q) = %v, want %v", host, got, want)
		}
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestErrorWording checks that errors name what was asked for as it is:
// a repository without a tag when tags are listed.
func TestErrorWording(t *testing.T) {
	host := testreg.NewWithHandler(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/tags/list") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"errors":[{"code":"UNSUPPORTED","message":"no listing here"}]}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c := newClient(t, host, nil)
	_, err := c.Tags(context.Background(), "api")
	if err == nil {
		t.Fatal("Tags() error = nil, want the registry's refusal")
	}
	want := "listing tags of " + host + "/api: 400 Bad Request; UNSUPPORTED: no listing here"
	if err.Error() != want {
		t.Errorf("Tags() error = %q, want %q", err, want)
	}
}

// TestRegistryAnswersAreBounded plays a hostile registry whose error
// answers are huge: the messages tier shows stay short, and keep their
// types.
func TestRegistryAnswersAreBounded(t *testing.T) {
	huge := strings.Repeat("A", 60<<10)
	many := `{"errors":[` + strings.Repeat(`{"code":"MANIFEST_INVALID","message":"`+strings.Repeat("b", 1000)+`"},`, 50) + `{"code":"MANIFEST_INVALID","message":"last"}]}`
	tests := []struct {
		name   string
		status int
		body   string
		check  func(error) bool
	}{
		{"unauthorized, long message", 401, `{"errors":[{"code":"UNAUTHORIZED","message":"` + huge + `"}]}`, func(err error) bool {
			var e *registry.UnauthorizedError
			return errors.As(err, &e) && strings.Contains(err.Error(), "docker login")
		}},
		{"many errors", 400, many, func(err error) bool { return strings.Contains(err.Error(), "and 48 more") }},
		{"long code", 400, `{"errors":[{"code":"` + huge + `","message":"x"}]}`, func(error) bool { return true }},
		{"raw body", 400, huge, func(error) bool { return true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, testreg.NewWithHandler(t, errorOnPut(tc.status, tc.body)), nil)
			d := pushRandom(t, c, "hostile", "aaaa")
			err := c.Retag(context.Background(), "hostile", d, "dev")
			if err == nil || !tc.check(err) {
				t.Fatalf("Retag() error = %v, not the expected one", err)
			}
			if n := len(err.Error()); n > 1024 {
				t.Errorf("Retag() error is %d bytes long, want at most 1024:\n%.300s...", n, err)
			}
		})
	}
}
