package ecr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/tags"
)

// Manifest media types.
const (
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	ociManifest        = "application/vnd.oci.image.manifest.v1+json"
	ociIndex           = "application/vnd.oci.image.index.v1+json"
)

// AcceptedMediaTypes are what BatchGetImage is told to accept when
// DescribeImages names no manifest media type: the valid values of
// acceptedMediaTypes the API reference lists, but Docker schema 1, which
// tier never writes. Otherwise BatchGetImage accepts exactly the media type
// the image is stored with.
var AcceptedMediaTypes = []string{dockerManifest, ociManifest}

// Read-back defaults: ReadBackAttempts reads, the first wait
// ReadBackDelay, doubling up to maxReadBackDelay.
const (
	DefaultReadBackAttempts = 5
	DefaultReadBackDelay    = 200 * time.Millisecond
	maxReadBackDelay        = 2 * time.Second
)

// maxManifest is the largest manifest PutImage takes (4 MiB).
const maxManifest = 4 << 20

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
	// ReadBackAttempts bounds the reads of a tag after PutImage: a read
	// that does not show the digest yet (the tag missing, or on its old
	// image) is tried again ReadBackDelay later, the delay doubling up to
	// 2 s, before the write counts as superseded. 0 means
	// DefaultReadBackAttempts and DefaultReadBackDelay.
	ReadBackAttempts int
	ReadBackDelay    time.Duration
	// Sleep waits between reads; nil means a timer that ends early with
	// ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Transport carries the registry API request made when BatchGetImage
	// refuses an image's media type (GET /v2/<repository>/manifests/<digest>
	// on the registry host); nil means http.DefaultTransport.
	Transport http.RoundTripper
}

// api is the part of the ECR API a Retagger calls; *ecr.Client has it.
type api interface {
	BatchGetImage(context.Context, *awsecr.BatchGetImageInput, ...func(*awsecr.Options)) (*awsecr.BatchGetImageOutput, error)
	PutImage(context.Context, *awsecr.PutImageInput, ...func(*awsecr.Options)) (*awsecr.PutImageOutput, error)
	DescribeImages(context.Context, *awsecr.DescribeImagesInput, ...func(*awsecr.Options)) (*awsecr.DescribeImagesOutput, error)
	DescribeRepositories(context.Context, *awsecr.DescribeRepositoriesInput, ...func(*awsecr.Options)) (*awsecr.DescribeRepositoriesOutput, error)
	GetAuthorizationToken(context.Context, *awsecr.GetAuthorizationTokenInput, ...func(*awsecr.Options)) (*awsecr.GetAuthorizationTokenOutput, error)
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
	http       *http.Client
	reads      int
	delay      time.Duration
	sleep      func(context.Context, time.Duration) error
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
	reads, delay := o.ReadBackAttempts, o.ReadBackDelay
	if reads <= 0 {
		reads = DefaultReadBackAttempts
	}
	if delay <= 0 {
		delay = DefaultReadBackDelay
	}
	wait := o.Sleep
	if wait == nil {
		wait = sleep
	}
	return &Retagger{api: client, registryID: registryID, region: cfg.Region, host: host, limiter: lim,
		http: &http.Client{Transport: o.Transport}, reads: reads, delay: delay, sleep: wait}
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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
//
// When ECR refuses because the repository keeps the tag
// (ImageTagAlreadyExistsException), Retag reads the tag: if it already
// points at digest (ECR refuses a kept tag even with the digest it has) the
// retag is done; otherwise the error is a *TagExistsError naming the image
// the tag points at.
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
		return r.taken(ctx, repo, digest, tag, err)
	default:
		return r.wrap(err, "tagging", "ecr:PutImage", repo, r.ref(repo, tag))
	}
	return r.readBack(ctx, repo, digest, tag)
}

// manifest fetches the manifest of digest by digest, as stored, and checks
// its bytes hash to it. BatchGetImage is asked for the media type
// DescribeImages gives; when it refuses that type (a manifest list or an
// image index, which its API reference does not list), the manifest is read
// through the registry API instead.
func (r *Retagger) manifest(ctx context.Context, repo string, digest v1.Hash) (manifest, mediaType string, err error) {
	ref := r.ref(repo, digest.String())
	stored, err := r.mediaType(ctx, repo, digest)
	if err != nil {
		return "", "", err
	}
	accepted := AcceptedMediaTypes
	if stored != "" {
		accepted = []string{stored}
	}
	out, err := r.api.BatchGetImage(ctx, &awsecr.BatchGetImageInput{
		RegistryId:         aws.String(r.registryID),
		RepositoryName:     aws.String(repo),
		ImageIds:           []types.ImageIdentifier{{ImageDigest: aws.String(digest.String())}},
		AcceptedMediaTypes: accepted,
	})
	var invalid *types.InvalidParameterException
	switch {
	case errors.As(err, &invalid):
		var berr error
		manifest, mediaType, berr = r.registryManifest(ctx, repo, digest)
		if berr != nil {
			return "", "", fmt.Errorf("fetching %s: ECR's BatchGetImage refused media type %s (%v), and the registry API: %w", ref, stored, err, berr)
		}
	case err != nil:
		return "", "", r.wrap(err, "fetching", "ecr:BatchGetImage", repo, ref)
	default:
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
	}
	sum := sha256.Sum256([]byte(manifest))
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != digest.String() {
		return "", "", fmt.Errorf("fetching %s: ECR returned a %s manifest whose digest is %s: it converted the stored manifest, so tier will not write it under a tag", ref, mediaType, got)
	}
	if mediaType == "" {
		return "", "", fmt.Errorf("fetching %s: ECR returned no manifest media type", ref)
	}
	return manifest, mediaType, nil
}

// mediaType returns the manifest media type DescribeImages gives for
// digest ("" when it gives none).
func (r *Retagger) mediaType(ctx context.Context, repo string, digest v1.Hash) (string, error) {
	ref := r.ref(repo, digest.String())
	out, err := r.api.DescribeImages(ctx, &awsecr.DescribeImagesInput{
		RegistryId:     aws.String(r.registryID),
		RepositoryName: aws.String(repo),
		ImageIds:       []types.ImageIdentifier{{ImageDigest: aws.String(digest.String())}},
	})
	var nf *types.ImageNotFoundException
	switch {
	case errors.As(err, &nf):
		return "", fmt.Errorf("describing %s: %w", ref, &registry.NotFoundError{Ref: ref, Err: err})
	case err != nil:
		return "", r.wrap(err, "describing", "ecr:DescribeImages", repo, ref)
	case len(out.ImageDetails) != 1:
		return "", fmt.Errorf("describing %s: ECR described %d images, want 1", ref, len(out.ImageDetails))
	}
	return aws.ToString(out.ImageDetails[0].ImageManifestMediaType), nil
}

// registryManifest reads the manifest of digest through the registry API
// (GET /v2/<repo>/manifests/<digest>), authenticated with an ECR
// authorization token (basic auth, user AWS), as a pull by digest does: ECR
// serves a manifest asked for by digest as stored.
func (r *Retagger) registryManifest(ctx context.Context, repo string, digest v1.Hash) (manifest, mediaType string, err error) {
	tok, err := r.api.GetAuthorizationToken(ctx, &awsecr.GetAuthorizationTokenInput{})
	if err != nil {
		return "", "", r.classify(err, "ecr:GetAuthorizationToken", repo)
	}
	if len(tok.AuthorizationData) == 0 || aws.ToString(tok.AuthorizationData[0].AuthorizationToken) == "" {
		return "", "", errors.New("GetAuthorizationToken returned no token")
	}
	u := "https://" + r.host + "/v2/" + repo + "/manifests/" + digest.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Authorization", "Basic "+aws.ToString(tok.AuthorizationData[0].AuthorizationToken))
	req.Header.Set("Accept", strings.Join([]string{ociIndex, dockerManifestList, ociManifest, dockerManifest}, ", "))
	resp, err := r.http.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		return "", "", fmt.Errorf("GET %s: %w", u, err)
	}
	herr := fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body[:min(len(body), 512)])))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", "", &registry.NotFoundError{Ref: r.ref(repo, digest.String()), Err: herr}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", "", &AccessDeniedError{Registry: r.host, Region: r.region, RegistryID: r.registryID, Repository: repo, Action: "ecr:BatchGetImage", Err: herr}
	case resp.StatusCode != http.StatusOK:
		return "", "", herr
	case len(body) > maxManifest:
		return "", "", fmt.Errorf("GET %s: the manifest is over %d bytes", u, maxManifest)
	}
	mediaType, _, _ = mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mediaType == "" || mediaType == "application/json" {
		var m struct {
			MediaType string `json:"mediaType"`
		}
		if json.Unmarshal(body, &m) == nil {
			mediaType = m.MediaType
		}
	}
	return string(body), mediaType, nil
}

// readBack checks that tag resolves to digest, reading it again while it
// does not yet (a read may lag the write).
func (r *Retagger) readBack(ctx context.Context, repo string, digest v1.Hash, tag string) error {
	ref := r.ref(repo, tag)
	var got v1.Hash
	var missing error
	for attempt := 1; ; attempt++ {
		d, err := r.describeTag(ctx, repo, tag)
		var nf *registry.NotFoundError
		switch {
		case err == nil && d == digest:
			return nil
		case err == nil:
			got, missing = d, nil
		case errors.As(err, &nf):
			missing = err
		default:
			return fmt.Errorf("reading back %s: %w", ref, err)
		}
		if attempt == r.reads {
			break
		}
		if err := r.sleep(ctx, r.wait(attempt)); err != nil {
			return fmt.Errorf("reading back %s: %w", ref, err)
		}
	}
	if missing != nil {
		return fmt.Errorf("reading back %s after %d reads: %w", ref, r.reads, missing)
	}
	return &registry.MismatchError{Ref: ref, Want: digest, Got: got}
}

// wait is the delay after the attempt-th read.
func (r *Retagger) wait(attempt int) time.Duration {
	d := r.delay
	for i := 1; i < attempt && d < maxReadBackDelay; i++ {
		d *= 2
	}
	return min(d, maxReadBackDelay)
}

// describeTag returns the digest tag points at; a tag that does not exist
// is a *registry.NotFoundError.
func (r *Retagger) describeTag(ctx context.Context, repo, tag string) (v1.Hash, error) {
	ref := r.ref(repo, tag)
	out, err := r.api.DescribeImages(ctx, &awsecr.DescribeImagesInput{
		RegistryId:     aws.String(r.registryID),
		RepositoryName: aws.String(repo),
		ImageIds:       []types.ImageIdentifier{{ImageTag: aws.String(tag)}},
	})
	if err != nil {
		var nf *types.ImageNotFoundException
		if errors.As(err, &nf) {
			return v1.Hash{}, &registry.NotFoundError{Ref: ref, Err: err}
		}
		return v1.Hash{}, r.classify(err, "ecr:DescribeImages", repo)
	}
	if len(out.ImageDetails) != 1 {
		return v1.Hash{}, fmt.Errorf("ECR described %d images, want 1", len(out.ImageDetails))
	}
	return v1.NewHash(aws.ToString(out.ImageDetails[0].ImageDigest))
}

// taken handles ImageTagAlreadyExistsException: the repository keeps tag.
// If tag already points at digest the retag is done; otherwise the result
// is a *TagExistsError. A tag not visible yet is read again, as in
// readBack.
func (r *Retagger) taken(ctx context.Context, repo string, digest v1.Hash, tag string, putErr error) error {
	ref := r.ref(repo, tag)
	var holder v1.Hash
	var err error
	for attempt := 1; ; attempt++ {
		holder, err = r.describeTag(ctx, repo, tag)
		var nf *registry.NotFoundError
		if !errors.As(err, &nf) || attempt == r.reads {
			break
		}
		if err := r.sleep(ctx, r.wait(attempt)); err != nil {
			return errors.Join(r.mutabilityError(ctx, repo, digest, tag, putErr), fmt.Errorf("reading back %s: %w", ref, err))
		}
	}
	switch {
	case err != nil:
		return errors.Join(r.mutabilityError(ctx, repo, digest, tag, putErr), fmt.Errorf("reading back %s: %w", ref, err))
	case holder == digest:
		return nil
	}
	return &TagExistsError{Registry: r.host, Repository: repo, Tag: tag, Digest: digest, Holder: holder,
		Setting: r.mutabilityError(ctx, repo, digest, tag, putErr)}
}

// mutabilityError reads the repository's tag mutability to say which
// setting keeps tag from moving.
func (r *Retagger) mutabilityError(ctx context.Context, repo string, digest v1.Hash, tag string, putErr error) *TagMutabilityError {
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
