package ecs

import "testing"

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
