package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tierdeploy/tier/internal/awsfake"
)

const (
	regAccount = "012345678922"
	defAccount = "111111111111"
	mbAccount  = "210987654321"
	region     = "us-east-1"
	ecrHostT   = regAccount + ".dkr.ecr." + region + ".amazonaws.com"
	mbRole     = "arn:aws:iam::" + mbAccount + ":role/tier-deployer"
)

// toStandIn sends every request to the AWS stand-in, keeping the Host
// header, as if DNS pointed the ECR registry host there.
type toStandIn struct{ base *url.URL }

func (t toStandIn) RoundTrip(orig *http.Request) (*http.Response, error) {
	r := orig.Clone(orig.Context())
	r.Host = r.URL.Host
	r.URL.Scheme, r.URL.Host = t.base.Scheme, t.base.Host
	resp, err := http.DefaultTransport.RoundTrip(r)
	if resp != nil {
		resp.Request = orig // the client saw https to the ECR host
	}
	return resp, err
}

// manifest makes an image manifest of one build, annotated as tier push
// does, and returns it with its digest.
func manifest(commit string, created time.Time) (string, string) {
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064x","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%064x","size":3}],"annotations":{"org.opencontainers.image.revision":"%s","org.opencontainers.image.created":"%s"}}`,
		len(commit), len(commit)+1, commit, created.Format(time.RFC3339))
	h := sha256.Sum256([]byte(m))
	return m, "sha256:" + hex.EncodeToString(h[:])
}

// TestSeedScenarioOnECS is the seed's setup on the AWS stand-in: one shared
// ECR registry account, six ECS services in two accounts with their own
// credentials, promoted dev -> staging -> prod release, then prod rolled
// back to a date.
func TestSeedScenarioOnECS(t *testing.T) {
	fake := awsfake.New(t)
	fake.AddKey("AKIAREGISTRY00000000", regAccount)
	fake.AddKey("AKIADEFAULT000000000", defAccount)
	fake.AddKey("AKIAMBDEV00000000000", mbAccount)
	fake.RequireExternalID(mbRole, "mb-deploys")
	fake.SetImageResolver(fake.ECRImageResolver())
	// The registry account's credentials are the default chain's.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAREGISTRY00000000")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "registry-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	keys := map[string]string{
		"DEFAULT_AWS_ACCESS_KEY_ID": "AKIADEFAULT000000000", "DEFAULT_AWS_SECRET_ACCESS_KEY": "default-secret",
		"MB_DEV_AWS_ACCESS_KEY_ID": "AKIAMBDEV00000000000", "MB_DEV_AWS_SECRET_ACCESS_KEY": "mb-dev-secret",
	}

	fake.AddRepository(regAccount, region, "api", "IMMUTABLE_WITH_EXCLUSION", "dev", "staging")
	c0, c1, c2 := strings.Repeat("0", 40), strings.Repeat("1", 40), strings.Repeat("2", 40)
	digests := map[string]string{}
	for i, c := range []string{c0, c1, c2} {
		m, d := manifest(c, time.Date(2020, 11, 10+i, 9, 0, 0, 0, time.UTC))
		fake.PutManifest(regAccount, region, "api", c, []byte(m), "application/vnd.oci.image.manifest.v1+json")
		digests[c] = d
	}
	m0, _ := manifest(c0, time.Date(2020, 11, 10, 9, 0, 0, 0, time.UTC))
	for _, tag := range []string{"dev", "staging"} {
		fake.PutManifest(regAccount, region, "api", tag, []byte(m0), "application/vnd.oci.image.manifest.v1+json")
	}
	repo := ecrHostT + "/api"
	for _, acct := range []string{defAccount, mbAccount} {
		for _, tier := range []string{"dev", "staging", "prod"} {
			cluster := "api-" + tier
			fake.AddCluster(acct, region, cluster)
			image := repo + ":" + tier
			if tier == "prod" {
				image = repo + "@" + digests[c0]
			}
			fake.AddService(acct, region, cluster, "api", awsfake.TaskDef{Family: "api-" + tier, Containers: map[string]string{"api": image},
				Extra: map[string]any{"cpu": "256", "memory": "512", "networkMode": "awsvpc"}}, 2, true)
		}
	}

	e := newEnv(t)
	e.config(fmt.Sprintf(`registry: %s
services:
  api: {repository: api}
tiers:
  - {name: dev, tag: dev}
  - {name: staging, tag: staging, from: dev}
  - {name: prod, release: true, from: staging}
environments:
  dev:        {tier: dev,     tenant: default, ecs: {cluster: api-dev, service: api, region: %[2]s, access_key_id_env: DEFAULT_AWS_ACCESS_KEY_ID, secret_access_key_env: DEFAULT_AWS_SECRET_ACCESS_KEY}}
  mb-dev:     {tier: dev,     tenant: mb,      ecs: {cluster: api-dev, service: api, region: %[2]s, access_key_id_env: MB_DEV_AWS_ACCESS_KEY_ID, secret_access_key_env: MB_DEV_AWS_SECRET_ACCESS_KEY}}
  staging:    {tier: staging, tenant: default, ecs: {cluster: api-staging, service: api, region: %[2]s, access_key_id_env: DEFAULT_AWS_ACCESS_KEY_ID, secret_access_key_env: DEFAULT_AWS_SECRET_ACCESS_KEY}}
  mb-staging: {tier: staging, tenant: mb,      ecs: {cluster: api-staging, service: api, region: %[2]s, role_arn: %[3]q, external_id: mb-deploys}}
  prod:       {tier: prod,    tenant: default, ecs: {cluster: api-prod, service: api, region: %[2]s, access_key_id_env: DEFAULT_AWS_ACCESS_KEY_ID, secret_access_key_env: DEFAULT_AWS_SECRET_ACCESS_KEY}}
  mb-prod:    {tier: prod,    tenant: mb,      ecs: {cluster: api-prod, service: api, region: %[2]s, role_arn: %[3]q, external_id: mb-deploys}}
`, ecrHostT, region, mbRole))
	base, _ := url.Parse(fake.URL)
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		a := &app{stdout: &out, stderr: &errb, now: func() time.Time { return e.clock },
			transport: toStandIn{base}, awsEndpoint: fake.URL, keychain: authn.NewMultiKeychain(),
			awsGetenv: func(k string) string { return keys[k] }}
		code := run(context.Background(), a, append([]string{"--config", filepath.Join(e.dir, "tier.yaml")}, args...))
		if code != want {
			t.Fatalf("tier %s = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out.String(), errb.String())
		}
		return out.String()
	}
	// updates returns "account/cluster -> image or force" for each
	// UpdateService since the last call.
	seen := 0
	updates := func() map[string]string {
		calls := fake.CallsOf("ecs:UpdateService")
		out := map[string]string{}
		for _, c := range calls[seen:] {
			key := c.Account + "/" + fmt.Sprint(c.Params["cluster"])
			if td, ok := c.Params["taskDefinition"].(string); ok {
				def, _ := fake.TaskDefinition(c.Account, region, td)
				cds, _ := def["containerDefinitions"].([]any)
				out[key] = fmt.Sprint(cds[0].(map[string]any)["image"])
			} else if c.Params["forceNewDeployment"] == true {
				out[key] = "force"
			}
		}
		seen = len(calls)
		return out
	}
	expect := func(step string, want map[string]string) {
		t.Helper()
		got := updates()
		if len(got) != len(want) {
			t.Errorf("%s: UpdateService calls = %v, want %v", step, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s updated with %q, want %q", step, k, got[k], v)
			}
		}
	}

	run(0, "promote", "dev", "--commit", c1[:8], "--timeout", "1m")
	expect("promote dev", map[string]string{defAccount + "/api-dev": "force", mbAccount + "/api-dev": "force"})
	if tags := fake.Tags(regAccount, region, "api"); tags["dev"] != digests[c1] {
		t.Errorf("api:dev = %s, want %s", tags["dev"], digests[c1])
	}
	for _, c := range fake.CallsOf("ecr:PutImage") {
		if c.Account != regAccount {
			t.Errorf("PutImage signed by account %s, want the registry account %s", c.Account, regAccount)
		}
	}

	run(0, "promote", "staging", "--timeout", "1m")
	expect("promote staging", map[string]string{defAccount + "/api-staging": "force", mbAccount + "/api-staging": "force"})
	roles := fake.AssumedRoles()
	if len(roles) == 0 || roles[0].SessionName != "tier-mb-staging" || roles[0].ExternalID != "mb-deploys" || roles[0].Account != mbAccount {
		t.Errorf("AssumeRole = %+v, want session tier-mb-staging with the external ID into %s", roles, mbAccount)
	}

	run(0, "promote", "prod", "--timeout", "1m")
	rel1 := "prod-20201112T103000Z"
	expect("promote prod", map[string]string{defAccount + "/api-prod": repo + ":" + rel1 + "@" + digests[c1], mbAccount + "/api-prod": repo + ":" + rel1 + "@" + digests[c1]})

	e.clock = time.Date(2020, 11, 13, 9, 0, 0, 0, time.UTC)
	run(0, "promote", "dev", "--commit", c2, "--timeout", "1m")
	run(0, "promote", "staging", "--timeout", "1m")
	run(0, "promote", "prod", "--timeout", "1m")
	updates()

	// The release live at the end of the 12th was c1: a new release now.
	e.clock = time.Date(2020, 11, 14, 12, 0, 0, 0, time.UTC)
	run(0, "rollback", "prod", "--to", "2020-11-12", "--timeout", "1m")
	rel3 := "prod-20201114T120000Z"
	expect("rollback prod", map[string]string{defAccount + "/api-prod": repo + ":" + rel3 + "@" + digests[c1], mbAccount + "/api-prod": repo + ":" + rel3 + "@" + digests[c1]})
	if tags := fake.Tags(regAccount, region, "api"); tags[rel3] != digests[c1] || tags["prod-20201113T090000Z"] != digests[c2] || tags[rel1] != digests[c1] {
		t.Errorf("release tags = %v, want %s and %s on c1, the 13th's on c2", tags, rel1, rel3)
	}

	// Every ECS call was signed with its environment's own credentials:
	// the default tenant's keys, mb-dev's keys, or mb's assumed role.
	assumed := map[string]bool{}
	for _, r := range fake.AssumedRoles() {
		assumed[r.AccessKeyID] = true
	}
	for _, c := range fake.Calls {
		if c.Service != "ecs" {
			continue
		}
		cluster, hasCluster := c.Params["cluster"]
		switch {
		case !hasCluster && (c.AccessKeyID == "AKIADEFAULT000000000" || c.AccessKeyID == "AKIAMBDEV00000000000" || assumed[c.AccessKeyID]):
			// Task-definition calls name no cluster.
		case c.Account == defAccount && c.AccessKeyID == "AKIADEFAULT000000000":
		case c.Account == mbAccount && c.AccessKeyID == "AKIAMBDEV00000000000" && cluster == "api-dev":
		case c.Account == mbAccount && assumed[c.AccessKeyID] && cluster != "api-dev":
		default:
			t.Errorf("%s on cluster %v signed by %s of account %s: not that environment's credentials", c.Operation, c.Params["cluster"], c.AccessKeyID, c.Account)
		}
	}
	// The grid agrees.
	out := run(0, "status", "-o", "json")
	var g struct {
		Environments []struct {
			Name, State    string
			RunningDigests []string `json:"running_digests"`
		}
	}
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"dev": digests[c2], "mb-dev": digests[c2], "staging": digests[c2], "mb-staging": digests[c2], "prod": digests[c1], "mb-prod": digests[c1]}
	for _, x := range g.Environments {
		if x.State != "in-sync" || len(x.RunningDigests) == 0 || x.RunningDigests[0] != want[x.Name] {
			t.Errorf("status %s = %s running %v, want in-sync on %s", x.Name, x.State, x.RunningDigests, want[x.Name])
		}
	}

	// tier doctor: everything but the cross-account pull, until the
	// repository policy allows both tenant accounts.
	out = run(1, "doctor")
	for _, w := range []string{"credentials", "arn:aws:sts::" + mbAccount + ":assumed-role/tier-deployer/tier-mb-prod", "has no policy, so account " + defAccount + " cannot pull"} {
		if !strings.Contains(out, w) {
			t.Errorf("doctor output lacks %q:\n%s", w, out)
		}
	}
	fake.SetRepositoryPolicy(regAccount, region, "api", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::`+defAccount+`:root","arn:aws:iam::`+mbAccount+`:root"]},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`)
	out = run(0, "doctor")
	if strings.Contains(out, "FAIL") || strings.Count(out, "\nok ") < 6*6 {
		t.Errorf("doctor after the policy fix:\n%s", out)
	}
}
