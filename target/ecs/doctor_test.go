package ecs_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/awsfake"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/ecs"
)

// The registry account of the doctor's tests, and its key (read from
// AWS_ACCESS_KEY_ID, as `AWS_PROFILE=registry tier doctor` would).
const (
	registryAccount = "012345678922"
	registryKey     = "AKIAFAKEREGISTRY0001"
)

// pullPolicy lets account pull.
func pullPolicy(account string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`, account)
}

// finding is what a test expects of one target.Finding.
type finding struct {
	check  string
	ok     bool
	warn   bool
	detail string // a fragment of Detail
	fix    string // a fragment of Fix, for a failed one or a warning
}

func wantFindings(t *testing.T, got []target.Finding, env string, want []finding) {
	t.Helper()
	var lines []string
	for _, f := range got {
		lines = append(lines, fmt.Sprintf("%s ok=%v warn=%v %q fix %q", f.Check, f.OK, f.Warn, f.Detail, f.Fix))
	}
	all := strings.Join(lines, "\n  ")
	if len(got) != len(want) {
		t.Fatalf("Check() = %d findings, want %d:\n  %s", len(got), len(want), all)
	}
	for i, w := range want {
		f := got[i]
		if f.Environment != env || f.Check != w.check || f.OK != w.ok || f.Warn != w.warn || !strings.Contains(f.Detail, w.detail) || !strings.Contains(f.Fix, w.fix) ||
			(f.OK && !f.Warn && f.Fix != "") || (f.Warn && (!f.OK || f.Fix == "")) {
			t.Errorf("Check()[%d] = %s ok=%v warn=%v %q fix %q, want %s ok=%v warn=%v with %q, fix %q\n  %s",
				i, f.Check, f.OK, f.Warn, f.Detail, f.Fix, w.check, w.ok, w.warn, w.detail, w.fix, all)
		}
	}
}

// checked is what Check finds of an environment whose credentials,
// cluster, service and container are right, followed by more.
func checked(image string, more ...finding) []finding {
	return append([]finding{
		{check: "credentials", ok: true, detail: "arn:aws:iam::111111111111:user/tier (account 111111111111)"},
		{check: "cluster", ok: true, detail: "cluster/api"},
		{check: "service", ok: true, detail: "service/api/api"},
		{check: "container", ok: true, detail: image},
	}, more...)
}

func TestCheck(t *testing.T) {
	const fips = registryAccount + ".dkr-fips.ecr-fips.us-east-1.amazonaws.com"
	noLifecycle := func(repo string) finding {
		return finding{check: "lifecycle policy", ok: true, detail: "repository " + repo + " has no lifecycle policy: no image expires"}
	}
	tests := []struct {
		name     string
		registry string
		// image is what the service's container runs; repository the ECR
		// repository, with policy ("" for none).
		image, repository, policy string
		want                      []finding
	}{
		{"cross-account pull allowed", registry, repo + ":dev", "api", pullPolicy(acctA), checked(repo+":dev",
			finding{check: "image", ok: true, detail: repo + ":dev is in " + repo},
			finding{check: "pull access", ok: true, detail: "repository api lets account 111111111111 pull"},
			noLifecycle("api"))},
		{"no repository policy", registry, repo + ":dev", "api", "", checked(repo+":dev",
			finding{check: "image", ok: true},
			finding{check: "pull access", detail: "repository api has no policy, so account 111111111111 cannot pull",
				fix: "set a repository policy allowing ecr:BatchGetImage and ecr:GetDownloadUrlForLayer to arn:aws:iam::111111111111:root"},
			noLifecycle("api"))},
		{"policy for another account", registry, repo + ":dev", "api", pullPolicy(acctB), checked(repo+":dev",
			finding{check: "image", ok: true},
			finding{check: "pull access", detail: "policy does not let account 111111111111 pull", fix: "add arn:aws:iam::111111111111:root"},
			noLifecycle("api"))},
		{"FIPS registry host", fips, fips + "/api:dev", "api", pullPolicy(acctA), checked(fips+"/api:dev",
			finding{check: "image", ok: true, detail: "is in " + fips + "/api"},
			finding{check: "pull access", ok: true, detail: "repository api lets account 111111111111 pull"},
			noLifecycle("api"))},
		{"registry host with a path", registry + "/team", registry + "/team/api:dev", "team/api", pullPolicy(acctA), checked(registry+"/team/api:dev",
			finding{check: "image", ok: true, detail: "is in " + registry + "/team/api"},
			finding{check: "pull access", ok: true, detail: "repository team/api lets account 111111111111 pull"},
			noLifecycle("team/api"))},
		{"registry of the same account, read with another account's keys", acctA + ".dkr.ecr.us-east-1.amazonaws.com", acctA + ".dkr.ecr.us-east-1.amazonaws.com/api:dev", "", "",
			checked(acctA+".dkr.ecr.us-east-1.amazonaws.com/api:dev",
				finding{check: "image", ok: true},
				finding{check: "pull access", ok: true, detail: "same account as the registry"},
				finding{check: "lifecycle policy", ok: true, warn: true, detail: "could not read the lifecycle policy of repository api",
					fix: "allowed ecr:GetLifecyclePolicy"})},
		{"not an ECR registry: no pull check", "registry.example.com", "registry.example.com/api:dev", "", "",
			checked("registry.example.com/api:dev", finding{check: "image", ok: true})},
		{"no container of the repository", registry, registry + "/web:dev", "", "", []finding{
			{check: "credentials", ok: true}, {check: "cluster", ok: true}, {check: "service", ok: true},
			{check: "container", detail: "runs an image of " + repo + " (they run app=" + registry + "/web:dev, log-router=" + fluentBit + ")",
				fix: "name the container with container:, or make its image " + repo + ":<tier tag>"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.aws.AddKey(registryKey, registryAccount)
			t.Setenv("AWS_ACCESS_KEY_ID", registryKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", "registry-secret-never-printed")
			r.addService(acctA, tc.image, d1, 1, true)
			if tc.repository != "" {
				r.aws.AddRepository(registryAccount, region, tc.repository, awsfake.ECRMutable)
				if tc.policy != "" {
					r.aws.SetRepositoryPolicy(registryAccount, region, tc.repository, tc.policy)
				}
			}
			tg := ecs.New(ecs.Options{Creds: r.creds, Registry: tc.registry})
			wantFindings(t, tg.Check(t.Context(), keysEnv("dev", "dev"), []config.Service{api}), "dev", tc.want)
		})
	}
}

func TestCheckStopsAtTheFirstFailure(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":dev", d1, 1, true)
	r.addService(acctB, repo+":dev", d1, 1, true)
	r.aws.RequireExternalID(roleB, "mb-external-id")
	tg := ecs.New(ecs.Options{Creds: r.creds, Registry: registry})
	withECS := func(env config.Environment, f func(e *config.ECS)) config.Environment {
		e := *env.Target.ECS
		f(&e)
		env.Target.ECS = &e
		return env
	}
	tests := []struct {
		name string
		env  config.Environment
		want []finding
	}{
		{"keys not exported", withECS(keysEnv("dev", "dev"), func(e *config.ECS) { e.AccessKeyIDEnv = "NOT_SET_AWS_ACCESS_KEY_ID" }), []finding{
			{check: "credentials", detail: "$NOT_SET_AWS_ACCESS_KEY_ID", fix: "export $NOT_SET_AWS_ACCESS_KEY_ID and $DEV_AWS_SECRET_ACCESS_KEY"},
		}},
		{"role not assumed", roleEnv("mb-dev", "dev", "wrong-id"), []finding{
			{check: "credentials", detail: "GetCallerIdentity", fix: "check that the caller may assume " + roleB},
		}},
		{"assumed role", roleEnv("mb-dev", "dev", "mb-external-id"), []finding{
			{check: "credentials", ok: true, detail: "arn:aws:sts::222222222222:assumed-role/deployer/tier-mb-dev (account 222222222222)"},
			{check: "cluster", ok: true}, {check: "service", ok: true}, {check: "container", ok: true}, {check: "image", ok: true},
			{check: "pull access", detail: "GetRepositoryPolicy api: ", fix: "run tier doctor with the registry account's credentials"},
			{check: "lifecycle policy", ok: true, warn: true, detail: "could not read the lifecycle policy of repository api", fix: "run tier doctor with the registry account's credentials"},
		}},
		{"missing cluster", withECS(keysEnv("dev", "dev"), func(e *config.ECS) { e.Cluster = "web" }), []finding{
			{check: "credentials", ok: true},
			{check: "cluster", detail: `cluster "web" not found (or not ACTIVE) in account 111111111111`, fix: "correct cluster:"},
		}},
		{"missing service", withECS(keysEnv("dev", "dev"), func(e *config.ECS) { e.Service = "web" }), []finding{
			{check: "credentials", ok: true}, {check: "cluster", ok: true},
			{check: "service", detail: `service "web" not found (or not ACTIVE) in cluster api`, fix: "correct service:"},
		}},
		{"missing named container", withECS(keysEnv("dev", "dev"), func(e *config.ECS) { e.Container = "web" }), []finding{
			{check: "credentials", ok: true}, {check: "cluster", ok: true}, {check: "service", ok: true},
			{check: "container", detail: `has no container "web" (it has app=` + repo + ":dev, log-router=" + fluentBit + ")", fix: "correct container:"},
		}},
		{"named container of another repository", withECS(keysEnv("dev", "dev"), func(e *config.ECS) { e.Container = "log-router" }), []finding{
			{check: "credentials", ok: true}, {check: "cluster", ok: true}, {check: "service", ok: true},
			{check: "container", ok: true, detail: fluentBit},
			{check: "image", detail: "the container runs " + fluentBit + ", not an image of " + repo, fix: "point the task definition's image at " + repo},
			{check: "pull access", detail: "GetRepositoryPolicy api: ", fix: "run tier doctor with the registry account's credentials"},
			{check: "lifecycle policy", ok: true, warn: true, detail: "could not read the lifecycle policy of repository api", fix: "run tier doctor with the registry account's credentials"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantFindings(t, tg.Check(t.Context(), tc.env, []config.Service{api}), tc.env.Name, tc.want)
		})
	}
}
