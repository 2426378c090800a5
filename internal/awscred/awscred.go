// Package awscred builds the AWS configuration of each environment from
// what tier.yaml names: a shared-config profile, a role to assume (with an
// optional external ID and a session name naming the environment), or the
// names of environment variables that hold keys. Environments with the
// same settings share one configuration, loaded once (the shared config
// files read and an AWS_CA_BUNDLE parsed once, not once per environment);
// an environment that assumes a role gets its own cached credential
// provider, its session named after it, never shared with another.
package awscred

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tierdeploy/tier/config"
)

// Settings are one environment's AWS settings. Secrets are never here: only
// names of profiles, roles and environment variables.
type Settings struct {
	// Environment names the environment; the assumed role's session is
	// named after it (SessionName) so CloudTrail says who deployed where.
	Environment        string
	Region             string
	Profile            string
	RoleARN            string
	ExternalID         string
	AccessKeyIDEnv     string
	SecretAccessKeyEnv string
	SessionTokenEnv    string
}

// Cache hands out one aws.Config per distinct Settings, each with its own
// cached credentials. Settings that differ only in the environment's name
// and the role to assume share one loaded configuration. It is safe for
// concurrent use: a configuration is loaded once, and loads of different
// settings do not wait for each other.
type Cache struct {
	// Getenv reads environment variables; nil means os.Getenv.
	Getenv func(string) string
	// Endpoint, when set, sends every AWS API call there (tests' stand-in).
	Endpoint string
	// SharedConfigFiles and SharedCredentialsFiles replace ~/.aws/config
	// and ~/.aws/credentials when set (tests).
	SharedConfigFiles, SharedCredentialsFiles []string
	// MaxAttempts bounds the SDK's retries of throttled calls (10 when 0).
	MaxAttempts int

	mu sync.Mutex
	// loads holds one load per distinct loadKey, done or under way.
	loads map[loadKey]*load
	// roles holds the configuration of each Settings that assumes a role.
	roles map[Settings]aws.Config
}

// maxIdleConnsPerHost is how many idle connections to one endpoint a
// configuration keeps: as many as environments `tier status` reads at once.
const maxIdleConnsPerHost = 256

// loadKey is what a loaded configuration depends on: Settings without the
// environment's name and the role assumed on top of it.
type loadKey struct {
	Region, Profile                                     string
	AccessKeyIDEnv, SecretAccessKeyEnv, SessionTokenEnv string
}

// load is one configuration being loaded; done is closed once cfg and err
// are set.
type load struct {
	done chan struct{}
	cfg  aws.Config
	err  error
}

// Config returns the AWS configuration for s, building it once.
func (c *Cache) Config(ctx context.Context, s Settings) (aws.Config, error) {
	base, err := c.loaded(ctx, loadKey{Region: s.Region, Profile: s.Profile,
		AccessKeyIDEnv: s.AccessKeyIDEnv, SecretAccessKeyEnv: s.SecretAccessKeyEnv, SessionTokenEnv: s.SessionTokenEnv})
	if err != nil {
		return aws.Config{}, fmt.Errorf("environment %s: %w", s.Environment, err)
	}
	if s.RoleARN == "" {
		return base, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg, ok := c.roles[s]; ok {
		return cfg, nil
	}
	cfg := base.Copy()
	provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), s.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = SessionName(s.Environment)
		if s.ExternalID != "" {
			o.ExternalID = aws.String(s.ExternalID)
		}
	})
	cfg.Credentials = aws.NewCredentialsCache(provider)
	if c.roles == nil {
		c.roles = map[Settings]aws.Config{}
	}
	c.roles[s] = cfg
	return cfg, nil
}

// loaded returns the configuration of k, loading it unless another caller
// has or is. Only k's callers wait for its load. A load that ended because
// its caller's context did is forgotten, so the next caller loads again.
func (c *Cache) loaded(ctx context.Context, k loadKey) (aws.Config, error) {
	for {
		c.mu.Lock()
		l, ok := c.loads[k]
		if !ok {
			l = &load{done: make(chan struct{})}
			if c.loads == nil {
				c.loads = map[loadKey]*load{}
			}
			c.loads[k] = l
		}
		c.mu.Unlock()
		if !ok {
			l.cfg, l.err = c.build(ctx, k)
			if l.err != nil && ctx.Err() != nil {
				c.mu.Lock()
				delete(c.loads, k)
				c.mu.Unlock()
			}
			close(l.done)
			return l.cfg, l.err
		}
		select {
		case <-l.done:
		case <-ctx.Done():
			return aws.Config{}, ctx.Err()
		}
		c.mu.Lock()
		forgotten := c.loads[k] != l
		c.mu.Unlock()
		if !forgotten {
			return l.cfg, l.err
		}
	}
}

func (c *Cache) build(ctx context.Context, s loadKey) (aws.Config, error) {
	getenv := c.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	attempts := c.MaxAttempts
	if attempts == 0 {
		attempts = 10
	}
	opts := []func(*awsconfig.LoadOptions) error{
		// Many environments share a configuration, and `tier status` reads
		// them at once: keep as many connections to an endpoint as that
		// (the SDK's default keeps 10 idle and closes the rest).
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConnsPerHost = maxIdleConnsPerHost
		})),
		awsconfig.WithRetryer(func() aws.Retryer {
			// Adaptive mode backs off and rate-limits itself when AWS
			// answers ThrottlingException.
			return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
				o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) { so.MaxAttempts = attempts })
			})
		}),
	}
	if s.Region != "" {
		opts = append(opts, awsconfig.WithRegion(s.Region))
	}
	if s.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(s.Profile))
	}
	if c.SharedConfigFiles != nil {
		opts = append(opts, awsconfig.WithSharedConfigFiles(c.SharedConfigFiles))
	}
	if c.SharedCredentialsFiles != nil {
		opts = append(opts, awsconfig.WithSharedCredentialsFiles(c.SharedCredentialsFiles))
	}
	if s.AccessKeyIDEnv != "" {
		id, secret := getenv(s.AccessKeyIDEnv), getenv(s.SecretAccessKeyEnv)
		if id == "" || secret == "" {
			return aws.Config{}, fmt.Errorf("the AWS keys are read from $%s and $%s, and %s: export both (the CI secret store is the place for them)",
				s.AccessKeyIDEnv, s.SecretAccessKeyEnv, unset(getenv, s.AccessKeyIDEnv, s.SecretAccessKeyEnv))
		}
		token := ""
		if s.SessionTokenEnv != "" {
			token = getenv(s.SessionTokenEnv)
		}
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, token)))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS settings: %w", err)
	}
	if c.Endpoint != "" {
		cfg.BaseEndpoint = aws.String(c.Endpoint)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("no AWS region: set region: in its ecs block, or AWS_REGION")
	}
	return cfg, nil
}

func unset(getenv func(string) string, names ...string) string {
	var out []string
	for _, n := range names {
		if getenv(n) == "" {
			out = append(out, "$"+n)
		}
	}
	switch len(out) {
	case 1:
		return out[0] + " is not set"
	default:
		return out[0] + " and " + out[1] + " are not set"
	}
}

// maxSessionName is the longest RoleSessionName STS takes (AssumeRole,
// STS API reference: 2 to 64 characters of [\w+=,.@-]).
const maxSessionName = 64

// SessionName returns the role session name tier uses for env:
// "tier-<env>" when STS takes it. A longer name, or one with characters
// STS refuses, is made to fit, the same way every time: the characters
// outside [A-Za-z0-9_+=,.@-] become '-', the name is cut to leave room,
// and "-" and the first 8 hex digits of the SHA-256 of env are appended,
// so two long names that share a beginning still get different sessions.
func SessionName(env string) string {
	name := "tier-" + env
	if len(name) <= maxSessionName && strings.IndexFunc(name, badSessionRune) < 0 {
		return name
	}
	sum := sha256.Sum256([]byte(env))
	suffix := "-" + hex.EncodeToString(sum[:4])
	clean := strings.Map(func(r rune) rune {
		if badSessionRune(r) {
			return '-'
		}
		return r
	}, name)
	// Each refused rune became one byte, so clean is ASCII.
	return clean[:min(len(clean), maxSessionName-len(suffix))] + suffix
}

// badSessionRune reports whether STS refuses r in a role session name.
func badSessionRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("_+=,.@-", r)
}

// FromECS returns the settings of an environment's ecs block.
func FromECS(env string, e *config.ECS) Settings {
	return Settings{Environment: env, Region: e.Region, Profile: e.Profile, RoleARN: e.RoleARN, ExternalID: e.ExternalID,
		AccessKeyIDEnv: e.AccessKeyIDEnv, SecretAccessKeyEnv: e.SecretAccessKeyEnv, SessionTokenEnv: e.SessionTokenEnv}
}
