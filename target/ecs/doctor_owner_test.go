package ecs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/deploy"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/ecs"
)

// TestCheckTaskDefinitionOwner: for an environment deployed in pin mode,
// tier doctor compares who registered the service's current task
// definition revision (registeredBy, which ECS records: the stand-in holds
// what the test sets up) with the identity of the environment's
// credentials, and warns when another identity registered it: a tool that
// owns the task definition (Terraform, CDK) puts its own revision back on
// its next apply.
func TestCheckTaskDefinitionOwner(t *testing.T) {
	const (
		image     = "registry.example.com/api:prod"
		terraform = "arn:aws:sts::111111111111:assumed-role/terraform/1700000000000000000"
	)
	pinned := func(env config.Environment) config.Environment {
		e := *env.Target.ECS
		e.Mode = config.ModePin
		env.Target.ECS = &e
		return env
	}
	tests := []struct {
		name         string
		account      string
		env          config.Environment
		registeredBy string // "" for none
		want         *finding
	}{
		{"registered by terraform", acctA, keysEnv("prod", "prod"), terraform, &finding{check: "task definition", ok: true, warn: true,
			detail: "arn:aws:ecs:us-east-1:111111111111:task-definition/api:1 was registered by " + terraform + ", not by arn:aws:iam::111111111111:user/tier",
			fix:    "lifecycle { ignore_changes = [task_definition] }"}},
		{"registered by tier's identity", acctA, keysEnv("prod", "prod"), "arn:aws:iam::111111111111:user/tier", &finding{check: "task definition", ok: true,
			detail: "was registered by arn:aws:iam::111111111111:user/tier, the identity tier deploys with"}},
		{"another session of tier's role", acctB, roleEnv("mb-prod", "prod", "mb-external-id"), "arn:aws:sts::222222222222:assumed-role/deployer/ci-run-17",
			&finding{check: "task definition", ok: true, detail: "the identity tier deploys with"}},
		{"another role of the account", acctB, roleEnv("mb-prod", "prod", "mb-external-id"), "arn:aws:sts::222222222222:assumed-role/deployer-admin/tier-mb-prod",
			&finding{check: "task definition", ok: true, warn: true, detail: "not by arn:aws:sts::222222222222:assumed-role/deployer/tier-mb-prod", fix: "mode: track-tag"}},
		{"registeredBy not given", acctA, keysEnv("prod", "prod"), "", &finding{check: "task definition", ok: true, detail: "ECS does not say who registered"}},
		{"pin mode set on a mutable tier", acctA, pinned(keysEnv("dev", "dev")), terraform, &finding{check: "task definition", ok: true, warn: true, detail: "was registered by " + terraform}},
		{"track-tag: tier registers nothing", acctA, keysEnv("dev", "dev"), terraform, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.aws.RequireExternalID(roleB, "mb-external-id")
			td := taskDef(image)
			if tc.registeredBy != "" {
				td.Extra["registeredBy"] = tc.registeredBy
			}
			r.aws.SetImageDigest(tc.account, region, image, d1.String())
			r.aws.AddService(tc.account, region, "api", "api", td, 1, true)
			tg := ecs.New(ecs.Options{Creds: r.creds, Registry: "registry.example.com", ReleaseTiers: map[string]bool{"dev": false, "prod": true}})
			got := tg.Check(t.Context(), tc.env, []config.Service{api})
			want := []finding{{check: "credentials", ok: true}, {check: "cluster", ok: true}, {check: "service", ok: true},
				{check: "container", ok: true, detail: image}, {check: "image", ok: true}}
			if tc.want != nil {
				want = append(want, *tc.want)
			}
			wantFindings(t, got, tc.env.Name, want)
		})
	}
}

// A revision tier registered itself, pinning a release, is tier's: the
// stand-in records who registered it, as ECS does, and doctor does not
// warn.
func TestCheckTaskDefinitionTierPinned(t *testing.T) {
	r := newRig(t)
	image := repo + ":prod"
	r.aws.SetImageDigest(acctA, region, image, d1.String())
	r.aws.AddService(acctA, region, "api", "api", taskDef(image), 1, true)
	tg := ecs.New(ecs.Options{Creds: r.creds, Registry: "registry.example.com", ReleaseTiers: map[string]bool{"prod": true}})
	env := keysEnv("prod", "prod")
	if res := r.promote(t, tg, "prod-20201112T103000Z", d2, 5*time.Second, env); len(res) != 1 || res[0].Outcome != deploy.Verified {
		t.Fatalf("pinning prod to a release = %+v, want verified", res)
	}
	var owner *target.Finding
	for _, f := range tg.Check(t.Context(), env, []config.Service{api}) {
		if f.Check == "task definition" {
			owner = &f
		}
	}
	if owner == nil || owner.Warn || !strings.Contains(owner.Detail, "the identity tier deploys with") {
		t.Errorf("task definition finding after tier pinned a revision = %+v, want no warning", owner)
	}
}
