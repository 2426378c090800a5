package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/registry"
)

// moveAfterWrite is a transport that, right after the first write of
// api:dev passes through it, moves api:dev to another build, as a racing
// promotion would.
type moveAfterWrite struct {
	move  func(host string) error
	fired atomic.Bool
}

func (m *moveAfterWrite) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/api/manifests/dev") && m.fired.CompareAndSwap(false, true) {
		if merr := m.move(req.URL.Host); merr != nil {
			resp.Body.Close()
			return nil, merr
		}
	}
	return resp, err
}

// A promotion whose tag write another promotion superseded says so, not
// that the tier has no environments, and exits 3.
func TestPromoteSupersededSaysSo(t *testing.T) {
	e := newEnv(t)
	e.config(registryOnly + "environments:\n  dev: {tier: dev, tenant: default, local: {port: 1}}\n  mb-dev: {tier: dev, tenant: mb, local: {port: 2}}\n")
	pushRandom(t, e, c1)
	d2 := pushRandom(t, e, c2)
	// The racing write goes to the registry the command writes to.
	mv := &moveAfterWrite{move: func(host string) error {
		reg, err := registry.New(host, registry.Options{})
		if err != nil {
			return err
		}
		return reg.Retag(context.Background(), "api", d2, "dev")
	}}
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, now: func() time.Time { return e.clock }, transport: mv}
	code := run(context.Background(), a, []string{"--config", filepath.Join(e.dir, "tier.yaml"), "promote", "dev", "--commit", c1})
	if code != 3 || strings.Contains(out.String(), "has no environments") || !strings.Contains(out.String(), "no environment of tier dev deployed: another promotion moved the tag of api") ||
		!strings.Contains(out.String(), "superseded") || !strings.Contains(errb.String(), "superseded: another promotion moved the dev tag of api") {
		t.Errorf("promote dev superseded = %d\n%s\n%s", code, out.String(), errb.String())
	}
}

// pushRandom pushes a small random image of api as commit through the CLI
// and returns its digest.
func pushRandom(t *testing.T, e *env, commit string) v1.Hash {
	t.Helper()
	dir := e.files("build-"+commit[:4], commit)
	code, out, stderr := e.run("push", "api", dir, "--commit", commit, "-o", "json")
	if code != 0 {
		t.Fatalf("push %s = %d: %s%s", commit[:4], code, out, stderr)
	}
	var r struct{ Digest string }
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	d, err := v1.NewHash(r.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
