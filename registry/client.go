// Package registry is tier's client for OCI registries: it resolves tags,
// moves tags by copying manifest bytes (fetched by digest, or kept from
// resolving a tag), lists tags, reads build annotations and writes images,
// with retries, typed errors and credentials from the Docker config and the
// ECR credential helper.
package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"

	ecr "github.com/awslabs/amazon-ecr-credential-helper/ecr-login"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tierdeploy/tier/tags"
)

// Options configure a Client. The zero value is ready to use.
type Options struct {
	// Keychain supplies credentials; nil means the Docker config keychain,
	// plus the ECR credential helper for ECR hosts.
	Keychain authn.Keychain
	// Transport is the base HTTP transport; nil means a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Retry is the retry policy for 429 and 5xx answers.
	Retry Retry
	// UserAgent is sent with every request.
	UserAgent string
	// Log, when set, gets a debug record of every HTTP request the client
	// sends (method, host, path, status, duration and retry number; never
	// headers, query strings or bodies, which carry credentials) and an
	// info record of every retry with its reason.
	Log *slog.Logger
	// Retagger, when set, moves tags for Retag instead of the OCI manifest
	// copy. Set it for registries whose own API must move tags: Amazon ECR
	// (registry/ecr), whose PutImage has its own rate quota, typed errors
	// and tag-mutability settings. Every other method still speaks the OCI
	// distribution API.
	Retagger Retagger
}

// Retagger points tag at digest in repo (the repository's full name in the
// registry, path prefix of the host included) through a registry's own
// API, reads the tag back, and returns the typed errors of this package
// (*NotFoundError, *TagImmutableError, *MismatchError, ...) or errors that
// match them with errors.As.
type Retagger interface {
	Retag(ctx context.Context, repo string, digest v1.Hash, tag string) error
}

// Client talks to one registry host.
type Client struct {
	host string
	// puller and pusher keep token exchanges and pings per repository for
	// the client's life, so one command pings a registry once, not once
	// per request.
	puller *remote.Puller
	pusher *remote.Pusher
	// retagger, when set, does what Retag does through the registry's own
	// API.
	retagger Retagger
}

var ecrHost = regexp.MustCompile(`^\d{12}\.dkr(-fips)?\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// IsECR reports whether host is an Amazon ECR private registry.
func IsECR(host string) bool {
	h, _, _ := strings.Cut(host, "/")
	return ecrHost.MatchString(h)
}

// New returns a client for host, which may carry a port and a path prefix
// ("127.0.0.1:5000", "ghcr.io/acme").
func New(host string, o Options) (*Client, error) {
	if host == "" {
		return nil, fmt.Errorf("no registry host given")
	}
	h, prefix, hasPrefix := strings.Cut(host, "/")
	why := checkHost(h)
	if why == "" && hasPrefix {
		why = checkPath(prefix)
	}
	if why != "" {
		return nil, fmt.Errorf("registry %q is not HOST[:PORT][/PATH]: %s", Clip(host), why)
	}
	if _, err := name.NewRegistry(h); err != nil {
		return nil, fmt.Errorf("registry %q is not HOST[:PORT][/PATH]", Clip(host))
	}
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
		if IsECR(host) {
			kc = authn.NewMultiKeychain(authn.NewKeychainFromHelper(ecr.NewECRHelper(ecr.WithLogger(io.Discard))), authn.DefaultKeychain)
		}
	}
	base := o.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	ua := cmp.Or(o.UserAgent, "tier")
	var rt http.RoundTripper = &retryTransport{next: &loopbackOnlyHTTP{next: base}, policy: o.Retry.withDefaults(), log: o.Log}
	rt = &pingCache{next: rt}
	opts := []remote.Option{
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(rt),
		remote.WithUserAgent(ua),
		// Our transport retries 429 and 5xx itself, honouring Retry-After.
		remote.WithRetryStatusCodes(),
	}
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, err
	}
	return &Client{host: host, puller: puller, pusher: pusher, retagger: o.Retagger}, nil
}

// Host returns the registry host the client talks to.
func (c *Client) Host() string { return c.host }

// Repository returns the full name of repo on this registry. A repo that
// is not a repository path (a ".." component, upper case, ...) is refused.
func (c *Client) Repository(repo string) (name.Repository, error) {
	if why := checkPath(repo); why != "" {
		return name.Repository{}, fmt.Errorf("repository %q is not a repository name: %s", Clip(repo), why)
	}
	full := c.host + "/" + repo
	if len(full) > maxName {
		return name.Repository{}, fmt.Errorf("repository %q is not a repository name: with the registry it is %d characters long; at most %d are allowed", Clip(repo), len(full), maxName)
	}
	r, err := name.NewRepository(full)
	if err != nil {
		return name.Repository{}, fmt.Errorf("repository %q is not a repository name", Clip(repo))
	}
	return r, nil
}

// Name returns host/repo.
func (c *Client) Name(repo string) string { return c.host + "/" + repo }

// Ref returns host/repo:tag or host/repo@digest for display; host/repo
// when ref is empty.
func (c *Client) Ref(repo, ref string) string {
	switch {
	case ref == "":
		return c.Name(repo)
	case strings.HasPrefix(ref, "sha256:"):
		return c.host + "/" + repo + "@" + ref
	}
	return c.host + "/" + repo + ":" + ref
}

func (c *Client) options(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.Reuse(c.puller), remote.Reuse(c.pusher)}
}

// Options returns go-containerregistry options carrying the client's
// credentials, transport and retry policy, for callers that need the
// library directly.
func (c *Client) Options(ctx context.Context) []remote.Option { return c.options(ctx) }

func (c *Client) reference(repo, ref string) (name.Reference, error) {
	r, err := c.Repository(repo)
	if err != nil {
		return nil, err
	}
	if strings.Contains(ref, ":") {
		d, err := name.NewDigest(r.Name() + "@" + ref)
		if err != nil {
			return nil, fmt.Errorf("digest %q is not sha256:<64 hex digits>", Clip(ref))
		}
		return d, nil
	}
	if len(ref) > tags.MaxLen {
		// tags.Validate would repeat all of it.
		return nil, fmt.Errorf("%w: %q is %d characters long; a tag has at most %d", tags.ErrInvalid, Clip(ref), len(ref), tags.MaxLen)
	}
	if err := tags.Validate(ref); err != nil {
		return nil, err
	}
	return r.Tag(ref), nil
}

// Head resolves ref (a tag or a digest) in repo to its descriptor with one
// HEAD request.
func (c *Client) Head(ctx context.Context, repo, ref string) (v1.Descriptor, error) {
	r, err := c.reference(repo, ref)
	if err != nil {
		return v1.Descriptor{}, err
	}
	d, err := remote.Head(r, c.options(ctx)...)
	if err != nil {
		return v1.Descriptor{}, c.wrap(err, "resolving", repo, ref, "")
	}
	return *d, nil
}

// Manifest fetches the manifest of digest in repo. It always fetches by
// digest: some registries convert manifests when fetched by tag.
func (c *Client) Manifest(ctx context.Context, repo string, digest v1.Hash) (*remote.Descriptor, error) {
	r, err := c.reference(repo, digest.String())
	if err != nil {
		return nil, err
	}
	d, err := remote.Get(r, c.options(ctx)...)
	if err != nil {
		return nil, c.wrap(err, "fetching", repo, digest.String(), "")
	}
	return d, nil
}

// Get fetches the manifest ref (a tag or a digest) names in repo, as the
// registry serves it: for copying an image from another registry.
func (c *Client) Get(ctx context.Context, repo, ref string) (*remote.Descriptor, error) {
	r, err := c.reference(repo, ref)
	if err != nil {
		return nil, err
	}
	d, err := remote.Get(r, c.options(ctx)...)
	if err != nil {
		return nil, c.wrap(err, "fetching", repo, ref, "")
	}
	return d, nil
}

// Retag points tag at digest in repo by copying the manifest bytes fetched by
// digest, with their media type, then reads the tag back and checks it
// resolves to digest. No layer is read or written. With Options.Retagger
// set, the Retagger does all of this through the registry's own API.
func (c *Client) Retag(ctx context.Context, repo string, digest v1.Hash, tag string) error {
	if c.retagger != nil {
		if err := tags.Validate(tag); err != nil {
			return err
		}
		r, err := c.Repository(repo)
		if err != nil {
			return err
		}
		return c.retagger.Retag(ctx, r.RepositoryStr(), digest, tag)
	}
	desc, err := c.Manifest(ctx, repo, digest)
	if err != nil {
		return err
	}
	return c.RetagManifest(ctx, repo, desc, tag)
}

// RetagManifest is Retag for a manifest the caller already fetched (by
// digest, or by tag with the digest of the bytes it got), so a promotion
// that read the build's manifest does not fetch it again. With
// Options.Retagger set, the Retagger moves the tag to desc.Digest and the
// bytes are not used.
func (c *Client) RetagManifest(ctx context.Context, repo string, desc *remote.Descriptor, tag string) error {
	digest := desc.Digest
	r, err := c.Repository(repo)
	if err != nil {
		return err
	}
	if c.retagger != nil {
		if err := tags.Validate(tag); err != nil {
			return err
		}
		return c.retagger.Retag(ctx, r.RepositoryStr(), digest, tag)
	}
	if err := remote.Put(r.Tag(tag), desc, c.options(ctx)...); err != nil {
		return c.wrap(err, "tagging", repo, digest.String(), tag)
	}
	back, err := c.Head(ctx, repo, tag)
	if err != nil {
		return fmt.Errorf("reading back %s: %w", c.Ref(repo, tag), err)
	}
	if back.Digest != digest {
		return &MismatchError{Ref: c.Ref(repo, tag), Want: digest, Got: back.Digest}
	}
	return nil
}

// MismatchError says a tag read back after writing points elsewhere: the
// registry rewrote the manifest, or someone moved the tag meanwhile.
type MismatchError struct {
	Ref       string
	Want, Got v1.Hash
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s resolves to %s after tagging, not %s: the registry changed the manifest or another process moved the tag; run the command again", e.Ref, e.Got, e.Want)
}

// Tags lists the tags of repo. A repository that does not exist yet has no
// tags.
func (c *Client) Tags(ctx context.Context, repo string) ([]string, error) {
	r, err := c.Repository(repo)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(r, c.options(ctx)...)
	if err != nil {
		err = c.wrap(err, "listing tags of", repo, "", "")
		var nf *NotFoundError
		if errors.As(err, &nf) {
			return nil, nil
		}
		return nil, err
	}
	return tags, nil
}

// Write pushes an image or index (layers, config, manifest) to repo:tag and
// returns its digest.
func (c *Client) Write(ctx context.Context, repo, tag string, t remote.Taggable) (v1.Hash, error) {
	r, err := c.Repository(repo)
	if err != nil {
		return v1.Hash{}, err
	}
	var dig v1.Hash
	switch v := t.(type) {
	case v1.Image:
		if dig, err = v.Digest(); err == nil {
			err = remote.Write(r.Tag(tag), v, c.options(ctx)...)
		}
	case v1.ImageIndex:
		if dig, err = v.Digest(); err == nil {
			err = remote.WriteIndex(r.Tag(tag), v, c.options(ctx)...)
		}
	default:
		return v1.Hash{}, fmt.Errorf("writing %T: not an image or an index", t)
	}
	if err != nil {
		return v1.Hash{}, c.wrap(err, "pushing", repo, tag, tag)
	}
	return dig, nil
}

// wrap says what was being done to ref in repo (to repo itself when ref
// is empty) and turns the registry's answer into a typed error.
func (c *Client) wrap(err error, doing, repo, ref, tag string) error {
	full := repo
	if r, rerr := c.Repository(repo); rerr == nil {
		full = r.Name()
	}
	what := c.Ref(repo, ref)
	return fmt.Errorf("%s %s: %w", doing, what, classify(err, c.host, full, what, tag))
}

// loopbackOnlyHTTP refuses plain-HTTP requests to anything but loopback.
type loopbackOnlyHTTP struct{ next http.RoundTripper }

func (l *loopbackOnlyHTTP) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !IsLoopback(req.URL.Host) {
		return nil, &PlainHTTPError{Host: req.URL.Host}
	}
	return l.next.RoundTrip(req)
}

// IsLoopback reports whether hostport names this machine: localhost or a
// loopback IP address.
func IsLoopback(hostport string) bool {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
