// Package config loads and validates tier.yaml, the file that names a
// project's services, its ordered tiers and the environments each tier
// deploys to.
package config

// DefaultFile is the configuration file name commands look for.
const DefaultFile = "tier.yaml"

// Config is a loaded and validated tier.yaml.
type Config struct {
	// Path is the file the configuration was read from.
	Path string
	// Registry is the host (and optional port or path prefix) of the shared
	// OCI registry, e.g. "012345678922.dkr.ecr.us-east-1.amazonaws.com".
	// Empty means the embedded registry.
	Registry string
	// StateDir is where tier keeps local state (the embedded registry's
	// storage, locks, logs), relative paths resolved against the config's
	// directory. Default ".tier".
	StateDir string
	// Services by name, in file order.
	Services []Service
	// Tiers in promotion order, lowest first.
	Tiers []Tier
	// Environments in file order.
	Environments []Environment
}

// Service is one deployable app with one image repository.
type Service struct {
	Name       string
	Repository string
	Line       int
}

// Tier is one step of the promotion ladder.
type Tier struct {
	Name string
	// Tag is the mutable tag of a mutable tier; empty for a release tier.
	Tag string
	// Release marks a tier that cuts a new immutable <name>-<UTC time> tag
	// per promotion.
	Release bool
	// From names the lower tier this tier takes builds from; may be empty.
	From string
	Line int
}

// Environment is one place a service runs: it belongs to one tier and one
// tenant and has exactly one target block.
type Environment struct {
	Name   string
	Tier   string
	Tenant string
	// Services limits the environment to these services; empty means all.
	Services []string
	Target   Target
	Line     int
}

// Target is the one deploy target of an environment: exactly one field is set.
type Target struct {
	Local      *Local
	Docker     *Docker
	Swarm      *Swarm
	ECS        *ECS
	Kubernetes *Kubernetes
}

// Kind returns the name of the target block that is set ("local", "ecs", ...).
func (t Target) Kind() string {
	switch {
	case t.Local != nil:
		return "local"
	case t.Docker != nil:
		return "docker"
	case t.Swarm != nil:
		return "swarm"
	case t.ECS != nil:
		return "ecs"
	case t.Kubernetes != nil:
		return "kubernetes"
	}
	return ""
}

// Local runs the image's entrypoint as a process on this machine.
type Local struct {
	Port int
	// Health is an HTTP path ("/healthz") or "tcp"; default "tcp".
	Health string
	Env    map[string]string
}

// Docker runs the image as a named container on a Docker engine.
type Docker struct {
	// Host is the engine address; empty means DOCKER_HOST.
	Host      string
	Container string
	Port      int
	Network   string
	Health    string
	Env       map[string]string
	// TLS names certificate files; never inline key material.
	TLSCACert string
	TLSCert   string
	TLSKey    string
}

// Swarm runs the image as a Docker Swarm service.
type Swarm struct {
	Host    string
	Service string
}

// ECS runs the image as an Amazon ECS service.
type ECS struct {
	Cluster   string
	Service   string
	Container string
	Region    string
	// Profile names a shared-config profile.
	Profile string
	// RoleARN is a role to assume with STS, with optional ExternalID.
	RoleARN    string
	ExternalID string
	// AccessKeyIDEnv and SecretAccessKeyEnv name environment variables that
	// hold keys (e.g. MB_DEV_AWS_ACCESS_KEY_ID); SessionTokenEnv is optional.
	AccessKeyIDEnv     string
	SecretAccessKeyEnv string
	SessionTokenEnv    string
	// Mode is "track-tag" or "pin"; empty picks pin for release tiers and
	// track-tag otherwise.
	Mode string
}

// Kubernetes runs the image as a container of a Deployment.
type Kubernetes struct {
	Kubeconfig string
	Context    string
	Namespace  string
	Deployment string
	Container  string
}

// Service returns the named service and whether it exists.
func (c *Config) Service(name string) (Service, bool) {
	for _, s := range c.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Tier returns the named tier and whether it exists.
func (c *Config) Tier(name string) (Tier, bool) {
	for _, t := range c.Tiers {
		if t.Name == name {
			return t, true
		}
	}
	return Tier{}, false
}

// EnvironmentsOf returns the environments of a tier, in file order.
func (c *Config) EnvironmentsOf(tier string) []Environment {
	var out []Environment
	for _, e := range c.Environments {
		if e.Tier == tier {
			out = append(out, e)
		}
	}
	return out
}

// Runs reports whether the environment runs the named service: every
// service unless its services list names some.
func (e Environment) Runs(service string) bool {
	if len(e.Services) == 0 {
		return true
	}
	for _, s := range e.Services {
		if s == service {
			return true
		}
	}
	return false
}
