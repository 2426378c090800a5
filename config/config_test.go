package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const full = `registry: 012345678922.dkr.ecr.us-east-1.amazonaws.com
state_dir: /var/lib/tier
services:
  api: {repository: team/api}
  worker: {}
tiers:
  - {name: dev, tag: dev}
  - {name: staging, tag: staging, from: dev}
  - {name: prod, release: true, from: staging}
environments:
  dev:
    tier: dev
    services: [api]
    local: {port: 8080, health: /healthz, env: {K: V, EMPTY: ~}}
  mb-dev:
    tier: dev
    tenant: mb
    ecs:
      cluster: api
      service: api
      container: app
      region: us-east-1
      role_arn: "arn:aws:iam::210987654321:role/deployer"
      external_id: xyz
      access_key_id_env: MB_DEV_AWS_ACCESS_KEY_ID
      secret_access_key_env: MB_DEV_AWS_SECRET_ACCESS_KEY
      session_token_env: MB_DEV_AWS_SESSION_TOKEN
      mode: track-tag
  staging:
    tier: staging
    services: [api]
    docker:
      host: tcp://docker.internal:2376
      container: api
      port: 9000
      network: web
      env: {A: "1"}
      tls_ca_cert: ca.pem
      tls_cert: cert.pem
      tls_key: key.pem
  mb-staging: {tier: staging, tenant: mb, swarm: {host: "ssh://deploy@mb", service: api}}
  prod:
    tier: prod
    kubernetes: {kubeconfig: ~/.kube/config, context: prod, namespace: api, deployment: api, container: api}
`

func TestParseFull(t *testing.T) {
	c, err := Parse("conf/tier.yaml", []byte(full))
	if err != nil {
		t.Fatalf("Parse(full) = %v, want no error", err)
	}
	want := &Config{
		Path:     "conf/tier.yaml",
		Registry: "012345678922.dkr.ecr.us-east-1.amazonaws.com",
		StateDir: "/var/lib/tier",
		Services: []Service{
			{Name: "api", Repository: "team/api", Line: 4},
			{Name: "worker", Repository: "worker", Line: 5},
		},
		Tiers: []Tier{
			{Name: "dev", Tag: "dev", Line: 7},
			{Name: "staging", Tag: "staging", From: "dev", Line: 8},
			{Name: "prod", Release: true, From: "staging", Line: 9},
		},
		Environments: []Environment{
			{Name: "dev", Tier: "dev", Tenant: "default", Services: []string{"api"}, Line: 11, Target: Target{
				Local: &Local{Port: 8080, Health: "/healthz", Env: map[string]string{"K": "V", "EMPTY": ""}},
			}},
			{Name: "mb-dev", Tier: "dev", Tenant: "mb", Line: 15, Target: Target{ECS: &ECS{
				Cluster: "api", Service: "api", Container: "app", Region: "us-east-1",
				RoleARN: "arn:aws:iam::210987654321:role/deployer", ExternalID: "xyz",
				AccessKeyIDEnv: "MB_DEV_AWS_ACCESS_KEY_ID", SecretAccessKeyEnv: "MB_DEV_AWS_SECRET_ACCESS_KEY",
				SessionTokenEnv: "MB_DEV_AWS_SESSION_TOKEN", Mode: "track-tag",
			}}},
			{Name: "staging", Tier: "staging", Tenant: "default", Services: []string{"api"}, Line: 29, Target: Target{Docker: &Docker{
				Host: "tcp://docker.internal:2376", Container: "api", Port: 9000, Network: "web",
				Env: map[string]string{"A": "1"}, TLSCACert: "ca.pem", TLSCert: "cert.pem", TLSKey: "key.pem",
			}}},
			{Name: "mb-staging", Tier: "staging", Tenant: "mb", Line: 41, Target: Target{Swarm: &Swarm{Host: "ssh://deploy@mb", Service: "api"}}},
			{Name: "prod", Tier: "prod", Tenant: "default", Line: 42, Target: Target{Kubernetes: &Kubernetes{
				Kubeconfig: "~/.kube/config", Context: "prod", Namespace: "api", Deployment: "api", Container: "api",
			}}},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse(full) =\n%s\nwant\n%s", dump(c), dump(want))
	}
	for i, kind := range []string{"local", "ecs", "docker", "swarm", "kubernetes"} {
		if got := c.Environments[i].Target.Kind(); got != kind {
			t.Errorf("Environments[%d].Target.Kind() = %q, want %q", i, got, kind)
		}
	}
	if got := c.Dir(); got != "conf" {
		t.Errorf("Dir() = %q, want conf", got)
	}
	if got := c.StatePath(); got != "/var/lib/tier" {
		t.Errorf("StatePath() = %q, want /var/lib/tier", got)
	}
	if got := len(c.EnvironmentsOf("staging")); got != 2 {
		t.Errorf("len(EnvironmentsOf(staging)) = %d, want 2", got)
	}
}

// dump prints a Config for failure messages.
func dump(c *Config) string {
	s := ""
	s += "Path=" + c.Path + " Registry=" + c.Registry + " StateDir=" + c.StateDir + "\n"
	for _, x := range c.Services {
		s += fmt.Sprintf("service %+v\n", x)
	}
	for _, x := range c.Tiers {
		s += fmt.Sprintf("tier %+v\n", x)
	}
	for _, e := range c.Environments {
		s += fmt.Sprintf("env %s tier=%s tenant=%s services=%v line=%d local=%+v docker=%+v swarm=%+v ecs=%+v k8s=%+v\n",
			e.Name, e.Tier, e.Tenant, e.Services, e.Line, e.Target.Local, e.Target.Docker, e.Target.Swarm, e.Target.ECS, e.Target.Kubernetes)
	}
	return s
}

func TestDefaults(t *testing.T) {
	c, err := Parse("tier.yaml", []byte(`
services:
  api:
tiers:
  - {name: dev, tag: dev}
environments:
  dev: {tier: dev, local: {port: 8080}}
`))
	if err != nil {
		t.Fatalf("Parse = %v, want no error", err)
	}
	if c.StateDir != ".tier" {
		t.Errorf("StateDir = %q, want .tier", c.StateDir)
	}
	wd, _ := os.Getwd()
	if got, want := c.StatePath(), filepath.Join(wd, ".tier"); got != want {
		t.Errorf("StatePath() = %q, want %q (absolute)", got, want)
	}
	if c.Registry != "" {
		t.Errorf("Registry = %q, want empty (embedded)", c.Registry)
	}
	if c.Services[0].Repository != "api" {
		t.Errorf("Services[0].Repository = %q, want api", c.Services[0].Repository)
	}
	e := c.Environments[0]
	if e.Tenant != "default" {
		t.Errorf("Tenant = %q, want default", e.Tenant)
	}
	if e.Target.Local.Health != "tcp" {
		t.Errorf("Local.Health = %q, want tcp", e.Target.Local.Health)
	}
	if e.Services != nil {
		t.Errorf("Services = %v, want nil (all)", e.Services)
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		yaml string
	}{
		{"registry only", "services: {api: }\ntiers: [{name: dev, tag: dev}]\n"},
		{"empty environments", "services: {api: }\ntiers: [{name: dev, tag: dev}]\nenvironments: {}\n"},
		{"null environments", "services: {api: }\ntiers: [{name: dev, tag: dev}]\nenvironments:\n"},
		{"registry with port and path", "registry: localhost:5000/team\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n"},
		{"registry ipv6", "registry: '[::1]:5000'\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n"},
		{"release false with tag", "services: {api: }\ntiers: [{name: dev, tag: dev, release: false}]\n"},
		{"numeric-looking tag", "services: {api: }\ntiers: [{name: v1, tag: 1.0}]\n"},
		{"repository separators", "services: {api: {repository: a.b_c__d--e/f-g}}\ntiers: [{name: dev, tag: dev}]\n"},
		{"anchors and merge keys", `services: {api: }
tiers: [{name: dev, tag: dev}]
environments:
  dev: {tier: dev, ecs: &ecs {cluster: api, service: api, region: us-east-1, profile: dev}}
  mb-dev: {tier: dev, tenant: mb, ecs: {<<: *ecs, cluster: mb-api, role_arn: "arn:aws:iam::210987654321:role/deployer"}}
`},
		{"profile with role", "services: {api: }\ntiers: [{name: dev, tag: dev}]\nenvironments:\n  dev: {tier: dev, ecs: {cluster: a, service: b, profile: p, role_arn: 'arn:aws:iam::210987654321:role/r'}}\n"},
		{"pin on release tier", "services: {api: }\ntiers: [{name: prod, release: true}]\nenvironments:\n  p: {tier: prod, ecs: {cluster: a, service: b, mode: pin}}\n"},
		{"token url is no secret", "services: {api: }\ntiers: [{name: dev, tag: dev}]\nenvironments:\n  dev: {tier: dev, local: {port: 1, env: {TOKEN_URL: 'http://x', PASSWORD_FILE: /run/pw}}}\n"},
		{"secret-named service", "services: {token: {repository: token}}\ntiers: [{name: dev, tag: dev}]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse("tier.yaml", []byte(tt.yaml)); err != nil {
				t.Errorf("Parse = %v, want no error", err)
			}
		})
	}
	c, err := Parse("tier.yaml", []byte(tests[8].yaml))
	if err != nil {
		t.Fatal(err)
	}
	mb := c.Environments[1].Target.ECS
	if mb.Cluster != "mb-api" || mb.Service != "api" || mb.Region != "us-east-1" || mb.Profile != "dev" {
		t.Errorf("merged ecs = %+v, want cluster mb-api overriding, service and region merged", mb)
	}
}

// problem is one expected error: its line and a distinctive part of its text.
type problem struct {
	line int
	text string
}

// head is a valid start; environments begin at line 7.
const head = `services:
  api: {}
tiers:
  - {name: dev, tag: dev}
  - {name: prod, release: true, from: dev}
environments:
`

// rejectTests are invalid files, each with the errors Parse must report.
var rejectTests = []struct {
	name string
	yaml string
	want []problem
	// hide must appear in no message (a secret).
	hide string
}{
	// The file as a whole.
	{"unclosed flow mapping", "services:\n  api: {repository: api\ntiers: []\n", []problem{{2, "invalid YAML: did not find expected ',' or '}'"}}, ""},
	{"unclosed flow list", "a: 1\nb: [1, 2\nc: 3\n", []problem{{2, "invalid YAML: did not find expected ',' or ']'"}}, ""},
	{"bad indentation", "services:\n  api: {}\n tiers: []\n", []problem{{3, "invalid YAML: did not find expected key"}}, ""},
	{"list after mapping", "services: {api: }\n- dev\n", []problem{{2, "invalid YAML"}}, ""},
	{"two colons", "services: api: {}\n", []problem{{1, "invalid YAML: mapping values are not allowed in this context"}}, ""},
	{"unknown anchor", "services: {api: }\ntiers:\n  - *dev\n", []problem{{3, "invalid YAML: unknown anchor 'dev' referenced: define the anchor"}}, ""},
	{"tab indentation", "services:\n\tapi: {}\n", []problem{{2, "invalid YAML"}}, ""},
	{"empty file", "", []problem{{1, "the configuration is empty: run `tier init`"}}, ""},
	{"comments only", "# nothing\n", []problem{{1, "the configuration is empty"}}, ""},
	{"top level list", "- services\n", []problem{{1, "the top level must be a mapping, not a list"}}, ""},
	{"second document", head + "---\nfoo: 1\n", []problem{{7, "a second YAML document starts here"}}, ""},
	{"unknown top key suggested", "servics: {api: }\ntiers: [{name: dev, tag: dev}]\n", []problem{
		{1, `unknown key "servics": did you mean services?`},
		{1, "no services are defined"},
	}, ""},
	{"unknown top key listed", head + "foo: 1\n", []problem{{7, `unknown key "foo": allowed keys: registry, state_dir, services, tiers, environments`}}, ""},
	{"no services or tiers", "registry: r.example.com\n", []problem{
		{1, "no services are defined: add a services block"},
		{1, "no tiers are defined: add a tiers list"},
	}, ""},
	{"empty services", "services: {}\ntiers: [{name: dev, tag: dev}]\n", []problem{{1, "no services are defined: list at least one"}}, ""},
	{"services as list", "services: [api]\ntiers: [{name: dev, tag: dev}]\n", []problem{{1, "services must be a mapping, not a list"}}, ""},
	{"tiers as mapping", "services: {api: }\ntiers: {dev: {tag: dev}}\n", []problem{{2, "tiers must be a list, not a mapping"}}, ""},
	{"empty tiers", "services: {api: }\ntiers: []\n", []problem{{2, "no tiers are defined"}}, ""},
	{"environments as list", "services: {api: }\ntiers: [{name: dev, tag: dev}]\nenvironments: [dev]\n", []problem{{3, "environments must be a mapping, not a list"}}, ""},
	{"registry with scheme", "registry: https://r.example.com/team\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n", []problem{{1, "starts with a scheme (https://): drop the scheme: registry: r.example.com/team"}}, ""},
	{"registry bad host", "registry: r_x.example.com\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n", []problem{{1, "invalid host name: write the registry as HOST[:PORT][/PATH]"}}, ""},
	{"registry bad port", "registry: localhost:99999\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n", []problem{{1, "invalid port"}}, ""},
	{"registry bad path", "registry: localhost/Team\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n", []problem{{1, "invalid path"}}, ""},
	{"registry as mapping", "registry: {host: x}\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n", []problem{{1, "registry must be a string, not a mapping"}}, ""},
	{"registry with credentials", "registry: \"user:hunter2hunter2@r.example.com\"\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n", []problem{
		{1, "registry holds credentials (the part before '@'), which do not belong in the registry address: write only the address (registry: r.example.com) and log in with `docker login r.example.com` or a Docker credential helper (see docs/registry.md)"},
	}, "hunter2"},
	{"registry with scheme and short password", "registry: https://deploy:s3cr3t@r.example.com:5000/team\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n", []problem{
		{1, "registry holds credentials (the part before '@'), which do not belong in the registry address: write only the address (registry: r.example.com:5000/team) and log in with `docker login r.example.com:5000`"},
	}, "s3cr3t"},
	{"registry with a slash in the password", "registry: user:pa/ss@r.example.com\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n", []problem{{1, "registry holds credentials"}}, "pa/ss"},
	{"registry with a token", "registry: ghp_0123456789abcdef@ghcr.io/team\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n", []problem{{1, "registry holds credentials"}}, "0123456789abcdef"},
	{"registry credentials repeated elsewhere", "registry: \"user:hunter2hunter2@r.example.com\"\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\nenvironments:\n  x: {tier: dev, tenant: \"hunter2hunter2!\", local: {port: 1}}\n", []problem{
		{1, "registry holds credentials"},
		{5, `tenant "[redacted]!" is not a valid name`},
	}, "hunter2"},
	{"registry with a digest", "registry: r.example.com/team@sha256:abc\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n", []problem{{1, "has an invalid path"}}, ""},
	{"empty state_dir", "state_dir: ''\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n", []problem{{1, "state_dir is empty"}}, ""},
	{"duplicate top key", "services: {api: }\ntiers: [{name: dev, tag: dev}]\nservices: {web: }\n", []problem{{3, `key "services" appears twice (first at line 1)`}}, ""},

	// Services.
	{"duplicate service", "services:\n  api: {}\n  api: {repository: other}\ntiers: [{name: dev, tag: dev}]\n", []problem{{3, `services: key "api" appears twice (first at line 2)`}}, ""},
	{"invalid repository", "services:\n  api: {repository: API}\ntiers: [{name: dev, tag: dev}]\n", []problem{{2, `repository "API" is not a valid repository name`}}, ""},
	{"repository with scheme-like path", "services:\n  api: {repository: 'a//b'}\ntiers: [{name: dev, tag: dev}]\n", []problem{{2, "empty path component"}}, ""},
	{"service name not a repository", "services:\n  Api: {}\ntiers: [{name: dev, tag: dev}]\n", []problem{{2, "the service name is used as the repository but is not a valid repository name: path component \"Api\""}}, ""},
	{"shared repository", "services:\n  api: {}\n  web: {repository: api}\ntiers: [{name: dev, tag: dev}]\n", []problem{{3, `service "web" uses repository "api", which service "api" (line 2) already uses`}}, ""},
	{"service unknown key", "services:\n  api: {repo: api}\ntiers: [{name: dev, tag: dev}]\n", []problem{{2, `services.api: unknown key "repo": did you mean repository?`}}, ""},
	{"service as list", "services:\n  api: [api]\ntiers: [{name: dev, tag: dev}]\n", []problem{{2, "services.api must be a mapping, not a list"}}, ""},
	{"invalid service name", "services:\n  'a b': {repository: ab}\ntiers: [{name: dev, tag: dev}]\n", []problem{{2, `service name "a b" is not valid`}}, ""},

	// Tiers.
	{"tier as string", "services: {api: }\ntiers:\n  - dev\n", []problem{{3, "tiers[0] must be a mapping, not a string"}}, ""},
	{"tier without name", "services: {api: }\ntiers:\n  - {tag: dev}\n", []problem{{3, "tiers[0] has no name: add name: NAME"}}, ""},
	{"tier name not a tag", "services: {api: }\ntiers:\n  - {name: prod/eu, release: true}\n", []problem{{3, `tier name "prod/eu" is not a valid tag: use letters, digits, '.', '_' and '-'`}}, ""},
	{"duplicate tier name", "services: {api: }\ntiers:\n  - {name: dev, tag: dev}\n  - {name: dev, tag: dev2}\n", []problem{{4, `tier "dev" is defined twice (first at line 3)`}}, ""},
	{"duplicate tier tag", "services: {api: }\ntiers:\n  - {name: dev, tag: latest}\n  - {name: qa, tag: latest}\n", []problem{{4, `tag "latest" is already the tag of tier "dev" (line 3)`}}, ""},
	{"tag and release", "services: {api: }\ntiers:\n  - name: prod\n    tag: prod\n    release: true\n", []problem{{4, `tier "prod" has both tag and release: true`}}, ""},
	{"neither tag nor release", "services: {api: }\ntiers:\n  - {name: dev}\n", []problem{{3, `tier "dev" has neither tag nor release: true: add tag: dev`}}, ""},
	{"invalid tag", "services: {api: }\ntiers:\n  - {name: prod, tag: 'prod-11/12/20-10:30'}\n", []problem{{3, `tag "prod-11/12/20-10:30" is not a valid OCI tag: use letters, digits, '.', '_' and '-'`}}, ""},
	{"tag starting with dash", "services: {api: }\ntiers:\n  - {name: dev, tag: -dev}\n", []problem{{3, "is not a valid OCI tag"}}, ""},
	{"tag like a commit", "services: {api: }\ntiers:\n  - {name: dev, tag: 0123456789abcdef0123456789abcdef01234567}\n", []problem{{3, "looks like a commit hash"}}, ""},
	{"tag like a release tag", "services: {api: }\ntiers:\n  - {name: dev, tag: prod-20201112T103000Z}\n  - {name: prod, release: true}\n", []problem{{3, `looks like a release tag of tier "prod"`}}, ""},
	{"release name too long", "services: {api: }\ntiers:\n  - {name: " + strings.Repeat("p", 112) + ", release: true}\n", []problem{{3, "is too long: its release tags"}}, ""},
	{"release not a bool", "services: {api: }\ntiers:\n  - {name: prod, release: 'yes'}\n", []problem{
		{3, "tiers[0].release must be true or false, not a string"},
		{3, "has neither tag nor release"},
	}, ""},
	{"from unknown", "services: {api: }\ntiers:\n  - {name: dev, tag: dev}\n  - {name: prod, release: true, from: qa}\n", []problem{{4, `tier "prod" takes builds from "qa", which is not a tier: use dev, or remove from`}}, ""},
	{"from itself", "services: {api: }\ntiers:\n  - {name: dev, tag: dev, from: dev}\n", []problem{{3, `tier "dev" cannot take builds from itself`}}, ""},
	{"from higher", "services: {api: }\ntiers:\n  - {name: dev, tag: dev, from: prod}\n  - {name: prod, release: true}\n", []problem{{3, `tier "dev" takes builds from "prod", which is not a lower tier: from must name a tier listed above dev`}}, ""},
	{"tier unknown key", "services: {api: }\ntiers:\n  - {name: dev, tag: dev}\n  - {name: qa, tag: qa, form: dev}\n", []problem{{4, `tiers[1]: unknown key "form": did you mean from?`}}, ""},

	// Environments.
	{"environment without tier", head + "  dev: {local: {port: 8080}}\n", []problem{{7, `environment "dev" has no tier: add tier: NAME, using one of: dev, prod`}}, ""},
	{"environment unknown tier", head + "  dev:\n    tier: qa\n    local: {port: 8080}\n", []problem{{8, `environment "dev" names tier "qa", which does not exist: use one of: dev, prod`}}, ""},
	{"environment unknown service", head + "  dev:\n    tier: dev\n    services: [api, web]\n    local: {port: 8080}\n", []problem{{9, `environment "dev" lists service "web", which is not defined: use api`}}, ""},
	{"environment service twice", head + "  dev:\n    tier: dev\n    services:\n      - api\n      - api\n    local: {port: 8080}\n", []problem{{11, `lists service "api" twice`}}, ""},
	{"environment no services", head + "  dev:\n    tier: dev\n    services: []\n    local: {port: 8080}\n", []problem{{9, "lists no services: omit services"}}, ""},
	{"environment services scalar", head + "  dev:\n    tier: dev\n    services: api\n    local: {port: 8080}\n", []problem{{9, "environments.dev.services must be a list, not a string"}}, ""},
	{"no target", head + "  dev: {tier: dev}\n", []problem{{7, `environment "dev" has no target: add exactly one of local, docker, swarm, ecs or kubernetes`}}, ""},
	{"local runs two services", "services: {api: , worker: }\ntiers:\n  - {name: dev, tag: dev}\nenvironments:\n  dev: {tier: dev, local: {port: 8081}}\n", []problem{{5, `environment "dev" runs 2 services on one local target, which runs one (one port, one container name): add services: [NAME]`}}, ""},
	{"docker runs two services", "services: {api: , worker: }\ntiers:\n  - {name: dev, tag: dev}\nenvironments:\n  dev: {tier: dev, services: [api, worker], docker: {container: api}}\n", []problem{{5, `runs 2 services on one docker target`}}, ""},
	{"two targets", head + "  dev:\n    tier: dev\n    local: {port: 8080}\n    ecs: {cluster: api, service: api}\n", []problem{{10, `environment "dev" has 2 targets: local (line 9), ecs (line 10): keep exactly one`}}, ""},
	{"three targets", head + "  dev:\n    tier: dev\n    swarm: {service: api}\n    docker: {container: api}\n    kubernetes: {deployment: api}\n", []problem{{10, "has 3 targets: swarm (line 9), docker (line 10), kubernetes (line 11)"}}, ""},
	{"environment unknown key", head + "  mb-dev:\n    tier: dev\n    tenent: mb\n    local: {port: 8080}\n", []problem{{9, `environments.mb-dev: unknown key "tenent": did you mean tenant?`}}, ""},
	{"environment as string", head + "  dev: local\n", []problem{{7, "environments.dev must be a mapping, not a string"}}, ""},
	{"environment name invalid", head + "  'dev env': {tier: dev, local: {port: 8080}}\n", []problem{{7, `environment name "dev env" is not valid`}}, ""},
	{"tenant invalid", head + "  dev: {tier: dev, tenant: 'a/b', local: {port: 8080}}\n", []problem{{7, `tenant "a/b" is not a valid name`}}, ""},
	{"duplicate environment", head + "  dev: {tier: dev, local: {port: 8080}}\n  dev: {tier: dev, local: {port: 8081}}\n", []problem{{8, `environments: key "dev" appears twice (first at line 7)`}}, ""},

	// local.
	{"local port missing", head + "  dev:\n    tier: dev\n    local: {health: /healthz}\n", []problem{{9, "environments.dev.local.port is required: add port: 8081"}}, ""},
	{"local port quoted", head + "  dev: {tier: dev, local: {port: '8080'}}\n", []problem{{7, "environments.dev.local.port must be an integer, not a string"}}, ""},
	{"local port zero", head + "  dev: {tier: dev, local: {port: 0}}\n", []problem{{7, "port 0 is out of range: use a port from 1 to 65535"}}, ""},
	{"local port too big", head + "  dev: {tier: dev, local: {port: 65536}}\n", []problem{{7, "port 65536 is out of range"}}, ""},
	{"local port float", head + "  dev: {tier: dev, local: {port: 80.5}}\n", []problem{{7, "port must be an integer, not a number"}}, ""},
	{"local port huge", head + "  dev: {tier: dev, local: {port: 99999999999999999999}}\n", []problem{{7, "must be an integer"}}, ""},
	{"local health", head + "  dev: {tier: dev, local: {port: 8080, health: healthz}}\n", []problem{{7, `health "healthz" is not a path or tcp: use an HTTP path such as "/healthz"`}}, ""},
	{"local env name", head + "  dev:\n    tier: dev\n    local:\n      port: 8080\n      env:\n        1X: a\n", []problem{{12, `"1X" is not a valid environment variable name`}}, ""},
	{"local env value mapping", head + "  dev:\n    tier: dev\n    local:\n      port: 8080\n      env:\n        X: {a: b}\n", []problem{{12, "environments.dev.local.env.X must be a string, not a mapping"}}, ""},
	{"local port reused", head + "  dev: {tier: dev, local: {port: 8080}}\n  mb-dev: {tier: dev, tenant: mb, local: {port: 8080}}\n", []problem{{8, `port 8080 is already used by environment "dev"`}}, ""},
	{"local as list", head + "  dev: {tier: dev, local: [8080]}\n", []problem{{7, "environments.dev.local must be a mapping, not a list"}}, ""},
	{"local unknown key", head + "  dev: {tier: dev, local: {port: 8080, helth: /h}}\n", []problem{{7, `unknown key "helth": did you mean health?`}}, ""},

	// docker and swarm.
	{"docker container missing", head + "  dev:\n    tier: dev\n    docker: {port: 8080}\n", []problem{{9, "environments.dev.docker.container is required"}}, ""},
	{"docker container empty", head + "  dev:\n    tier: dev\n    docker: {container: ''}\n", []problem{{9, "environments.dev.docker.container is empty"}}, ""},
	{"docker host", head + "  dev: {tier: dev, docker: {container: api, host: docker.internal}}\n", []problem{{7, "is not a Docker engine address: use unix:///var/run/docker.sock"}}, ""},
	{"docker tls half", head + "  dev:\n    tier: dev\n    docker:\n      container: api\n      tls_cert: c.pem\n", []problem{{11, "tls_cert and tls_key go together"}}, ""},
	{"docker bad port", head + "  dev: {tier: dev, docker: {container: api, port: -1}}\n", []problem{{7, "port -1 is out of range"}}, ""},
	{"swarm service missing", head + "  dev:\n    tier: dev\n    swarm: {host: 'tcp://m:2376'}\n", []problem{{9, "environments.dev.swarm.service is required"}}, ""},

	// ecs.
	{"ecs required", head + "  dev:\n    tier: dev\n    ecs: {profile: dev}\n", []problem{
		{9, "environments.dev.ecs.cluster is required"},
		{9, "environments.dev.ecs.service is required"},
	}, ""},
	{"ecs unknown key", head + "  dev:\n    tier: dev\n    ecs:\n      clustr: api\n      service: api\n", []problem{
		{9, "ecs.cluster is required"},
		{10, `environments.dev.ecs: unknown key "clustr": did you mean cluster?`},
	}, ""},
	{"ecs camelCase key", head + "  dev:\n    tier: dev\n    ecs: {cluster: a, service: b, roleArn: x}\n", []problem{{9, "did you mean role_arn?"}}, ""},
	{"ecs mode", head + "  dev: {tier: dev, ecs: {cluster: a, service: b, mode: rolling}}\n", []problem{{7, `mode "rolling" is not a deploy mode: use mode: track-tag or mode: pin`}}, ""},
	{"ecs track-tag on release tier", head + "  prod: {tier: prod, ecs: {cluster: a, service: b, mode: track-tag}}\n", []problem{{7, `mode track-tag needs a mutable tag, but tier "prod" cuts release tags`}}, ""},
	{"ecs key id alone", head + "  dev:\n    tier: dev\n    ecs:\n      cluster: a\n      service: b\n      access_key_id_env: MB_DEV_AWS_ACCESS_KEY_ID\n", []problem{{12, "access_key_id_env needs secret_access_key_env"}}, ""},
	{"ecs secret alone", head + "  dev:\n    tier: dev\n    ecs:\n      cluster: a\n      service: b\n      secret_access_key_env: S\n", []problem{{12, "secret_access_key_env needs access_key_id_env"}}, ""},
	{"ecs session token alone", head + "  dev:\n    tier: dev\n    ecs:\n      cluster: a\n      service: b\n      session_token_env: T\n", []problem{{12, "session_token_env needs access_key_id_env and secret_access_key_env"}}, ""},
	{"ecs env name", head + "  dev:\n    tier: dev\n    ecs:\n      cluster: a\n      service: b\n      access_key_id_env: mb-dev-key\n      secret_access_key_env: S\n", []problem{{12, `access_key_id_env "mb-dev-key" is not an environment variable name`}}, ""},
	{"ecs env name empty", head + "  dev:\n    tier: dev\n    ecs:\n      cluster: a\n      service: b\n      access_key_id_env:\n      secret_access_key_env: S\n", []problem{{12, "access_key_id_env is empty"}}, ""},
	{"ecs profile and keys", head + "  dev:\n    tier: dev\n    ecs:\n      cluster: a\n      service: b\n      profile: dev\n      access_key_id_env: K\n      secret_access_key_env: S\n", []problem{{13, "profile and access keys are both given"}}, ""},
	{"ecs region", head + "  dev: {tier: dev, ecs: {cluster: a, service: b, region: US-EAST}}\n", []problem{{7, `region "US-EAST" is not an AWS region`}}, ""},
	{"ecs role arn", head + "  dev: {tier: dev, ecs: {cluster: a, service: b, role_arn: deployer}}\n", []problem{{7, `role_arn "deployer" is not an IAM role ARN: use arn:aws:iam::ACCOUNT_ID:role/NAME`}}, ""},
	{"ecs external id alone", head + "  dev: {tier: dev, ecs: {cluster: a, service: b, external_id: x}}\n", []problem{{7, "external_id needs role_arn"}}, ""},
	{"ecs duplicate key", head + "  dev:\n    tier: dev\n    ecs:\n      cluster: a\n      service: b\n      cluster: c\n", []problem{{12, `environments.dev.ecs: key "cluster" appears twice (first at line 10)`}}, ""},

	// kubernetes.
	{"kubernetes deployment missing", head + "  dev:\n    tier: dev\n    kubernetes: {namespace: api}\n", []problem{{9, "environments.dev.kubernetes.deployment is required"}}, ""},
	{"kubernetes namespace", head + "  dev: {tier: dev, kubernetes: {deployment: api, namespace: Api_NS}}\n", []problem{{7, `namespace "Api_NS" is not a valid namespace`}}, ""},
	{"kubernetes deployment name", head + "  dev: {tier: dev, kubernetes: {deployment: Api}}\n", []problem{{7, `deployment "Api" is not a valid Deployment name`}}, ""},

	// Literal secrets.
	{"secret access key", head + "  dev:\n    tier: dev\n    ecs:\n      cluster: a\n      service: b\n      aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
		[]problem{{12, `"aws_secret_access_key" holds a literal secret; secrets are not allowed in tier.yaml: put the key in an environment variable and name it: secret_access_key_env: NAME_OF_ENV_VAR`}},
		"wJalrXUtnFEMI"},
	{"access key id key", head + "  dev:\n    tier: dev\n    ecs:\n      cluster: a\n      service: b\n      access_key_id: xyz\n",
		[]problem{{12, `"access_key_id" holds a literal secret; secrets are not allowed in tier.yaml: put the key in an environment variable and name it: access_key_id_env: NAME_OF_ENV_VAR`}}, ""},
	{"session token", head + "  dev:\n    tier: dev\n    ecs:\n      cluster: a\n      service: b\n      session_token: zzzzzzzzzzzzzzzzzz\n",
		[]problem{{12, "session_token_env: NAME_OF_ENV_VAR"}}, "zzzzzzzzzzzzzzzzzz"},
	{"password at top", head + "password: hunter2hunter2\n", []problem{{7, `"password" holds a literal secret`}}, "hunter2hunter2"},
	{"token in service", "services:\n  api: {repository: api, token: abcdefghijkl}\ntiers: [{name: dev, tag: dev}]\n", []problem{{2, `"token" holds a literal secret`}}, "abcdefghijkl"},
	{"secret in env", head + "  dev:\n    tier: dev\n    local:\n      port: 8080\n      env:\n        DB_PASSWORD: hunter2hunter2\n",
		[]problem{{12, `"DB_PASSWORD" holds a literal secret; secrets are not allowed in tier.yaml: remove it and give the secret to the process another way`}}, "hunter2hunter2"},
	{"secret under unknown key", head + "extra:\n  api_key: abcdefghijkl\n", []problem{
		{7, `unknown key "extra"`},
		{8, `"api_key" holds a literal secret`},
	}, "abcdefghijkl"},
	{"private key key", head + "  dev:\n    tier: dev\n    docker: {container: api, private_key: abc}\n", []problem{{9, "put the key in a file and name the file"}}, ""},
	{"access key id value", head + "  dev:\n    tier: dev\n    ecs:\n      cluster: a\n      service: b\n      profile: AKIAIOSFODNN7EXAMPLE\n",
		[]problem{{12, "a literal AWS access key ID is not allowed in tier.yaml: put it in an environment variable"}}, "AKIAIOSFODNN7EXAMPLE"},
	{"access key id in env ref", head + "  dev:\n    tier: dev\n    ecs:\n      cluster: a\n      service: b\n      access_key_id_env: ASIAIOSFODNN7EXAMPLE\n      secret_access_key_env: S\n",
		[]problem{{12, "a literal AWS access key ID is not allowed"}}, "ASIAIOSFODNN7EXAMPLE"},
	{"access key id as registry", "registry: AKIAIOSFODNN7EXAMPLE\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n", []problem{{1, "a literal AWS access key ID"}}, "AKIAIOSFODNN7EXAMPLE"},
	{"access key id as repository", "services:\n  api: {repository: AKIAIOSFODNN7EXAMPLE}\ntiers: [{name: dev, tag: dev}]\n", []problem{
		{2, "a literal AWS access key ID"},
		{2, `repository "[redacted]" is not a valid repository name`},
	}, "AKIAIOSFODNN7EXAMPLE"},
	{"pem value", head + "  dev:\n    tier: dev\n    docker:\n      container: api\n      tls_cert: c.pem\n      tls_key: |\n        -----BEGIN RSA PRIVATE KEY-----\n        MIIEowIBAAKCAQEA\n        -----END RSA PRIVATE KEY-----\n",
		[]problem{{12, "a literal private key is not allowed in tier.yaml: put it in a file and name the file"}}, "MIIEowIBAAKCAQEA"},
	{"pem as tag", "services: {api: }\ntiers:\n  - {name: dev, tag: \"-----BEGIN PRIVATE KEY-----\\nMIIEowIBAAKCAQEA\\n-----END PRIVATE KEY-----\"}\n", []problem{
		{3, "a literal private key is not allowed"},
		{3, "is not a valid OCI tag"},
	}, "MIIEowIBAAKCAQEA"},
}

func TestParseRejects(t *testing.T) {
	for _, tt := range rejectTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("tier.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse = nil, want errors %v", tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false, want true", err)
			}
			got := list(err)
			if len(got) != len(tt.want) {
				t.Errorf("Parse = %d errors:\n%v\nwant %d: %v", len(got), err, len(tt.want), tt.want)
			}
			for _, w := range tt.want {
				found := false
				for _, e := range got {
					if e.Line == w.line && strings.Contains(e.Error(), w.text) {
						found = true
					}
				}
				if !found {
					t.Errorf("Parse = \n%v\nwant an error at line %d containing %q", err, w.line, w.text)
				}
			}
			for _, e := range got {
				if e.Fix == "" {
					t.Errorf("error %q has no fix", e.Error())
				}
				if !strings.HasPrefix(e.Error(), "tier.yaml:") {
					t.Errorf("error %q does not start with the file name", e.Error())
				}
				if tt.hide != "" && strings.Contains(e.Error(), tt.hide) {
					t.Errorf("error %q shows the secret %q", e.Error(), tt.hide)
				}
			}
		})
	}
}

// list returns the individual errors of a Parse error.
func list(err error) []*Error {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
}

func TestErrorsSortedAndFormatted(t *testing.T) {
	_, err := Parse("conf/tier.yaml", []byte(head+"  b: {tier: qa, local: {port: 1}}\n  a: {tier: dev}\nfoo: 1\n"))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Parse = %T %v, want Errors", err, err)
	}
	for i := 1; i < len(es); i++ {
		if es[i].Line < es[i-1].Line {
			t.Errorf("errors not sorted by line:\n%v", err)
		}
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("Error() has %d lines, want 3:\n%v", len(lines), err)
	}
	if want := `conf/tier.yaml:7: environment "b" names tier "qa", which does not exist: use one of: dev, prod`; lines[0] != want {
		t.Errorf("first line = %q, want %q", lines[0], want)
	}
	var one *Error
	if !errors.As(err, &one) || one.Line != 7 {
		t.Errorf("errors.As(err, *Error) = %v, want the line 7 error", one)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    *Error
		want string
	}{
		{&Error{File: "tier.yaml", Line: 12, Msg: "bad", Fix: "do this"}, "tier.yaml:12: bad: do this"},
		{&Error{File: "tier.yaml", Msg: "bad", Fix: "do this"}, "tier.yaml: bad: do this"},
		{&Error{File: "tier.yaml", Line: 3, Msg: "bad"}, "tier.yaml:3: bad"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Run("not found", func(t *testing.T) {
		_, err := Load(filepath.Join(dir, "missing.yaml"))
		if !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Load(missing) = %v, want ErrNotFound and fs.ErrNotExist", err)
		}
		if errors.Is(err, ErrInvalid) {
			t.Errorf("Load(missing) = %v, matches ErrInvalid, want not", err)
		}
		if !strings.Contains(err.Error(), "tier init") {
			t.Errorf("Load(missing) = %q, want a hint at tier init", err)
		}
	})
	t.Run("valid", func(t *testing.T) {
		path := filepath.Join(dir, "tier.yaml")
		if err := os.WriteFile(path, Sample(), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			t.Fatalf("Load = %v", err)
		}
		if c.Path != path || c.StatePath() != filepath.Join(dir, ".tier") {
			t.Errorf("Load: Path = %q, StatePath() = %q, want %q and %q", c.Path, c.StatePath(), path, filepath.Join(dir, ".tier"))
		}
	})
	t.Run("invalid", func(t *testing.T) {
		path := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(path, []byte("services: []\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), path+":1: ") {
			t.Errorf("Load(bad) = %v, want ErrInvalid naming %s:1", err, path)
		}
	})
}

func TestSuggest(t *testing.T) {
	tests := []struct {
		key  string
		want string
	}{
		{"tenent", "tenant"},
		{"form", "from"},
		{"stateDir", "state_dir"},
		{"state-dir", "state_dir"},
		{"roleArn", "role_arn"},
		{"repo", "repository"},
		{"xyz", ""},
		{"tags", "tag"},
	}
	known := []string{"tenant", "from", "state_dir", "role_arn", "repository", "tag"}
	for _, tt := range tests {
		if got := suggest(tt.key, known); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestKnownKeysAreNotSecrets(t *testing.T) {
	for _, keys := range [][]string{topKeys, serviceKeys, tierKeys, envKeys, localKeys, dockerKeys, swarmKeys, ecsKeys, kubernetesKeys} {
		for _, k := range keys {
			if secretKey(k) {
				t.Errorf("secretKey(%q) = true, want false: it is a known key", k)
			}
		}
	}
	for _, k := range []string{"aws_secret_access_key", "secret_access_key", "aws_access_key_id", "access_key_id", "password", "passwd", "token", "session_token", "secret", "api_key", "private_key", "DB_PASSWORD", "Api-Key"} {
		if !secretKey(k) {
			t.Errorf("secretKey(%q) = false, want true", k)
		}
	}
}
