package local

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/health"
)

// observeProbes is how many health probes in a row must fail before
// Observe reports a running process failing.
const observeProbes = 3

// Defaults for Options.
const (
	DefaultHealthTimeout  = 60 * time.Second
	DefaultHealthInterval = 100 * time.Millisecond
	DefaultStopTimeout    = 10 * time.Second
)

// Options configure a Target.
type Options struct {
	// Dir is the state directory, e.g. <project>/.tier/local.
	Dir string
	// Registry pulls images by digest.
	Registry *registry.Client
	// Log receives progress; nil discards it.
	Log *slog.Logger
	// HealthTimeout bounds the wait for a new process to become healthy
	// (DefaultHealthTimeout when 0); the context's deadline applies too.
	HealthTimeout time.Duration
	// HealthInterval is the time between health probes
	// (DefaultHealthInterval when 0).
	HealthInterval time.Duration
	// StopTimeout is how long a process may take to exit after SIGTERM
	// before it gets SIGKILL (DefaultStopTimeout when 0).
	StopTimeout time.Duration
}

// Target runs builds as processes on this machine. It is safe for
// concurrent use, and any number of tier processes may share one Dir.
type Target struct {
	o   Options
	log *slog.Logger
}

var (
	_ target.Target  = (*Target)(nil)
	_ target.Stopper = (*Target)(nil)
)

// New returns a local target.
func New(o Options) *Target {
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = DefaultHealthTimeout
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = DefaultHealthInterval
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	return &Target{o: o, log: cmp.Or(o.Log, slog.New(slog.DiscardHandler))}
}

// Close implements target.Target. A local target holds nothing open
// between calls (the registry client is the caller's, the processes it
// started run on by design), so Close does nothing and returns nil.
func (t *Target) Close() error { return nil }

// nameRE is what config accepts as an environment or service name; they
// become file names here.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// files are the paths of one service of one environment.
type files struct {
	state, lock, log string
}

func (t *Target) files(env, svc string) (files, error) {
	if t.o.Dir == "" {
		return files{}, errors.New("local target: no state directory configured")
	}
	for _, n := range []string{env, svc} {
		if !nameRE.MatchString(n) {
			return files{}, fmt.Errorf("local target: %q cannot be used as a file name: use letters, digits, '.', '_', '-'", n)
		}
	}
	return files{
		state: filepath.Join(t.o.Dir, env, svc+".json"),
		lock:  filepath.Join(t.o.Dir, env, svc+".lock"),
		log:   filepath.Join(t.o.Dir, "logs", env, svc+".log"),
	}, nil
}

func localOf(env config.Environment) (*config.Local, error) {
	l := env.Target.Local
	if l == nil {
		return nil, fmt.Errorf("environment %s has no local target", env.Name)
	}
	if l.Port < 1 || l.Port > 65535 {
		return nil, fmt.Errorf("environment %s: local port %d is not a TCP port: set local.port in the configuration", env.Name, l.Port)
	}
	return l, nil
}

// Deploy runs d.Digest for d.Service in d.Environment and returns once it
// is healthy, or once it has failed and the previous build (if one ran)
// runs again; the failure is a *target.DeployError. Deploying the build that
// already runs healthy changes nothing. Deploys of one service to one
// environment run one at a time, across processes.
func (t *Target) Deploy(ctx context.Context, d target.Deployment) error {
	env, svc := d.Environment, d.Service
	l, err := localOf(env)
	if err != nil {
		return err
	}
	f, err := t.files(env.Name, svc.Name)
	if err != nil {
		return err
	}
	unlock, err := lock(ctx, f.lock)
	if err != nil {
		return fmt.Errorf("deploying %s to %s: %w", svc.Name, env.Name, err)
	}
	defer unlock()
	log := t.log.With("environment", env.Name, "service", svc.Name, "digest", d.Digest.String())

	old, err := readState(f.state)
	if err != nil {
		return fmt.Errorf("deploying %s to %s: %w", svc.Name, env.Name, err)
	}
	oldAlive := old != nil && alive(old.PID, old.StartTime)
	if oldAlive && old.Digest == d.Digest.String() && old.Port == l.Port {
		pctx, cancel := context.WithTimeout(ctx, health.ProbeTimeout)
		err := health.Probe(pctx, "127.0.0.1", l.Port, l.Health)
		cancel()
		if err == nil {
			log.Info("already running", "pid", old.PID)
			if old.Status == statusRunning {
				return nil
			}
			// It runs again after an earlier failed deploy of another build.
			now := *old
			now.Status, now.Reason, now.FailedDigest = statusRunning, "", ""
			return writeState(f.state, &now)
		}
		log.Info("running but unhealthy; restarting", "pid", old.PID, "err", err)
	}

	img, err := t.image(ctx, svc.Repository, d.Digest)
	if err != nil {
		return fmt.Errorf("deploying %s to %s: %w", svc.Name, env.Name, err)
	}
	r := run{env: env, local: l, svc: svc, digest: d.Digest, commit: d.Commit, log: f.log}
	sp, err := t.spec(img, r)
	if err != nil {
		return fmt.Errorf("deploying %s to %s: %w", svc.Name, env.Name, err)
	}
	if oldAlive {
		log.Info("stopping the previous process", "pid", old.PID, "previous", old.Digest)
		if err := t.stop(old.PID, old.StartTime); err != nil {
			return fmt.Errorf("deploying %s to %s: %w", svc.Name, env.Name, err)
		}
	}
	record := func(p *proc) error {
		s := &state{
			PID: p.pid, StartTime: p.start, Digest: d.Digest.String(), Commit: d.Commit, Port: l.Port,
			StartedAt: p.startedAt.UTC(), Argv: append([]string{sp.path}, sp.argv[1:]...), Log: f.log, Status: statusRunning,
		}
		if old != nil {
			s.Previous = old.Digest
		}
		// An unrecorded process could never be stopped by tier.
		return writeState(f.state, s)
	}
	p, cause := t.launch(ctx, sp, r, record)
	if cause == nil {
		log.Info("running", "pid", p.pid, "port", l.Port)
		return nil
	}

	log.Warn("new process failed", "reason", cause)
	de := &target.DeployError{Environment: env.Name, Service: svc.Name, Digest: d.Digest, Reason: cause.Error(), ExitCode: -1,
		PreviousName: "the previous build", LogSource: f.log, Err: cause}
	var xe *exitError
	if errors.As(cause, &xe) {
		// -1 still when a signal ended it.
		de.ExitCode = xe.state.ExitCode()
	}
	if p != nil {
		de.Log = tailLog(f.log, p.logOffset, 10)
	}
	s := &state{Port: l.Port, Log: f.log, Status: statusFailed, FailedDigest: d.Digest.String()}
	if old != nil {
		s.Previous = old.Digest
	}
	if oldAlive {
		de.Previous = old.Digest
	}
	if oldAlive && old.Digest != d.Digest.String() {
		// Put the previous build back even when ctx has ended: leaving
		// nothing running would be worse.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.o.HealthTimeout+t.o.StopTimeout)
		rp, rsp, err := t.restore(rctx, old, r)
		cancel()
		if err != nil {
			log.Error("restoring the previous build failed", "previous", old.Digest, "err", err)
			de.RestoreErr = err
		} else {
			log.Info("restored the previous build", "previous", old.Digest, "pid", rp.pid)
			de.Restored = old.Digest
			s.PID, s.StartTime, s.Digest, s.Commit = rp.pid, rp.start, old.Digest, old.Commit
			s.StartedAt, s.Argv = rp.startedAt.UTC(), append([]string{rsp.path}, rsp.argv[1:]...)
		}
	}
	s.Reason = de.Error()
	if err := writeState(f.state, s); err != nil {
		return errors.Join(de, err)
	}
	return de
}

// launch starts sp and waits for it to become healthy. On failure it stops
// the process and returns it (if it started) with the cause.
func (t *Target) launch(ctx context.Context, sp spec, r run, started func(*proc) error) (*proc, error) {
	if err := waitPortFree(r.local.Port); err != nil {
		return nil, err
	}
	p, err := t.start(sp, r)
	if err != nil {
		return p, err
	}
	t.log.Info("started", "environment", r.env.Name, "service", r.svc.Name, "digest", r.digest.String(), "pid", p.pid)
	// Record the process before waiting for it, so that if this program
	// dies meanwhile, the next tier still knows (and can stop) it.
	if started != nil {
		if err := started(p); err != nil {
			t.stop(p.pid, p.start)
			return p, err
		}
	}
	if err := t.waitHealthy(ctx, p, r.local.Port, r.local.Health); err != nil {
		if serr := t.stop(p.pid, p.start); serr != nil {
			t.log.Error("stopping the failed process", "pid", p.pid, "err", serr)
		}
		return p, err
	}
	return p, nil
}

// restore starts the build old recorded again, from its unpacked image.
func (t *Target) restore(ctx context.Context, old *state, r run) (*proc, spec, error) {
	h, err := v1.NewHash(old.Digest)
	if err != nil {
		return nil, spec{}, fmt.Errorf("recorded digest %q: %w", old.Digest, err)
	}
	img, err := t.image(ctx, r.svc.Repository, h)
	if err != nil {
		return nil, spec{}, err
	}
	r.digest, r.commit = h, old.Commit
	sp, err := t.spec(img, r)
	if err != nil {
		return nil, spec{}, err
	}
	p, err := t.launch(ctx, sp, r, nil)
	return p, sp, err
}

// Observe reports what runs for svc in env, read from the recorded process
// itself: whether it is alive, and a health probe of at most a second.
func (t *Target) Observe(ctx context.Context, env config.Environment, svc config.Service) (target.Observation, error) {
	f, err := t.files(env.Name, svc.Name)
	if err != nil {
		return target.Observation{}, err
	}
	s, err := readState(f.state)
	if err != nil {
		return target.Observation{}, fmt.Errorf("observing %s in %s: %w", svc.Name, env.Name, err)
	}
	deploying := locked(f.lock)
	if s == nil {
		if deploying {
			return target.Observation{State: target.Deploying, Reason: "a deploy is in progress"}, nil
		}
		return target.Observation{State: target.NotDeployed}, nil
	}
	var o target.Observation
	up := alive(s.PID, s.StartTime)
	if up {
		if h, err := v1.NewHash(s.Digest); err == nil {
			o.Running = []v1.Hash{h}
		}
		o.URL = "http://127.0.0.1:" + strconv.Itoa(s.Port) + "/"
	}
	switch {
	case deploying:
		o.State, o.Reason = target.Deploying, "a deploy is in progress"
	case s.Status == statusFailed:
		o.State, o.Reason = target.Failed, s.Reason
	case !up:
		o.State, o.Reason = target.Failed, fmt.Sprintf("process %d exited; see %s", s.PID, s.Log)
	default:
		check := config.DefaultHealth
		if env.Target.Local != nil {
			check = env.Target.Local.Health
		}
		// One failed probe is not a verdict: a connection reset while the
		// app restarts passes on the next try.
		var err error
		for try := range observeProbes {
			if try > 0 {
				if werr := health.Sleep(ctx, t.o.HealthInterval); werr != nil {
					break
				}
			}
			pctx, cancel := context.WithTimeout(ctx, health.ProbeTimeout)
			err = health.Probe(pctx, "127.0.0.1", s.Port, check)
			cancel()
			if err == nil {
				break
			}
		}
		if err != nil {
			o.State, o.Reason = target.Failed, "health check failing: "+err.Error()
		} else {
			o.State = target.Running
		}
	}
	return o, nil
}

// Stop stops the process of svc in env, if one runs, and forgets it: the
// environment is not deployed afterwards. Its log stays.
func (t *Target) Stop(ctx context.Context, env config.Environment, svc config.Service) error {
	f, err := t.files(env.Name, svc.Name)
	if err != nil {
		return err
	}
	unlock, err := lock(ctx, f.lock)
	if err != nil {
		return fmt.Errorf("stopping %s in %s: %w", svc.Name, env.Name, err)
	}
	defer unlock()
	s, err := readState(f.state)
	if err != nil {
		return fmt.Errorf("stopping %s in %s: %w", svc.Name, env.Name, err)
	}
	if s == nil {
		return nil
	}
	if s.PID > 0 {
		t.log.Info("stopping", "environment", env.Name, "service", svc.Name, "pid", s.PID)
		if err := t.stop(s.PID, s.StartTime); err != nil {
			return fmt.Errorf("stopping %s in %s: %w", svc.Name, env.Name, err)
		}
	}
	if err := os.Remove(f.state); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("stopping %s in %s: forgetting it: %w", svc.Name, env.Name, err)
	}
	return nil
}
