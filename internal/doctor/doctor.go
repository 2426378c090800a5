// Package doctor checks that each environment can be deployed to: its
// credentials, its cluster, service and container, that the service runs
// images from its repository, and that the shared repository lets the
// environment's account pull. Each finding comes with the fix.
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/awscred"
	"github.com/tierdeploy/tier/target"
)

// Finding is one check of one environment. Field names are the JSON API's.
type Finding struct {
	Environment string `json:"environment"`
	Check       string `json:"check"`
	OK          bool   `json:"ok"`
	Detail      string `json:"detail"`
	Fix         string `json:"fix,omitempty"`
}

// The AWS calls the doctor makes, declared here so tests can see them.
type (
	stsAPI interface {
		GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
	}
	ecsAPI interface {
		DescribeClusters(context.Context, *ecs.DescribeClustersInput, ...func(*ecs.Options)) (*ecs.DescribeClustersOutput, error)
		DescribeServices(context.Context, *ecs.DescribeServicesInput, ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
		DescribeTaskDefinition(context.Context, *ecs.DescribeTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	}
	ecrAPI interface {
		GetRepositoryPolicy(context.Context, *ecr.GetRepositoryPolicyInput, ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error)
	}
)

// Doctor runs the checks.
type Doctor struct {
	Config *config.Config
	Creds  *awscred.Cache
	// Targets observes non-ECS environments (reachable or not).
	Targets func(env config.Environment) (target.Target, error)
}

var ecrHost = regexp.MustCompile(`^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)

// Run checks every environment, in config order.
func (d *Doctor) Run(ctx context.Context) []Finding {
	var out []Finding
	for _, env := range d.Config.Environments {
		if env.Target.ECS != nil {
			out = append(out, d.ecs(ctx, env)...)
			continue
		}
		out = append(out, d.reachable(ctx, env)...)
	}
	return out
}

func (d *Doctor) reachable(ctx context.Context, env config.Environment) []Finding {
	var out []Finding
	for _, svc := range d.Config.Services {
		if !env.Runs(svc.Name) {
			continue
		}
		f := Finding{Environment: env.Name, Check: env.Target.Kind() + " target"}
		tg, err := d.Targets(env)
		if err == nil {
			var obs target.Observation
			obs, err = tg.Observe(ctx, env, svc)
			f.Detail = fmt.Sprintf("%s: %s", svc.Name, obs.State)
		}
		if err != nil {
			f.Detail, f.Fix = err.Error(), "make the platform reachable from here, or correct the environment's target block"
		} else {
			f.OK = true
		}
		out = append(out, f)
	}
	return out
}

func (d *Doctor) ecs(ctx context.Context, env config.Environment) []Finding {
	e := env.Target.ECS
	cfg, err := d.Creds.Config(ctx, awscred.FromECS(env.Name, e))
	if err != nil {
		return []Finding{{Environment: env.Name, Check: "credentials", Detail: err.Error(), Fix: credentialFix(e)}}
	}
	return d.check(ctx, env, sts.NewFromConfig(cfg), ecs.NewFromConfig(cfg))
}

func (d *Doctor) check(ctx context.Context, env config.Environment, st stsAPI, ec ecsAPI) []Finding {
	e := env.Target.ECS
	find := func(check string) *Finding { return &Finding{Environment: env.Name, Check: check} }
	var out []Finding
	add := func(f *Finding) bool { out = append(out, *f); return f.OK }

	f := find("credentials")
	id, err := st.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		f.Detail, f.Fix = fmt.Sprintf("GetCallerIdentity: %v", err), credentialFix(e)
		add(f)
		return out
	}
	account := aws.ToString(id.Account)
	f.OK, f.Detail = true, fmt.Sprintf("%s (account %s)", aws.ToString(id.Arn), account)
	add(f)

	f = find("cluster")
	cl, err := ec.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{e.Cluster}})
	switch {
	case err != nil:
		f.Detail, f.Fix = fmt.Sprintf("DescribeClusters: %v", err), "allow ecs:DescribeClusters to this identity (docs/ecs.md)"
	case len(cl.Clusters) == 0 || aws.ToString(cl.Clusters[0].Status) != "ACTIVE":
		f.Detail, f.Fix = fmt.Sprintf("cluster %q not found (or not ACTIVE) in account %s", e.Cluster, account), "correct cluster: in the ecs block, or the region/account"
	default:
		f.OK, f.Detail = true, aws.ToString(cl.Clusters[0].ClusterArn)
	}
	if !add(f) {
		return out
	}

	f = find("service")
	sv, err := ec.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(e.Cluster), Services: []string{e.Service}})
	switch {
	case err != nil:
		f.Detail, f.Fix = fmt.Sprintf("DescribeServices: %v", err), "allow ecs:DescribeServices to this identity (docs/ecs.md)"
	case len(sv.Services) == 0 || aws.ToString(sv.Services[0].Status) != "ACTIVE":
		f.Detail, f.Fix = fmt.Sprintf("service %q not found (or not ACTIVE) in cluster %s", e.Service, e.Cluster), "correct service: in the ecs block, or create the service"
	default:
		f.OK, f.Detail = true, aws.ToString(sv.Services[0].ServiceArn)
	}
	if !add(f) {
		return out
	}

	f = find("container")
	td, err := ec.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: sv.Services[0].TaskDefinition})
	if err != nil {
		f.Detail, f.Fix = fmt.Sprintf("DescribeTaskDefinition: %v", err), "allow ecs:DescribeTaskDefinition to this identity (docs/ecs.md)"
		add(f)
		return out
	}
	for _, svc := range d.Config.Services {
		if !env.Runs(svc.Name) {
			continue
		}
		repo := d.Config.Registry + "/" + svc.Repository
		var images []string
		found := ""
		for _, c := range td.TaskDefinition.ContainerDefinitions {
			img := aws.ToString(c.Image)
			images = append(images, aws.ToString(c.Name)+"="+img)
			if (e.Container != "" && aws.ToString(c.Name) == e.Container) || (e.Container == "" && inRepository(img, repo)) {
				found = img
			}
		}
		f := find("container")
		switch {
		case found == "" && e.Container != "":
			f.Detail, f.Fix = fmt.Sprintf("task definition %s has no container %q (it has %s)", aws.ToString(td.TaskDefinition.TaskDefinitionArn), e.Container, strings.Join(images, ", ")), "correct container: in the ecs block"
			add(f)
			continue
		case found == "":
			f.Detail, f.Fix = fmt.Sprintf("no container of task definition %s runs an image of %s (they run %s)", aws.ToString(td.TaskDefinition.TaskDefinitionArn), repo, strings.Join(images, ", ")), "name the container with container:, or make its image "+repo+":<tier tag>"
			add(f)
			continue
		}
		f.OK, f.Detail = true, found
		add(f)
		f = find("image")
		if inRepository(found, repo) {
			f.OK, f.Detail = true, fmt.Sprintf("%s is in %s", found, repo)
		} else {
			f.Detail, f.Fix = fmt.Sprintf("the container runs %s, not an image of %s", found, repo), "point the task definition's image at "+repo
		}
		add(f)
		out = append(out, d.pullPolicy(ctx, env, svc, account)...)
	}
	return out
}

// pullPolicy checks that the shared repository lets account pull.
func (d *Doctor) pullPolicy(ctx context.Context, env config.Environment, svc config.Service, account string) []Finding {
	m := ecrHost.FindStringSubmatch(d.Config.Registry)
	if m == nil {
		return nil
	}
	f := Finding{Environment: env.Name, Check: "pull access"}
	if m[1] == account {
		f.OK, f.Detail = true, "same account as the registry: IAM alone grants the pull"
		return []Finding{f}
	}
	cfg, err := d.Creds.Config(ctx, awscred.Settings{Environment: "registry", Region: m[2]})
	if err == nil {
		err = d.policyAllows(ctx, ecr.NewFromConfig(cfg), m[1], svc.Repository, account, &f)
	}
	if err != nil {
		f.Detail, f.Fix = err.Error(), "run tier doctor with the registry account's credentials (AWS_PROFILE) allowed ecr:GetRepositoryPolicy"
	}
	return []Finding{f}
}

func (d *Doctor) policyAllows(ctx context.Context, api ecrAPI, registryID, repo, account string, f *Finding) error {
	out, err := api.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RegistryId: aws.String(registryID), RepositoryName: aws.String(repo)})
	var none *ecrtypes.RepositoryPolicyNotFoundException
	switch {
	case errors.As(err, &none):
		f.Detail = fmt.Sprintf("repository %s has no policy, so account %s cannot pull", repo, account)
		f.Fix = "set a repository policy allowing ecr:BatchGetImage and ecr:GetDownloadUrlForLayer to arn:aws:iam::" + account + ":root (docs/ecs.md)"
		return nil
	case err != nil:
		return fmt.Errorf("GetRepositoryPolicy %s: %w", repo, err)
	}
	if PolicyAllowsPull(aws.ToString(out.PolicyText), account) {
		f.OK, f.Detail = true, fmt.Sprintf("repository %s lets account %s pull", repo, account)
	} else {
		f.Detail = fmt.Sprintf("repository %s's policy does not let account %s pull (or only under conditions, which tier does not judge)", repo, account)
		f.Fix = "add arn:aws:iam::" + account + ":root to the policy's pull statement (ecr:BatchGetImage, ecr:GetDownloadUrlForLayer; docs/ecs.md)"
	}
	return nil
}

// PolicyAllowsPull reports whether an ECR repository policy has Allow
// statements granting ecr:BatchGetImage and ecr:GetDownloadUrlForLayer to
// account (its root or an identity in it, or "*"), with no Deny for the
// account. Statements with conditions are not counted: tier cannot judge
// them, so it does not claim they grant the pull.
func PolicyAllowsPull(policy, account string) bool {
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
		return p == "*" || p == account || strings.HasPrefix(p, "arn:aws:iam::"+account+":")
	})
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

// inRepository reports whether image is repo:tag, repo@digest or
// repo:tag@digest.
func inRepository(image, repo string) bool {
	rest, ok := strings.CutPrefix(image, repo)
	return ok && (rest == "" || rest[0] == ':' || rest[0] == '@')
}

func credentialFix(e *config.ECS) string {
	switch {
	case e.RoleARN != "":
		return fmt.Sprintf("check that the caller may assume %s (its trust policy, external ID) and that the role exists", e.RoleARN)
	case e.Profile != "":
		return fmt.Sprintf("check profile %q in ~/.aws/config and ~/.aws/credentials (aws sts get-caller-identity --profile %s)", e.Profile, e.Profile)
	case e.AccessKeyIDEnv != "":
		return fmt.Sprintf("export $%s and $%s with valid keys for the environment's account", e.AccessKeyIDEnv, e.SecretAccessKeyEnv)
	}
	return "give the environment a profile, role_arn or access_key_id_env, or set AWS_PROFILE"
}
