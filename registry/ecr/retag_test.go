package ecr_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	v1types "github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tierdeploy/tier/internal/awscred"
	"github.com/tierdeploy/tier/internal/awsfake"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/registry/ecr"
)

const (
	account = "012345678922" // the shared registry's account
	other   = "210987654321" // a tenant account
	region  = "us-east-1"
	host    = account + ".dkr.ecr." + region + ".amazonaws.com"
)

// fakeAWS starts the stand-in with one key per account.
func fakeAWS(t *testing.T) *awsfake.Server {
	s := awsfake.New(t)
	s.AddKey("AKIAREGISTRY", account)
	s.AddKey("AKIATENANT", other)
	return s
}

// awsConfig is what the CLI builds for the registry account: the real SDK
// configuration from awscred, keys from environment variables, pointed at
// the stand-in.
func awsConfig(t *testing.T, s *awsfake.Server, keyID, endpoint string) aws.Config {
	t.Helper()
	if endpoint == "" {
		endpoint = s.URL
	}
	env := map[string]string{"TIER_TEST_KEY": keyID, "TIER_TEST_SECRET": "secret"}
	c := &awscred.Cache{Endpoint: endpoint, Getenv: func(k string) string { return env[k] },
		SharedConfigFiles: []string{}, SharedCredentialsFiles: []string{}}
	cfg, err := c.Config(context.Background(), awscred.Settings{Environment: "registry", Region: region,
		AccessKeyIDEnv: "TIER_TEST_KEY", SecretAccessKeyEnv: "TIER_TEST_SECRET"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fast retries without waiting, so throttling tests take no time.
var fast = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })

// noSleep lets read-backs read again at once.
func noSleep(context.Context, time.Duration) error { return nil }

// countingLimiter lets every call through and counts them.
type countingLimiter struct{ n atomic.Int32 }

func (l *countingLimiter) Wait(context.Context) error { l.n.Add(1); return nil }

func newRetagger(t *testing.T, s *awsfake.Server, o ecr.Options) *ecr.Retagger {
	t.Helper()
	if o.Backoff == nil {
		o.Backoff = fast
	}
	if o.Limiter == nil {
		o.Limiter = &countingLimiter{}
	}
	if o.Sleep == nil {
		o.Sleep = noSleep
	}
	return ecr.New(awsConfig(t, s, "AKIAREGISTRY", ""), account, o)
}

type build struct {
	manifest  []byte
	mediaType string
	digest    v1.Hash
}

// randomManifest returns the manifest of a random image (or index) and its
// media type.
func randomManifest(t *testing.T, index bool) ([]byte, string) {
	t.Helper()
	var m interface {
		RawManifest() ([]byte, error)
		MediaType() (v1types.MediaType, error)
	}
	var err error
	if index {
		m, err = random.Index(256, 1, 2)
	} else {
		m, err = random.Image(256, 1)
	}
	if err != nil {
		t.Fatal(err)
	}
	raw, err := m.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := m.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	return raw, string(mt)
}

// pushBuild stores a random image (or index) in repo under tag, as a push
// would.
func pushBuild(t *testing.T, s *awsfake.Server, repo, tag string, index bool) build {
	t.Helper()
	raw, mt := randomManifest(t, index)
	d := s.PutManifest(account, region, repo, tag, raw, mt)
	return build{raw, mt, mustHash(t, d)}
}

func mustHash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// ecrCalls lists the ECR operations the stand-in received, in order.
func ecrCalls(s *awsfake.Server) []awsfake.Call {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	var out []awsfake.Call
	for _, c := range s.Calls {
		if c.Service == "ecr" {
			out = append(out, c)
		}
	}
	return out
}

func ops(calls []awsfake.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Operation)
	}
	return out
}

func TestParseHost(t *testing.T) {
	for _, tc := range []struct {
		host            string
		account, region string
		ok              bool
	}{
		{"012345678922.dkr.ecr.us-east-1.amazonaws.com", "012345678922", "us-east-1", true},
		{"012345678922.dkr.ecr.eu-west-3.amazonaws.com/team", "012345678922", "eu-west-3", true},
		{"012345678922.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "012345678922", "us-gov-west-1", true},
		{"012345678922.dkr.ecr.cn-north-1.amazonaws.com.cn", "012345678922", "cn-north-1", true},
		{"public.ecr.aws", "", "", false},
		{"12345.dkr.ecr.us-east-1.amazonaws.com", "", "", false},
		{"ghcr.io/acme", "", "", false},
		{"127.0.0.1:5000", "", "", false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			a, r, ok := ecr.ParseHost(tc.host)
			if a != tc.account || r != tc.region || ok != tc.ok {
				t.Errorf("ParseHost(%q) = %q, %q, %v, want %q, %q, %v", tc.host, a, r, ok, tc.account, tc.region, tc.ok)
			}
		})
	}
}

// TestRetagMovesMutableTag asserts the exact calls and parameters: the
// image's media type is read (DescribeImages by digest), the manifest is
// fetched by digest accepting exactly that type, written back byte for byte
// with its media type, and the tag is read back.
func TestRetagMovesMutableTag(t *testing.T) {
	for _, mediaType := range []string{"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"} {
		t.Run(mediaType, func(t *testing.T) {
			ctx := context.Background()
			s := fakeAWS(t)
			s.AddRepository(account, region, "api", awsfake.ECRMutable)
			old := pushBuild(t, s, "api", "1111111111111111111111111111111111111111", false)
			s.PutManifest(account, region, "api", "dev", old.manifest, old.mediaType)
			b := pushImage(t, s, "api", "2222222222222222222222222222222222222222", mediaType)
			lim := &countingLimiter{}
			rt := newRetagger(t, s, ecr.Options{Limiter: lim})

			if err := rt.Retag(ctx, "api", b.digest, "dev"); err != nil {
				t.Fatalf("Retag() error = %v", err)
			}
			if got := s.Tags(account, region, "api")["dev"]; got != b.digest.String() {
				t.Errorf("dev = %s, want %s", got, b.digest)
			}
			calls := ecrCalls(s)
			if got, want := ops(calls), []string{"DescribeImages", "BatchGetImage", "PutImage", "DescribeImages"}; !slices.Equal(got, want) {
				t.Fatalf("ECR calls = %v, want %v", got, want)
			}
			for _, c := range calls {
				if c.Account != account || c.Region != region {
					t.Errorf("%s signed for %s/%s, want %s/%s", c.Operation, c.Account, c.Region, account, region)
				}
				if c.Params["registryId"] != account || c.Params["repositoryName"] != "api" {
					t.Errorf("%s registryId, repositoryName = %v, %v, want %s, api", c.Operation, c.Params["registryId"], c.Params["repositoryName"], account)
				}
			}
			wantIDs := []any{map[string]any{"imageDigest": b.digest.String()}}
			for _, c := range calls[:2] {
				if got := c.Params["imageIds"]; !reflect.DeepEqual(got, wantIDs) {
					t.Errorf("%s imageIds = %v, want %v (by digest, never by tag)", c.Operation, got, wantIDs)
				}
			}
			if got, want := calls[1].Params["acceptedMediaTypes"], []any{mediaType}; !reflect.DeepEqual(got, want) {
				t.Errorf("BatchGetImage acceptedMediaTypes = %v, want %v (the type the image is stored with)", got, want)
			}
			put := calls[2].Params
			if put["imageManifest"] != string(b.manifest) {
				t.Errorf("PutImage imageManifest = %v, want the stored bytes %s", put["imageManifest"], b.manifest)
			}
			if put["imageManifestMediaType"] != b.mediaType || put["imageTag"] != "dev" || put["imageDigest"] != b.digest.String() {
				t.Errorf("PutImage mediaType, tag, digest = %v, %v, %v, want %s, dev, %s",
					put["imageManifestMediaType"], put["imageTag"], put["imageDigest"], b.mediaType, b.digest)
			}
			wantIDs = []any{map[string]any{"imageTag": "dev"}}
			if got := calls[3].Params["imageIds"]; !reflect.DeepEqual(got, wantIDs) {
				t.Errorf("DescribeImages imageIds = %v, want %v", got, wantIDs)
			}
			if m, mt, _ := s.ECRManifest(account, region, "api", b.digest.String()); string(m) != string(b.manifest) || mt != b.mediaType {
				t.Errorf("stored manifest changed: %s %s", mt, m)
			}
			if lim.n.Load() != 1 {
				t.Errorf("limiter waits = %d, want 1 (one PutImage)", lim.n.Load())
			}
		})
	}
}

// pushImage stores the manifest of a random image in repo under tag, with
// its media type set to mediaType (Docker or OCI image manifest).
func pushImage(t *testing.T, s *awsfake.Server, repo, tag, mediaType string) build {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, v1types.MediaType(mediaType))
	if mediaType == string(v1types.OCIManifestSchema1) {
		img = mutate.ConfigMediaType(img, v1types.OCIConfigJSON)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	d := s.PutManifest(account, region, repo, tag, raw, mediaType)
	return build{raw, mediaType, mustHash(t, d)}
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// TestRetagAlreadyThere: re-running a promotion converges. ECR answers
// ImageAlreadyExistsException where the tag may move, and
// ImageTagAlreadyExistsException where the repository keeps it even with
// the digest it has (aws/containers-roadmap#2179); both are success once
// the tag is read back with the digest.
func TestRetagAlreadyThere(t *testing.T) {
	for _, m := range []string{awsfake.ECRMutable, awsfake.ECRImmutable, awsfake.ECRImmutableWithExclusion} {
		t.Run(m, func(t *testing.T) {
			ctx := context.Background()
			s := fakeAWS(t)
			var exclusions []string
			if m == awsfake.ECRImmutableWithExclusion {
				exclusions = []string{"staging"} // not dev
			}
			s.AddRepository(account, region, "api", m, exclusions...)
			b := pushBuild(t, s, "api", "dev", false)
			rt := newRetagger(t, s, ecr.Options{})
			if err := rt.Retag(ctx, "api", b.digest, "dev"); err != nil {
				t.Fatalf("Retag() to the digest dev has = %v, want nil", err)
			}
			if got, want := ops(ecrCalls(s)), []string{"DescribeImages", "BatchGetImage", "PutImage", "DescribeImages"}; !slices.Equal(got, want) {
				t.Errorf("ECR calls = %v, want %v", got, want)
			}
		})
	}
}

// TestRetagAlreadyExistsIsChecked: "already exists" is believed only once
// the tag is read back; here another promotion moved it meanwhile.
func TestRetagAlreadyExistsIsChecked(t *testing.T) {
	ctx := context.Background()
	s := fakeAWS(t)
	s.AddRepository(account, region, "api", awsfake.ECRMutable)
	b := pushBuild(t, s, "api", "aaaa", false)
	elsewhere := pushBuild(t, s, "api", "dev", false)
	s.FailNext("ecr:PutImage", awsfake.APIError{Code: "ImageAlreadyExistsException",
		Message: fmt.Sprintf("Image with digest '%s' and tag 'dev' already exists in the repository with name 'api' in registry with id '%s'", b.digest, account)})
	rt := newRetagger(t, s, ecr.Options{})
	err := rt.Retag(ctx, "api", b.digest, "dev")
	var mm *registry.MismatchError
	if !errors.As(err, &mm) || mm.Got != elsewhere.digest || mm.Want != b.digest || mm.Ref != host+"/api:dev" {
		t.Fatalf("Retag() = %v, want a *registry.MismatchError for %s/api:dev (got %s, want %s)", err, host, elsewhere.digest, b.digest)
	}
}

// TestRetagReadBackMismatch: another process moves the tag between our
// PutImage and the read-back; the result says so (promote reports
// "superseded").
func TestRetagReadBackMismatch(t *testing.T) {
	ctx := context.Background()
	s := fakeAWS(t)
	s.AddRepository(account, region, "api", awsfake.ECRMutable)
	b := pushBuild(t, s, "api", "aaaa", false)
	other := pushBuild(t, s, "api", "bbbb", false)
	endpoint := proxy(t, s, func(op string, body []byte) []byte {
		if op == "PutImage" {
			s.PutManifest(account, region, "api", "dev", other.manifest, other.mediaType)
		}
		return body
	})
	rt := ecr.New(awsConfig(t, s, "AKIAREGISTRY", endpoint), account, ecr.Options{Backoff: fast, Limiter: &countingLimiter{}, Sleep: noSleep})
	err := rt.Retag(ctx, "api", b.digest, "dev")
	var mm *registry.MismatchError
	if !errors.As(err, &mm) || mm.Got != other.digest {
		t.Fatalf("Retag() = %v, want a *registry.MismatchError naming %s", err, other.digest)
	}
}

// TestRetagRefusesConvertedManifest: a manifest whose bytes do not hash to
// the digest asked for is never written under a tag.
func TestRetagRefusesConvertedManifest(t *testing.T) {
	ctx := context.Background()
	s := fakeAWS(t)
	s.AddRepository(account, region, "api", awsfake.ECRMutable)
	b := pushBuild(t, s, "api", "aaaa", false)
	endpoint := proxy(t, s, func(op string, body []byte) []byte {
		if op == "BatchGetImage" {
			// What a conversion does to the bytes: re-serialised JSON.
			return []byte(strings.Replace(string(body), `\"schemaVersion\":2`, `\"schemaVersion\": 2`, 1))
		}
		return body
	})
	rt := ecr.New(awsConfig(t, s, "AKIAREGISTRY", endpoint), account, ecr.Options{Backoff: fast, Limiter: &countingLimiter{}, Sleep: noSleep})
	err := rt.Retag(ctx, "api", b.digest, "dev")
	if err == nil || !strings.Contains(err.Error(), "converted") {
		t.Fatalf("Retag() = %v, want an error saying ECR converted the manifest", err)
	}
	if n := len(s.CallsOf("ecr:PutImage")); n != 0 {
		t.Errorf("PutImage calls = %d, want 0", n)
	}
}

// proxy forwards to the stand-in and lets edit rewrite each answer.
func proxy(t *testing.T, s *awsfake.Server, edit func(op string, body []byte) []byte) string {
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		_, op, _ := strings.Cut(resp.Request.Header.Get("X-Amz-Target"), ".")
		out := edit(op, body)
		resp.Body = io.NopCloser(bytes.NewReader(out))
		resp.ContentLength = int64(len(out))
		resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestRetagTagMutability(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mutability string
		exclusions []string
		moves      bool
		// want are substrings of the error.
		want []string
		// commands are what TagMutabilityError.Commands returns.
		commands []string
	}{
		{name: "immutable", mutability: awsfake.ECRImmutable,
			want: []string{"tag mutability is IMMUTABLE", host + "/api"},
			commands: []string{
				"aws ecr put-image-tag-mutability --region us-east-1 --repository-name api --image-tag-mutability MUTABLE",
				"aws ecr put-image-tag-mutability --region us-east-1 --repository-name api --image-tag-mutability IMMUTABLE_WITH_EXCLUSION --image-tag-mutability-exclusion-filters filterType=WILDCARD,filter=dev",
			}},
		{name: "immutable with exclusion not covering dev", mutability: awsfake.ECRImmutableWithExclusion, exclusions: []string{"release-*", "devel"},
			want: []string{"IMMUTABLE_WITH_EXCLUSION and none of its exclusion filters (release-*, devel) covers \"dev\""},
			commands: []string{
				"aws ecr put-image-tag-mutability --region us-east-1 --repository-name api --image-tag-mutability IMMUTABLE_WITH_EXCLUSION --image-tag-mutability-exclusion-filters 'filterType=WILDCARD,filter=release-*' filterType=WILDCARD,filter=devel filterType=WILDCARD,filter=dev",
			}},
		{name: "immutable with exclusion for dev", mutability: awsfake.ECRImmutableWithExclusion, exclusions: []string{"dev"}, moves: true},
		{name: "immutable with wildcard exclusion covering dev", mutability: awsfake.ECRImmutableWithExclusion, exclusions: []string{"release-*", "d*"}, moves: true},
		{name: "mutable with exclusion covering dev", mutability: awsfake.ECRMutableWithExclusion, exclusions: []string{"prod-*", "de*"},
			want: []string{"MUTABLE_WITH_EXCLUSION and its exclusion filter de* makes \"dev\" immutable"},
			commands: []string{
				"aws ecr put-image-tag-mutability --region us-east-1 --repository-name api --image-tag-mutability MUTABLE_WITH_EXCLUSION --image-tag-mutability-exclusion-filters 'filterType=WILDCARD,filter=prod-*'",
			}},
		{name: "mutable with only an exclusion covering dev", mutability: awsfake.ECRMutableWithExclusion, exclusions: []string{"dev"},
			commands: []string{
				"aws ecr put-image-tag-mutability --region us-east-1 --repository-name api --image-tag-mutability MUTABLE",
			}},
		{name: "mutable with exclusion not covering dev", mutability: awsfake.ECRMutableWithExclusion, exclusions: []string{"prod-*"}, moves: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := fakeAWS(t)
			s.AddRepository(account, region, "api", tc.mutability, tc.exclusions...)
			old := pushBuild(t, s, "api", "dev", false)
			b := pushBuild(t, s, "api", "aaaa", false)
			rt := newRetagger(t, s, ecr.Options{})
			err := rt.Retag(ctx, "api", b.digest, "dev")
			if tc.moves {
				if err != nil {
					t.Fatalf("Retag() = %v, want nil", err)
				}
				if got := s.Tags(account, region, "api")["dev"]; got != b.digest.String() {
					t.Errorf("dev = %s, want %s", got, b.digest)
				}
				return
			}
			var te *ecr.TagExistsError
			if !errors.As(err, &te) || te.Holder != old.digest || te.Digest != b.digest || te.Tag != "dev" || te.Release() {
				t.Errorf("Retag() = %v, want a *ecr.TagExistsError for dev holding %s", err, old.digest)
			}
			var me *ecr.TagMutabilityError
			if !errors.As(err, &me) {
				t.Fatalf("Retag() = %v, want a *ecr.TagMutabilityError", err)
			}
			var ti *registry.TagImmutableError
			if !errors.As(err, &ti) || ti.Tag != "dev" || ti.Repository != host+"/api" {
				t.Errorf("errors.As(*registry.TagImmutableError) = %+v, want tag dev of %s/api", ti, host)
			}
			var taken *types.ImageTagAlreadyExistsException
			if !errors.As(err, &taken) {
				t.Errorf("Retag() = %v, want it to wrap ECR's ImageTagAlreadyExistsException", err)
			}
			if string(me.Mutability) != tc.mutability || !slices.Equal(me.Exclusions, tc.exclusions) {
				t.Errorf("setting = %s %v, want %s %v", me.Mutability, me.Exclusions, tc.mutability, tc.exclusions)
			}
			for _, w := range append(tc.want, tc.commands...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Retag() error = %q\nwant it to contain %q", err, w)
				}
			}
			if got := me.Commands(); !slices.Equal(got, tc.commands) {
				t.Errorf("Commands() = %q\nwant %q", got, tc.commands)
			}
			if got := s.Tags(account, region, "api")["dev"]; got != old.digest.String() {
				t.Errorf("dev = %s, want it left on %s", got, old.digest)
			}
			calls := s.CallsOf("ecr:DescribeRepositories")
			if len(calls) != 1 || !reflect.DeepEqual(calls[0].Params["repositoryNames"], []any{"api"}) {
				t.Errorf("DescribeRepositories calls = %+v, want one naming api", calls)
			}
		})
	}
}

// TestTagMutabilityFixWorks applies the change the error gives (through
// the SDK, as the CLI command would) and retags again.
func TestTagMutabilityFixWorks(t *testing.T) {
	ctx := context.Background()
	s := fakeAWS(t)
	s.AddRepository(account, region, "api", awsfake.ECRImmutableWithExclusion, "latest")
	pushBuild(t, s, "api", "dev", false)
	b := pushBuild(t, s, "api", "aaaa", false)
	cfg := awsConfig(t, s, "AKIAREGISTRY", "")
	rt := ecr.New(cfg, account, ecr.Options{Backoff: fast, Limiter: &countingLimiter{}, Sleep: noSleep})
	var me *ecr.TagMutabilityError
	if err := rt.Retag(ctx, "api", b.digest, "dev"); !errors.As(err, &me) {
		t.Fatalf("Retag() = %v, want a *ecr.TagMutabilityError", err)
	}
	want := "--image-tag-mutability IMMUTABLE_WITH_EXCLUSION --image-tag-mutability-exclusion-filters filterType=WILDCARD,filter=latest filterType=WILDCARD,filter=dev"
	if cmds := me.Commands(); len(cmds) != 1 || !strings.HasSuffix(cmds[0], want) {
		t.Fatalf("Commands() = %q, want one ending in %q", cmds, want)
	}
	_, err := awsecr.NewFromConfig(cfg).PutImageTagMutability(ctx, &awsecr.PutImageTagMutabilityInput{
		RepositoryName:     aws.String("api"),
		ImageTagMutability: types.ImageTagMutabilityImmutableWithExclusion,
		ImageTagMutabilityExclusionFilters: []types.ImageTagMutabilityExclusionFilter{
			{FilterType: types.ImageTagMutabilityExclusionFilterTypeWildcard, Filter: aws.String("latest")},
			{FilterType: types.ImageTagMutabilityExclusionFilterTypeWildcard, Filter: aws.String("dev")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Retag(ctx, "api", b.digest, "dev"); err != nil {
		t.Fatalf("Retag() after the fix = %v, want nil", err)
	}
	// Tags no exclusion covers stay immutable.
	rel := pushBuild(t, s, "api", "prod-20201112T103000Z", false)
	if err := rt.Retag(ctx, "api", b.digest, "prod-20201112T103000Z"); !errors.As(err, &me) {
		t.Errorf("Retag(prod-20201112T103000Z) = %v, want a *ecr.TagMutabilityError", err)
	}
	if got := s.Tags(account, region, "api")["prod-20201112T103000Z"]; got != rel.digest.String() {
		t.Errorf("prod-20201112T103000Z = %s, want it left on %s", got, rel.digest)
	}
}

// TestTagMutabilityUnreadable: without ecr:DescribeRepositories the error
// still matches TagImmutableError and gives both ways out.
func TestTagMutabilityUnreadable(t *testing.T) {
	ctx := context.Background()
	s := fakeAWS(t)
	s.AddRepository(account, region, "api", awsfake.ECRImmutable)
	pushBuild(t, s, "api", "dev", false)
	b := pushBuild(t, s, "api", "aaaa", false)
	s.FailNext("ecr:DescribeRepositories", awsfake.APIError{Code: "AccessDeniedException",
		Message: "User: arn:aws:sts::012345678922:assumed-role/deployer/tier is not authorized to perform: ecr:DescribeRepositories"})
	rt := newRetagger(t, s, ecr.Options{})
	err := rt.Retag(ctx, "api", b.digest, "dev")
	var ti *registry.TagImmutableError
	var me *ecr.TagMutabilityError
	if !errors.As(err, &ti) || !errors.As(err, &me) {
		t.Fatalf("Retag() = %v, want a *ecr.TagMutabilityError matching *registry.TagImmutableError", err)
	}
	if me.Mutability != "" || len(me.Commands()) != 2 || !strings.Contains(err.Error(), "could not read") {
		t.Errorf("Retag() = %q (%d commands), want the unread setting and 2 commands", err, len(me.Commands()))
	}
}
