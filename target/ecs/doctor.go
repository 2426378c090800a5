package ecs

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/awscred"
	"github.com/tierdeploy/tier/registry/ecr"
	"github.com/tierdeploy/tier/target"
)

// The AWS calls Check makes, declared here so tests can stand in for them.
type (
	identityAPI interface {
		GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, o ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
	}
	clusterAPI interface {
		DescribeClusters(ctx context.Context, in *ecs.DescribeClustersInput, o ...func(*ecs.Options)) (*ecs.DescribeClustersOutput, error)
		DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, o ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
		DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, o ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	}
	policyAPI interface {
		GetRepositoryPolicy(ctx context.Context, in *awsecr.GetRepositoryPolicyInput, o ...func(*awsecr.Options)) (*awsecr.GetRepositoryPolicyOutput, error)
	}
	lifecycleAPI interface {
		GetLifecyclePolicy(ctx context.Context, in *awsecr.GetLifecyclePolicyInput, o ...func(*awsecr.Options)) (*awsecr.GetLifecyclePolicyOutput, error)
	}
)

var _ target.Checker = (*Target)(nil)

// Check implements target.Checker for `tier doctor`. With env's own
// credentials it checks, in order, who they are (STS GetCallerIdentity),
// that the cluster and the service exist and are ACTIVE, and for each of
// svcs that the service's task definition has the container to deploy to
// and that it runs an image of the service's repository. When the shared
// registry (Options.Registry) is an ECR registry of another account, it
// reads the repository's policy with the registry account's credentials
// (the default chain: AWS_PROFILE, ...) to check that env's account may
// pull. A failed check says the fix, and the checks that need it are not
// run.
//
// Two checks warn (target.Finding.Warn) instead of failing, about what
// breaks later rather than now:
//
//   - lifecycle policy: with the registry account's credentials, the ECR
//     lifecycle policy of each service's repository, read for rules that
//     can expire or archive release images (<tier>-<UTC time> of a release
//     tier) or commit-tagged builds: a rollback to them would find them
//     gone.
//   - task definition, for an environment deployed in pin mode: whether the
//     service's current task definition revision was registered by the
//     identity env's credentials are (registeredBy against the caller
//     identity, the session name of an assumed role aside). One registered
//     by another identity belongs to a tool (Terraform, CDK, a pipeline)
//     whose next apply puts its own revision back, undoing the revision
//     tier pinned.
func (t *Target) Check(ctx context.Context, env config.Environment, svcs []config.Service) []target.Finding {
	e := env.Target.ECS
	if e == nil {
		return []target.Finding{{Environment: env.Name, Check: "ecs target", Detail: fmt.Sprintf("environment %s has no ecs target", env.Name),
			Fix: "give the environment an ecs block, or check it with its own target"}}
	}
	cfg, err := t.creds.Config(ctx, awscred.FromECS(env.Name, e))
	if err != nil {
		return []target.Finding{{Environment: env.Name, Check: "credentials", Detail: err.Error(), Fix: credentialFix(e)}}
	}
	return t.check(ctx, env, svcs, sts.NewFromConfig(cfg), ecs.NewFromConfig(cfg))
}

func (t *Target) check(ctx context.Context, env config.Environment, svcs []config.Service, st identityAPI, ec clusterAPI) []target.Finding {
	e := env.Target.ECS
	find := func(check string) *target.Finding { return &target.Finding{Environment: env.Name, Check: check} }
	var out []target.Finding
	add := func(f *target.Finding) bool { out = append(out, *f); return f.OK }

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
		f.Detail, f.Fix = fmt.Sprintf("DescribeClusters: %v", err), "allow ecs:DescribeClusters to this identity (docs/targets/ecs.md)"
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
		f.Detail, f.Fix = fmt.Sprintf("DescribeServices: %v", err), "allow ecs:DescribeServices to this identity (docs/targets/ecs.md)"
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
		f.Detail, f.Fix = fmt.Sprintf("DescribeTaskDefinition: %v", err), "allow ecs:DescribeTaskDefinition to this identity (docs/targets/ecs.md)"
		add(f)
		return out
	}
	for _, svc := range svcs {
		repo := path.Join(t.o.Registry, svc.Repository)
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
		if f, ok := t.pullAccess(ctx, env, svc, account); ok {
			add(&f)
		}
		if f, ok := t.lifecycle(ctx, env, svc); ok {
			add(&f)
		}
	}
	if t.mode(target.Deployment{Environment: env}) == config.ModePin {
		f := owner(env.Name, td.TaskDefinition, aws.ToString(id.Arn))
		add(&f)
	}
	return out
}

// owner checks who registered the service's task definition revision: in
// pin mode, tier's identity (callerARN) registers the revisions it deploys.
func owner(env string, td *ecstypes.TaskDefinition, callerARN string) target.Finding {
	f := target.Finding{Environment: env, Check: "task definition", OK: true}
	arn, by := aws.ToString(td.TaskDefinitionArn), aws.ToString(td.RegisteredBy)
	switch {
	case by == "":
		f.Detail = fmt.Sprintf("ECS does not say who registered %s (no registeredBy)", arn)
	case sameIdentity(by, callerARN):
		f.Detail = fmt.Sprintf("%s was registered by %s, the identity tier deploys with", arn, by)
	default:
		f.Warn = true
		f.Detail = fmt.Sprintf("%s was registered by %s, not by %s, the identity tier deploys with: "+
			"if a tool registered it (Terraform, CDK, a pipeline), that tool owns the task definition, "+
			"and its next apply points the service back at its own revision, undoing the revision tier pins", arn, by, callerARN)
		f.Fix = "make the tool leave the service's task definition to tier (Terraform: lifecycle { ignore_changes = [task_definition] } on the aws_ecs_service), " +
			"or deploy this environment with mode: track-tag; if tier registered it with other credentials, run tier doctor with those"
	}
	return f
}

// sameIdentity reports whether two principal ARNs are one identity: equal,
// or sessions of one assumed role (arn:aws:sts::<account>:assumed-role/<role>/<session>).
func sameIdentity(a, b string) bool {
	if a == b {
		return true
	}
	role := func(arn string) (string, bool) {
		i := strings.Index(arn, ":assumed-role/")
		if i < 0 || !strings.HasPrefix(arn, "arn:") {
			return "", false
		}
		j := strings.LastIndexByte(arn, '/')
		return arn[:j], j > i+len(":assumed-role/")
	}
	ra, oka := role(a)
	rb, okb := role(b)
	return oka && okb && ra == rb
}

// lifecycle reads the lifecycle policy of svc's repository in the ECR
// registry, with the registry account's credentials, for rules that can
// expire or archive images tier needs. It reports false when the registry
// is not an ECR registry.
func (t *Target) lifecycle(ctx context.Context, env config.Environment, svc config.Service) (target.Finding, bool) {
	registryID, region, ok := ecr.ParseHost(t.o.Registry)
	if !ok {
		return target.Finding{}, false
	}
	f := target.Finding{Environment: env.Name, Check: "lifecycle policy"}
	_, prefix, _ := strings.Cut(t.o.Registry, "/")
	repo := path.Join(prefix, svc.Repository)
	cfg, err := t.creds.Config(ctx, awscred.Settings{Environment: "registry", Region: region})
	if err == nil {
		err = lifecycleRules(ctx, awsecr.NewFromConfig(cfg), registryID, repo, t.releaseTiers(), &f)
	}
	if err != nil {
		f.OK, f.Warn = true, true
		f.Detail = fmt.Sprintf("could not read the lifecycle policy of repository %s, which may expire releases: %v", repo, err)
		f.Fix = "run tier doctor with the registry account's credentials (AWS_PROFILE) allowed ecr:GetLifecyclePolicy"
	}
	return f, true
}

// releaseTiers returns the names of the release tiers, sorted.
func (t *Target) releaseTiers() []string {
	var out []string
	for tier, release := range t.o.ReleaseTiers {
		if release {
			out = append(out, tier)
		}
	}
	slices.Sort(out)
	return out
}

// lifecycleRules fills in f from the lifecycle policy of repository repo
// in registry registryID. It returns an error when the policy cannot be
// read.
func lifecycleRules(ctx context.Context, api lifecycleAPI, registryID, repo string, releaseTiers []string, f *target.Finding) error {
	out, err := api.GetLifecyclePolicy(ctx, &awsecr.GetLifecyclePolicyInput{RegistryId: aws.String(registryID), RepositoryName: aws.String(repo)})
	var none *ecrtypes.LifecyclePolicyNotFoundException
	var noRepo *ecrtypes.RepositoryNotFoundException
	switch {
	case errors.As(err, &none):
		f.OK, f.Detail = true, fmt.Sprintf("repository %s has no lifecycle policy: no image expires", repo)
		return nil
	case errors.As(err, &noRepo):
		f.Detail = fmt.Sprintf("repository %s does not exist in registry %s", repo, registryID)
		f.Fix = fmt.Sprintf("create it (aws ecr create-repository --repository-name %s), or correct the service's repository: in tier.yaml", repo)
		return nil
	case err != nil:
		return fmt.Errorf("GetLifecyclePolicy %s: %w", repo, err)
	}
	risks, err := lifecycleRisks(aws.ToString(out.LifecyclePolicyText), releaseTiers)
	if err != nil {
		return err
	}
	f.OK = true
	if len(risks) == 0 {
		f.Detail = fmt.Sprintf("repository %s's lifecycle policy expires no release image and no commit-tagged build", repo)
		return nil
	}
	var rs []string
	for _, r := range risks {
		rs = append(rs, r.String())
	}
	f.Warn = true
	f.Detail = fmt.Sprintf("repository %s's lifecycle policy: %s; a rollback to an image it removed fails, and so does a task start of a build an environment runs",
		repo, strings.Join(rs, "; "))
	f.Fix = "keep release and commit tags out of expiring rules: give each tagged rule a tagPatternList that matches neither, " +
		"and before a tagStatus any rule put one that selects the release tags (tagPatternList [\"<tier>-*\"]) and keeps as many as you may roll back to (docs/targets/ecr.md)"
	return nil
}

// pullAccess checks that the registry's repository of svc lets account
// pull. It reports false when the registry is not an ECR registry, where
// tier cannot read who may pull.
func (t *Target) pullAccess(ctx context.Context, env config.Environment, svc config.Service, account string) (target.Finding, bool) {
	registryID, region, ok := ecr.ParseHost(t.o.Registry)
	if !ok {
		return target.Finding{}, false
	}
	f := target.Finding{Environment: env.Name, Check: "pull access"}
	if registryID == account {
		f.OK, f.Detail = true, "same account as the registry: IAM alone grants the pull"
		return f, true
	}
	// A path after the host is the start of every repository's name.
	_, prefix, _ := strings.Cut(t.o.Registry, "/")
	repo := path.Join(prefix, svc.Repository)
	cfg, err := t.creds.Config(ctx, awscred.Settings{Environment: "registry", Region: region})
	if err == nil {
		err = policyAllows(ctx, awsecr.NewFromConfig(cfg), registryID, repo, account, &f)
	}
	if err != nil {
		f.Detail, f.Fix = err.Error(), "run tier doctor with the registry account's credentials (AWS_PROFILE) allowed ecr:GetRepositoryPolicy"
	}
	return f, true
}

// policyAllows fills in f from the policy of repository repo in registry
// registryID. It returns an error when the policy cannot be read.
func policyAllows(ctx context.Context, api policyAPI, registryID, repo, account string, f *target.Finding) error {
	out, err := api.GetRepositoryPolicy(ctx, &awsecr.GetRepositoryPolicyInput{RegistryId: aws.String(registryID), RepositoryName: aws.String(repo)})
	var none *ecrtypes.RepositoryPolicyNotFoundException
	switch {
	case errors.As(err, &none):
		f.Detail = fmt.Sprintf("repository %s has no policy, so account %s cannot pull", repo, account)
		f.Fix = "set a repository policy allowing ecr:BatchGetImage and ecr:GetDownloadUrlForLayer to arn:aws:iam::" + account + ":root (docs/targets/ecs.md)"
		return nil
	case err != nil:
		return fmt.Errorf("GetRepositoryPolicy %s: %w", repo, err)
	}
	if allowsPull(aws.ToString(out.PolicyText), account) {
		f.OK, f.Detail = true, fmt.Sprintf("repository %s lets account %s pull", repo, account)
	} else {
		f.Detail = fmt.Sprintf("repository %s's policy does not let account %s pull (or only under conditions, which tier does not judge)", repo, account)
		f.Fix = "add arn:aws:iam::" + account + ":root to the policy's pull statement (ecr:BatchGetImage, ecr:GetDownloadUrlForLayer; docs/targets/ecs.md)"
	}
	return nil
}

// inRepository reports whether image is repo:tag, repo@digest or
// repo:tag@digest.
func inRepository(image, repo string) bool {
	rest, ok := strings.CutPrefix(image, repo)
	return ok && (rest == "" || rest[0] == ':' || rest[0] == '@')
}

// credentialFix says how to fix the credentials the ecs block names.
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
