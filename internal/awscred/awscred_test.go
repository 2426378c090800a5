package awscred_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tierdeploy/tier/internal/awscred"
	"github.com/tierdeploy/tier/internal/awsfake"
)

func isolate(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

func TestEnvironmentKeysAndRoles(t *testing.T) {
	isolate(t)
	fake := awsfake.New(t)
	fake.AddKey("AKIADEV0000000000000", "111111111111")
	fake.AddKey("AKIAMB00000000000000", "210987654321")
	role := "arn:aws:iam::222222222222:role/deployer"
	fake.RequireExternalID(role, "ext-1")
	env := map[string]string{
		"DEV_KEY": "AKIADEV0000000000000", "DEV_SECRET": "s1",
		"MB_KEY": "AKIAMB00000000000000", "MB_SECRET": "s2",
	}
	c := &awscred.Cache{Endpoint: fake.URL, Getenv: func(k string) string { return env[k] }}
	ctx := context.Background()
	account := func(s awscred.Settings) string {
		t.Helper()
		cfg, err := c.Config(ctx, s)
		if err != nil {
			t.Fatalf("Config(%s) error = %v", s.Environment, err)
		}
		out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatalf("GetCallerIdentity(%s) error = %v", s.Environment, err)
		}
		return aws.ToString(out.Account)
	}
	dev := awscred.Settings{Environment: "dev", Region: "us-east-1", AccessKeyIDEnv: "DEV_KEY", SecretAccessKeyEnv: "DEV_SECRET"}
	mb := awscred.Settings{Environment: "mb-dev", Region: "us-east-1", AccessKeyIDEnv: "MB_KEY", SecretAccessKeyEnv: "MB_SECRET"}
	prod := awscred.Settings{Environment: "mb-prod", Region: "us-east-1", AccessKeyIDEnv: "DEV_KEY", SecretAccessKeyEnv: "DEV_SECRET", RoleARN: role, ExternalID: "ext-1"}
	if got := account(dev); got != "111111111111" {
		t.Errorf("dev account = %s, want 111111111111", got)
	}
	if got := account(mb); got != "210987654321" {
		t.Errorf("mb-dev account = %s, want 210987654321 (its own keys)", got)
	}
	if got := account(prod); got != "222222222222" {
		t.Errorf("mb-prod account = %s, want the role's 222222222222", got)
	}
	account(prod) // cached: no second AssumeRole
	roles := fake.AssumedRoles()
	if len(roles) != 1 || roles[0].SessionName != "tier-mb-prod" || roles[0].ExternalID != "ext-1" || roles[0].CallerAccount != "111111111111" {
		t.Errorf("AssumeRole calls = %+v, want one, session tier-mb-prod, external ID ext-1, from the dev keys' account", roles)
	}
}

func TestMissingKeysAndRegion(t *testing.T) {
	isolate(t)
	c := &awscred.Cache{Getenv: func(k string) string {
		if k == "MB_DEV_AWS_ACCESS_KEY_ID" {
			return "AKIAMB00000000000000"
		}
		return ""
	}}
	_, err := c.Config(context.Background(), awscred.Settings{Environment: "mb-dev", Region: "us-east-1",
		AccessKeyIDEnv: "MB_DEV_AWS_ACCESS_KEY_ID", SecretAccessKeyEnv: "MB_DEV_AWS_SECRET_ACCESS_KEY"})
	if err == nil || !strings.Contains(err.Error(), "$MB_DEV_AWS_SECRET_ACCESS_KEY is not set") || strings.Contains(err.Error(), "AKIAMB") {
		t.Errorf("Config(missing secret) error = %v, want it to name the unset variable and no key", err)
	}
	_, err = c.Config(context.Background(), awscred.Settings{Environment: "dev"})
	if err == nil || !strings.Contains(err.Error(), "no AWS region") {
		t.Errorf("Config(no region) error = %v, want no AWS region", err)
	}
}

// TestLongEnvironmentAssumesItsRole: STS takes role session names of 2 to
// 64 characters of [\w+=,.@-] (AssumeRole, STS API reference); the
// stand-in refuses others as STS does. An environment whose
// "tier-<name>" is longer is still deployed, under a name cut to fit and
// made unique by a hash of the whole name.
func TestLongEnvironmentAssumesItsRole(t *testing.T) {
	isolate(t)
	fake := awsfake.New(t)
	fake.AddKey("AKIADEV0000000000000", "111111111111")
	role := "arn:aws:iam::222222222222:role/deployer"
	env := map[string]string{"DEV_KEY": "AKIADEV0000000000000", "DEV_SECRET": "s1"}
	c := &awscred.Cache{Endpoint: fake.URL, Getenv: func(k string) string { return env[k] }}
	long := "payments-" + strings.Repeat("eu-central-1-", 5) + "blue"
	for _, name := range []string{long, long + "2"} {
		cfg, err := c.Config(t.Context(), awscred.Settings{Environment: name, Region: "us-east-1",
			AccessKeyIDEnv: "DEV_KEY", SecretAccessKeyEnv: "DEV_SECRET", RoleARN: role})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatalf("GetCallerIdentity(%s) error = %v, want the role assumed", name, err)
		}
	}
	roles := fake.AssumedRoles()
	if len(roles) != 2 {
		t.Fatalf("AssumeRole succeeded %d times, want 2", len(roles))
	}
	for i, r := range roles {
		if len(r.SessionName) > 64 || !strings.HasPrefix(r.SessionName, "tier-payments-eu-central-1-") {
			t.Errorf("session %d = %q (%d characters), want at most 64 starting with the environment's name", i, r.SessionName, len(r.SessionName))
		}
	}
	if roles[0].SessionName == roles[1].SessionName {
		t.Errorf("two environments share session %q", roles[0].SessionName)
	}
}

func TestSessionName(t *testing.T) {
	long := strings.Repeat("a", 70)
	tests := []struct {
		env, want string
	}{
		{"dev", "tier-dev"},
		{"mb-prod.eu_1", "tier-mb-prod.eu_1"},
		{strings.Repeat("a", 59), "tier-" + strings.Repeat("a", 59)},
		{long, "tier-" + strings.Repeat("a", 50) + "-" + hash8(long)},
		{"dev env/1", "tier-dev-env-1-" + hash8("dev env/1")},
	}
	for _, tt := range tests {
		if got := awscred.SessionName(tt.env); got != tt.want {
			t.Errorf("SessionName(%q) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

func hash8(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}
