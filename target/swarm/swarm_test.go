package swarm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/dockertest"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/targettest"
)

// rig is one Swarm manager, a registry it pulls from and the builds in it.
type rig struct {
	host string
	cli  *client.Client
	reg  *registry.Client
	repo string // host/repo, as target.Deployment.Repository
	// v1, v2, v3 serve /version with their version; bad exits with status 3.
	v1, v2, v3, bad v1.Hash
}

const (
	commit1   = "1111111111111111111111111111111111111111"
	commit2   = "2222222222222222222222222222222222222222"
	commit3   = "3333333333333333333333333333333333333333"
	commitBad = "badbadbadbadbadbadbadbadbadbadbadbadbad0"
)

func newRig(t *testing.T) *rig {
	t.Helper()
	host := dockertest.Hosts(t, 1)[0]
	cli := dockertest.Client(t, host)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !info.Info.Swarm.ControlAvailable {
		msg := "the first Docker host %s is not a Swarm manager (run scripts/docker-engines.sh start, whose first engine is one)"
		if dockertest.Required() {
			t.Fatalf(msg, host)
		}
		t.Skipf(msg, host)
	}
	reg := dockertest.Registry(t)
	r := &rig{host: host, cli: cli, reg: reg, repo: reg.Name("api")}
	r.v1 = dockertest.Push(t, reg, "api", dockertest.Build{Version: "v1", Commit: commit1})
	r.v2 = dockertest.Push(t, reg, "api", dockertest.Build{Version: "v2", Commit: commit2})
	r.v3 = dockertest.Push(t, reg, "api", dockertest.Build{Version: "v3", Commit: commit3})
	r.bad = dockertest.Push(t, reg, "api", dockertest.Build{Version: "bad", Commit: commitBad, Env: []string{"DEMO_APP_EXIT=3"}})
	return r
}

// svc is one Swarm service made for a test, and its environment.
type svc struct {
	name string
	port int
	env  config.Environment
}

// create makes a one-replica service on host networking that runs image,
// as a user would with docker service create, and removes it when the test
// ends.
func (r *rig) create(t *testing.T, image string, failure swarm.FailureAction) svc {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "tsw-" + hex.EncodeToString(b)
	port := targettest.FreePort(t)
	one := uint64(1)
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: map[string]string{"owner": "tier-swarm-test"}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image: image,
				Env:   []string{"PORT=" + strconv.Itoa(port), "TIER_ENVIRONMENT=staging"},
			},
			Networks: []swarm.NetworkAttachmentConfig{{Target: "host"}},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
		UpdateConfig: &swarm.UpdateConfig{
			Parallelism:   1,
			Order:         swarm.UpdateOrderStopFirst,
			FailureAction: failure,
			Monitor:       3 * time.Second,
		},
	}
	res, err := r.cli.ServiceCreate(t.Context(), client.ServiceCreateOptions{Spec: spec})
	if err != nil {
		t.Fatalf("creating service %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
		defer cancel()
		if _, err := r.cli.ServiceRemove(ctx, res.ID, client.ServiceRemoveOptions{}); err != nil {
			t.Errorf("removing service %s: %v", name, err)
		}
	})
	env := config.Environment{Name: "staging", Tier: "staging", Tenant: "default",
		Target: config.Target{Swarm: &config.Swarm{Host: r.host, Service: name}}}
	return svc{name: name, port: port, env: env}
}

// deployment is what the engine hands the target to put digest on s.
func (r *rig) deployment(s svc, digest v1.Hash, commit string) target.Deployment {
	return target.Deployment{Environment: s.env, Service: config.Service{Name: "api", Repository: "api"},
		Image: r.repo + "@" + digest.String(), Repository: r.repo, Tag: "staging", Digest: digest, Commit: commit}
}

// pinnedImage is what Deploy sets the spec's image to.
func (r *rig) pinnedImage(digest v1.Hash) string { return r.repo + ":staging@" + digest.String() }

// inspect returns the service and its spec as the manager returns it.
func (r *rig) inspect(t *testing.T, s svc) (swarm.Service, map[string]any) {
	t.Helper()
	res, err := r.cli.ServiceInspect(t.Context(), s.name, client.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var raw struct{ Spec map[string]any }
	if err := json.Unmarshal(res.Raw, &raw); err != nil {
		t.Fatal(err)
	}
	return res.Service, raw.Spec
}

// wait polls Observe as the engine does until done accepts an observation
// or the time runs out, and returns that observation.
func wait(t *testing.T, tg *Target, s svc, within time.Duration, what string, done func(target.Observation) bool) target.Observation {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	var last target.Observation
	var lastErr error
	seen := ""
	for time.Now().Before(deadline) {
		obs, err := tg.Observe(t.Context(), s.env, config.Service{Name: "api"})
		if now := fmt.Sprintf("%s %v %q %v", obs.State, obs.Running, obs.Reason, err); now != seen {
			t.Logf("%s after %s: %s", s.name, time.Since(start).Round(10*time.Millisecond), now)
			seen = now
		}
		if err == nil && done(obs) {
			return obs
		}
		last, lastErr = obs, err
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("Observe(%s) never showed %s within %s: last %+v, err %v", s.name, what, within, last, lastErr)
	return last
}

// runs waits until Observe reports exactly digest running, and fails early
// when it reports Failed.
func runs(t *testing.T, tg *Target, s svc, digest v1.Hash) target.Observation {
	t.Helper()
	obs := wait(t, tg, s, 2*time.Minute, "running "+digest.String(), func(o target.Observation) bool {
		if o.State == target.Failed {
			t.Fatalf("Observe(%s) = Failed %q, want running %s", s.name, o.Reason, digest)
		}
		return o.RunsOnly(digest)
	})
	return obs
}

// version GETs /version from the service until it answers with want.
func version(t *testing.T, s svc, want string) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/version", s.port)
	var got string
	var err error
	for range 40 {
		got, err = getVersion(url)
		if err == nil && got == want {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("GET %s = %q (err %v), want version %q", url, got, err, want)
}

func getVersion(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var v struct{ Version string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return "", err
	}
	return v.Version, nil
}

// deployed creates a service on v1, deploys v2 through tg and waits for it.
func (r *rig) deployed(t *testing.T, tg *Target, failure swarm.FailureAction) svc {
	t.Helper()
	s := r.create(t, r.repo+":"+commit1+"@"+r.v1.String(), failure)
	runs(t, tg, s, r.v1)
	if err := tg.Deploy(t.Context(), r.deployment(s, r.v2, commit2)); err != nil {
		t.Fatalf("Deploy(v2) = %v, want nil", err)
	}
	runs(t, tg, s, r.v2)
	return s
}

func TestSwarm(t *testing.T) {
	r := newRig(t)
	tg := New(Options{Log: testLogger(t)})
	t.Cleanup(func() { tg.Close() })

	t.Run("deploy changes only the image", func(t *testing.T) {
		s := r.create(t, r.repo+":"+commit1+"@"+r.v1.String(), swarm.UpdateFailureActionPause)
		runs(t, tg, s, r.v1)
		version(t, s, "v1")
		_, before := r.inspect(t, s)

		start := time.Now()
		if err := tg.Deploy(t.Context(), r.deployment(s, r.v2, commit2)); err != nil {
			t.Fatalf("Deploy(v2) = %v, want nil", err)
		}
		accepted := time.Since(start)
		obs := runs(t, tg, s, r.v2)
		t.Logf("update v1 -> v2: accepted in %s, running in %s", accepted.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		if !reflect.DeepEqual(obs.Running, []v1.Hash{r.v2}) || obs.URL != "" {
			t.Errorf("Observe() = %+v, want Running [%s] and no URL", obs, r.v2)
		}
		version(t, s, "v2")

		got, after := r.inspect(t, s)
		if img := got.Spec.TaskTemplate.ContainerSpec.Image; img != r.pinnedImage(r.v2) {
			t.Errorf("spec image = %q, want %q", img, r.pinnedImage(r.v2))
		}
		before["TaskTemplate"].(map[string]any)["ContainerSpec"].(map[string]any)["Image"] = r.pinnedImage(r.v2)
		if !reflect.DeepEqual(after, before) {
			b, _ := json.MarshalIndent(before, "", "  ")
			a, _ := json.MarshalIndent(after, "", "  ")
			t.Errorf("spec after Deploy = %s\nwant the spec before with only the image changed:\n%s", a, b)
		}
	})

	t.Run("redeploying the same digest is a no-op", func(t *testing.T) {
		s := r.deployed(t, tg, swarm.UpdateFailureActionPause)
		before, _ := r.inspect(t, s)
		if err := tg.Deploy(t.Context(), r.deployment(s, r.v2, commit2)); err != nil {
			t.Fatalf("Deploy(v2) again = %v, want nil", err)
		}
		after, _ := r.inspect(t, s)
		if after.Version != before.Version {
			t.Errorf("spec version after a second Deploy(v2) = %d, want %d (unchanged)", after.Version.Index, before.Version.Index)
		}
	})

	t.Run("a failing build is rolled back and reported failed", func(t *testing.T) {
		s := r.deployed(t, tg, swarm.UpdateFailureActionRollback)
		start := time.Now()
		if err := tg.Deploy(t.Context(), r.deployment(s, r.bad, commitBad)); err != nil {
			t.Fatalf("Deploy(bad) = %v, want nil (Swarm accepts the update)", err)
		}
		obs := wait(t, tg, s, 3*time.Minute, "failed", func(o target.Observation) bool {
			if o.RunsOnly(r.bad) {
				t.Fatalf("Observe() = %+v, want never running the build that exits", o)
			}
			return o.State == target.Failed
		})
		t.Logf("update v2 -> bad: reported failed after %s: %s", time.Since(start).Round(time.Millisecond), obs.Reason)
		got, _ := r.inspect(t, s)
		if got.UpdateStatus == nil || got.UpdateStatus.State != swarm.UpdateStateRollbackCompleted {
			t.Fatalf("UpdateStatus = %+v, want rollback_completed", got.UpdateStatus)
		}
		if !strings.Contains(obs.Reason, "the update was rolled back: "+got.UpdateStatus.Message) {
			t.Errorf("Observe().Reason = %q, want it to say the update was rolled back with Swarm's message %q", obs.Reason, got.UpdateStatus.Message)
		}
		if !strings.Contains(obs.Reason, "non-zero exit (3)") {
			t.Errorf("Observe().Reason = %q, want the failed task's error (non-zero exit (3))", obs.Reason)
		}
		// Swarm reports rollback_completed as soon as the old spec is back,
		// maybe before its task runs again: wait for that, still Failed.
		back := wait(t, tg, s, time.Minute, "running v2 again", func(o target.Observation) bool {
			if o.State != target.Failed {
				t.Fatalf("Observe() after the rollback = %s %v %q, want Failed", o.State, o.Running, o.Reason)
			}
			return reflect.DeepEqual(o.Running, []v1.Hash{r.v2})
		})
		t.Logf("update v2 -> bad: v2 running again after %s: %s %v", time.Since(start).Round(time.Millisecond), back.State, back.Running)
		if img := got.Spec.TaskTemplate.ContainerSpec.Image; img != r.pinnedImage(r.v2) {
			t.Errorf("spec image after rollback = %q, want %q", img, r.pinnedImage(r.v2))
		}
		version(t, s, "v2")
	})

	t.Run("a failing build pauses the update and is reported failed", func(t *testing.T) {
		s := r.deployed(t, tg, swarm.UpdateFailureActionPause)
		start := time.Now()
		if err := tg.Deploy(t.Context(), r.deployment(s, r.bad, commitBad)); err != nil {
			t.Fatalf("Deploy(bad) = %v, want nil (Swarm accepts the update)", err)
		}
		obs := wait(t, tg, s, 3*time.Minute, "failed", func(o target.Observation) bool {
			if o.RunsOnly(r.bad) {
				t.Fatalf("Observe() = %+v, want never running the build that exits", o)
			}
			return o.State == target.Failed
		})
		t.Logf("update v2 -> bad: reported paused after %s: %s", time.Since(start).Round(time.Millisecond), obs.Reason)
		got, _ := r.inspect(t, s)
		if got.UpdateStatus == nil || got.UpdateStatus.State != swarm.UpdateStatePaused {
			t.Fatalf("UpdateStatus = %+v, want paused", got.UpdateStatus)
		}
		if !strings.Contains(obs.Reason, "paused") || !strings.Contains(obs.Reason, got.UpdateStatus.Message) {
			t.Errorf("Observe().Reason = %q, want it to say paused with Swarm's message %q", obs.Reason, got.UpdateStatus.Message)
		}
		if !strings.Contains(obs.Reason, "DEMO_APP_EXIT") {
			t.Errorf("Observe().Reason = %q, want the failed task's last log lines (DEMO_APP_EXIT)", obs.Reason)
		}

		// Deploying the same build again leaves the paused update alone:
		// the spec is not sent again and the failure stays reported.
		if err := tg.Deploy(t.Context(), r.deployment(s, r.bad, commitBad)); err != nil {
			t.Fatalf("Deploy(bad) again = %v, want nil", err)
		}
		again, _ := r.inspect(t, s)
		if again.Version != got.Version {
			t.Errorf("spec version after Deploy(bad) again = %d, want %d (unchanged)", again.Version.Index, got.Version.Index)
		}
		if obs, err := tg.Observe(t.Context(), s.env, config.Service{Name: "api"}); err != nil || obs.State != target.Failed || !strings.Contains(obs.Reason, "paused") {
			t.Errorf("Observe() after Deploy(bad) again = %s %q, %v; want Failed, paused", obs.State, obs.Reason, err)
		}
	})

	t.Run("a change made by hand shows as the digest it runs", func(t *testing.T) {
		s := r.deployed(t, tg, swarm.UpdateFailureActionPause)
		// As `docker service update --image 127.0.0.1:port/api@sha256:... SERVICE` does.
		got, _ := r.inspect(t, s)
		spec := got.Spec
		cs := *spec.TaskTemplate.ContainerSpec
		cs.Image = r.repo + "@" + r.v3.String()
		spec.TaskTemplate.ContainerSpec = &cs
		if _, err := r.cli.ServiceUpdate(t.Context(), got.ID, client.ServiceUpdateOptions{Version: got.Version, Spec: spec}); err != nil {
			t.Fatal(err)
		}
		obs := runs(t, tg, s, r.v3)
		if obs.State != target.Running || !reflect.DeepEqual(obs.Running, []v1.Hash{r.v3}) {
			t.Errorf("Observe() = %+v, want Running [%s]", obs, r.v3)
		}
		version(t, s, "v3")
	})

	t.Run("an update racing another change is retried", func(t *testing.T) {
		s := r.create(t, r.repo+":"+commit1+"@"+r.v1.String(), swarm.UpdateFailureActionPause)
		runs(t, tg, s, r.v1)
		racing := New(Options{Log: testLogger(t)})
		c, err := racing.client(r.host)
		if err != nil {
			t.Fatal(err)
		}
		rc := &racer{engine: c, cli: r.cli}
		racing.clients[r.host] = rc
		if err := racing.Deploy(t.Context(), r.deployment(s, r.v2, commit2)); err != nil {
			t.Fatalf("Deploy(v2) racing another update = %v, want nil", err)
		}
		if rc.updates != 2 || !outOfSequence(rc.first) {
			t.Errorf("Deploy(v2) made %d updates, the first failing with %v; want 2, the first out of sequence", rc.updates, rc.first)
		}
		runs(t, tg, s, r.v2)
	})

	t.Run("a missing service is an error naming it", func(t *testing.T) {
		s := svc{name: "tsw-missing", env: config.Environment{Name: "staging",
			Target: config.Target{Swarm: &config.Swarm{Host: r.host, Service: "tsw-missing"}}}}
		_, err := tg.Observe(t.Context(), s.env, config.Service{Name: "api"})
		t.Logf("Observe(tsw-missing) = %v", err)
		var nf *NotFoundError
		if !errors.As(err, &nf) || !strings.Contains(err.Error(), "tsw-missing") || !strings.Contains(err.Error(), r.host) {
			t.Errorf("Observe(tsw-missing) = %v, want a *NotFoundError naming the service and %s", err, r.host)
		}
		err = tg.Deploy(t.Context(), r.deployment(s, r.v2, commit2))
		if !errors.As(err, &nf) {
			t.Errorf("Deploy(tsw-missing) = %v, want a *NotFoundError", err)
		}
	})
}

// racer changes the service behind the target's back just before the
// target's first update, so the manager refuses it as out of sequence.
type racer struct {
	engine
	cli     *client.Client
	updates int
	first   error
}

func (r *racer) ServiceUpdate(ctx context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error) {
	r.updates++
	if r.updates == 1 {
		// Another writer sends the service's spec back unchanged, which
		// bumps its version.
		got, err := r.cli.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
		if err != nil {
			return client.ServiceUpdateResult{}, err
		}
		if _, err := r.cli.ServiceUpdate(ctx, id, client.ServiceUpdateOptions{Version: got.Service.Version, Spec: got.Service.Spec}); err != nil {
			return client.ServiceUpdateResult{}, err
		}
		res, err := r.engine.ServiceUpdate(ctx, id, o)
		r.first = err
		return res, err
	}
	return r.engine.ServiceUpdate(ctx, id, o)
}
