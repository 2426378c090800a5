package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/deploy"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/targettest"
)

var (
	old  = targettest.Hash("old")
	newD = targettest.Hash("new")
	api  = config.Service{Name: "api", Repository: "api"}
)

func env(name, tenant string) config.Environment {
	return config.Environment{Name: name, Tier: "dev", Tenant: tenant, Target: config.Target{Local: &config.Local{Port: 1}}}
}

func items(digest v1.Hash, names ...string) []target.Deployment {
	var out []target.Deployment
	for _, n := range names {
		tenant := "default"
		if strings.HasPrefix(n, "mb-") {
			tenant = "mb"
		}
		out = append(out, target.Deployment{Environment: env(n, tenant), Service: api, Repository: "127.0.0.1:5000/api", Tag: "dev", Digest: digest, Commit: "c0ffee"})
	}
	return out
}

func engine(tg *targettest.Target) *deploy.Engine {
	return &deploy.Engine{
		Target:  func(config.Environment) (target.Target, error) { return tg, nil },
		Poll:    5 * time.Millisecond,
		MaxPoll: 20 * time.Millisecond,
		Timeout: 2 * time.Second,
	}
}

func outcomes(r []deploy.Result) map[string]deploy.Result {
	out := map[string]deploy.Result{}
	for _, x := range r {
		out[x.Environment] = x
	}
	return out
}

func TestRun(t *testing.T) {
	fast := targettest.Script{Latency: time.Millisecond, ConvergeAfter: 20 * time.Millisecond}
	tests := []struct {
		name    string
		scripts map[string]targettest.Script
		timeout time.Duration
		want    map[string]deploy.Outcome
		reasons map[string]string
		verdict deploy.Verdict
	}{
		{
			name:    "all succeed",
			scripts: map[string]targettest.Script{"dev": fast, "mb-dev": fast},
			want:    map[string]deploy.Outcome{"dev": deploy.Verified, "mb-dev": deploy.Verified},
			verdict: deploy.Done,
		},
		{
			name:    "one fails, the other is verified",
			scripts: map[string]targettest.Script{"dev": fast, "mb-dev": {DeployErr: errors.New("AccessDeniedException: not authorized to perform ecs:UpdateService")}},
			want:    map[string]deploy.Outcome{"dev": deploy.Verified, "mb-dev": deploy.Failed},
			reasons: map[string]string{"mb-dev": "AccessDeniedException"},
			verdict: deploy.Partial,
		},
		{
			name:    "never converges",
			scripts: map[string]targettest.Script{"dev": {Never: true}},
			timeout: 150 * time.Millisecond,
			want:    map[string]deploy.Outcome{"dev": deploy.TimedOut},
			reasons: map[string]string{"dev": "not converged within 150ms; last seen deploying"},
			verdict: deploy.NoneVerified,
		},
		{
			name:    "platform runs another digest",
			scripts: map[string]targettest.Script{"dev": {ConvergeAfter: time.Millisecond, Reports: ptr(targettest.Hash("other"))}},
			want:    map[string]deploy.Outcome{"dev": deploy.NotVerified},
			reasons: map[string]string{"dev": "the platform runs " + targettest.Hash("other").String()[:19]},
			verdict: deploy.NoneVerified,
		},
		{
			name:    "platform rolls back",
			scripts: map[string]targettest.Script{"dev": {ConvergeAfter: time.Millisecond, RollBack: "circuit breaker: tasks failed to start"}, "mb-dev": fast},
			want:    map[string]deploy.Outcome{"dev": deploy.Failed, "mb-dev": deploy.Verified},
			reasons: map[string]string{"dev": "circuit breaker"},
			verdict: deploy.Partial,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := targettest.New()
			var names []string
			for n, s := range tc.scripts {
				tg.Set(n, s, old)
				names = append(names, n)
			}
			e := engine(tg)
			if tc.timeout > 0 {
				e.Timeout = tc.timeout
			}
			rep := e.Run(context.Background(), items(newD, names...), false)
			got := outcomes(rep)
			for n, want := range tc.want {
				if got[n].Outcome != want {
					t.Errorf("Run() %s = %s (%s), want %s", n, got[n].Outcome, got[n].Reason, want)
				}
				if w := tc.reasons[n]; !strings.Contains(got[n].Reason, w) {
					t.Errorf("Run() %s reason = %q, want it to contain %q", n, got[n].Reason, w)
				}
				if len(got[n].FromDigests) != 1 || got[n].FromDigests[0] != old.String() {
					t.Errorf("Run() %s from = %v, want [%s]", n, got[n].FromDigests, old)
				}
			}
			if v := deploy.VerdictOf(rep); v != tc.verdict {
				t.Errorf("Verdict() = %d, want %d", v, tc.verdict)
			}
			// Verified means the platform runs exactly the digest.
			for n, r := range got {
				run := tg.Running(n)
				if r.Outcome == deploy.Verified && (len(run) != 1 || run[0] != newD) {
					t.Errorf("%s verified but runs %v", n, run)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestRunIsIdempotent(t *testing.T) {
	tg := targettest.New()
	tg.Set("dev", targettest.Script{}, newD)
	tg.Set("mb-dev", targettest.Script{}, old)
	rep := engine(tg).Run(context.Background(), items(newD, "dev", "mb-dev"), false)
	if deploy.VerdictOf(rep) != deploy.Done {
		t.Fatalf("Run() = %+v, want all verified", rep)
	}
	if got := tg.Deploys(); len(got) != 1 || !strings.HasPrefix(got[0], "mb-dev/api@") {
		t.Errorf("deploys = %v, want only mb-dev (dev already runs the digest)", got)
	}
	if r := outcomes(rep)["dev"]; r.Reason != "already running" {
		t.Errorf("dev reason = %q, want already running", r.Reason)
	}
	rep = engine(tg).Run(context.Background(), items(newD, "dev", "mb-dev"), false)
	if deploy.VerdictOf(rep) != deploy.Done || len(tg.Deploys()) != 1 {
		t.Errorf("second Run() deployed again: %v", tg.Deploys())
	}
}

func TestRunDryRunDeploysNothing(t *testing.T) {
	tg := targettest.New()
	tg.Set("dev", targettest.Script{}, old)
	tg.Set("mb-dev", targettest.Script{})
	rep := engine(tg).Run(context.Background(), items(newD, "dev", "mb-dev"), true)
	got := outcomes(rep)
	if got["dev"].Outcome != deploy.Planned || got["dev"].FromDigests[0] != old.String() || got["dev"].ToDigest != newD.String() {
		t.Errorf("dry run dev = %+v, want planned from %s to %s", got["dev"], old, newD)
	}
	if got["mb-dev"].Outcome != deploy.Planned || len(got["mb-dev"].FromDigests) != 0 {
		t.Errorf("dry run mb-dev = %+v, want planned from nothing", got["mb-dev"])
	}
	if d := tg.Deploys(); len(d) != 0 {
		t.Errorf("dry run deployed %v", d)
	}
}

func TestRunBoundsParallelism(t *testing.T) {
	tg := targettest.New()
	var names []string
	for i := range 8 {
		n := fmt.Sprintf("env%d", i)
		tg.Set(n, targettest.Script{Latency: 20 * time.Millisecond}, old)
		names = append(names, n)
	}
	e := engine(tg)
	e.Parallel = 3
	if rep := e.Run(context.Background(), items(newD, names...), false); deploy.VerdictOf(rep) != deploy.Done {
		t.Fatalf("Run() = %+v", rep)
	}
	if tg.MaxActive > 3 || tg.MaxActive < 2 {
		t.Errorf("deploys in flight at once = %d, want 2..3 with Parallel 3", tg.MaxActive)
	}
}

// Two promotions race on one tier: the tag ends on B; every environment
// ends on B; the promotion of A reports superseded, B's verified.
func TestRunRacingPromotions(t *testing.T) {
	a, b := targettest.Hash("A"), targettest.Hash("B")
	tg := targettest.New()
	names := []string{"dev", "mb-dev", "dev-eu"}
	for _, n := range names {
		tg.Set(n, targettest.Script{Latency: 5 * time.Millisecond, ConvergeAfter: 30 * time.Millisecond}, old)
	}
	var mu sync.Mutex
	tag := a // promotion A moved the tag first...
	current := func(context.Context, config.Service) (v1.Hash, string, error) {
		mu.Lock()
		defer mu.Unlock()
		return tag, "commit-of-tag", nil
	}
	ea, eb := engine(tg), engine(tg)
	ea.Current, eb.Current = current, current
	var ra, rb []deploy.Result
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); ra = ea.Run(context.Background(), items(a, names...), false) }()
	time.Sleep(10 * time.Millisecond)
	mu.Lock()
	tag = b // ...then B moved it while A was deploying.
	mu.Unlock()
	go func() { defer wg.Done(); rb = eb.Run(context.Background(), items(b, names...), false) }()
	wg.Wait()
	for _, r := range ra {
		if r.Outcome != deploy.Superseded || !strings.Contains(r.Reason, "another promotion moved dev") {
			t.Errorf("promotion A %s = %s (%s), want superseded", r.Environment, r.Outcome, r.Reason)
		}
	}
	for _, r := range rb {
		if r.Outcome != deploy.Verified {
			t.Errorf("promotion B %s = %s (%s), want verified", r.Environment, r.Outcome, r.Reason)
		}
	}
	for _, n := range names {
		if run := tg.Running(n); len(run) != 1 || run[0] != b {
			t.Errorf("%s runs %v after the race, want [%s]", n, run, b)
		}
	}
	if deploy.VerdictOf(ra) != deploy.Partial {
		t.Errorf("promotion A verdict = %d, want Partial (superseded is not done)", deploy.VerdictOf(ra))
	}
}

func TestRunTargetErrors(t *testing.T) {
	tg := targettest.New()
	tg.Set("dev", targettest.Script{}, old)
	e := engine(tg)
	e.Target = func(env config.Environment) (target.Target, error) {
		if env.Name == "mb-dev" {
			return nil, errors.New("no credentials for profile mb-dev")
		}
		return tg, nil
	}
	got := outcomes(e.Run(context.Background(), items(newD, "dev", "mb-dev"), false))
	if got["dev"].Outcome != deploy.Verified || got["mb-dev"].Outcome != deploy.Failed || !strings.Contains(got["mb-dev"].Reason, "no credentials") {
		t.Errorf("Run() = dev %s, mb-dev %s (%s); want verified and failed naming the credentials", got["dev"].Outcome, got["mb-dev"].Outcome, got["mb-dev"].Reason)
	}
}

type deniedErr struct{}

func (deniedErr) Error() string {
	return "AccessDeniedException: not authorized to perform ecs:ListTasks"
}
func (deniedErr) Permanent() bool { return true }

// An observation error that waiting cannot cure fails the environment at
// once, not at the timeout.
func TestRunPermanentObserveError(t *testing.T) {
	tg := targettest.New()
	tg.Set("dev", targettest.Script{ObserveErr: deniedErr{}}, old)
	e := engine(tg)
	e.Timeout = time.Hour
	start := time.Now()
	got := outcomes(e.Run(context.Background(), items(newD, "dev"), false))["dev"]
	if got.Outcome != deploy.Failed || !strings.Contains(got.Reason, "ecs:ListTasks") {
		t.Errorf("Run() dev = %s (%s), want failed naming the denied action", got.Outcome, got.Reason)
	}
	if time.Since(start) > time.Minute {
		t.Errorf("Run() waited %s for a permanent error", time.Since(start))
	}
}

// One failed health probe is not a verdict: a rollout whose environment
// reports failed twice, then runs the digest healthy, is verified; one
// that keeps reporting failed is failed.
func TestRunFailedProbeIsNotAVerdict(t *testing.T) {
	tg := targettest.New()
	tg.Set("dev", targettest.Script{ConvergeAfter: 5 * time.Millisecond, FailedProbes: 2}, old)
	tg.Set("mb-dev", targettest.Script{ConvergeAfter: 5 * time.Millisecond, RollBack: "circuit breaker"}, old)
	got := outcomes(engine(tg).Run(context.Background(), items(newD, "dev", "mb-dev"), false))
	if r := got["dev"]; r.Outcome != deploy.Verified {
		t.Errorf("dev with 2 failed probes = %s (%s), want verified", r.Outcome, r.Reason)
	}
	if r := got["mb-dev"]; r.Outcome != deploy.Failed || r.Reason != "circuit breaker" {
		t.Errorf("mb-dev rolled back = %s (%s), want failed: circuit breaker", r.Outcome, r.Reason)
	}
}

// Racing promotions that keep moving the tag: the engine follows the tag
// until it stays put after its last deploy, so every environment ends on
// the tag's last digest even when the tag moved again while the engine
// brought the environments to the previous winner.
func TestRunFollowsTheTagUntilItStays(t *testing.T) {
	c, d := targettest.Hash("C"), targettest.Hash("D")
	tg := targettest.New()
	names := []string{"dev", "mb-dev"}
	for _, n := range names {
		tg.Set(n, targettest.Script{ConvergeAfter: 5 * time.Millisecond}, old)
	}
	var mu sync.Mutex
	reads := 0
	// The tag is C at the first re-read, D from the second on: another
	// promotion moved it again while this one followed it to C.
	current := func(context.Context, config.Service) (v1.Hash, string, error) {
		mu.Lock()
		defer mu.Unlock()
		reads++
		if reads == 1 {
			return c, "c", nil
		}
		return d, "d", nil
	}
	e := engine(tg)
	e.Current = current
	res := e.Run(context.Background(), items(newD, names...), false)
	for _, n := range names {
		if run := tg.Running(n); len(run) != 1 || run[0] != d {
			t.Errorf("%s runs %v, want the tag's last digest [%s]", n, run, d)
		}
	}
	for _, r := range res {
		if r.Outcome != deploy.Superseded || !strings.Contains(r.Reason, "moved dev to d") {
			t.Errorf("%s = %s (%s), want superseded, left on d", r.Environment, r.Outcome, r.Reason)
		}
	}
	if reads != 3 {
		t.Errorf("Current was read %d times, want 3 (C, then D, then D again to see it stayed)", reads)
	}
}

// A tag that never stops moving is followed MaxRounds times, then left.
func TestRunGivesUpOnATagThatKeepsMoving(t *testing.T) {
	tg := targettest.New()
	tg.Set("dev", targettest.Script{}, old)
	n := 0
	e := engine(tg)
	e.MaxRounds = 3
	e.Current = func(context.Context, config.Service) (v1.Hash, string, error) {
		n++
		return targettest.Hash(fmt.Sprint("build", n)), "", nil
	}
	res := e.Run(context.Background(), items(newD, "dev"), false)
	if len(res) != 1 || res[0].Outcome != deploy.Superseded || !strings.Contains(res[0].Reason, "kept moving") {
		t.Errorf("Run with a tag that keeps moving = %+v, want superseded, kept moving", res)
	}
	if n != 4 {
		t.Errorf("Current was read %d times, want MaxRounds+1 = 4", n)
	}
}

// A tag that cannot be read again after deploying leaves the promotion
// unsure: its environments are not verified.
func TestRunUnreadableTagIsNotVerified(t *testing.T) {
	tg := targettest.New()
	tg.Set("dev", targettest.Script{ConvergeAfter: time.Millisecond}, old)
	e := engine(tg)
	e.Current = func(context.Context, config.Service) (v1.Hash, string, error) {
		return v1.Hash{}, "", fmt.Errorf("registry answered 503")
	}
	res := e.Run(context.Background(), items(newD, "dev"), false)
	if len(res) != 1 || res[0].Outcome != deploy.NotVerified || !strings.Contains(res[0].Reason, "could not be read again") {
		t.Errorf("Run with an unreadable tag = %+v, want not verified", res)
	}
}

// A failure first seen in the last polls before the deadline is a
// failure, not a timeout.
func TestRunFailureAtTheDeadlineIsAFailure(t *testing.T) {
	tg := targettest.New()
	tg.Set("dev", targettest.Script{ConvergeAfter: 50 * time.Millisecond, RollBack: "circuit breaker"}, old)
	e := engine(tg)
	// 100 failed observations in a row cannot fit in 400ms of polls at
	// most 20ms apart: the deadline comes first, with the failure seen.
	e.Timeout, e.Settle, e.Poll, e.MaxPoll = 400*time.Millisecond, 100, time.Millisecond, 2*time.Millisecond
	res := e.Run(context.Background(), items(newD, "dev"), false)
	if len(res) != 1 || res[0].Outcome != deploy.Failed || res[0].Reason != "circuit breaker" {
		t.Errorf("Run failing at the deadline = %+v, want failed: circuit breaker", res)
	}
}

// An environment another promotion's deploy left on its build, while the
// tag still names this promotion's, is deployed again once.
func TestRunRedeploysWhatARacingDeployOverwrote(t *testing.T) {
	other := targettest.Hash("other")
	tg := targettest.New()
	// The platform first reports another build (a racing deploy landed),
	// then, deployed again, converges.
	tg.Set("dev", targettest.Script{ConvergeAfter: time.Millisecond, Reports: &other}, old)
	e := engine(tg)
	reads := 0
	e.Current = func(context.Context, config.Service) (v1.Hash, string, error) {
		reads++
		if reads == 1 {
			tg.Set("dev", targettest.Script{ConvergeAfter: time.Millisecond}, other)
		}
		return newD, "", nil
	}
	res := e.Run(context.Background(), items(newD, "dev"), false)
	if len(res) != 1 || res[0].Outcome != deploy.Verified {
		t.Errorf("Run after a racing deploy overwrote dev = %+v, want verified on the second deploy", res)
	}
	if run := tg.Running("dev"); len(run) != 1 || run[0] != newD {
		t.Errorf("dev runs %v, want [%s]", run, newD)
	}
}

// throttled is a scripted target whose platform takes two environments at
// once.
type throttled struct{ *targettest.Target }

func (throttled) Slot(config.Environment) (string, int) { return "one endpoint", 2 }

// A target's slots bound its environments, whatever Parallel allows.
func TestRunHonoursTargetSlots(t *testing.T) {
	tg := targettest.New()
	names := []string{"a", "b", "c", "d", "e", "f"}
	for _, n := range names {
		tg.Set(n, targettest.Script{Latency: 10 * time.Millisecond, ConvergeAfter: 5 * time.Millisecond}, old)
	}
	e := engine(tg)
	e.Target = func(config.Environment) (target.Target, error) { return throttled{tg}, nil }
	res := e.Run(context.Background(), items(newD, names...), false)
	if deploy.VerdictOf(res) != deploy.Done {
		t.Fatalf("Run() = %+v, want every environment verified", res)
	}
	if tg.MaxActive > 2 {
		t.Errorf("%d deploys ran at once on a target with 2 slots", tg.MaxActive)
	}
}
