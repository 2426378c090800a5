package awsfake_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"

	"github.com/tierdeploy/tier/internal/awsfake"
)

const (
	ecrAccount = "012345678922"
	ecrTenant  = "210987654321"
	ecrRegion  = "us-east-1"
)

const ecrManifestType = "application/vnd.oci.image.manifest.v1+json"

// ecrManifest returns a small OCI image manifest, distinct per n.
func ecrManifest(n int) string {
	return fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064x","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%064x","size":1000}]}`,
		ecrManifestType, n, 100+n, n+1)
}

func ecrDigest(m string) string {
	sum := sha256.Sum256([]byte(m))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ecrClient is the real SDK client, signed with keyID, pointed at s.
func ecrClient(s *awsfake.Server, keyID string) *awsecr.Client {
	return awsecr.New(awsecr.Options{
		Region:       ecrRegion,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, "secret", ""),
	})
}

func ecrServer(t *testing.T) (*awsfake.Server, *awsecr.Client) {
	s := awsfake.New(t)
	s.AddKey("AKIAREGISTRY", ecrAccount)
	s.AddKey("AKIATENANT", ecrTenant)
	return s, ecrClient(s, "AKIAREGISTRY")
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestECRPutImage(t *testing.T) {
	ctx := context.Background()
	m1, m2 := ecrManifest(1), ecrManifest(2)
	for _, tc := range []struct {
		name       string
		mutability string
		exclusions []string
		in         awsecr.PutImageInput
		wantCode   string
		wantDev    string // where dev points afterwards
	}{
		{name: "moves a mutable tag", in: awsecr.PutImageInput{ImageManifest: &m2, ImageTag: aws.String("dev")}, wantDev: ecrDigest(m2)},
		{name: "same digest and tag", in: awsecr.PutImageInput{ImageManifest: &m1, ImageTag: aws.String("dev")},
			wantCode: "ImageAlreadyExistsException", wantDev: ecrDigest(m1)},
		// aws/containers-roadmap#2179: a kept tag is refused even with the
		// digest it has.
		{name: "same digest and tag, immutable", mutability: awsfake.ECRImmutable, in: awsecr.PutImageInput{ImageManifest: &m1, ImageTag: aws.String("dev")},
			wantCode: "ImageTagAlreadyExistsException", wantDev: ecrDigest(m1)},
		{name: "same digest and tag, excluded from immutability", mutability: awsfake.ECRImmutableWithExclusion, exclusions: []string{"dev"},
			in: awsecr.PutImageInput{ImageManifest: &m1, ImageTag: aws.String("dev")}, wantCode: "ImageAlreadyExistsException", wantDev: ecrDigest(m1)},
		{name: "same digest and tag, not excluded", mutability: awsfake.ECRImmutableWithExclusion, exclusions: []string{"staging"},
			in: awsecr.PutImageInput{ImageManifest: &m1, ImageTag: aws.String("dev")}, wantCode: "ImageTagAlreadyExistsException", wantDev: ecrDigest(m1)},
		{name: "wildcard in the middle covers the tag", mutability: awsfake.ECRImmutableWithExclusion, exclusions: []string{"d*v"},
			in: awsecr.PutImageInput{ImageManifest: &m2, ImageTag: aws.String("dev")}, wantDev: ecrDigest(m2)},
		{name: "a filter without wildcard is the whole tag", mutability: awsfake.ECRImmutableWithExclusion, exclusions: []string{"de"},
			in: awsecr.PutImageInput{ImageManifest: &m2, ImageTag: aws.String("dev")}, wantCode: "ImageTagAlreadyExistsException", wantDev: ecrDigest(m1)},
		{name: "a wildcard filter matches the whole tag", mutability: awsfake.ECRImmutableWithExclusion, exclusions: []string{"*e"},
			in: awsecr.PutImageInput{ImageManifest: &m2, ImageTag: aws.String("dev")}, wantCode: "ImageTagAlreadyExistsException", wantDev: ecrDigest(m1)},
		{name: "existing image without a tag", in: awsecr.PutImageInput{ImageManifest: &m1},
			wantCode: "ImageAlreadyExistsException", wantDev: ecrDigest(m1)},
		{name: "immutable", mutability: awsfake.ECRImmutable, in: awsecr.PutImageInput{ImageManifest: &m2, ImageTag: aws.String("dev")},
			wantCode: "ImageTagAlreadyExistsException", wantDev: ecrDigest(m1)},
		{name: "immutable, new tag", mutability: awsfake.ECRImmutable, in: awsecr.PutImageInput{ImageManifest: &m2, ImageTag: aws.String("staging")},
			wantDev: ecrDigest(m1)},
		{name: "exclusion covers the tag", mutability: awsfake.ECRImmutableWithExclusion, exclusions: []string{"de*"},
			in: awsecr.PutImageInput{ImageManifest: &m2, ImageTag: aws.String("dev")}, wantDev: ecrDigest(m2)},
		{name: "exclusion does not cover the tag", mutability: awsfake.ECRImmutableWithExclusion, exclusions: []string{"devel"},
			in: awsecr.PutImageInput{ImageManifest: &m2, ImageTag: aws.String("dev")}, wantCode: "ImageTagAlreadyExistsException", wantDev: ecrDigest(m1)},
		{name: "mutable with an exclusion for the tag", mutability: awsfake.ECRMutableWithExclusion, exclusions: []string{"dev"},
			in: awsecr.PutImageInput{ImageManifest: &m2, ImageTag: aws.String("dev")}, wantCode: "ImageTagAlreadyExistsException", wantDev: ecrDigest(m1)},
		{name: "digest does not match", in: awsecr.PutImageInput{ImageManifest: &m2, ImageTag: aws.String("dev"), ImageDigest: aws.String(ecrDigest(m1))},
			wantCode: "ImageDigestDoesNotMatchException", wantDev: ecrDigest(m1)},
		{name: "media type does not match", in: awsecr.PutImageInput{ImageManifest: &m2, ImageTag: aws.String("dev"),
			ImageManifestMediaType: aws.String("application/vnd.docker.distribution.manifest.v2+json")},
			wantCode: "InvalidParameterException", wantDev: ecrDigest(m1)},
		{name: "invalid tag", in: awsecr.PutImageInput{ImageManifest: &m2, ImageTag: aws.String("prod-11/12/20")},
			wantCode: "InvalidParameterException", wantDev: ecrDigest(m1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := ecrServer(t)
			s.AddRepository(ecrAccount, ecrRegion, "api", tc.mutability, tc.exclusions...)
			s.PutManifest(ecrAccount, ecrRegion, "api", "dev", []byte(m1), ecrManifestType)
			in := tc.in
			in.RepositoryName = aws.String("api")
			out, err := c.PutImage(ctx, &in)
			if got := errorCode(err); got != tc.wantCode {
				t.Fatalf("PutImage() error = %v, want code %q", err, tc.wantCode)
			}
			if err == nil {
				d := ecrDigest(*in.ImageManifest)
				if got := aws.ToString(out.Image.ImageId.ImageDigest); got != d {
					t.Errorf("PutImage() image digest = %s, want %s", got, d)
				}
				if got := aws.ToString(out.Image.ImageManifestMediaType); got != ecrManifestType {
					t.Errorf("PutImage() media type = %s, want %s", got, ecrManifestType)
				}
			}
			if got := s.Tags(ecrAccount, ecrRegion, "api")["dev"]; got != tc.wantDev {
				t.Errorf("dev = %s, want %s", got, tc.wantDev)
			}
		})
	}
}

func TestECRBatchGetImage(t *testing.T) {
	ctx := context.Background()
	s, c := ecrServer(t)
	s.AddRepository(ecrAccount, ecrRegion, "api", "")
	m1, m2 := ecrManifest(1), ecrManifest(2)
	d1 := s.PutManifest(ecrAccount, ecrRegion, "api", "dev", []byte(m1), ecrManifestType)
	d2 := s.PutManifest(ecrAccount, ecrRegion, "api", "", []byte(m2), ecrManifestType)
	out, err := c.BatchGetImage(ctx, &awsecr.BatchGetImageInput{RepositoryName: aws.String("api"), ImageIds: []types.ImageIdentifier{
		{ImageDigest: aws.String(d2)},
		{ImageTag: aws.String("dev")},
		{ImageDigest: aws.String(d1), ImageTag: aws.String("dev")},
		{ImageDigest: aws.String(d2), ImageTag: aws.String("dev")},
		{ImageTag: aws.String("prod")},
		{},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Images) != 3 {
		t.Fatalf("images = %d, want 3", len(out.Images))
	}
	for i, want := range []struct{ digest, manifest string }{{d2, m2}, {d1, m1}, {d1, m1}} {
		img := out.Images[i]
		if aws.ToString(img.ImageId.ImageDigest) != want.digest || aws.ToString(img.ImageManifest) != want.manifest ||
			aws.ToString(img.ImageManifestMediaType) != ecrManifestType || aws.ToString(img.RegistryId) != ecrAccount {
			t.Errorf("image %d = %+v, want digest %s with its manifest", i, img, want.digest)
		}
	}
	var codes []string
	for _, f := range out.Failures {
		codes = append(codes, string(f.FailureCode))
	}
	if got, want := strings.Join(codes, " "), "ImageTagDoesNotMatchDigest ImageNotFound MissingDigestAndTag"; got != want {
		t.Errorf("failure codes = %s, want %s", got, want)
	}
	_, err = c.BatchGetImage(ctx, &awsecr.BatchGetImageInput{RepositoryName: aws.String("worker"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("dev")}}})
	var rnf *types.RepositoryNotFoundException
	if !errors.As(err, &rnf) {
		t.Errorf("BatchGetImage(worker) = %v, want RepositoryNotFoundException", err)
	}
}

func TestECRDescribe(t *testing.T) {
	ctx := context.Background()
	s, c := ecrServer(t)
	s.AddRepository(ecrAccount, ecrRegion, "api", awsfake.ECRImmutableWithExclusion, "dev", "staging")
	s.AddRepository(ecrAccount, ecrRegion, "worker", "")
	var digests []string
	for i := range 3 {
		tag := ""
		if i > 0 {
			tag = fmt.Sprintf("t%d", i)
		}
		digests = append(digests, s.PutManifest(ecrAccount, ecrRegion, "api", tag, []byte(ecrManifest(i)), ecrManifestType))
	}

	repos, err := c.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{RepositoryNames: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	r := repos.Repositories[0]
	if r.ImageTagMutability != types.ImageTagMutabilityImmutableWithExclusion || len(r.ImageTagMutabilityExclusionFilters) != 2 ||
		aws.ToString(r.ImageTagMutabilityExclusionFilters[1].Filter) != "staging" ||
		r.ImageTagMutabilityExclusionFilters[1].FilterType != types.ImageTagMutabilityExclusionFilterTypeWildcard ||
		aws.ToString(r.RepositoryUri) != ecrAccount+".dkr.ecr.us-east-1.amazonaws.com/api" ||
		aws.ToString(r.RepositoryArn) != "arn:aws:ecr:us-east-1:"+ecrAccount+":repository/api" || r.CreatedAt == nil {
		t.Errorf("DescribeRepositories(api) = %+v", r)
	}
	all, err := c.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{MaxResults: aws.Int32(1)})
	if err != nil || len(all.Repositories) != 1 || all.NextToken == nil {
		t.Fatalf("DescribeRepositories(maxResults 1) = %+v, %v, want one and a next token", all, err)
	}
	rest, err := c.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{MaxResults: aws.Int32(1), NextToken: all.NextToken})
	if err != nil || len(rest.Repositories) != 1 || aws.ToString(rest.Repositories[0].RepositoryName) != "worker" || rest.NextToken != nil {
		t.Errorf("DescribeRepositories(next page) = %+v, %v, want worker and no token", rest, err)
	}
	_, err = c.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{RepositoryNames: []string{"nope"}})
	var rnf *types.RepositoryNotFoundException
	if !errors.As(err, &rnf) {
		t.Errorf("DescribeRepositories(nope) = %v, want RepositoryNotFoundException", err)
	}

	imgs, err := c.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String("api"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("t2")}}})
	if err != nil {
		t.Fatal(err)
	}
	d := imgs.ImageDetails[0]
	if aws.ToString(d.ImageDigest) != digests[2] || strings.Join(d.ImageTags, ",") != "t2" || d.ImagePushedAt == nil ||
		aws.ToInt64(d.ImageSizeInBytes) != 1102 || aws.ToString(d.ArtifactMediaType) != "application/vnd.oci.image.config.v1+json" {
		t.Errorf("DescribeImages(t2) = %+v", d)
	}
	untagged, err := c.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String("api"), Filter: &types.DescribeImagesFilter{TagStatus: types.TagStatusUntagged}})
	if err != nil || len(untagged.ImageDetails) != 1 || aws.ToString(untagged.ImageDetails[0].ImageDigest) != digests[0] {
		t.Errorf("DescribeImages(UNTAGGED) = %+v, %v, want %s", untagged, err, digests[0])
	}
	_, err = c.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String("api"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("prod")}}})
	var inf *types.ImageNotFoundException
	if !errors.As(err, &inf) {
		t.Errorf("DescribeImages(prod) = %v, want ImageNotFoundException", err)
	}
}

func TestECRRepositoryPolicy(t *testing.T) {
	ctx := context.Background()
	s, c := ecrServer(t)
	s.AddRepository(ecrAccount, ecrRegion, "api", "")
	d := s.PutManifest(ecrAccount, ecrRegion, "api", "dev", []byte(ecrManifest(1)), ecrManifestType)
	_, err := c.GetRepositoryPolicy(ctx, &awsecr.GetRepositoryPolicyInput{RepositoryName: aws.String("api")})
	var pnf *types.RepositoryPolicyNotFoundException
	if !errors.As(err, &pnf) {
		t.Errorf("GetRepositoryPolicy() = %v, want RepositoryPolicyNotFoundException", err)
	}

	tenant := ecrClient(s, "AKIATENANT")
	pull := &awsecr.BatchGetImageInput{RegistryId: aws.String(ecrAccount), RepositoryName: aws.String("api"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("dev")}}}
	if _, err := tenant.BatchGetImage(ctx, pull); errorCode(err) != "AccessDeniedException" {
		t.Errorf("BatchGetImage() from %s without a policy = %v, want AccessDeniedException", ecrTenant, err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::` + ecrTenant + `:root"]},` +
		`"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"]}]}`
	s.SetRepositoryPolicy(ecrAccount, ecrRegion, "api", policy)
	got, err := c.GetRepositoryPolicy(ctx, &awsecr.GetRepositoryPolicyInput{RepositoryName: aws.String("api")})
	if err != nil || aws.ToString(got.PolicyText) != policy {
		t.Errorf("GetRepositoryPolicy() = %v, %v, want the policy", got, err)
	}
	out, err := tenant.BatchGetImage(ctx, pull)
	if err != nil || len(out.Images) != 1 || aws.ToString(out.Images[0].ImageId.ImageDigest) != d {
		t.Errorf("BatchGetImage() from %s allowed by the policy = %+v, %v", ecrTenant, out, err)
	}
	m2 := ecrManifest(2)
	if _, err := tenant.PutImage(ctx, &awsecr.PutImageInput{RegistryId: aws.String(ecrAccount), RepositoryName: aws.String("api"),
		ImageManifest: &m2, ImageTag: aws.String("dev")}); errorCode(err) != "AccessDeniedException" {
		t.Errorf("PutImage() from %s with a pull-only policy = %v, want AccessDeniedException", ecrTenant, err)
	}
}

func TestECRAuthorizationTokenAndResolver(t *testing.T) {
	ctx := context.Background()
	s, c := ecrServer(t)
	out, err := c.GetAuthorizationToken(ctx, &awsecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	a := out.AuthorizationData[0]
	tok, err := base64.StdEncoding.DecodeString(aws.ToString(a.AuthorizationToken))
	if err != nil || !strings.HasPrefix(string(tok), "AWS:") || a.ExpiresAt == nil ||
		aws.ToString(a.ProxyEndpoint) != "https://"+ecrAccount+".dkr.ecr.us-east-1.amazonaws.com" {
		t.Errorf("GetAuthorizationToken() = %+v (token %q, %v)", a, tok, err)
	}

	s.AddRepository(ecrAccount, ecrRegion, "api", "")
	d := s.PutManifest(ecrAccount, ecrRegion, "api", "dev", []byte(ecrManifest(1)), ecrManifestType)
	resolve := s.ECRImageResolver()
	if got, ok := resolve(ecrTenant, "eu-west-1", ecrAccount+".dkr.ecr.us-east-1.amazonaws.com/api:dev"); !ok || got != d {
		t.Errorf("resolver(api:dev) = %s, %v, want %s", got, ok, d)
	}
	if _, ok := resolve(ecrTenant, ecrRegion, ecrAccount+".dkr.ecr.us-east-1.amazonaws.com/api:prod"); ok {
		t.Errorf("resolver(api:prod) found it, want not found")
	}
}

func TestECRThrottling(t *testing.T) {
	s, _ := ecrServer(t)
	s.AddRepository(ecrAccount, ecrRegion, "api", "")
	s.FailNext("ecr:PutImage", awsfake.APIError{Code: "ThrottlingException", Message: "Rate exceeded"})
	// No retries: the answer itself is asserted.
	c := awsecr.New(awsecr.Options{Region: ecrRegion, BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAREGISTRY", "secret", "")})
	m := ecrManifest(1)
	_, err := c.PutImage(context.Background(), &awsecr.PutImageInput{RepositoryName: aws.String("api"), ImageManifest: &m, ImageTag: aws.String("dev")})
	if errorCode(err) != "ThrottlingException" {
		t.Fatalf("PutImage() = %v, want ThrottlingException", err)
	}
	if len(s.PutImageTimes(ecrAccount, ecrRegion)) != 0 {
		t.Errorf("PutImageTimes() counts a call FailNext answered")
	}
}

// TestECRReleaseTagsWithExclusion is the setup docs/targets/ecr.md
// recommends: IMMUTABLE_WITH_EXCLUSION with the mutable tier tags
// excluded. Tier tags move; a release tag is written once, and a second
// writer of it is refused whatever it writes.
func TestECRReleaseTagsWithExclusion(t *testing.T) {
	ctx := context.Background()
	s, c := ecrServer(t)
	s.AddRepository(ecrAccount, ecrRegion, "api", awsfake.ECRMutable)
	_, err := c.PutImageTagMutability(ctx, &awsecr.PutImageTagMutabilityInput{
		RepositoryName:     aws.String("api"),
		ImageTagMutability: types.ImageTagMutabilityImmutableWithExclusion,
		ImageTagMutabilityExclusionFilters: []types.ImageTagMutabilityExclusionFilter{
			{FilterType: types.ImageTagMutabilityExclusionFilterTypeWildcard, Filter: aws.String("dev")},
			{FilterType: types.ImageTagMutabilityExclusionFilterTypeWildcard, Filter: aws.String("staging*")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m1, m2 := ecrManifest(1), ecrManifest(2)
	put := func(m, tag string) error {
		_, err := c.PutImage(ctx, &awsecr.PutImageInput{RepositoryName: aws.String("api"), ImageManifest: &m, ImageTag: aws.String(tag)})
		return err
	}
	for _, step := range []struct {
		manifest, tag, wantCode string
	}{
		{m1, "dev", ""}, {m2, "dev", ""}, // excluded: moves
		{m1, "staging", ""}, {m2, "staging", ""}, // staging* covers it
		{m1, "staging-eu", ""}, {m2, "staging-eu", ""},
		{m1, "prod-20201112T103000Z", ""},                               // a new release tag
		{m2, "prod-20201112T103000Z", "ImageTagAlreadyExistsException"}, // a racing writer
		{m1, "prod-20201112T103000Z", "ImageTagAlreadyExistsException"}, // even with the same digest
		{m1, "devel", ""}, {m2, "devel", "ImageTagAlreadyExistsException"}, // "dev" is not a prefix filter
	} {
		if got := errorCode(put(step.manifest, step.tag)); got != step.wantCode {
			t.Errorf("PutImage(%s, %s) error code = %q, want %q", ecrDigest(step.manifest)[:15], step.tag, got, step.wantCode)
		}
	}
	want := map[string]string{"dev": ecrDigest(m2), "staging": ecrDigest(m2), "staging-eu": ecrDigest(m2),
		"prod-20201112T103000Z": ecrDigest(m1), "devel": ecrDigest(m1)}
	if got := s.Tags(ecrAccount, ecrRegion, "api"); !maps.Equal(got, want) {
		t.Errorf("tags = %v, want %v", got, want)
	}
	for _, bad := range []struct {
		mutability types.ImageTagMutability
		filters    []string
	}{
		{types.ImageTagMutabilityImmutableWithExclusion, nil},
		{types.ImageTagMutabilityImmutable, []string{"dev"}},
		{types.ImageTagMutabilityImmutableWithExclusion, []string{"dev?"}},
	} {
		in := &awsecr.PutImageTagMutabilityInput{RepositoryName: aws.String("api"), ImageTagMutability: bad.mutability}
		for _, f := range bad.filters {
			in.ImageTagMutabilityExclusionFilters = append(in.ImageTagMutabilityExclusionFilters,
				types.ImageTagMutabilityExclusionFilter{FilterType: types.ImageTagMutabilityExclusionFilterTypeWildcard, Filter: aws.String(f)})
		}
		if _, err := c.PutImageTagMutability(ctx, in); errorCode(err) != "InvalidParameterException" {
			t.Errorf("PutImageTagMutability(%s, %v) = %v, want InvalidParameterException", bad.mutability, bad.filters, err)
		}
	}
}

// TestECRAcceptedMediaTypes: acceptedMediaTypes takes the values the API
// reference lists, and an image asked for by digest comes back as stored.
func TestECRAcceptedMediaTypes(t *testing.T) {
	ctx := context.Background()
	s, c := ecrServer(t)
	s.AddRepository(ecrAccount, ecrRegion, "api", "")
	m := ecrManifest(1)
	d := s.PutManifest(ecrAccount, ecrRegion, "api", "dev", []byte(m), ecrManifestType)
	index := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"` + ecrManifestType + `","digest":"` + d + `","size":` + fmt.Sprint(len(m)) + `}]}`
	di := s.PutManifest(ecrAccount, ecrRegion, "api", "multi", []byte(index), "application/vnd.oci.image.index.v1+json")
	get := func(digest string, accepted ...string) (*awsecr.BatchGetImageOutput, error) {
		return c.BatchGetImage(ctx, &awsecr.BatchGetImageInput{RepositoryName: aws.String("api"),
			ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(digest)}}, AcceptedMediaTypes: accepted})
	}
	for _, tc := range []struct {
		name     string
		digest   string
		accepted []string
		wantCode string
		want     string // the manifest returned
	}{
		{"OCI image manifest", d, []string{ecrManifestType}, "", m},
		{"none named", d, nil, "", m},
		{"by digest, no conversion", d, []string{"application/vnd.docker.distribution.manifest.v2+json"}, "", m},
		{"OCI index", di, []string{"application/vnd.oci.image.index.v1+json"}, "InvalidParameterException", ""},
		{"Docker manifest list", di, []string{"application/vnd.docker.distribution.manifest.list.v2+json", ecrManifestType}, "InvalidParameterException", ""},
		{"index by digest, image types accepted", di, []string{ecrManifestType}, "", index},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := get(tc.digest, tc.accepted...)
			if got := errorCode(err); got != tc.wantCode {
				t.Fatalf("BatchGetImage(%v) = %v, want code %q", tc.accepted, err, tc.wantCode)
			}
			if err == nil && (len(out.Images) != 1 || aws.ToString(out.Images[0].ImageManifest) != tc.want) {
				t.Errorf("BatchGetImage(%v) = %+v, want the stored manifest", tc.accepted, out)
			}
		})
	}
}

// TestECRLagTagReads: a lagging read answers what the tag was before its
// last PutImage, then reads catch up.
func TestECRLagTagReads(t *testing.T) {
	ctx := context.Background()
	s, c := ecrServer(t)
	s.AddRepository(ecrAccount, ecrRegion, "api", "")
	m1, m2 := ecrManifest(1), ecrManifest(2)
	s.PutManifest(ecrAccount, ecrRegion, "api", "dev", []byte(m1), ecrManifestType)
	for _, tag := range []string{"dev", "staging"} {
		if _, err := c.PutImage(ctx, &awsecr.PutImageInput{RepositoryName: aws.String("api"), ImageManifest: &m2, ImageTag: aws.String(tag)}); err != nil {
			t.Fatal(err)
		}
	}
	s.LagTagReads(ecrAccount, ecrRegion, "api", 2)
	read := func(tag string) (string, error) {
		out, err := c.DescribeImages(ctx, &awsecr.DescribeImagesInput{RepositoryName: aws.String("api"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String(tag)}}})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.ImageDetails[0].ImageDigest), nil
	}
	if got, err := read("dev"); err != nil || got != ecrDigest(m1) {
		t.Errorf("first read of dev = %s, %v, want the old %s", got, err, ecrDigest(m1))
	}
	var inf *types.ImageNotFoundException
	if _, err := read("staging"); !errors.As(err, &inf) {
		t.Errorf("first read of the new staging = %v, want ImageNotFoundException", err)
	}
	for _, tag := range []string{"dev", "staging"} {
		if got, err := read(tag); err != nil || got != ecrDigest(m2) {
			t.Errorf("later read of %s = %s, %v, want %s", tag, got, err, ecrDigest(m2))
		}
	}
}

// lifecycle is a policy of the given rules.
func lifecycle(rules ...string) string {
	return `{"rules":[` + strings.Join(rules, ",") + `]}`
}

func TestECRLifecyclePolicy(t *testing.T) {
	ctx := context.Background()
	s, c := ecrServer(t)
	s.AddRepository(ecrAccount, ecrRegion, "api", "")
	_, err := c.GetLifecyclePolicy(ctx, &awsecr.GetLifecyclePolicyInput{RepositoryName: aws.String("api")})
	var lnf *types.LifecyclePolicyNotFoundException
	if !errors.As(err, &lnf) {
		t.Fatalf("GetLifecyclePolicy() without a policy = %v, want LifecyclePolicyNotFoundException", err)
	}
	_, err = c.GetLifecyclePolicy(ctx, &awsecr.GetLifecyclePolicyInput{RepositoryName: aws.String("worker")})
	var rnf *types.RepositoryNotFoundException
	if !errors.As(err, &rnf) {
		t.Errorf("GetLifecyclePolicy(worker) = %v, want RepositoryNotFoundException", err)
	}

	const untagged = `{"rulePriority":1,"description":"untagged after 14 days","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}`
	const prs = `{"rulePriority":2,"selection":{"tagStatus":"tagged","tagPatternList":["pr-*"],"countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}`
	const anyOld = `{"rulePriority":3,"selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":90},"action":{"type":"transition","targetStorageClass":"archive"}}`
	for _, tc := range []struct {
		name, policy string
		valid        bool
	}{
		{"three rules", lifecycle(untagged, prs, anyOld), true},
		{"archived images expire", lifecycle(`{"rulePriority":1,"selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":365},"action":{"type":"expire"}}`), true},
		{"any before a tagged rule", lifecycle(untagged, strings.Replace(anyOld, `"rulePriority":3`, `"rulePriority":2`, 1), strings.Replace(prs, `"rulePriority":2`, `"rulePriority":3`, 1)), false},
		{"same priority twice", lifecycle(untagged, strings.Replace(prs, `"rulePriority":2`, `"rulePriority":1`, 1)), false},
		{"tagged without a list", lifecycle(`{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}`), false},
		{"untagged with a list", lifecycle(`{"rulePriority":1,"selection":{"tagStatus":"untagged","tagPrefixList":["pr-"],"countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}`), false},
		{"five wildcards", lifecycle(`{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["a*b*c*d*e*f"],"countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}`), false},
		{"days without a unit", lifecycle(`{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":10},"action":{"type":"expire"}}`), false},
		{"transition without a class", lifecycle(`{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":10},"action":{"type":"transition"}}`), false},
		{"an unknown member", lifecycle(`{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":10,"keep":true},"action":{"type":"expire"}}`), false},
		{"no rules, and short", `{"rules":[]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.PutLifecyclePolicy(ctx, &awsecr.PutLifecyclePolicyInput{RepositoryName: aws.String("api"), LifecyclePolicyText: aws.String(tc.policy)})
			if tc.valid != (err == nil) {
				t.Fatalf("PutLifecyclePolicy(%s) = %v, want valid=%v", tc.policy, err, tc.valid)
			}
			if err != nil {
				if errorCode(err) != "InvalidParameterException" {
					t.Errorf("PutLifecyclePolicy() = %v, want InvalidParameterException", err)
				}
				return
			}
			out, err := c.GetLifecyclePolicy(ctx, &awsecr.GetLifecyclePolicyInput{RepositoryName: aws.String("api")})
			if err != nil || aws.ToString(out.LifecyclePolicyText) != tc.policy || aws.ToString(out.RegistryId) != ecrAccount {
				t.Errorf("GetLifecyclePolicy() = %+v, %v, want the policy put", out, err)
			}
		})
	}

	tenant := ecrClient(s, "AKIATENANT")
	get := &awsecr.GetLifecyclePolicyInput{RegistryId: aws.String(ecrAccount), RepositoryName: aws.String("api")}
	if _, err := tenant.GetLifecyclePolicy(ctx, get); errorCode(err) != "AccessDeniedException" {
		t.Errorf("GetLifecyclePolicy() from %s without a repository policy = %v, want AccessDeniedException", ecrTenant, err)
	}
	s.SetRepositoryPolicy(ecrAccount, ecrRegion, "api", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"`+ecrTenant+`"},"Action":"ecr:GetLifecyclePolicy"}]}`)
	if _, err := tenant.GetLifecyclePolicy(ctx, get); err != nil {
		t.Errorf("GetLifecyclePolicy() from %s allowed by the repository policy = %v", ecrTenant, err)
	}
}
