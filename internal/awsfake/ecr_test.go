package awsfake_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
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
		{name: "same digest and tag, immutable", mutability: awsfake.ECRImmutable, in: awsecr.PutImageInput{ImageManifest: &m1, ImageTag: aws.String("dev")},
			wantCode: "ImageAlreadyExistsException", wantDev: ecrDigest(m1)},
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
