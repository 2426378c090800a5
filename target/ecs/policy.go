package ecs

import (
	"encoding/json"
	"fmt"
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

// An ECR lifecycle policy, as the ECR user guide ("Lifecycle policy
// properties") describes it: rules applied in rulePriority order, each
// selecting images by tag status and tag prefixes or patterns, then by
// count or age, and expiring them or moving them to the archive storage
// class.
type lifecyclePolicy struct {
	Rules []lifecycleRule `json:"rules"`
}

type lifecycleRule struct {
	RulePriority int `json:"rulePriority"`
	Selection    struct {
		TagStatus      string   `json:"tagStatus"`
		TagPatternList []string `json:"tagPatternList"`
		TagPrefixList  []string `json:"tagPrefixList"`
		StorageClass   string   `json:"storageClass"`
		CountType      string   `json:"countType"`
		CountNumber    int      `json:"countNumber"`
	} `json:"selection"`
	Action struct {
		Type string `json:"type"`
	} `json:"action"`
}

// lifecycleRisk is a rule of a lifecycle policy that can expire or archive
// images tier needs, and which ones.
type lifecycleRisk struct {
	rule lifecycleRule
	// selects names the kinds of images it can take: "prod releases
	// (prod-<UTC time>)", "commit-tagged builds".
	selects []string
}

func (r lifecycleRisk) String() string {
	s := r.rule.Selection
	var sel string
	switch {
	case s.TagStatus != "tagged":
		sel = "tagStatus " + s.TagStatus
	case len(s.TagPatternList) > 0:
		sel = fmt.Sprintf("tagPatternList %q", s.TagPatternList)
	default:
		sel = fmt.Sprintf("tagPrefixList %q", s.TagPrefixList)
	}
	var count string
	switch s.CountType {
	case "imageCountMoreThan":
		count = fmt.Sprintf("beyond the newest %d", s.CountNumber)
	case "sinceImagePushed":
		count = fmt.Sprintf("pushed more than %d days ago", s.CountNumber)
	case "sinceImagePulled":
		count = fmt.Sprintf("not pulled for %d days", s.CountNumber)
	default:
		count = fmt.Sprintf("(%s %d)", s.CountType, s.CountNumber)
	}
	action := "expires (deletes)"
	if r.rule.Action.Type == "transition" {
		action = "archives (no pulls until restored)"
	}
	return fmt.Sprintf("rule %d (%s) %s the %s %s", r.rule.RulePriority, sel, action, strings.Join(r.selects, " and the "), count)
}

// tagShape is the form of the tags of one kind tier writes: the
// characters each position may hold.
type tagShape []string

const (
	digits = "0123456789"
	hexLow = "0123456789abcdef"
)

func shape(parts ...tagShape) tagShape { return slices.Concat(parts...) }

func literal(s string) tagShape {
	out := make(tagShape, len(s))
	for i := range len(s) {
		out[i] = s[i : i+1]
	}
	return out
}

func repeat(set string, n int) tagShape {
	out := make(tagShape, n)
	for i := range out {
		out[i] = set
	}
	return out
}

// releaseShape is the form of the release tags of tier:
// "<tier>-YYYYMMDDTHHMMSSZ" (tags.Release).
func releaseShape(tier string) tagShape {
	return shape(literal(tier+"-"), repeat(digits, 8), literal("T"), repeat(digits, 6), literal("Z"))
}

// commitShapes are the forms of commit tags: 40 or 64 lower-case hex
// digits.
var commitShapes = []tagShape{repeat(hexLow, 40), repeat(hexLow, 64)}

// hasPrefix reports whether some tag of the shape starts with p.
func (s tagShape) hasPrefix(p string) bool {
	if len(p) > len(s) {
		return false
	}
	for i := range len(p) {
		if !strings.Contains(s[i], p[i:i+1]) {
			return false
		}
	}
	return true
}

// matches reports whether some tag of the shape matches the whole of
// pattern, where '*' matches any run of characters.
func (s tagShape) matches(pattern string) bool {
	// ok[j]: the pattern read so far can match the first j positions.
	ok := make([]bool, len(s)+1)
	ok[0] = true
	for i := range len(pattern) {
		next := make([]bool, len(s)+1)
		for j := range ok {
			if !ok[j] {
				continue
			}
			if pattern[i] == '*' {
				for k := j; k <= len(s); k++ {
					next[k] = true
				}
				break
			}
			if j < len(s) && strings.Contains(s[j], pattern[i:i+1]) {
				next[j+1] = true
			}
		}
		ok = next
	}
	return ok[len(s)]
}

// imageKind is a kind of image tier needs: the shapes of the tags every
// image of the kind has.
type imageKind struct {
	name string
	tags [][]tagShape // each tag: its possible shapes
}

// selectsKind reports whether rule's tag requirements can take an image
// of kind k: tagStatus any takes every image, untagged none of tier's
// (they are all tagged), and a tagged rule an image for which each of its
// prefixes or patterns matches one of the image's tags (the user guide:
// "only the images with all specified tags are selected").
func (r lifecycleRule) selectsKind(k imageKind) bool {
	s := r.Selection
	switch s.TagStatus {
	case "any":
		return true
	case "tagged":
	default:
		return false
	}
	some := func(match func(tagShape) bool) bool {
		for _, tag := range k.tags {
			if slices.ContainsFunc(tag, match) {
				return true
			}
		}
		return false
	}
	for _, p := range s.TagPrefixList {
		if !some(func(t tagShape) bool { return t.hasPrefix(p) }) {
			return false
		}
	}
	for _, p := range s.TagPatternList {
		if !some(func(t tagShape) bool { return t.matches(p) }) {
			return false
		}
	}
	return len(s.TagPrefixList)+len(s.TagPatternList) > 0
}

// lifecycleRisks reads an ECR lifecycle policy and returns its rules that
// can expire or archive release images of releaseTiers or commit-tagged
// builds, in rulePriority order. Following the user guide's evaluation
// rules, an image is acted on only by the first rule, in priority order,
// whose tag requirements it meets, so a rule is a risk for a kind of image
// only when no rule before it claims that kind. Rules on the archive
// storage class act only on images a rule already archived, which is
// reported at that rule. What else may tag the same images (a tier's
// mutable tag) is not taken into account.
func lifecycleRisks(policy string, releaseTiers []string) ([]lifecycleRisk, error) {
	var p lifecyclePolicy
	if err := json.Unmarshal([]byte(policy), &p); err != nil {
		return nil, fmt.Errorf("reading the lifecycle policy: %w", err)
	}
	var kinds []imageKind
	for _, tier := range releaseTiers {
		kinds = append(kinds, imageKind{name: fmt.Sprintf("%s releases (%s-<UTC time>)", tier, tier),
			tags: [][]tagShape{{releaseShape(tier)}, commitShapes}})
	}
	kinds = append(kinds, imageKind{name: "commit-tagged builds", tags: [][]tagShape{commitShapes}})
	rules := slices.Clone(p.Rules)
	slices.SortStableFunc(rules, func(a, b lifecycleRule) int { return a.RulePriority - b.RulePriority })
	claimed := map[string]bool{}
	var out []lifecycleRisk
	for _, r := range rules {
		if r.Selection.StorageClass == "archive" {
			continue
		}
		risk := lifecycleRisk{rule: r}
		for _, k := range kinds {
			if !claimed[k.name] && r.selectsKind(k) {
				claimed[k.name] = true
				risk.selects = append(risk.selects, k.name)
			}
		}
		if len(risk.selects) > 0 {
			out = append(out, risk)
		}
	}
	return out, nil
}
