package ecs

import (
	"encoding/json"
	"path"
	"slices"
	"strings"
)

// allowsPull reports whether an ECR repository policy has Allow statements
// granting ecr:BatchGetImage and ecr:GetDownloadUrlForLayer to account
// (its root or an identity in it, or "*"), with no Deny for the account.
// Statements with conditions are not counted: tier cannot judge them, so
// it does not claim they grant the pull.
func allowsPull(policy, account string) bool {
	var doc struct {
		Statement []struct {
			Effect       string
			Principal    json.RawMessage
			NotPrincipal json.RawMessage
			Action       json.RawMessage
			Condition    json.RawMessage
		}
	}
	if json.Unmarshal([]byte(policy), &doc) != nil {
		return false
	}
	need := []string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
	granted := map[string]bool{}
	for _, s := range doc.Statement {
		if s.NotPrincipal != nil || !principalIncludes(s.Principal, account) {
			continue
		}
		for _, n := range need {
			if !slices.ContainsFunc(strs(s.Action), func(a string) bool { return actionMatches(a, n) }) {
				continue
			}
			switch {
			case s.Effect == "Deny":
				return false
			case s.Effect == "Allow" && len(s.Condition) == 0:
				granted[n] = true
			}
		}
	}
	return len(granted) == len(need)
}

// actionMatches matches an IAM action pattern ("ecr:BatchGet*", "*")
// against an action, case-insensitively.
func actionMatches(pattern, action string) bool {
	ok, err := path.Match(strings.ToLower(pattern), strings.ToLower(action))
	return err == nil && ok
}

// principalIncludes reports whether a statement's Principal names account:
// "*", or an AWS principal that is "*", the account ID or an ARN in it.
func principalIncludes(raw json.RawMessage, account string) bool {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		return star == "*"
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	return slices.ContainsFunc(strs(m["AWS"]), func(p string) bool {
		return p == "*" || p == account || iamARNIn(p, account)
	})
}

// iamARNIn reports whether arn is an IAM ARN of account in any partition
// (arn:aws:iam::..., arn:aws-cn:iam::..., arn:aws-us-gov:iam::...).
func iamARNIn(arn, account string) bool {
	parts := strings.SplitN(arn, ":", 6)
	return len(parts) == 6 && parts[0] == "arn" && strings.HasPrefix(parts[1], "aws") && parts[2] == "iam" && parts[4] == account
}

// strs reads a policy field that is a string or a list of strings.
func strs(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	json.Unmarshal(raw, &many)
	return many
}
