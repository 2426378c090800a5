// Package dockertest gives end-to-end tests real Docker engines and images
// they can run: the engines started by scripts/docker-engines.sh (or
// DOCKER_HOST), an embedded registry the engines pull from, and a static
// build of tier whose "demo-app" command is the web app inside the images.
//
// Without a reachable engine the tests skip with a message, except when
// TIER_REQUIRE_SYSTEMS=1 (set by .ci/run), where they fail.
package dockertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/moby/client"

	"github.com/tierdeploy/tier/push"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/registry/embedded"
)

// Required reports whether missing systems fail tests instead of skipping.
func Required() bool { return os.Getenv("TIER_REQUIRE_SYSTEMS") == "1" }

// Hosts returns n Docker hosts that answer: from TIER_DOCKER_HOSTS
// (comma-separated), else DOCKER_HOST. With fewer than n, the test is
// skipped (failed under TIER_REQUIRE_SYSTEMS=1).
func Hosts(t testing.TB, n int) []string {
	t.Helper()
	var candidates []string
	if v := os.Getenv("TIER_DOCKER_HOSTS"); v != "" {
		candidates = strings.Split(v, ",")
	} else if v := os.Getenv("DOCKER_HOST"); v != "" {
		candidates = []string{v}
	}
	var ok []string
	for _, h := range candidates {
		c, err := client.New(client.WithHost(h), client.WithAPIVersionNegotiation())
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = c.Ping(ctx, client.PingOptions{})
		cancel()
		c.Close()
		if err == nil {
			ok = append(ok, h)
		}
	}
	if len(ok) < n {
		msg := "needs %d Docker engines, found %d answering (set TIER_DOCKER_HOSTS, or run scripts/docker-engines.sh start and export what it prints)"
		if Required() {
			t.Fatalf(msg, n, len(ok))
		}
		t.Skipf(msg, n, len(ok))
	}
	return ok[:n]
}

// Client returns an API client for host, closed when the test ends.
func Client(t testing.TB, host string) *client.Client {
	t.Helper()
	c, err := client.New(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var (
	appOnce sync.Once
	appPath string
	appErr  error
)

// App builds tier as a static binary once per test process and returns its
// path; images run it as "tier demo-app".
func App(t testing.TB) string {
	t.Helper()
	appOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			appErr = err
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		// One shared path for every test binary: each builds (cached by
		// go) into a temporary file and renames it there, so nothing piles
		// up in /tmp and readers never see a half-written binary.
		appPath = filepath.Join(os.TempDir(), "tier-dockertest-app")
		tmp := fmt.Sprintf("%s.%d", appPath, os.Getpid())
		cmd := exec.Command("go", "build", "-o", tmp, "./cmd/tier")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			appErr = err
			t.Logf("go build: %s", out)
			return
		}
		appErr = os.Rename(tmp, appPath)
	})
	if appErr != nil {
		t.Fatalf("building the static app: %v", appErr)
	}
	return appPath
}

// Registry serves a fresh embedded registry on 127.0.0.1 for the test and
// returns a client for it; engines on this machine pull from it over HTTP.
func Registry(t testing.TB) *registry.Client {
	t.Helper()
	srv, err := embedded.Serve(context.Background(), t.TempDir(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	c, err := registry.New(srv.Addr(), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Build describes one image of the demo app.
type Build struct {
	Version string
	Commit  string
	// Env is added to the image config (e.g. DEMO_APP_EXIT=3 for a build
	// that exits at once).
	Env []string
	// Healthcheck, when set, becomes the image's Docker HEALTHCHECK.
	Healthcheck []string
}

// Push pushes b as repo:<commit> and returns its digest.
func Push(t testing.TB, c *registry.Client, repo string, b Build) v1.Hash {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(App(t))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "app"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "app", "tier"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	layer, err := push.DirLayer(dir, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Entrypoint = []string{"/app/tier", "demo-app"}
	cf.Config.Env = append([]string{"VERSION=" + b.Version}, b.Env...)
	if b.Healthcheck != nil {
		cf.Config.Healthcheck = &v1.HealthConfig{Test: b.Healthcheck, Interval: time.Second, Timeout: time.Second, Retries: 3}
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	res, err := push.Push(context.Background(), c, img, push.Request{Repository: repo, Commit: b.Commit, Created: time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return res.Digest
}
