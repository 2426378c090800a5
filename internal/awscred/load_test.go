package awscred_test

import (
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/tierdeploy/tier/internal/awscred"
)

// TestConfigLoadedOncePerSettings: environments whose settings differ only
// in their names share one loaded configuration, however many ask at once;
// an AWS_CA_BUNDLE is parsed when a distinct setting is loaded, not again
// for each environment; each environment that assumes a role still has its
// own credentials.
func TestConfigLoadedOncePerSettings(t *testing.T) {
	isolate(t)
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", bundle)
	env := map[string]string{"KEY": "AKIADEV0000000000000", "SECRET": "s1"}
	c := &awscred.Cache{Getenv: func(k string) string { return env[k] }}
	settings := func(name, region, role string) awscred.Settings {
		return awscred.Settings{Environment: name, Region: region, AccessKeyIDEnv: "KEY", SecretAccessKeyEnv: "SECRET", RoleARN: role}
	}

	const n = 100
	cfgs := make([]aws.Config, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			if cfgs[i], err = c.Config(t.Context(), settings(fmt.Sprintf("dev-%d", i), "us-east-1", "")); err != nil {
				t.Errorf("Config(dev-%d) error = %v", i, err)
			}
		})
	}
	wg.Wait()
	for i, cfg := range cfgs {
		if cfg.HTTPClient != cfgs[0].HTTPClient || cfg.Credentials != cfgs[0].Credentials {
			t.Fatalf("Config(dev-%d) is another load than Config(dev-0), want one load for the same settings", i)
		}
	}

	// The bundle was parsed: without it, the same settings are still
	// served from the load, and other settings are loaded, and fail.
	if err := os.Remove(bundle); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Config(t.Context(), settings("dev-late", "us-east-1", "")); err != nil {
		t.Errorf("Config(dev-late) error = %v, want the loaded configuration", err)
	}
	_, err := c.Config(t.Context(), settings("eu", "eu-west-1", ""))
	if err == nil || !strings.Contains(err.Error(), "environment eu:") || !strings.Contains(err.Error(), "ca.pem") {
		t.Errorf("Config(eu) with the bundle gone error = %v, want a load of its own that fails, naming the environment", err)
	}

	var roleA aws.Config
	roleA, err = c.Config(t.Context(), settings("prod-a", "us-east-1", "arn:aws:iam::222222222222:role/deployer"))
	if err != nil {
		t.Fatal(err)
	}
	roleB, err := c.Config(t.Context(), settings("prod-b", "us-east-1", "arn:aws:iam::222222222222:role/deployer"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Config(t.Context(), settings("prod-a", "us-east-1", "arn:aws:iam::222222222222:role/deployer"))
	if err != nil {
		t.Fatal(err)
	}
	if roleA.Credentials == roleB.Credentials || roleA.Credentials == cfgs[0].Credentials {
		t.Errorf("prod-a and prod-b share credentials, want a session each")
	}
	if again.Credentials != roleA.Credentials {
		t.Errorf("Config(prod-a) again gave other credentials, want the cached ones")
	}
}
