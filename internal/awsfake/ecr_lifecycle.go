package awsfake

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
)

// ECR lifecycle policies: PutLifecyclePolicy and GetLifecyclePolicy, as the
// ECR API reference documents them, with the policy checked against the
// rules of the ECR user guide ("Lifecycle policy properties", "Examples of
// lifecycle policies"). The stand-in stores a policy and never runs it. The
// wording of its validation messages is the stand-in's own: the user guide
// gives the rules, not ECR's messages.

// SetLifecyclePolicy sets the lifecycle policy text of repo, as
// PutLifecyclePolicy would. It panics when the repository does not exist or
// when ECR would refuse the policy.
func (s *Server) SetLifecyclePolicy(account, region, repo, policyJSON string) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	r := s.ecr.repos(account, region)[repo]
	if r == nil {
		panic(fmt.Sprintf("awsfake: SetLifecyclePolicy: no repository %q in %s/%s", repo, account, region))
	}
	if aerr := ecrCheckLifecycle(policyJSON); aerr != nil {
		panic(fmt.Sprintf("awsfake: SetLifecyclePolicy: %s", aerr.Message))
	}
	r.lifecycle = policyJSON
}

func (e *ecrState) getLifecyclePolicy(account, region string, req ecrRequest) (any, *APIError) {
	r, registryID, aerr := e.repo(account, region, req, "ecr:GetLifecyclePolicy")
	if aerr != nil {
		return nil, aerr
	}
	if r.lifecycle == "" {
		return nil, &APIError{400, "LifecyclePolicyNotFoundException", fmt.Sprintf(
			"Lifecycle policy does not exist for the repository with name '%s' in the registry with id '%s'", r.name, registryID)}
	}
	// The stand-in never evaluates a policy, so lastEvaluatedAt is absent.
	return map[string]any{"registryId": registryID, "repositoryName": r.name, "lifecyclePolicyText": r.lifecycle}, nil
}

func (e *ecrState) putLifecyclePolicy(account, region string, req ecrRequest) (any, *APIError) {
	r, registryID, aerr := e.repo(account, region, req, "ecr:PutLifecyclePolicy")
	if aerr != nil {
		return nil, aerr
	}
	if req.LifecyclePolicyText == nil {
		return nil, ecrInvalidParameter("Invalid parameter at 'lifecyclePolicyText' failed to satisfy constraint: 'must not be null'")
	}
	text := *req.LifecyclePolicyText
	if n := len(text); n < 100 || n > 30720 {
		return nil, ecrInvalidParameter(fmt.Sprintf("Invalid parameter at 'lifecyclePolicyText' failed to satisfy constraint: 'Member must have length less than or equal to 30720 and greater than or equal to 100' (got %d)", n))
	}
	if aerr := ecrCheckLifecycle(text); aerr != nil {
		return nil, aerr
	}
	r.lifecycle = text
	return map[string]any{"registryId": registryID, "repositoryName": r.name, "lifecyclePolicyText": text}, nil
}

// ecrLifecycleRule is one rule of a lifecycle policy, with the members of
// the user guide's template.
type ecrLifecycleRule struct {
	RulePriority *json.Number `json:"rulePriority"`
	Description  string       `json:"description"`
	Selection    *struct {
		TagStatus      string       `json:"tagStatus"`
		TagPatternList []string     `json:"tagPatternList"`
		TagPrefixList  []string     `json:"tagPrefixList"`
		StorageClass   string       `json:"storageClass"`
		CountType      string       `json:"countType"`
		CountUnit      string       `json:"countUnit"`
		CountNumber    *json.Number `json:"countNumber"`
	} `json:"selection"`
	Action *struct {
		Type               string `json:"type"`
		TargetStorageClass string `json:"targetStorageClass"`
	} `json:"action"`
}

// ecrCheckLifecycle checks a lifecycle policy as PutLifecyclePolicy does.
func ecrCheckLifecycle(text string) *APIError {
	fail := func(format string, args ...any) *APIError {
		return ecrInvalidParameter("Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: " +
			fmt.Sprintf(format, args...) + "'")
	}
	var doc struct {
		Rules []ecrLifecycleRule `json:"rules"`
	}
	d := json.NewDecoder(bytes.NewReader([]byte(text)))
	d.DisallowUnknownFields()
	if err := d.Decode(&doc); err != nil {
		return fail("%v", err)
	}
	if len(doc.Rules) == 0 {
		return fail("the policy has no rules")
	}
	seen := map[int64]bool{}
	var highest int64
	anyRule := int64(-1)
	for i, r := range doc.Rules {
		if r.RulePriority == nil {
			return fail("rule %d has no rulePriority", i+1)
		}
		p, err := r.RulePriority.Int64()
		if err != nil || p < 1 {
			return fail("rulePriority %s is not a positive integer", r.RulePriority)
		}
		if seen[p] {
			return fail("rulePriority %d is used by more than one rule", p)
		}
		seen[p], highest = true, max(highest, p)
		sel, act := r.Selection, r.Action
		if sel == nil || act == nil {
			return fail("rule %d needs a selection and an action", p)
		}
		switch sel.TagStatus {
		case "tagged":
			if len(sel.TagPrefixList) == 0 && len(sel.TagPatternList) == 0 {
				return fail("rule %d: tagStatus tagged needs a tagPrefixList or a tagPatternList", p)
			}
		case "untagged", "any":
			if len(sel.TagPrefixList) > 0 || len(sel.TagPatternList) > 0 {
				return fail("rule %d: tagPrefixList and tagPatternList are only used with tagStatus tagged", p)
			}
			if sel.TagStatus == "any" {
				anyRule = p
			}
		default:
			return fail("rule %d: tagStatus %q is not tagged, untagged or any", p, sel.TagStatus)
		}
		for _, pat := range sel.TagPatternList {
			if strings.Count(pat, "*") > 4 {
				return fail("rule %d: tag pattern %q has more than four wildcards", p, pat)
			}
		}
		storage := cmp.Or(sel.StorageClass, "standard")
		switch sel.CountType {
		case "imageCountMoreThan":
			if sel.CountUnit != "" {
				return fail("rule %d: countUnit is not used with imageCountMoreThan", p)
			}
		case "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned":
			if sel.CountUnit != "days" {
				return fail("rule %d: countType %s needs countUnit days", p, sel.CountType)
			}
		default:
			return fail("rule %d: countType %q is not imageCountMoreThan, sinceImagePushed, sinceImagePulled or sinceImageTransitioned", p, sel.CountType)
		}
		if (sel.CountType == "sinceImageTransitioned") != (storage == "archive") {
			return fail("rule %d: storageClass archive goes with countType sinceImageTransitioned, and only with it", p)
		}
		if storage != "standard" && storage != "archive" {
			return fail("rule %d: storageClass %q is not standard or archive", p, sel.StorageClass)
		}
		if sel.CountNumber == nil {
			return fail("rule %d has no countNumber", p)
		}
		if n, err := sel.CountNumber.Int64(); err != nil || n < 1 {
			return fail("rule %d: countNumber %s is not a positive integer", p, sel.CountNumber)
		}
		switch act.Type {
		case "expire":
			if act.TargetStorageClass != "" {
				return fail("rule %d: targetStorageClass is only used with action transition", p)
			}
		case "transition":
			if act.TargetStorageClass != "archive" {
				return fail("rule %d: action transition needs targetStorageClass archive", p)
			}
			if storage == "archive" {
				return fail("rule %d: archived images cannot be transitioned again", p)
			}
		default:
			return fail("rule %d: action type %q is not expire or transition", p, act.Type)
		}
	}
	if anyRule >= 0 && anyRule != highest {
		return fail("the rule with tagStatus any (rulePriority %d) must have the highest rulePriority (%d)", anyRule, highest)
	}
	return nil
}
