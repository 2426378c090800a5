// Package deploy is tier's rollout engine: given the deployments a
// promotion planned (one pinned digest per environment and service), it
// deploys them through their targets at once, with bounded parallelism,
// waits for each rollout, verifies from the platform that each environment
// runs exactly that digest, and reports per environment. One failure never
// blocks the others. Package promote drives it; it knows nothing of tags.
package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/health"
)

// DefaultParallel bounds how many environments deploy at once. Deploys wait
// on remote platforms, not on this machine, so the bound is generous: a
// tier of up to this many environments takes the time of its slowest one.
// What a platform can take at once is the target's to say
// (target.Throttled): per Docker engine, per AWS account and region.
const DefaultParallel = 1000

// DefaultTimeout bounds one environment's rollout.
const DefaultTimeout = 15 * time.Minute

// Outcome is how one environment's rollout ended.
type Outcome string

// Outcomes. Only Verified means the platform runs exactly the digest.
const (
	Verified    Outcome = "verified"     // the platform runs exactly the digest
	Failed      Outcome = "failed"       // the deploy or rollout failed, or the platform rolled back
	TimedOut    Outcome = "timed-out"    // no convergence within the timeout
	NotVerified Outcome = "not-verified" // the rollout ended but the platform runs another digest
	Superseded  Outcome = "superseded"   // another promotion moved the tier's tag meanwhile
	Planned     Outcome = "planned"      // dry run
)

// Result is the outcome of one environment (and service). Field names are
// the JSON API's.
type Result struct {
	Environment string   `json:"environment"`
	Tier        string   `json:"tier"`
	Tenant      string   `json:"tenant"`
	Service     string   `json:"service"`
	Target      string   `json:"target"`
	FromDigests []string `json:"from_digests"`
	FromCommit  string   `json:"from_commit,omitempty"`
	ToDigest    string   `json:"to_digest"`
	ToCommit    string   `json:"to_commit,omitempty"`
	Outcome     Outcome  `json:"outcome"`
	Reason      string   `json:"reason,omitempty"`
	Seconds     float64  `json:"seconds"`
	URL         string   `json:"url,omitempty"`
}

// Verdict sums results up: Done when every environment is verified (or
// planned), NoneVerified when none converged, Partial otherwise. Exit
// statuses follow it: 0, 1 and 3.
type Verdict int

// Verdicts.
const (
	Done Verdict = iota
	Partial
	NoneVerified
)

// String returns the verdict's name: "done", "partial" or "none-verified".
func (v Verdict) String() string {
	switch v {
	case Done:
		return "done"
	case Partial:
		return "partial"
	case NoneVerified:
		return "none-verified"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// MarshalText writes the verdict's name in JSON.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// VerdictOf returns the verdict of results.
func VerdictOf(results []Result) Verdict {
	ok, bad := 0, 0
	for _, x := range results {
		switch x.Outcome {
		case Verified, Planned:
			ok++
		case Superseded:
			// Neither success nor failure of ours: someone else's build won.
		default:
			bad++
		}
	}
	switch {
	case ok == len(results):
		return Done
	case ok == 0 && bad == len(results):
		return NoneVerified
	}
	return Partial
}

// Phase is a step of one environment's rollout, for live progress.
type Phase string

// Phases reported through Engine.Progress.
const (
	// PhaseQueued is sent for every deployment, in order, before any starts.
	PhaseQueued    Phase = "queued"
	PhaseObserving Phase = "observing"
	PhaseDeploying Phase = "deploying"
	PhaseWaiting   Phase = "waiting"
	PhaseDone      Phase = "done"
)

// Event is a progress report for one environment.
type Event struct {
	Environment string
	Service     string
	Phase       Phase
	// Outcome is set when Phase is PhaseDone.
	Outcome Outcome
	Message string
	Elapsed time.Duration
}

// Engine deploys through the targets of environments.
type Engine struct {
	// Target returns the target of an environment.
	Target target.Factory
	// Current re-reads what the tier's tag points to for svc now, after
	// deploying, to detect a promotion that raced this one.
	Current func(ctx context.Context, svc config.Service) (digest v1.Hash, commit string, err error)
	// Platforms returns the platform manifests of digest when it is an
	// image index, for a digest Current returned; may be nil.
	Platforms func(ctx context.Context, svc config.Service, digest v1.Hash) []v1.Hash
	// Commit names the commit of a digest for reports; may be nil.
	Commit func(ctx context.Context, svc config.Service, digest v1.Hash) string
	// Parallel bounds concurrent environments (DefaultParallel when 0).
	Parallel int
	// Timeout bounds each environment's rollout (DefaultTimeout when 0).
	Timeout time.Duration
	// Poll is the first wait between observations (250ms when 0); it grows
	// by half each time up to MaxPoll (5s when 0).
	Poll, MaxPoll time.Duration
	// Settle is how many consecutive observations of another digest, with no
	// rollout in flight, end a rollout as not verified, and how many
	// consecutive failed observations end it as failed: one failed health
	// probe is not a verdict (3 when 0).
	Settle int
	// MaxRounds bounds how many times, after deploying, the engine follows
	// a tag that racing promotions keep moving (10 when 0).
	MaxRounds int
	// Progress receives live events; may be nil. Calls are serialized.
	Progress func(Event)
	Log      *slog.Logger

	slots sync.Map // target.Throttled slot key -> chan struct{}
	// Now and Sleep are the clock; nil means real time.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	mu sync.Mutex
}

func (e *Engine) defaults() {
	if e.Parallel <= 0 {
		e.Parallel = DefaultParallel
	}
	if e.Timeout <= 0 {
		e.Timeout = DefaultTimeout
	}
	if e.Poll <= 0 {
		e.Poll = 250 * time.Millisecond
	}
	if e.MaxPoll <= 0 {
		e.MaxPoll = 5 * time.Second
	}
	if e.Settle <= 0 {
		e.Settle = 3
	}
	if e.MaxRounds <= 0 {
		e.MaxRounds = 10
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Sleep == nil {
		e.Sleep = health.Sleep
	}
	if e.Log == nil {
		e.Log = slog.New(slog.DiscardHandler)
	}
}

func (e *Engine) emit(ev Event) {
	if e.Progress == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Progress(ev)
}

// Run makes every deployment with bounded parallelism and returns every
// outcome, in order. With dryRun it only observes and reports what would
// change.
func (e *Engine) Run(ctx context.Context, items []target.Deployment, dryRun bool) []Result {
	e.defaults()
	for _, it := range items {
		e.emit(Event{Environment: it.Environment.Name, Service: it.Service.Name, Phase: PhaseQueued})
	}
	results := make([]Result, len(items))
	e.each(ctx, len(items), func(ctx context.Context, i int) {
		results[i] = e.one(ctx, items[i], dryRun)
	})
	if !dryRun {
		e.converge(ctx, items, results)
	}
	return results
}

// each runs f for 0..n-1, at most Parallel at once, and waits for all.
func (e *Engine) each(ctx context.Context, n int, f func(ctx context.Context, i int)) {
	var g errgroup.Group
	g.SetLimit(e.Parallel)
	for i := range n {
		g.Go(func() error {
			f(ctx, i)
			return nil
		})
	}
	g.Wait()
}

// slot waits for a free slot of env's throttled platform endpoint, if its
// target has such limits, and returns the function that frees it.
func (e *Engine) slot(ctx context.Context, tg target.Target, env config.Environment) (func(), error) {
	th, ok := tg.(target.Throttled)
	if !ok {
		return func() {}, nil
	}
	key, limit := th.Slot(env)
	if limit <= 0 {
		return func() {}, nil
	}
	v, _ := e.slots.LoadOrStore(key, make(chan struct{}, limit))
	sem := v.(chan struct{})
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e *Engine) one(ctx context.Context, it target.Deployment, dryRun bool) Result {
	start := e.Now()
	env := it.Environment
	r := Result{Environment: env.Name, Tier: env.Tier, Tenant: env.Tenant, Service: it.Service.Name, Target: env.Target.Kind(),
		ToDigest: it.Digest.String(), ToCommit: it.Commit, FromDigests: []string{}}
	done := func(o Outcome, reason string) Result {
		r.Outcome, r.Reason, r.Seconds = o, reason, e.Now().Sub(start).Seconds()
		e.emit(Event{Environment: env.Name, Service: it.Service.Name, Phase: PhaseDone, Outcome: o, Message: reason, Elapsed: e.Now().Sub(start)})
		return r
	}
	if e.Target == nil {
		return done(Failed, "no target factory: the engine was given none")
	}
	tg, err := e.Target(env)
	if err != nil {
		return done(Failed, fmt.Sprintf("target: %v", err))
	}
	free, err := e.slot(ctx, tg, env)
	if err != nil {
		return done(Failed, fmt.Sprintf("interrupted while waiting for a free slot of the platform: %v", err))
	}
	defer free()
	e.emit(Event{Environment: env.Name, Service: it.Service.Name, Phase: PhaseObserving})
	before, err := tg.Observe(ctx, env, it.Service)
	if err != nil {
		if dryRun {
			return done(Planned, fmt.Sprintf("cannot observe: %v", err))
		}
		e.Log.Warn("observing before deploy", "environment", env.Name, "err", err)
	}
	for _, d := range before.Running {
		r.FromDigests = append(r.FromDigests, d.String())
	}
	if len(before.Running) > 0 && e.Commit != nil {
		r.FromCommit = e.Commit(ctx, it.Service, before.Running[0])
	}
	r.URL = before.URL
	if dryRun {
		if it.RunBy(before) {
			return done(Planned, "already runs it")
		}
		return done(Planned, "")
	}
	if it.RunBy(before) {
		return done(Verified, "already running")
	}
	rctx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	e.emit(Event{Environment: env.Name, Service: it.Service.Name, Phase: PhaseDeploying, Elapsed: e.Now().Sub(start)})
	if it.Image == "" {
		it.Image = it.Repository + "@" + it.Digest.String()
	}
	err = tg.Deploy(rctx, it)
	if err != nil {
		if errors.Is(rctx.Err(), context.DeadlineExceeded) {
			return done(TimedOut, fmt.Sprintf("deploy did not finish within %s: %v", e.Timeout, err))
		}
		return done(Failed, err.Error())
	}
	o, reason, url := e.wait(rctx, tg, it, start)
	if url != "" {
		r.URL = url
	}
	return done(o, reason)
}

// wait observes until the platform runs exactly the digest, reports a
// failure, settles on another digest, or the rollout times out.
func (e *Engine) wait(ctx context.Context, tg target.Target, it target.Deployment, start time.Time) (Outcome, string, string) {
	env := it.Environment
	poll := e.Poll
	other, failed := 0, 0
	var last target.Observation
	var lastErr error
	for {
		obs, err := tg.Observe(ctx, env, it.Service)
		switch {
		case err != nil && ctx.Err() != nil:
			// Cut off by our own deadline: keep the last real observation.
		case target.Permanent(err):
			return Failed, err.Error(), last.URL
		case err != nil:
			lastErr = err
		case it.RunBy(obs):
			return Verified, "", obs.URL
		case obs.State == target.Failed:
			last, lastErr, other = obs, nil, 0
			if failed++; failed >= e.Settle {
				return Failed, cmp.Or(obs.Reason, "the platform reports the rollout failed"), obs.URL
			}
		case obs.State == target.Running:
			last, lastErr, failed = obs, nil, 0
			if other++; other >= e.Settle {
				return NotVerified, fmt.Sprintf("the platform runs %s, not %s", digests(obs.Running), target.Short(it.Digest.String())), obs.URL
			}
		default:
			last, lastErr, other, failed = obs, nil, 0, 0
		}
		e.emit(Event{Environment: env.Name, Service: it.Service.Name, Phase: PhaseWaiting, Message: string(last.State), Elapsed: e.Now().Sub(start)})
		if err := e.Sleep(ctx, poll); err != nil {
			reason := fmt.Sprintf("not converged within %s", e.Timeout)
			if lastErr != nil {
				reason += fmt.Sprintf("; last observation failed: %v", lastErr)
			} else if last.State != "" {
				reason += fmt.Sprintf("; last seen %s running %s", last.State, digests(last.Running))
				if last.Reason != "" {
					reason += ": " + last.Reason
				}
			}
			if errors.Is(err, context.DeadlineExceeded) && last.State == target.Failed && lastErr == nil {
				// A failure seen at the deadline is a failure, not a timeout.
				return Failed, cmp.Or(last.Reason, "the platform reports the rollout failed"), last.URL
			}
			if errors.Is(err, context.DeadlineExceeded) {
				return TimedOut, reason, last.URL
			}
			return Failed, fmt.Sprintf("interrupted: %v", err), last.URL
		}
		poll = min(poll+poll/2, e.MaxPoll)
	}
}

// converge re-reads each service's tag after deploying and, while another
// promotion has moved it, brings this promotion's environments to the
// digest it points to now, then reads it again: the registry says what
// should run, so racing promotions all end on the tag's last digest, and
// the last one to finish checks that before it returns. Environments moved
// this way are reported superseded. After MaxRounds moves it gives up and
// says the tag kept moving.
func (e *Engine) converge(ctx context.Context, items []target.Deployment, results []Result) {
	if e.Current == nil || len(items) == 0 {
		return
	}
	// deployed is what this run last set each environment to.
	deployed := make([]v1.Hash, len(items))
	for i, it := range items {
		deployed[i] = it.Digest
	}
	for round := 1; ; round++ {
		now := map[string]v1.Hash{}
		commits := map[string]string{}
		unread := map[string]error{}
		for i, it := range items {
			if _, seen := now[it.Service.Name]; seen {
				continue
			}
			d, c, err := e.Current(ctx, it.Service)
			if err != nil {
				// Not sure the tag stayed: not verified.
				e.Log.Warn("re-reading the tier's tag", "service", it.Service.Name, "err", err)
				d, unread[it.Service.Name] = deployed[i], err
			}
			now[it.Service.Name], commits[it.Service.Name] = d, c
		}
		var redo []int
		for i, it := range items {
			if err := unread[it.Service.Name]; err != nil && results[i].Outcome == Verified {
				results[i].Outcome, results[i].Reason = NotVerified, fmt.Sprintf("deployed, but the %s tag could not be read again to check no other promotion moved it: %v", it.Tag, err)
			}
			if now[it.Service.Name] != deployed[i] {
				redo = append(redo, i)
			}
		}
		// Once: an environment that ended on another build while the tag
		// still names this one (a racing deploy of another promotion
		// landed after this one's) is deployed again.
		var retry []int
		if round == 1 {
			for i, it := range items {
				if now[it.Service.Name] == deployed[i] && unread[it.Service.Name] == nil && results[i].Outcome == NotVerified {
					retry = append(retry, i)
				}
			}
		}
		if len(redo) == 0 && len(retry) == 0 {
			return
		}
		e.each(ctx, len(retry), func(ctx context.Context, k int) {
			results[retry[k]] = e.one(ctx, items[retry[k]], false)
		})
		if len(redo) == 0 {
			continue
		}
		if round > e.MaxRounds {
			for _, i := range redo {
				r := &results[i]
				r.Outcome = Superseded
				r.Reason = fmt.Sprintf("the %s tag kept moving (%d times while this promotion ran): left to the promotions that moved it", items[i].Tag, e.MaxRounds)
			}
			return
		}
		e.each(ctx, len(redo), func(ctx context.Context, k int) {
			i := redo[k]
			it := items[i]
			winner := it
			winner.Digest, winner.Commit, winner.Image, winner.Platforms = now[it.Service.Name], commits[it.Service.Name], "", nil
			if e.Platforms != nil {
				winner.Platforms = e.Platforms(ctx, it.Service, winner.Digest)
			}
			res := e.one(ctx, winner, false)
			deployed[i] = winner.Digest
			r := &results[i]
			r.Outcome = Superseded
			r.Reason = fmt.Sprintf("another promotion moved %s to %s meanwhile; left on it (%s)", it.Tag, cmp.Or(target.Short(winner.Commit), target.Short(winner.Digest.String())), res.Outcome)
			if res.Outcome != Verified {
				r.Reason += ": " + res.Reason
			}
		})
	}
}

func digests(ds []v1.Hash) string {
	if len(ds) == 0 {
		return "nothing"
	}
	var out []string
	for _, d := range ds {
		out = append(out, target.Short(d.String()))
	}
	return strings.Join(out, ", ")
}
