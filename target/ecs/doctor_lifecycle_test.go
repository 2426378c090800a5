package ecs_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/awsfake"
	"github.com/tierdeploy/tier/target/ecs"
)

// rule is one lifecycle policy rule, as the ECR user guide writes them.
func rule(priority int, selection, action string) string {
	return fmt.Sprintf(`{"rulePriority":%d,"description":"rule %d of the test","selection":{%s},"action":{%s}}`, priority, priority, selection, action)
}

const expire = `"type":"expire"`

// TestCheckLifecyclePolicy: tier doctor reads the lifecycle policy of the
// service's repository with the registry account's credentials and warns
// of rules that can expire (or archive) prod's release images or
// commit-tagged builds, taking rule priorities into account as the ECR
// user guide describes: an image is acted on only by the first rule whose
// tag requirements it meets.
func TestCheckLifecyclePolicy(t *testing.T) {
	const (
		untaggedRule = `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14`
		anyOld       = `"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":30`
	)
	tests := []struct {
		name  string
		rules []string
		warn  bool
		// detail are fragments of the finding's detail.
		detail []string
		// not are fragments it must not have.
		not []string
	}{
		{"untagged images only", []string{rule(1, untaggedRule, expire)}, false,
			[]string{"expires no release image and no commit-tagged build"}, nil},
		{"everything after 30 days", []string{rule(1, untaggedRule, expire), rule(2, anyOld, expire)}, true,
			[]string{"rule 2 (tagStatus any) expires (deletes) the prod releases (prod-<UTC time>) and the commit-tagged builds pushed more than 30 days ago"},
			[]string{"rule 1"}},
		{"prod prefix", []string{rule(1, `"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":10`, expire)}, true,
			[]string{`rule 1 (tagPrefixList ["prod"]) expires (deletes) the prod releases (prod-<UTC time>) beyond the newest 10`},
			[]string{"commit-tagged builds"}},
		{"a prefix of a release tag's time", []string{rule(1, `"tagStatus":"tagged","tagPrefixList":["prod-2024"],"countType":"imageCountMoreThan","countNumber":10`, expire)}, true,
			[]string{"the prod releases"}, nil},
		{"a prefix that is not a release tag's", []string{rule(1, `"tagStatus":"tagged","tagPrefixList":["production"],"countType":"imageCountMoreThan","countNumber":10`, expire)}, false,
			nil, nil},
		{"release pattern", []string{rule(1, `"tagStatus":"tagged","tagPatternList":["prod-*Z"],"countType":"sinceImagePushed","countUnit":"days","countNumber":90`, expire)}, true,
			[]string{`tagPatternList ["prod-*Z"]`, "prod releases"}, []string{"commit-tagged builds"}},
		{"pull-request builds", []string{rule(1, `"tagStatus":"tagged","tagPatternList":["pr-*"],"countType":"imageCountMoreThan","countNumber":5`, expire)}, false,
			nil, nil},
		{"every tag", []string{rule(1, `"tagStatus":"tagged","tagPatternList":["*"],"countType":"imageCountMoreThan","countNumber":500`, expire)}, true,
			[]string{"the prod releases (prod-<UTC time>) and the commit-tagged builds beyond the newest 500"}, nil},
		{"a hex prefix takes commit tags", []string{rule(1, `"tagStatus":"tagged","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":50`, expire)}, true,
			[]string{"the prod releases (prod-<UTC time>) and the commit-tagged builds"}, nil},
		{"both patterns must match", []string{rule(1, `"tagStatus":"tagged","tagPatternList":["prod-*","pr-*"],"countType":"imageCountMoreThan","countNumber":1`, expire)}, false,
			nil, nil},
		{"releases kept first, then the rest expire", []string{
			rule(1, `"tagStatus":"tagged","tagPatternList":["prod-*"],"countType":"imageCountMoreThan","countNumber":1000`, expire),
			rule(2, anyOld, expire)}, true,
			[]string{"rule 1 (tagPatternList [\"prod-*\"]) expires (deletes) the prod releases (prod-<UTC time>) beyond the newest 1000",
				"rule 2 (tagStatus any) expires (deletes) the commit-tagged builds pushed more than 30 days ago"}, nil},
		{"archived when not pulled", []string{rule(1, `"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":90`, `"type":"transition","targetStorageClass":"archive"`)}, true,
			[]string{"archives (no pulls until restored) the prod releases (prod-<UTC time>) and the commit-tagged builds not pulled for 90 days"}, nil},
		{"archive storage class only", []string{rule(1, `"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":365`, expire)}, false,
			nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.aws.AddKey(registryKey, registryAccount)
			t.Setenv("AWS_ACCESS_KEY_ID", registryKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", "registry-secret-never-printed")
			r.addService(acctA, repo+":dev", d1, 1, true)
			r.aws.AddRepository(registryAccount, region, "api", awsfake.ECRImmutableWithExclusion, "dev", "staging")
			r.aws.SetRepositoryPolicy(registryAccount, region, "api", pullPolicy(acctA))
			r.aws.SetLifecyclePolicy(registryAccount, region, "api", `{"rules":[`+strings.Join(tc.rules, ",")+`]}`)
			tg := ecs.New(ecs.Options{Creds: r.creds, Registry: registry, ReleaseTiers: map[string]bool{"dev": false, "prod": true}})
			got := tg.Check(t.Context(), keysEnv("dev", "dev"), []config.Service{api})
			want := finding{check: "lifecycle policy", ok: true, warn: tc.warn}
			if tc.warn {
				want.fix = "keep release and commit tags out of expiring rules"
			}
			wantFindings(t, got, "dev", checked(repo+":dev", finding{check: "image", ok: true}, finding{check: "pull access", ok: true}, want))
			f := got[len(got)-1]
			for _, d := range tc.detail {
				if !strings.Contains(f.Detail, d) {
					t.Errorf("lifecycle finding = %q\nwant it to contain %q", f.Detail, d)
				}
			}
			for _, d := range tc.not {
				if strings.Contains(f.Detail, d) {
					t.Errorf("lifecycle finding = %q\nwant it without %q", f.Detail, d)
				}
			}
			calls := r.aws.CallsOf("ecr:GetLifecyclePolicy")
			if len(calls) != 1 || calls[0].Account != registryAccount || calls[0].Params["registryId"] != registryAccount || calls[0].Params["repositoryName"] != "api" {
				t.Errorf("GetLifecyclePolicy calls = %+v, want one for repository api of registry %s, signed by that account", calls, registryAccount)
			}
		})
	}
}

// TestCheckLifecycleRepositoryMissing: a repository the registry does not
// have fails the check, with the command that creates it.
func TestCheckLifecycleRepositoryMissing(t *testing.T) {
	r := newRig(t)
	r.aws.AddKey(registryKey, registryAccount)
	t.Setenv("AWS_ACCESS_KEY_ID", registryKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "registry-secret-never-printed")
	r.addService(acctA, repo+":dev", d1, 1, true)
	tg := ecs.New(ecs.Options{Creds: r.creds, Registry: registry})
	got := tg.Check(t.Context(), keysEnv("dev", "dev"), []config.Service{api})
	f := got[len(got)-1]
	if f.Check != "lifecycle policy" || f.OK || !strings.Contains(f.Detail, "repository api does not exist in registry "+registryAccount) ||
		!strings.Contains(f.Fix, "aws ecr create-repository --repository-name api") {
		t.Errorf("last finding = %+v, want a failed lifecycle policy check saying repository api does not exist", f)
	}
}
