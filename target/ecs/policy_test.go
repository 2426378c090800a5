package ecs

import (
	"slices"
	"testing"
)

func TestAllowsPull(t *testing.T) {
	tests := []struct {
		name, policy string
		want         bool
	}{
		{"account root", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`, true},
		{"list of principals", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111111111111:root","210987654321"]},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`, true},
		{"role of the account", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:role/ecsTaskExecution"},"Action":"ecr:*"}]}`, true},
		{"everyone", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`, true},
		{"split over statements", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"210987654321"},"Action":"ecr:BatchGetImage"},{"Effect":"Allow","Principal":{"AWS":"210987654321"},"Action":"ecr:GetDownloadUrlForLayer"}]}`, true},
		{"another account", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"ecr:*"}]}`, false},
		{"layers missing", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"210987654321"},"Action":"ecr:BatchGetImage"}]}`, false},
		{"deny", `{"Statement":[{"Effect":"Deny","Principal":{"AWS":"210987654321"},"Action":"ecr:*"}]}`, false},
		{"China partition", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws-cn:iam::210987654321:root"},"Action":"ecr:*"}]}`, true},
		{"GovCloud partition, another account", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws-us-gov:iam::111111111111:root"},"Action":"ecr:*"}]}`, false},
		{"prefix of another account", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::2109876543210:root"},"Action":"ecr:*"}]}`, false},
		{"not json", `nope`, false},
		{"action wildcard", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"210987654321"},"Action":["ecr:BatchGet*","ecr:GetDownload*"]}]}`, true},
		{"deny wins", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"},{"Effect":"Deny","Principal":{"AWS":"210987654321"},"Action":"ecr:BatchGetImage"}]}`, false},
		{"condition not judged", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-123"}}}]}`, false},
		{"not principal", `{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"111111111111"},"Action":"ecr:*"}]}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := allowsPull(tc.policy, "210987654321"); got != tc.want {
				t.Errorf("allowsPull(%s) = %v, want %v", tc.policy, got, tc.want)
			}
		})
	}
}

func TestTagShape(t *testing.T) {
	prod := releaseShape("prod")
	tests := []struct {
		name    string
		shape   tagShape
		pattern string // a tagPatternList entry; "" to skip
		prefix  string // a tagPrefixList entry; "" to skip
		want    bool
	}{
		{"release, its own tag as a pattern", prod, "prod-20201112T103000Z", "", true},
		{"release, prod-*", prod, "prod-*", "", true},
		{"release, *Z", prod, "*Z", "", true},
		{"release, *-*T*", prod, "*-*T*", "", true},
		{"release, prod*1*", prod, "prod*1*", "", true},
		{"release, a letter where digits are", prod, "prod-2020x*", "", false},
		{"release, too long", prod, "prod-20201112T103000Z*?", "", false},
		{"release, staging-*", prod, "staging-*", "", false},
		{"release, prod", prod, "prod", "", false},
		{"release, *", prod, "*", "", true},
		{"release, prefix prod", prod, "", "prod", true},
		{"release, prefix prod-2", prod, "", "prod-2", true},
		{"release, prefix prod-x", prod, "", "prod-x", false},
		{"release, prefix longer than a release tag", prod, "", "prod-20201112T103000Z0", false},
		{"commit, prefix a1", commitShapes[0], "", "a1", true},
		{"commit, prefix A1", commitShapes[0], "", "A1", false},
		{"commit, *f", commitShapes[0], "*f", "", true},
		{"commit, 40 hex stars", commitShapes[0], "****", "", true},
		{"commit, g*", commitShapes[0], "g*", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pattern != "" {
				if got := tc.shape.matches(tc.pattern); got != tc.want {
					t.Errorf("matches(%q) = %v, want %v", tc.pattern, got, tc.want)
				}
			}
			if tc.prefix != "" {
				if got := tc.shape.hasPrefix(tc.prefix); got != tc.want {
					t.Errorf("hasPrefix(%q) = %v, want %v", tc.prefix, got, tc.want)
				}
			}
		})
	}
}

func TestLifecycleRisksOrder(t *testing.T) {
	// Priorities out of order in the document: rule 1 claims the releases
	// before rule 5 sees them, whatever the order they are written in.
	policy := `{"rules":[
		{"rulePriority":5,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":100},"action":{"type":"expire"}},
		{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["staging-","prod-"],"countType":"imageCountMoreThan","countNumber":100},"action":{"type":"expire"}},
		{"rulePriority":2,"selection":{"tagStatus":"tagged","tagPrefixList":["staging-"],"countType":"imageCountMoreThan","countNumber":100},"action":{"type":"expire"}}]}`
	risks, err := lifecycleRisks(policy, []string{"prod", "staging"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range risks {
		got = append(got, r.String())
	}
	want := []string{
		`rule 2 (tagPrefixList ["staging-"]) expires (deletes) the staging releases (staging-<UTC time>) beyond the newest 100`,
		`rule 5 (tagStatus any) expires (deletes) the prod releases (prod-<UTC time>) and the commit-tagged builds beyond the newest 100`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("lifecycleRisks() =\n%q\nwant\n%q", got, want)
	}
	if _, err := lifecycleRisks("not json", nil); err == nil {
		t.Errorf("lifecycleRisks(not json) = nil error, want one")
	}
}
