package ecr_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	v1types "github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tierdeploy/tier/internal/awsfake"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/registry/ecr"
)

// toStandIn sends registry API requests to the AWS stand-in, keeping the
// Host header, as if DNS pointed the ECR registry host there, and records
// the Authorization header each request carried.
type toStandIn struct {
	base *url.URL
	mu   sync.Mutex
	auth []string
}

func (t *toStandIn) RoundTrip(orig *http.Request) (*http.Response, error) {
	t.mu.Lock()
	t.auth = append(t.auth, orig.Header.Get("Authorization"))
	t.mu.Unlock()
	r := orig.Clone(orig.Context())
	r.Host = r.URL.Host
	r.URL.Scheme, r.URL.Host = t.base.Scheme, t.base.Host
	resp, err := http.DefaultTransport.RoundTrip(r)
	if resp != nil {
		resp.Request = orig
	}
	return resp, err
}

func standInTransport(t *testing.T, s *awsfake.Server) *toStandIn {
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &toStandIn{base: u}
}

// pushIndex stores a random index in repo under tag, with media type
// mediaType (OCI image index or Docker manifest list), as a push would.
func pushIndex(t *testing.T, s *awsfake.Server, repo, tag, mediaType string) build {
	t.Helper()
	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	idx = mutate.IndexMediaType(idx, v1types.MediaType(mediaType))
	raw, err := idx.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	d := s.PutManifest(account, region, repo, tag, raw, mediaType)
	return build{raw, mediaType, mustHash(t, d)}
}

// TestRetagIndexThroughRegistryAPI: BatchGetImage's acceptedMediaTypes has
// no value for a manifest list or an image index (the API reference lists
// Docker schema 1 and 2 and the OCI image manifest), so ECR refuses the
// type with InvalidParameterException; the manifest is then read by digest
// through the registry API with an ECR authorization token, and written
// back byte for byte.
func TestRetagIndexThroughRegistryAPI(t *testing.T) {
	for _, mediaType := range []string{string(v1types.OCIImageIndex), string(v1types.DockerManifestList)} {
		t.Run(mediaType, func(t *testing.T) {
			ctx := context.Background()
			s := fakeAWS(t)
			s.AddRepository(account, region, "api", awsfake.ECRMutable)
			b := pushIndex(t, s, "api", "3333333333333333333333333333333333333333", mediaType)
			tr := standInTransport(t, s)
			rt := newRetagger(t, s, ecr.Options{Transport: tr})

			if err := rt.Retag(ctx, "api", b.digest, "dev"); err != nil {
				t.Fatalf("Retag() = %v, want nil", err)
			}
			if got := s.Tags(account, region, "api")["dev"]; got != b.digest.String() {
				t.Errorf("dev = %s, want %s", got, b.digest)
			}
			var got []string
			s.Mu.Lock()
			for _, c := range s.Calls {
				got = append(got, c.Operation)
			}
			s.Mu.Unlock()
			want := []string{"DescribeImages", "BatchGetImage", "GetAuthorizationToken",
				"GET /v2/api/manifests/" + b.digest.String(), "PutImage", "DescribeImages"}
			if !slices.Equal(got, want) {
				t.Fatalf("calls = %v, want %v", got, want)
			}
			if got := s.CallsOf("ecr:BatchGetImage")[0].Params["acceptedMediaTypes"]; !reflect.DeepEqual(got, []any{mediaType}) {
				t.Errorf("BatchGetImage acceptedMediaTypes = %v, want [%s]", got, mediaType)
			}
			token := base64.StdEncoding.EncodeToString([]byte("AWS:awsfake-token-" + account))
			if !slices.Equal(tr.auth, []string{"Basic " + token}) {
				t.Errorf("registry API Authorization = %q, want the ECR token as basic auth", tr.auth)
			}
			put := s.CallsOf("ecr:PutImage")[0].Params
			if put["imageManifest"] != string(b.manifest) || put["imageManifestMediaType"] != mediaType {
				t.Errorf("PutImage manifest, media type = %v, %v, want the stored %s bytes", put["imageManifest"], put["imageManifestMediaType"], mediaType)
			}
		})
	}
}

// TestRetagIndexRegistryAPIFails: when the registry API cannot give the
// manifest either, nothing is written and the error says both.
func TestRetagIndexRegistryAPIFails(t *testing.T) {
	ctx := context.Background()
	s := fakeAWS(t)
	s.AddRepository(account, region, "api", awsfake.ECRMutable)
	b := pushIndex(t, s, "api", "3333333333333333333333333333333333333333", string(v1types.OCIImageIndex))
	// The registry host answers for another repository: as if the
	// manifest were gone between the two reads.
	rt := newRetagger(t, s, ecr.Options{Transport: rewritePath{standInTransport(t, s), "/v2/api/", "/v2/gone/"}})
	err := rt.Retag(ctx, "api", b.digest, "dev")
	var nf *registry.NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "InvalidParameterException") {
		t.Fatalf("Retag() = %v, want a *registry.NotFoundError that names BatchGetImage's InvalidParameterException", err)
	}
	if n := len(s.CallsOf("ecr:PutImage")); n != 0 {
		t.Errorf("PutImage calls = %d, want 0", n)
	}
}

type rewritePath struct {
	next     http.RoundTripper
	old, new string
}

func (r rewritePath) RoundTrip(orig *http.Request) (*http.Response, error) {
	req := orig.Clone(orig.Context())
	req.URL.Path = strings.Replace(req.URL.Path, r.old, r.new, 1)
	return r.next.RoundTrip(req)
}
