package status_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/awscred"
	"github.com/tierdeploy/tier/internal/awsfake"
	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/push"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/status"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/ecs"
)

const (
	ecsAccount = "111111111111"
	ecsRegion  = "us-east-1"
	ecsKey     = "AKIASTATUS0000000000"
)

// ecsGrid is a project of n ECS environments of tier dev, each its own
// cluster running the build dev's tag names, on the AWS stand-in behind a
// proxy that delays every call.
type ecsGrid struct {
	cfg *config.Config
	reg *registry.Client
	// files are the shared config and credentials files: profile "ok"
	// reaches the stand-in, profile "down" an address that refuses
	// connections.
	configFile, credentialsFile string
}

// slow returns the URL of a handler that waits d, then passes the request
// to the server at target (target itself, no proxy, when d is negative): the stand-in answers at once, under one lock, so the
// latency of a real API is added in front of it.
func slow(tb testing.TB, target string, d time.Duration) string {
	tb.Helper()
	if d < 0 {
		return target
	}
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = &http.Transport{MaxIdleConns: 2048, MaxIdleConnsPerHost: 2048}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		p.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// refused returns a URL nothing listens on.
func refused(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// isolateAWS keeps the SDK from reading this machine's AWS setup.
func isolateAWS(tb testing.TB) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		os.Unsetenv(k)
	}
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// newECSGrid builds n environments behind slow(latency); those named in
// down use profile "down".
func newECSGrid(tb testing.TB, n int, latency time.Duration, down ...string) *ecsGrid {
	tb.Helper()
	isolateAWS(tb)
	ctx := context.Background()
	host := testreg.New(tb)
	reg, err := registry.New(host, registry.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	fake := awsfake.New(tb)
	fake.AddKey(ecsKey, ecsAccount)
	cfg := &config.Config{
		Registry: host,
		Services: []config.Service{{Name: "api", Repository: "api"}},
		Tiers:    []config.Tier{{Name: "dev", Tag: "dev"}},
	}
	commit := "abcdefabcdefabcdefabcdefabcdefabcdefabcd"
	img, err := random.Image(64, 1)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := push.Push(ctx, reg, img, push.Request{Repository: "api", Commit: commit, Created: time.Now()})
	if err != nil {
		tb.Fatal(err)
	}
	p := &promote.Promoter{Config: cfg, Registry: reg}
	if _, err := p.Promote(ctx, promote.Request{Tier: "dev", Commit: commit}); err != nil {
		tb.Fatal(err)
	}
	fake.SetImageResolver(func(_, _, _ string) (string, bool) { return b.Digest.String(), true })
	for i := range n {
		name := fmt.Sprintf("dev-%04d", i)
		profile := "ok"
		for _, d := range down {
			if d == name {
				profile = "down"
			}
		}
		cfg.Environments = append(cfg.Environments, config.Environment{Name: name, Tier: "dev", Tenant: name,
			Target: config.Target{ECS: &config.ECS{Cluster: name, Service: "api", Region: ecsRegion, Profile: profile}}})
		fake.AddService(ecsAccount, ecsRegion, name, "api", awsfake.TaskDef{Family: name, Containers: map[string]string{"app": host + "/api:dev"}}, 1, true)
	}
	dir := tb.TempDir()
	g := &ecsGrid{cfg: cfg, reg: reg, configFile: filepath.Join(dir, "config"), credentialsFile: filepath.Join(dir, "credentials")}
	profiles := fmt.Sprintf("[profile ok]\nregion = %s\nendpoint_url = %s\n\n[profile down]\nregion = %s\nendpoint_url = %s\n",
		ecsRegion, slow(tb, fake.URL, latency), ecsRegion, refused(tb))
	keys := fmt.Sprintf("[ok]\naws_access_key_id = %s\naws_secret_access_key = s\n\n[down]\naws_access_key_id = %s\naws_secret_access_key = s\n", ecsKey, ecsKey)
	for path, text := range map[string]string{g.configFile: profiles, g.credentialsFile: keys} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return g
}

// status reads the grid as one cold `tier status` does: a new credential
// cache, ECS target and catalog.
func (g *ecsGrid) status(ctx context.Context) (status.Grid, error) {
	creds := &awscred.Cache{SharedConfigFiles: []string{g.configFile}, SharedCredentialsFiles: []string{g.credentialsFile}}
	tg := ecs.New(ecs.Options{Creds: creds, Registry: g.cfg.Registry})
	defer tg.Close()
	return status.Environments(ctx, g.cfg, catalog.New(g.reg), func(config.Environment) (target.Target, error) { return tg, nil }, status.Options{})
}

// TestUnreachableECSEnvironment: in a grid of 200 ECS environments, one
// whose endpoint refuses connections is shown unreachable with the reason,
// after its own few bounded attempts (not the SDK's 10 with backoffs of up
// to 20 s that deploys use), before the caller's deadline, and every other
// environment is read too.
func TestUnreachableECSEnvironment(t *testing.T) {
	const down = "dev-0117"
	g := newECSGrid(t, 200, -1, down)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	grid, err := g.status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("status outlived the caller's deadline: %v", ctx.Err())
	}
	if len(grid.Environments) != 200 {
		t.Fatalf("Environments() gave %d rows, want 200", len(grid.Environments))
	}
	for _, e := range grid.Environments {
		switch {
		case e.Name == down:
			if e.State != target.Unreachable || !strings.Contains(e.Reason, "connection refused") || !strings.Contains(e.Reason, "environment "+down) {
				t.Errorf("%s = %s (%q), want unreachable, naming the environment and the refused connection", e.Name, e.State, e.Reason)
			}
			// Observation tries a read 3 times; the SDK's default for
			// tier's deploys is 10, with backoffs of up to 20 s.
			if !strings.Contains(e.Reason, "maximum number of attempts, 3,") {
				t.Errorf("%s reason = %q, want the read given up after 3 attempts", e.Name, e.Reason)
			}
		case e.State != target.InSync:
			t.Errorf("%s = %s (%q), want in sync", e.Name, e.State, e.Reason)
		}
	}
}
