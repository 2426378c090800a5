package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/registry/embedded"
	"github.com/tierdeploy/tier/target/targettest"
)

// stressRounds is how many rounds each racing stress test runs: 4 by
// default (about a minute in all on 2 cores), TIER_STRESS_ROUNDS for more.
func stressRounds(t *testing.T) int {
	if v := os.Getenv("TIER_STRESS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("TIER_STRESS_ROUNDS=%q: want a positive number", v)
		}
		return n
	}
	return 4
}

// raceProject is a project whose promotions run as separate tier
// processes: a tier binary, a registry served by this test, builds of the
// demo app, and three local environments of dev and one of prod.
type raceProject struct {
	t       *testing.T
	bin     string
	cfg     string
	reg     *registry.Client
	ports   map[string]int
	commits []string          // build i has commits[i] and VERSION v<i>
	digests map[string]string // commit -> digest
}

func newRaceProject(t *testing.T, builds int) *raceProject {
	t.Helper()
	if testing.Short() {
		t.Skip("racing promotions of real processes: skipped with -short")
	}
	e := newEnv(t)
	p := &raceProject{t: t, bin: filepath.Join(e.dir, "tier"), ports: map[string]int{}, digests: map[string]string{}}
	build := exec.Command("go", "build", "-o", p.bin, "github.com/tierdeploy/tier/cmd/tier")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tier: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := embedded.Serve(ctx, filepath.Join(e.dir, "registry"), "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()); cancel() })
	if p.reg, err = registry.New(srv.Addr(), registry.Options{}); err != nil {
		t.Fatal(err)
	}
	envs := ""
	for _, n := range []string{"dev", "mb-dev", "dev-eu", "prod"} {
		p.ports[n] = targettest.FreePort(t)
		tier, tenant := "dev", "default"
		if n == "prod" {
			tier = "prod"
		}
		if n == "mb-dev" {
			tenant = "mb"
		}
		envs += fmt.Sprintf("  %s: {tier: %s, tenant: %s, local: {port: %d, health: /healthz}}\n", n, tier, tenant, p.ports[n])
	}
	e.config(fmt.Sprintf("registry: %s\nservices:\n  api: {repository: api}\ntiers:\n  - {name: dev, tag: dev}\n  - {name: prod, release: true, from: dev}\nenvironments:\n%s", srv.Addr(), envs))
	p.cfg = filepath.Join(e.dir, "tier.yaml")
	t.Cleanup(func() {
		for n := range p.ports {
			stopLocal(t, e, n)
		}
	})
	app := appDir(t, e.dir)
	for i := range builds {
		commit := fmt.Sprintf("%040x", i+1)
		code, out, stderr := e.run("push", "api", app, "--commit", commit, "--entrypoint", "/app/server,demo-app", "--env", fmt.Sprintf("VERSION=v%d", i), "-o", "json")
		var r struct{ Digest string }
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
			t.Fatalf("push v%d = %d: %s%s", i, code, out, stderr)
		}
		p.commits = append(p.commits, commit)
		p.digests[commit] = r.Digest
	}
	return p
}

// outcome is one tier process of a round.
type outcome struct {
	code   int
	ended  time.Time
	report promote.Report
	stderr string
}

// race starts one `tier promote TIER --commit C` per commit, each after
// its offset, and waits for all.
func (p *raceProject) race(tier string, commits []string, offsets []time.Duration) []outcome {
	out := make([]outcome, len(commits))
	var wg sync.WaitGroup
	for i, c := range commits {
		wg.Go(func() {
			time.Sleep(offsets[i])
			cmd := exec.Command(p.bin, "--config", p.cfg, "promote", tier, "--commit", c, "--timeout", "90s", "-o", "json")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			o := outcome{ended: time.Now(), stderr: stderr.String()}
			if ee, ok := err.(*exec.ExitError); ok {
				o.code = ee.ExitCode()
			} else if err != nil {
				o.code = -1
				o.stderr += err.Error()
			}
			if jerr := json.Unmarshal(stdout.Bytes(), &o.report); jerr != nil && o.code != 2 {
				o.stderr += fmt.Sprintf("\n(stdout is not a report: %v: %s)", jerr, stdout.String())
			}
			out[i] = o
		})
	}
	wg.Wait()
	return out
}

// serves asks env's app which version it serves.
func (p *raceProject) serves(env string) string {
	return version(p.t, p.ports[env])
}

func (p *raceProject) versionOf(digest string) string {
	for i, c := range p.commits {
		if p.digests[c] == digest {
			return fmt.Sprintf("v%d", i)
		}
	}
	return "unknown " + digest
}

// Racing `tier promote dev` processes, started at random offsets: when all
// have exited, every environment runs the build the dev tag points to
// last, every process exited 0 or 3, and the last one to exit is right
// about what runs.
func TestRacingPromotionsConverge(t *testing.T) {
	p := newRaceProject(t, 5)
	rounds := stressRounds(t)
	rng := rand.New(rand.NewPCG(1, 2))
	exits := map[int]int{}
	for round := range rounds {
		n := 3 + rng.IntN(3) // 3 to 5 processes on 2 cores
		var commits []string
		var offsets []time.Duration
		for range n {
			commits = append(commits, p.commits[rng.IntN(len(p.commits))])
			offsets = append(offsets, time.Duration(rng.IntN(600))*time.Millisecond)
		}
		outs := p.race("dev", commits, offsets)
		d, err := p.reg.Head(context.Background(), "api", "dev")
		if err != nil {
			t.Fatalf("round %d: reading api:dev: %v", round, err)
		}
		final := p.versionOf(d.Digest.String())
		for _, env := range []string{"dev", "mb-dev", "dev-eu"} {
			if got := p.serves(env); got != final+"@"+env {
				t.Errorf("round %d: %s serves %s, but api:dev is %s", round, env, got, final)
			}
		}
		last := 0
		for i, o := range outs {
			exits[o.code]++
			if o.code != 0 && o.code != 3 {
				t.Errorf("round %d: process %d (%s) exited %d:\n%s", round, i, p.versionOf(p.digests[commits[i]]), o.code, o.stderr)
			}
			if o.code == 0 {
				for _, e := range o.report.Environments {
					if e.Outcome != "verified" || e.ToDigest != p.digests[commits[i]] {
						t.Errorf("round %d: process %d exited 0 with %s %s on %s", round, i, e.Environment, e.Outcome, p.versionOf(e.ToDigest))
					}
				}
			}
			if o.ended.After(outs[last].ended) {
				last = i
			}
		}
		if o := outs[last]; o.code == 0 && p.digests[commits[last]] != d.Digest.String() {
			t.Errorf("round %d: the last process to exit said 0 on %s, but api:dev is %s", round, p.versionOf(p.digests[commits[last]]), final)
		}
		t.Logf("round %d: %d processes, api:dev ends on %s, exits %v", round, n, final, codes(outs))
	}
	t.Logf("%d rounds: exit statuses %v", rounds, exits)
}

// Racing `tier promote prod` processes in one second: no release tag holds
// a build other than the one the process that cut it reported.
func TestRacingReleasesKeepTheLog(t *testing.T) {
	p := newRaceProject(t, 4)
	rounds := stressRounds(t)
	rng := rand.New(rand.NewPCG(3, 4))
	cut, collided := 0, 0
	for round := range rounds {
		n := 2 + rng.IntN(3) // 2 to 4 releases at once
		var commits []string
		for i := range n {
			commits = append(commits, p.commits[(round+i)%len(p.commits)])
		}
		outs := p.race("prod", commits, make([]time.Duration, n))
		for i, o := range outs {
			if o.code != 0 && o.code != 3 {
				t.Errorf("round %d: release %d exited %d: %+v\n%s", round, i, o.code, o.report.Tags, o.stderr)
			}
			for _, c := range o.report.Tags {
				if c.Status != promote.Released {
					continue
				}
				cut++
				if c.Note != "" {
					collided++
				}
				d, err := p.reg.Head(context.Background(), "api", c.Tag)
				if err != nil || d.Digest.String() != c.Digest {
					t.Errorf("round %d: process %d reported %s released as %s, but the tag holds %v (%v)", round, i, p.versionOf(c.Digest), c.Tag, d.Digest, err)
				}
			}
		}
		t.Logf("round %d: %d releases at once, exits %v", round, n, codes(outs))
	}
	tags, err := p.reg.Tags(context.Background(), "api")
	if err != nil {
		t.Fatal(err)
	}
	releases := slices.DeleteFunc(tags, func(s string) bool { return len(s) < 5 || s[:5] != "prod-" })
	if len(releases) != cut {
		t.Errorf("%d release tags in the registry, %d reported cut: a release was lost or not reported", len(releases), cut)
	}
	// Releases started at once collide: otherwise this test raced nothing.
	if collided == 0 {
		t.Errorf("no release of %d rounds found its tag taken: the releases did not race", rounds)
	}
	t.Logf("%d rounds: %d release tags cut, %d after a collision, each holding the build its process reported", rounds, cut, collided)
}

func codes(outs []outcome) []int {
	var c []int
	for _, o := range outs {
		c = append(c, o.code)
	}
	return c
}
