package promote_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/deploy"
	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/push"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/status"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/targettest"
)

// library is a project used through the library alone: a registry with two
// builds of api, the seed's ladder with two environments per tier, and a
// scripted target.
type library struct {
	reg    *registry.Client
	tg     *targettest.Target
	p      *promote.Promoter
	builds map[string]v1.Hash
}

func newLibrary(t *testing.T) *library {
	t.Helper()
	reg, err := registry.New(testreg.New(t), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := func(name, tier, tenant string) config.Environment {
		return config.Environment{Name: name, Tier: tier, Tenant: tenant, Target: config.Target{Local: &config.Local{Port: 1}}}
	}
	cfg := &config.Config{
		Services: []config.Service{{Name: "api", Repository: "api"}},
		Tiers:    []config.Tier{{Name: "dev", Tag: "dev"}, {Name: "prod", Release: true, From: "dev"}},
		Environments: []config.Environment{
			env("dev", "dev", "default"), env("mb-dev", "dev", "mb"),
			env("prod", "prod", "default"), env("mb-prod", "prod", "mb"),
		},
	}
	l := &library{reg: reg, tg: targettest.New(), builds: map[string]v1.Hash{}}
	for _, commit := range []string{commit1, commit2} {
		img, err := random.Image(128, 1)
		if err != nil {
			t.Fatal(err)
		}
		res, err := push.Push(context.Background(), reg, img, push.Request{Repository: "api", Commit: commit, Created: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		l.builds[commit] = res.Digest
	}
	l.p = &promote.Promoter{
		Config:   cfg,
		Registry: reg,
		Targets:  func(config.Environment) (target.Target, error) { return l.tg, nil },
		Poll:     5 * time.Millisecond,
		Timeout:  5 * time.Second,
		// Racing releases in these tests land at once.
		ReleaseSettle: time.Millisecond,
		Now:           func() time.Time { return time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC) },
	}
	return l
}

func outcomesOf(rep *promote.Report) map[string]deploy.Outcome {
	out := map[string]deploy.Outcome{}
	for _, e := range rep.Environments {
		out[e.Environment] = e.Outcome
	}
	return out
}

// A promotion is one call of the library: it moves the tag, deploys every
// environment of the tier and returns one report with its verdict.
func TestPromotionIsOneCall(t *testing.T) {
	ctx := context.Background()
	fast := targettest.Script{ConvergeAfter: 10 * time.Millisecond}
	tests := []struct {
		name     string
		scripts  map[string]targettest.Script
		verdict  deploy.Verdict
		outcomes map[string]deploy.Outcome
		problem  string
	}{
		{"every environment verified", map[string]targettest.Script{"dev": fast, "mb-dev": fast},
			deploy.Done, map[string]deploy.Outcome{"dev": deploy.Verified, "mb-dev": deploy.Verified}, ""},
		{"one environment fails", map[string]targettest.Script{"dev": fast, "mb-dev": {DeployErr: errors.New("access denied")}},
			deploy.Partial, map[string]deploy.Outcome{"dev": deploy.Verified, "mb-dev": deploy.Failed}, "1 of 2 environments not verified: mb-dev/api (failed)"},
		{"the platform rolls both back", map[string]targettest.Script{"dev": {RollBack: "circuit breaker"}, "mb-dev": {RollBack: "circuit breaker"}},
			deploy.NoneVerified, map[string]deploy.Outcome{"dev": deploy.Failed, "mb-dev": deploy.Failed}, "2 of 2 environments not verified"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLibrary(t)
			for name, s := range tc.scripts {
				l.tg.Set(name, s)
			}
			rep, err := l.p.Promote(ctx, promote.Request{Tier: "dev", Commit: commit1[:7]})
			if err != nil {
				t.Fatalf("Promote(dev, %s) error = %v", commit1[:7], err)
			}
			if len(rep.Tags) != 1 || rep.Tags[0].Status != promote.Moved || rep.Tags[0].Digest != l.builds[commit1].String() {
				t.Errorf("Promote(dev).Tags = %+v, want api:dev moved to %s", rep.Tags, l.builds[commit1])
			}
			if got := outcomesOf(rep); len(got) != len(tc.outcomes) || got["dev"] != tc.outcomes["dev"] || got["mb-dev"] != tc.outcomes["mb-dev"] {
				t.Errorf("Promote(dev) outcomes = %v, want %v", got, tc.outcomes)
			}
			if v := rep.Verdict(); v != tc.verdict {
				t.Errorf("Promote(dev).Verdict() = %d, want %d", v, tc.verdict)
			}
			if p := rep.Problem(); (tc.problem == "") != (p == "") || !strings.Contains(p, tc.problem) {
				t.Errorf("Promote(dev).Problem() = %q, want %q", p, tc.problem)
			}
			if d, err := l.reg.Head(ctx, "api", "dev"); err != nil || d.Digest != l.builds[commit1] {
				t.Errorf("api:dev = %v, %v after the promotion, want %s", d, err, l.builds[commit1])
			}
		})
	}
}

// A dry run observes and plans, and neither moves a tag nor deploys.
func TestPromotionDryRun(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	l.tg.Set("dev", targettest.Script{}, l.builds[commit2])
	rep, err := l.p.Promote(ctx, promote.Request{Tier: "dev", Commit: commit1, DryRun: true})
	if err != nil {
		t.Fatalf("Promote(dev, dry run) error = %v", err)
	}
	if !rep.DryRun || rep.Tags[0].Status != promote.Planned || rep.Verdict() != deploy.Done {
		t.Errorf("Promote(dev, dry run) = %+v, verdict %d, want a planned tag and verdict Done", rep, rep.Verdict())
	}
	if got := outcomesOf(rep); got["dev"] != deploy.Planned || got["mb-dev"] != deploy.Planned {
		t.Errorf("Promote(dev, dry run) outcomes = %v, want both planned", got)
	}
	if d := l.tg.Deploys(); len(d) != 0 {
		t.Errorf("Promote(dev, dry run) deployed %v, want nothing", d)
	}
	if _, err := l.reg.Head(ctx, "api", "dev"); err == nil {
		t.Errorf("Promote(dev, dry run) created api:dev")
	}
}

// A release and a rollback to the release before are one call each, and
// the rollback redeploys the earlier build under a new release tag.
func TestReleaseAndRollbackAreOneCallEach(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	clock := time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC)
	l.p.Now = func() time.Time { return clock }
	for _, commit := range []string{commit1, commit2} {
		if _, err := l.p.Promote(ctx, promote.Request{Tier: "dev", Commit: commit}); err != nil {
			t.Fatal(err)
		}
		rep, err := l.p.Promote(ctx, promote.Request{Tier: "prod"})
		if err != nil || rep.Verdict() != deploy.Done || rep.Tags[0].Status != promote.Released {
			t.Fatalf("Promote(prod) = %+v, %v, want a verified release", rep, err)
		}
		clock = clock.Add(time.Hour)
	}
	rep, err := l.p.Rollback(ctx, promote.RollbackRequest{Tier: "prod"})
	if err != nil {
		t.Fatalf("Rollback(prod) error = %v", err)
	}
	c := rep.Tags[0]
	if c.Status != promote.Released || c.Digest != l.builds[commit1].String() || c.Tag != "prod-20201112T123000Z" {
		t.Errorf("Rollback(prod).Tags[0] = %+v, want release prod-20201112T123000Z of %s", c, l.builds[commit1])
	}
	if rep.Verdict() != deploy.Done {
		t.Errorf("Rollback(prod) verdict = %d (%s), want Done", rep.Verdict(), rep.Problem())
	}
	for _, env := range []string{"prod", "mb-prod"} {
		if got := l.tg.Running(env); len(got) != 1 || got[0] != l.builds[commit1] {
			t.Errorf("%s runs %v after the rollback, want %s", env, got, l.builds[commit1])
		}
	}
}

// racer is a transport that, right after this promotion writes api:dev,
// moves api:dev to another build, as a racing promotion would.
type racer struct {
	next  http.RoundTripper
	move  func() error
	fired atomic.Bool
}

func (r *racer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/api/manifests/dev") && r.fired.CompareAndSwap(false, true) {
		if merr := r.move(); merr != nil {
			resp.Body.Close()
			return nil, merr
		}
	}
	return resp, err
}

// A promotion whose tag another promotion moved while it wrote it says it
// was superseded, deploys nothing of its own and is not done.
func TestPromotionSuperseded(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	other, err := registry.New(l.reg.Host(), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt := &racer{next: http.DefaultTransport, move: func() error { return other.Retag(ctx, "api", l.builds[commit2], "dev") }}
	racing, err := registry.New(l.reg.Host(), registry.Options{Transport: rt})
	if err != nil {
		t.Fatal(err)
	}
	l.p.Registry = racing
	rep, err := l.p.Promote(ctx, promote.Request{Tier: "dev", Commit: commit1})
	if err != nil {
		t.Fatalf("Promote(dev) error = %v", err)
	}
	if !rt.fired.Load() {
		t.Fatal("the racing write never happened")
	}
	if len(rep.Tags) != 1 || rep.Tags[0].Status != promote.Superseded {
		t.Fatalf("Promote(dev).Tags = %+v, want api superseded", rep.Tags)
	}
	if len(rep.Environments) != 0 || len(l.tg.Deploys()) != 0 {
		t.Errorf("Promote(dev) deployed %v (environments %+v), want nothing: they are the winner's", l.tg.Deploys(), rep.Environments)
	}
	if v, p := rep.Verdict(), rep.Problem(); v != deploy.Partial || !strings.Contains(p, "superseded: another promotion moved the dev tag of api") {
		t.Errorf("Promote(dev) verdict = %s, problem %q, want partial and superseded", v, p)
	}
	if d, _ := l.reg.Head(ctx, "api", "dev"); d.Digest != l.builds[commit2] {
		t.Errorf("api:dev = %s, want the winner's %s left in place", d.Digest, l.builds[commit2])
	}
}

// When the registry fails on a later service after earlier tags moved, the
// report lists what moved, says the promotion stopped, and the error says
// to run it again.
func TestPromotionStoppedAfterSomeTagsMoved(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	cfg := *l.p.Config
	cfg.Services = append([]config.Service{}, cfg.Services...)
	cfg.Services = append(cfg.Services, config.Service{Name: "worker", Repository: "worker"})
	l.p.Config = &cfg
	// worker has the build too, but the registry fails every write of
	// worker's tags.
	img, _ := random.Image(64, 1)
	if _, err := push.Push(ctx, l.reg, img, push.Request{Repository: "worker", Commit: commit1, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	failing, err := registry.New(l.reg.Host(), registry.Options{
		Transport: refuseWrites{next: http.DefaultTransport, path: "/worker/manifests/"},
		Retry:     registry.Retry{Attempts: 2, Base: time.Millisecond, Cap: time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	l.p.Registry = failing
	l.tg.Set("prod", targettest.Script{})
	rep, err := l.p.Promote(ctx, promote.Request{Tier: "prod", Commit: commit1})
	if err == nil || !strings.Contains(err.Error(), "service worker") || !strings.Contains(err.Error(), "the tags of api had already moved and were not deployed") {
		t.Fatalf("Promote(prod) error = %v, want worker's release failed after api's moved", err)
	}
	if rep == nil || len(rep.Tags) != 1 || rep.Tags[0].Service != "api" || rep.Tags[0].Status != promote.Released {
		t.Fatalf("Promote(prod) report = %+v, want api's release only", rep)
	}
	if rep.Verdict() != deploy.Partial || rep.Stopped == "" || rep.Problem() != rep.Stopped || len(l.tg.Deploys()) != 0 {
		t.Errorf("Promote(prod) verdict %s, stopped %q, deploys %v: want partial, stopped, nothing deployed", rep.Verdict(), rep.Stopped, l.tg.Deploys())
	}
	out, err := json.Marshal(rep)
	if err != nil || !strings.Contains(string(out), `"verdict":"partial"`) || !strings.Contains(string(out), `"stopped":`) {
		t.Errorf("json.Marshal(report) = %s, %v, want the verdict and why it stopped", out, err)
	}
}

// refuseWrites answers 500 to every PUT whose path holds path, without
// passing it on.
type refuseWrites struct {
	next http.RoundTripper
	path string
}

func (r refuseWrites) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && strings.Contains(req.URL.Path, r.path) {
		return &http.Response{StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error", Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}, Request: req}, nil
	}
	return r.next.RoundTrip(req)
}

// A multi-platform build (an image index) is running when the platform
// reports one of its platform manifests, as ECS reports imageDigest.
func TestPromotionOfAnIndex(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	idx, err := random.Index(128, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	commit := "3333333333333333333333333333333333333333"
	res, err := push.Push(ctx, l.reg, idx, push.Request{Repository: "api", Commit: commit, Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	child := m.Manifests[1].Digest
	for _, env := range []string{"dev", "mb-dev"} {
		l.tg.Set(env, targettest.Script{ConvergeAfter: time.Millisecond, Reports: &child})
	}
	rep, err := l.p.Promote(ctx, promote.Request{Tier: "dev", Commit: commit})
	if err != nil {
		t.Fatalf("Promote(dev, index) error = %v", err)
	}
	if rep.Verdict() != deploy.Done || rep.Tags[0].Digest != res.Digest.String() {
		t.Errorf("Promote(dev, index) = %s (%s), tag on %s; want done on the index %s", rep.Verdict(), rep.Problem(), rep.Tags[0].Digest, res.Digest)
	}
	g, err := status.Environments(ctx, l.p.Config, catalog.New(l.reg), l.p.Targets, status.Options{Tier: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range g.Environments {
		if e.State != target.InSync {
			t.Errorf("status of %s running the platform manifest %s = %s, want in-sync", e.Name, target.Short(child.String()), e.State)
		}
	}
}
