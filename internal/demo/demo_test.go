package demo

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tierdeploy/tier/internal/dockertest"
	"github.com/tierdeploy/tier/target"
)

// TestMain lets the test binary serve as the demo app inside the demo's
// images, as the tier binary does with "tier demo-app".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "demo-app" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := App(ctx)
		stop()
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRunOnce(t *testing.T) {
	dir := t.TempDir()
	for run := 1; run <= 2; run++ { // a second run on the same project works too
		var out bytes.Buffer
		res, err := Run(context.Background(), Options{Once: true, Dir: dir, Out: &out, Now: time.Now})
		if err != nil {
			t.Fatalf("run %d: Run(once) error = %v\n%s", run, err, out.String())
		}
		want := map[string]string{"dev": "v3", "mb-dev": "v3", "staging": "v2", "mb-staging": "v2", "prod": "v1", "mb-prod": "v1"}
		if len(res.Grid.Environments) != len(want) {
			t.Fatalf("run %d: %d environments, want %d", run, len(res.Grid.Environments), len(want))
		}
		for _, e := range res.Grid.Environments {
			if got := versionOf(res.Builds, first(e.RunningDigests)); got != want[e.Name] || e.State != target.InSync {
				t.Errorf("run %d: %s runs %s (%s), want %s in-sync", run, e.Name, got, e.State, want[e.Name])
			}
		}
		for _, s := range []string{"verified over HTTP", "stopped what the demo started", "prod-"} {
			if !strings.Contains(out.String(), s) {
				t.Errorf("run %d: output does not mention %q:\n%s", run, s, out.String())
			}
		}
		// Everything the demo started is stopped: nothing answers any more.
		for _, e := range res.Grid.Environments {
			if _, err := fetchInfo(context.Background(), e.URL); err == nil {
				t.Errorf("run %d: %s still answers at %s after the demo ended", run, e.Name, e.URL)
			}
		}
	}
}

func TestRunOnceDocker(t *testing.T) {
	host := dockertest.Hosts(t, 1)[0]
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{Once: true, Target: "docker", DockerHost: host, App: dockertest.App(t), Out: &out, Now: time.Now})
	if err != nil {
		t.Fatalf("Run(once, docker) error = %v\n%s", err, out.String())
	}
	for _, e := range res.Grid.Environments {
		if e.Target != "docker" || e.State != target.InSync {
			t.Errorf("%s = %s on %s, want in-sync on docker", e.Name, e.State, e.Target)
		}
	}
	if !strings.Contains(out.String(), "verified over HTTP") {
		t.Errorf("docker demo did not verify over HTTP:\n%s", out.String())
	}
}
