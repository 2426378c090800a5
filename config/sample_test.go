package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSample(t *testing.T) {
	c, err := Parse("tier.yaml", Sample())
	if err != nil {
		t.Fatalf("Parse(Sample()) = %v, want no error", err)
	}
	if c.Registry != "" {
		t.Errorf("Registry = %q, want empty (embedded registry)", c.Registry)
	}
	wantTiers := []Tier{
		{Name: "dev", Tag: "dev"},
		{Name: "staging", Tag: "staging", From: "dev"},
		{Name: "prod", Release: true, From: "staging"},
	}
	if len(c.Tiers) != len(wantTiers) {
		t.Fatalf("Tiers = %+v, want %+v", c.Tiers, wantTiers)
	}
	for i, w := range wantTiers {
		got := c.Tiers[i]
		got.Line = 0
		if got != w {
			t.Errorf("Tiers[%d] = %+v, want %+v", i, got, w)
		}
	}
	wantEnvs := []struct {
		name, tier, tenant string
		port               int
	}{
		{"dev", "dev", "default", 8081},
		{"mb-dev", "dev", "mb", 8082},
		{"staging", "staging", "default", 8083},
		{"mb-staging", "staging", "mb", 8084},
		{"prod", "prod", "default", 8085},
		{"mb-prod", "prod", "mb", 8086},
	}
	if len(c.Environments) != len(wantEnvs) {
		t.Fatalf("len(Environments) = %d, want %d", len(c.Environments), len(wantEnvs))
	}
	for i, w := range wantEnvs {
		e := c.Environments[i]
		if e.Name != w.name || e.Tier != w.tier || e.Tenant != w.tenant {
			t.Errorf("Environments[%d] = %s/%s/%s, want %s/%s/%s", i, e.Name, e.Tier, e.Tenant, w.name, w.tier, w.tenant)
		}
		if l := e.Target.Local; l == nil || l.Port != w.port || l.Health != "/healthz" {
			t.Errorf("Environments[%d].Target.Local = %+v, want port %d, health /healthz", i, l, w.port)
		}
	}
	if s, ok := c.Service("api"); !ok || s.Repository != "api" {
		t.Errorf("Service(api) = %+v, %v, want repository api", s, ok)
	}
	for _, want := range []string{"# registry: ", "MB_DEV_AWS_ACCESS_KEY_ID", "role_arn:", "profile:", "ecs:"} {
		if !strings.Contains(string(Sample()), want) {
			t.Errorf("Sample() does not mention %q", want)
		}
	}
}

// TestSampleECSComment checks that the ecs example in the sample's comments
// is itself valid once uncommented.
func TestSampleECSComment(t *testing.T) {
	var ecs []string
	in := false
	for _, l := range strings.Split(string(Sample()), "\n") {
		switch {
		case strings.Contains(l, "The seed's setup:"):
			in = true
		case in && strings.HasPrefix(l, "#   "):
			ecs = append(ecs, "  "+strings.TrimPrefix(l, "#   "))
		case in && len(ecs) > 0 && l == "#":
			in = false
		}
	}
	if len(ecs) < 10 {
		t.Fatalf("found %d lines of the ecs example, want the dev and mb-dev blocks", len(ecs))
	}
	doc := "services: {api: }\ntiers: [{name: dev, tag: dev}]\nenvironments:\n" + strings.Join(ecs, "\n") + "\n"
	c, err := Parse("tier.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse(ecs example) = %v\n%s", err, doc)
	}
	if len(c.Environments) != 2 || c.Environments[1].Target.ECS == nil || c.Environments[1].Target.ECS.RoleARN == "" {
		t.Errorf("ecs example parsed to %+v, want dev and mb-dev on ecs with a role", c.Environments)
	}
	// With the key variables instead of the role.
	keys := strings.NewReplacer("# access_key_id_env", "access_key_id_env", "# secret_access_key_env", "secret_access_key_env").Replace(doc)
	c, err = Parse("tier.yaml", []byte(keys))
	if err != nil {
		t.Fatalf("Parse(ecs example with keys) = %v\n%s", err, keys)
	}
	if got := c.Environments[1].Target.ECS.AccessKeyIDEnv; got != "MB_DEV_AWS_ACCESS_KEY_ID" {
		t.Errorf("AccessKeyIDEnv = %q, want MB_DEV_AWS_ACCESS_KEY_ID", got)
	}
}

func TestWriteSample(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tier.yaml")
	if err := WriteSample(path, false); err != nil {
		t.Fatalf("WriteSample(new, false) = %v", err)
	}
	if _, err := Load(path); err != nil {
		t.Fatalf("Load(written sample) = %v", err)
	}
	if err := os.WriteFile(path, []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteSample(path, false)
	if !errors.Is(err, ErrExists) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("WriteSample(existing, false) = %v, want ErrExists", err)
	}
	if !strings.Contains(err.Error(), "--force") {
		t.Errorf("WriteSample(existing, false) = %q, want it to mention --force", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "mine\n" {
		t.Errorf("after a refused WriteSample the file holds %q, want it unchanged", b)
	}
	if err := WriteSample(path, true); err != nil {
		t.Fatalf("WriteSample(existing, true) = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != string(Sample()) {
		t.Errorf("after WriteSample(force) the file holds %q, want the sample", b)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, %v, want 0644", fi.Mode(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only tier.yaml (no temporary files left)", names)
	}
	if err := WriteSample(filepath.Join(dir, "missing", "tier.yaml"), false); err == nil {
		t.Errorf("WriteSample(in a missing directory) = nil, want an error")
	}
}
