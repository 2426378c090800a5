package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tierdeploy/tier/tags"
)

func FuzzParse(f *testing.F) {
	f.Add(Sample())
	f.Add([]byte(full))
	for _, tt := range rejectTests {
		f.Add([]byte(tt.yaml))
	}
	f.Add([]byte("services: {api: }\ntiers: [{name: dev, tag: dev}]\nenvironments:\n  dev: &d {tier: dev, local: {port: 1}}\n  mb: {<<: *d, tenant: mb, local: {port: 2}}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("a: &a {<<: *a}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("tier.yaml", data)
		c2, err2 := Parse("tier.yaml", data)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() || !reflect.DeepEqual(c, c2) {
			t.Fatalf("Parse is not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			if c != nil {
				t.Errorf("Parse = %+v, %v, want nil config with an error", c, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("errors.Is(%v, ErrInvalid) = false", err)
			}
			lines := countLines(data)
			es := list(err)
			if len(es) == 0 {
				t.Fatalf("Parse error %T %v holds no *Error", err, err)
			}
			for _, e := range es {
				if e.File != "tier.yaml" || e.Msg == "" || e.Line < 0 || e.Line > lines+1 {
					t.Errorf("bad error %+v (file has %d lines)", e, lines)
				}
			}
			return
		}
		checkConfig(t, c)
	})
}

// checkConfig asserts what every Config that Parse accepts must satisfy.
func checkConfig(t *testing.T, c *Config) {
	t.Helper()
	if c.Path != "tier.yaml" || c.StateDir == "" {
		t.Errorf("Path = %q, StateDir = %q", c.Path, c.StateDir)
	}
	if c.Registry != "" {
		if why := checkRegistry(c.Registry, quote); why != "" || strings.Contains(c.Registry, "@") {
			t.Errorf("accepted registry %q: %s", c.Registry, why)
		}
	}
	if len(c.Services) == 0 || len(c.Tiers) == 0 {
		t.Errorf("accepted %d services and %d tiers", len(c.Services), len(c.Tiers))
	}
	services := map[string]bool{}
	repos := map[string]bool{}
	for _, s := range c.Services {
		if services[s.Name] || repos[s.Repository] {
			t.Errorf("duplicate service or repository %+v", s)
		}
		services[s.Name], repos[s.Repository] = true, true
		if why := checkRepository(s.Repository, quote); why != "" || !nameRE.MatchString(s.Name) {
			t.Errorf("accepted service %+v: %s", s, why)
		}
	}
	tiers := map[string]Tier{}
	tagSet := map[string]bool{}
	for _, tr := range c.Tiers {
		if _, dup := tiers[tr.Name]; dup {
			t.Errorf("duplicate tier %q", tr.Name)
		}
		if tags.Validate(tr.Name) != nil {
			t.Errorf("accepted tier name %q", tr.Name)
		}
		if tr.Release == (tr.Tag != "") {
			t.Errorf("tier %+v must have exactly one of tag and release", tr)
		}
		if tr.Release && len(tags.Release(tr.Name, time.Unix(0, 0))) > tags.MaxLen {
			t.Errorf("release tier name %q too long", tr.Name)
		}
		if tr.Tag != "" {
			if tags.Validate(tr.Tag) != nil || tagSet[tr.Tag] {
				t.Errorf("accepted tag %q", tr.Tag)
			}
			tagSet[tr.Tag] = true
		}
		if tr.From != "" {
			if _, lower := tiers[tr.From]; !lower {
				t.Errorf("tier %q takes from %q, which is not a lower tier", tr.Name, tr.From)
			}
		}
		tiers[tr.Name] = tr
	}
	envs := map[string]bool{}
	ports := map[int]bool{}
	for _, e := range c.Environments {
		if envs[e.Name] || !nameRE.MatchString(e.Name) {
			t.Errorf("accepted environment name %q", e.Name)
		}
		envs[e.Name] = true
		tr, ok := tiers[e.Tier]
		if !ok {
			t.Errorf("environment %q has unknown tier %q", e.Name, e.Tier)
		}
		if !nameRE.MatchString(e.Tenant) {
			t.Errorf("environment %q has tenant %q", e.Name, e.Tenant)
		}
		for _, s := range e.Services {
			if !services[s] {
				t.Errorf("environment %q lists unknown service %q", e.Name, s)
			}
		}
		set := 0
		for _, p := range []bool{e.Target.Local != nil, e.Target.Docker != nil, e.Target.Swarm != nil, e.Target.ECS != nil, e.Target.Kubernetes != nil} {
			if p {
				set++
			}
		}
		if set != 1 || e.Target.Kind() == "" {
			t.Fatalf("environment %q has %d targets", e.Name, set)
		}
		switch x := e.Target; {
		case x.Local != nil:
			if x.Local.Port < 1 || x.Local.Port > 65535 || ports[x.Local.Port] || !checkHealth(x.Local.Health) {
				t.Errorf("accepted local %+v", x.Local)
			}
			ports[x.Local.Port] = true
		case x.Docker != nil:
			if x.Docker.Container == "" || x.Docker.Port < 0 || x.Docker.Port > 65535 {
				t.Errorf("accepted docker %+v", x.Docker)
			}
		case x.Swarm != nil:
			if x.Swarm.Service == "" {
				t.Errorf("accepted swarm %+v", x.Swarm)
			}
		case x.ECS != nil:
			m := x.ECS
			if m.Cluster == "" || m.Service == "" || m.Mode != "" && m.Mode != ModePin && m.Mode != ModeTrackTag ||
				m.Mode == ModeTrackTag && tr.Release || (m.AccessKeyIDEnv == "") != (m.SecretAccessKeyEnv == "") {
				t.Errorf("accepted ecs %+v", m)
			}
			for _, v := range []string{m.AccessKeyIDEnv, m.SecretAccessKeyEnv, m.SessionTokenEnv} {
				if v != "" && !envName.MatchString(v) {
					t.Errorf("accepted env reference %q", v)
				}
			}
		case x.Kubernetes != nil:
			if x.Kubernetes.Deployment == "" {
				t.Errorf("accepted kubernetes %+v", x.Kubernetes)
			}
		}
	}
	noSecrets(t, reflect.ValueOf(c))
}

// noSecrets fails if any string in v is a literal secret.
func noSecrets(t *testing.T, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			noSecrets(t, v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			noSecrets(t, v.Field(i))
		}
	case reflect.Slice:
		for i := range v.Len() {
			noSecrets(t, v.Index(i))
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			noSecrets(t, it.Key())
			noSecrets(t, it.Value())
		}
	case reflect.String:
		if kind := secretValue(v.String()); kind != "" {
			t.Errorf("accepted a literal %s", kind)
		}
	}
}

// countLines counts lines as YAML does: \r\n, \r, \n, NEL, LS and PS
// each end one.
func countLines(data []byte) int {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	n := 1
	for _, r := range s {
		switch r {
		case '\n', '\r', '\u0085', '\u2028', '\u2029':
			n++
		}
	}
	return n
}
