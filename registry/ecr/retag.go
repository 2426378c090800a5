package ecr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/tags"
)

// AcceptedMediaTypes are the manifest media types BatchGetImage is told to
// accept: every type tier moves tags of, so ECR returns the stored manifest
// instead of converting it.
var AcceptedMediaTypes = []string{
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
}

// Options configure a Retagger. The zero value is ready to use.
type Options struct {
	// Host names the registry in references and errors
	// ("012345678922.dkr.ecr.us-east-1.amazonaws.com"); empty means the
	// standard host of the registry ID in the configuration's region.
	Host string
	// PutImageRate (calls per second) and PutImageBurst configure the
	// limiter shared by the Retaggers of one registry and region; zero means
	// DefaultPutImageRate and DefaultPutImageBurst. The first Retagger of a
	// registry and region sets them.
	PutImageRate  float64
	PutImageBurst int
	// Limiter, when set, spaces this Retagger's PutImage attempts instead of
	// the shared limiter.
	Limiter Limiter
	// MaxAttempts bounds the attempts of each ECR call, the first included,
	// under the SDK's adaptive retry mode; 0 means 10.
	MaxAttempts int
	// Backoff is the delay between attempts; nil means the SDK's
	// exponential backoff with jitter.
	Backoff retry.BackoffDelayer
}

// api is the part of the ECR API a Retagger calls; *ecr.Client has it.
type api interface {
	BatchGetImage(context.Context, *awsecr.BatchGetImageInput, ...func(*awsecr.Options)) (*awsecr.BatchGetImageOutput, error)
	PutImage(context.Context, *awsecr.PutImageInput, ...func(*awsecr.Options)) (*awsecr.PutImageOutput, error)
	DescribeImages(context.Context, *awsecr.DescribeImagesInput, ...func(*awsecr.Options)) (*awsecr.DescribeImagesOutput, error)
	DescribeRepositories(context.Context, *awsecr.DescribeRepositoriesInput, ...func(*awsecr.Options)) (*awsecr.DescribeRepositoriesOutput, error)
}

// Retagger moves tags in one ECR private registry (an account's registry
// in one region) through ECR's API. It is safe for concurrent use and
// implements registry.Retagger.
type Retagger struct {
	api        api
	registryID string
	region     string
	host       string
	limiter    Limiter
}

var _ registry.Retagger = (*Retagger)(nil)

// New returns a Retagger for the registry of account registryID in
// cfg.Region, calling ECR with cfg's credentials and endpoint. Its ECR calls
// use the SDK's adaptive retry mode with o.MaxAttempts attempts, whatever
// retryer cfg carries.
func New(cfg aws.Config, registryID string, o Options) *Retagger {
	attempts := o.MaxAttempts
	if attempts <= 0 {
		attempts = 10
	}
	client := awsecr.NewFromConfig(cfg, func(co *awsecr.Options) {
		co.Retryer = retry.NewAdaptiveMode(func(ao *retry.AdaptiveModeOptions) {
			ao.StandardOptions = append(ao.StandardOptions, func(so *retry.StandardOptions) {
				so.MaxAttempts = attempts
				if o.Backoff != nil {
					so.Backoff = o.Backoff
				}
			})
		})
	})
	host := o.Host
	if host == "" {
		host = fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com", registryID, cfg.Region)
	}
	lim := o.Limiter
	if lim == nil {
		lim = sharedLimiter(registryID, cfg.Region, o.PutImageRate, o.PutImageBurst)
	}
	return &Retagger{api: client, registryID: registryID, region: cfg.Region, host: host, limiter: lim}
}

// ForHost returns a Retagger for the ECR registry host names
// ("012345678922.dkr.ecr.us-east-1.amazonaws.com", optionally followed by a
// path): the account and region come from the host, credentials and
// endpoint from cfg.
func ForHost(cfg aws.Config, host string, o Options) (*Retagger, error) {
	account, region, ok := ParseHost(host)
	if !ok {
		return nil, fmt.Errorf("%s is not an Amazon ECR private registry (<account>.dkr.ecr.<region>.amazonaws.com)", host)
	}
	cfg = cfg.Copy()
	cfg.Region = region
	if o.Host == "" {
		o.Host, _, _ = strings.Cut(host, "/")
	}
	return New(cfg, account, o), nil
}

var hostRE = regexp.MustCompile(`^(\d{12})\.dkr(?:-fips)?\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$`)

// ParseHost splits an ECR private registry host
// ("012345678922.dkr.ecr.us-east-1.amazonaws.com", FIPS and China hosts
// included; a path after the host is ignored) into its account and region.
func ParseHost(host string) (account, region string, ok bool) {
	h, _, _ := strings.Cut(host, "/")
	m := hostRE.FindStringSubmatch(h)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// Host returns the registry host the Retagger names in references.
func (r *Retagger) Host() string { return r.host }

func (r *Retagger) ref(repo, ref string) string {
	if strings.HasPrefix(ref, "sha256:") {
		return r.host + "/" + repo + "@" + ref
	}
	return r.host + "/" + repo + ":" + ref
}

// Retag points tag at digest in repo (the repository's name in the
// registry, "api" or "team/api"): it fetches the manifest by digest,
// writes it back with PutImage under tag, and reads the tag back.
func (r *Retagger) Retag(ctx context.Context, repo string, digest v1.Hash, tag string) error {
	if err := tags.Validate(tag); err != nil {
		return err
	}
	manifest, mediaType, err := r.manifest(ctx, repo, digest)
	if err != nil {
		return err
	}
	_, err = r.api.PutImage(ctx, &awsecr.PutImageInput{
		RegistryId:             aws.String(r.registryID),
		RepositoryName:         aws.String(repo),
		ImageManifest:          aws.String(manifest),
		ImageManifestMediaType: aws.String(mediaType),
		ImageTag:               aws.String(tag),
		ImageDigest:            aws.String(digest.String()),
	}, r.limitAttempts)
	var exists *types.ImageAlreadyExistsException
	var taken *types.ImageTagAlreadyExistsException
	switch {
	case err == nil:
	case errors.As(err, &exists):
		// The tag already points at this manifest: success once read back.
	case errors.As(err, &taken):
		return r.mutabilityError(ctx, repo, digest, tag, err)
	default:
		return r.wrap(err, "tagging", "ecr:PutImage", repo, r.ref(repo, tag))
	}
	return r.readBack(ctx, repo, digest, tag)
}

// manifest fetches the manifest of digest by digest and checks its bytes
// hash to it.
func (r *Retagger) manifest(ctx context.Context, repo string, digest v1.Hash) (manifest, mediaType string, err error) {
	ref := r.ref(repo, digest.String())
	out, err := r.api.BatchGetImage(ctx, &awsecr.BatchGetImageInput{
		RegistryId:         aws.String(r.registryID),
		RepositoryName:     aws.String(repo),
		ImageIds:           []types.ImageIdentifier{{ImageDigest: aws.String(digest.String())}},
		AcceptedMediaTypes: AcceptedMediaTypes,
	})
	if err != nil {
		return "", "", r.wrap(err, "fetching", "ecr:BatchGetImage", repo, ref)
	}
	for _, f := range out.Failures {
		ferr := fmt.Errorf("%s: %s", f.FailureCode, aws.ToString(f.FailureReason))
		if f.FailureCode == types.ImageFailureCodeImageNotFound {
			ferr = &registry.NotFoundError{Ref: ref, Err: ferr}
		}
		return "", "", fmt.Errorf("fetching %s: %w", ref, ferr)
	}
	if len(out.Images) != 1 {
		return "", "", fmt.Errorf("fetching %s: %w", ref, &registry.NotFoundError{Ref: ref})
	}
	img := out.Images[0]
	manifest, mediaType = aws.ToString(img.ImageManifest), aws.ToString(img.ImageManifestMediaType)
	sum := sha256.Sum256([]byte(manifest))
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != digest.String() {
		return "", "", fmt.Errorf("fetching %s: ECR returned a %s manifest whose digest is %s: it converted the stored manifest, so tier will not write it under a tag", ref, mediaType, got)
	}
	if mediaType == "" {
		return "", "", fmt.Errorf("fetching %s: ECR returned no manifest media type", ref)
	}
	return manifest, mediaType, nil
}

// readBack checks that tag resolves to digest.
func (r *Retagger) readBack(ctx context.Context, repo string, digest v1.Hash, tag string) error {
	ref := r.ref(repo, tag)
	out, err := r.api.DescribeImages(ctx, &awsecr.DescribeImagesInput{
		RegistryId:     aws.String(r.registryID),
		RepositoryName: aws.String(repo),
		ImageIds:       []types.ImageIdentifier{{ImageTag: aws.String(tag)}},
	})
	if err != nil {
		var nf *types.ImageNotFoundException
		if errors.As(err, &nf) {
			err = &registry.NotFoundError{Ref: ref, Err: err}
		} else {
			err = r.classify(err, "ecr:DescribeImages", repo)
		}
		return fmt.Errorf("reading back %s: %w", ref, err)
	}
	if len(out.ImageDetails) != 1 {
		return fmt.Errorf("reading back %s: ECR described %d images, want 1", ref, len(out.ImageDetails))
	}
	got, err := v1.NewHash(aws.ToString(out.ImageDetails[0].ImageDigest))
	if err != nil {
		return fmt.Errorf("reading back %s: %w", ref, err)
	}
	if got != digest {
		return &registry.MismatchError{Ref: ref, Want: digest, Got: got}
	}
	return nil
}

// mutabilityError reads the repository's tag mutability to say which
// setting keeps tag from moving.
func (r *Retagger) mutabilityError(ctx context.Context, repo string, digest v1.Hash, tag string, putErr error) error {
	e := &TagMutabilityError{Registry: r.host, Region: r.region, Repository: repo, Tag: tag, Digest: digest, Err: putErr}
	out, err := r.api.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{
		RegistryId:      aws.String(r.registryID),
		RepositoryNames: []string{repo},
	})
	switch {
	case err != nil:
		e.DescribeErr = r.classify(err, "ecr:DescribeRepositories", repo)
	case len(out.Repositories) != 1:
		e.DescribeErr = fmt.Errorf("ECR described %d repositories named %s, want 1", len(out.Repositories), repo)
	default:
		e.Mutability = out.Repositories[0].ImageTagMutability
		for _, f := range out.Repositories[0].ImageTagMutabilityExclusionFilters {
			e.Exclusions = append(e.Exclusions, aws.ToString(f.Filter))
		}
	}
	return e
}

func (r *Retagger) wrap(err error, doing, action, repo, ref string) error {
	err = r.classify(err, action, repo)
	var ae smithy.APIError
	if errors.As(err, &ae) && isThrottle(ae.ErrorCode()) {
		return fmt.Errorf("%s %s: ECR kept throttling %s after every retry (its quotas are per account and Region, shared with every other client of the registry): %w", doing, ref, action, err)
	}
	return fmt.Errorf("%s %s: %w", doing, ref, err)
}

// classify turns ECR's errors into registry's typed errors.
func (r *Retagger) classify(err error, action, repo string) error {
	var rnf *types.RepositoryNotFoundException
	if errors.As(err, &rnf) {
		return &registry.NotFoundError{Ref: r.host + "/" + repo, Err: err}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
			"ExpiredTokenException", "InvalidClientTokenId", "MissingAuthenticationTokenException":
			return &AccessDeniedError{Registry: r.host, Region: r.region, RegistryID: r.registryID, Repository: repo, Action: action, Err: err}
		}
	}
	return err
}

func isThrottle(code string) bool {
	switch code {
	case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded":
		return true
	}
	return false
}
