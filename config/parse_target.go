package config

import "go.yaml.in/yaml/v3"

// Keys allowed in each target block.
var (
	localKeys  = []string{"port", "health", "env"}
	dockerKeys = []string{"host", "container", "port", "network", "health", "env", "tls_ca_cert", "tls_cert", "tls_key"}
	swarmKeys  = []string{"host", "service"}
	ecsKeys    = []string{"cluster", "service", "container", "region", "profile", "role_arn", "external_id",
		"access_key_id_env", "secret_access_key_env", "session_token_env", "mode"}
	kubernetesKeys = []string{"kubeconfig", "context", "namespace", "deployment", "container"}
)

// ECS deploy modes.
const (
	// ModeTrackTag forces a new deployment of a task definition that names
	// the tier's mutable tag.
	ModeTrackTag = "track-tag"
	// ModePin registers a task definition revision pinned to the digest.
	ModePin = "pin"
)

// DefaultHealth is the health check of a local target that names none.
const DefaultHealth = "tcp"

const healthFix = `use an HTTP path such as "/healthz", or "tcp" to wait for the port to accept connections`

// required reports a missing or empty required key of a target block.
func (p *parser) required(f map[string]pair, g pair, key, what, example string) (string, bool) {
	s, ok := p.str(f, key, what)
	if ok && s != "" {
		return s, true
	}
	if pr, present := f[key]; present {
		if v := resolve(pr.val); v != nil && v.Kind != yaml.ScalarNode {
			return "", false // reported by str
		}
		p.add(pr.val, "set it, for example "+key+": "+example, "%s is empty", join(what, key))
		return "", false
	}
	p.add(g.key, "add "+key+": "+example, "%s is required", join(what, key))
	return "", false
}

// port reads a TCP port.
func (p *parser) port(f map[string]pair, key, what string) (int, bool) {
	n, ok := p.integer(f, key, what)
	if ok && (n < 1 || n > 65535) {
		p.add(f[key].val, "use a port from 1 to 65535", "%s %d is out of range", join(what, key), n)
		return 0, false
	}
	return n, ok
}

// health reads a health check: an HTTP path or "tcp".
func (p *parser) health(f map[string]pair, what string) (string, bool) {
	h, ok := p.str(f, "health", what)
	if ok && !checkHealth(h) {
		p.add(f["health"].val, healthFix, "%s %s is not a path or tcp", join(what, "health"), p.quote(h))
		return "", false
	}
	return h, ok
}

func (p *parser) local(g pair, what, env string, ports map[int]string) *Local {
	f, ok := p.fields(g.val, what, "{port: 8081, health: /healthz}", localKeys)
	if !ok {
		return &Local{Health: DefaultHealth}
	}
	l := &Local{Health: DefaultHealth}
	if port, ok := p.port(f, "port", what); ok {
		if other, dup := ports[port]; dup {
			p.add(f["port"].val, "give each local environment its own port", "%s %d is already used by environment %s", join(what, "port"), port, p.quote(other))
		} else {
			ports[port] = env
		}
		l.Port = port
	} else if _, present := f["port"]; !present || isNull(resolve(f["port"].val)) {
		at := g.key
		if present {
			at = f["port"].val
		}
		p.add(at, "add port: 8081 (the port the process listens on)", "%s is required", join(what, "port"))
	}
	if h, ok := p.health(f, what); ok {
		l.Health = h
	}
	l.Env = p.stringMap(f, "env", what)
	return l
}

func (p *parser) docker(g pair, what string) *Docker {
	f, ok := p.fields(g.val, what, "{container: api}", dockerKeys)
	if !ok {
		return &Docker{}
	}
	d := &Docker{}
	if c, ok := p.required(f, g, "container", what, "api"); ok {
		if !containerName.MatchString(c) {
			p.add(f["container"].val, "use letters, digits, '_', '.' and '-', starting with a letter or digit", "%s %s is not a valid container name", join(what, "container"), p.quote(c))
		}
		d.Container = c
	}
	if h, ok := p.str(f, "host", what); ok {
		if !checkDockerHost(h) {
			p.add(f["host"].val, "use unix:///var/run/docker.sock, tcp://HOST:2376 or ssh://USER@HOST, or omit host for DOCKER_HOST", "%s %s is not a Docker engine address", join(what, "host"), p.quote(h))
		}
		d.Host = h
	}
	d.Port, _ = p.port(f, "port", what)
	d.Network, _ = p.str(f, "network", what)
	d.Health, _ = p.health(f, what)
	d.Env = p.stringMap(f, "env", what)
	d.TLSCACert, _ = p.str(f, "tls_ca_cert", what)
	d.TLSCert, _ = p.str(f, "tls_cert", what)
	d.TLSKey, _ = p.str(f, "tls_key", what)
	if (d.TLSCert == "") != (d.TLSKey == "") {
		at := f["tls_cert"].key
		if d.TLSCert == "" {
			at = f["tls_key"].key
		}
		if at != nil {
			p.add(at, "give both tls_cert and tls_key (paths to PEM files)", "%s: tls_cert and tls_key go together", what)
		}
	}
	return d
}

func (p *parser) swarm(g pair, what string) *Swarm {
	f, ok := p.fields(g.val, what, "{service: api}", swarmKeys)
	if !ok {
		return &Swarm{}
	}
	s := &Swarm{}
	s.Service, _ = p.required(f, g, "service", what, "api")
	if h, ok := p.str(f, "host", what); ok {
		if !checkDockerHost(h) {
			p.add(f["host"].val, "use unix:///var/run/docker.sock, tcp://HOST:2376 or ssh://USER@HOST, or omit host for DOCKER_HOST", "%s %s is not a Docker engine address", join(what, "host"), p.quote(h))
		}
		s.Host = h
	}
	return s
}

func (p *parser) ecs(g pair, what string, tier *Tier) *ECS {
	f, ok := p.fields(g.val, what, "{cluster: api, service: api, profile: dev}", ecsKeys)
	if !ok {
		return &ECS{}
	}
	e := &ECS{}
	e.Cluster, _ = p.required(f, g, "cluster", what, "api")
	e.Service, _ = p.required(f, g, "service", what, "api")
	e.Container, _ = p.str(f, "container", what)
	if r, ok := p.str(f, "region", what); ok {
		if !awsRegion.MatchString(r) {
			p.add(f["region"].val, "use a region code such as us-east-1, or omit region to use the profile's", "%s %s is not an AWS region", join(what, "region"), p.quote(r))
		}
		e.Region = r
	}
	e.Profile, _ = p.str(f, "profile", what)
	if a, ok := p.str(f, "role_arn", what); ok {
		if !roleARN.MatchString(a) {
			p.add(f["role_arn"].val, "use arn:aws:iam::ACCOUNT_ID:role/NAME", "%s %s is not an IAM role ARN", join(what, "role_arn"), p.quote(a))
		}
		e.RoleARN = a
	}
	if x, ok := p.str(f, "external_id", what); ok {
		if e.RoleARN == "" {
			p.add(f["external_id"].key, "add role_arn: the external ID is sent when assuming that role", "%s: external_id needs role_arn", what)
		}
		e.ExternalID = x
	}
	e.AccessKeyIDEnv = p.envRef(f, "access_key_id_env", what)
	e.SecretAccessKeyEnv = p.envRef(f, "secret_access_key_env", what)
	e.SessionTokenEnv = p.envRef(f, "session_token_env", what)
	_, hasID := f["access_key_id_env"]
	_, hasSecret := f["secret_access_key_env"]
	switch {
	case hasID && !hasSecret:
		p.add(f["access_key_id_env"].key, "add secret_access_key_env: NAME_OF_ENV_VAR (for example MB_DEV_AWS_SECRET_ACCESS_KEY)", "%s: access_key_id_env needs secret_access_key_env", what)
	case hasSecret && !hasID:
		p.add(f["secret_access_key_env"].key, "add access_key_id_env: NAME_OF_ENV_VAR (for example MB_DEV_AWS_ACCESS_KEY_ID)", "%s: secret_access_key_env needs access_key_id_env", what)
	}
	if _, ok := f["session_token_env"]; ok && !hasID && !hasSecret {
		p.add(f["session_token_env"].key, "add access_key_id_env and secret_access_key_env, or remove session_token_env", "%s: session_token_env needs access_key_id_env and secret_access_key_env", what)
	}
	if _, ok := f["profile"]; ok && (hasID || hasSecret) {
		at := f["access_key_id_env"].key
		if !hasID {
			at = f["secret_access_key_env"].key
		}
		p.add(at, "use either profile or access_key_id_env/secret_access_key_env (role_arn may go with either)", "%s: profile and access keys are both given", what)
	}
	if m, ok := p.str(f, "mode", what); ok {
		switch {
		case m != ModeTrackTag && m != ModePin:
			p.add(f["mode"].val, "use mode: track-tag or mode: pin, or omit mode", "%s %s is not a deploy mode", join(what, "mode"), p.quote(m))
		case m == ModeTrackTag && tier != nil && tier.Release:
			p.add(f["mode"].val, "use mode: pin or omit mode", "%s: mode track-tag needs a mutable tag, but tier %s cuts release tags", what, p.quote(tier.Name))
		default:
			e.Mode = m
		}
	}
	return e
}

// envRef reads the name of an environment variable.
func (p *parser) envRef(f map[string]pair, key, what string) string {
	s, ok := p.str(f, key, what)
	if !ok {
		if pr, present := f[key]; present && isNull(resolve(pr.val)) {
			p.add(pr.val, "name an environment variable, for example "+key+": MB_DEV_AWS_ACCESS_KEY_ID", "%s is empty", join(what, key))
		}
		return ""
	}
	if !envName.MatchString(s) && !p.secrets[resolve(f[key].val)] {
		p.add(f[key].val, "name the environment variable that holds the value (letters, digits and '_', not starting with a digit), not the value itself", "%s %s is not an environment variable name", join(what, key), p.quote(s))
		return ""
	}
	return s
}

func (p *parser) kubernetes(g pair, what string) *Kubernetes {
	f, ok := p.fields(g.val, what, "{deployment: api, namespace: default}", kubernetesKeys)
	if !ok {
		return &Kubernetes{}
	}
	k := &Kubernetes{}
	if d, ok := p.required(f, g, "deployment", what, "api"); ok {
		if len(d) > 253 || !dnsSubdomain.MatchString(d) {
			p.add(f["deployment"].val, "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", "%s %s is not a valid Deployment name", join(what, "deployment"), p.quote(d))
		}
		k.Deployment = d
	}
	if n, ok := p.str(f, "namespace", what); ok {
		if len(n) > 63 || !dnsLabel.MatchString(n) {
			p.add(f["namespace"].val, "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters", "%s %s is not a valid namespace", join(what, "namespace"), p.quote(n))
		}
		k.Namespace = n
	}
	if c, ok := p.str(f, "container", what); ok {
		if len(c) > 63 || !dnsLabel.MatchString(c) {
			p.add(f["container"].val, "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters", "%s %s is not a valid container name", join(what, "container"), p.quote(c))
		}
		k.Container = c
	}
	k.Kubeconfig, _ = p.str(f, "kubeconfig", what)
	k.Context, _ = p.str(f, "context", what)
	return k
}
