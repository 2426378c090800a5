package docker

import (
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/types/container"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

func TestProbeHost(t *testing.T) {
	for _, tc := range []struct {
		host      string
		want      string
		wantLocal bool
	}{
		{"unix:///var/run/docker.sock", "127.0.0.1", true},
		{"npipe:////./pipe/docker_engine", "127.0.0.1", true},
		{"tcp://127.0.0.1:2375", "127.0.0.1", true},
		{"tcp://localhost:2376", "127.0.0.1", true},
		{"tcp://[::1]:2376", "127.0.0.1", true},
		{"tcp://build-1.example.com:2376", "build-1.example.com", false},
		{"ssh://deploy@10.0.0.5", "10.0.0.5", false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			got, local := probeHost(tc.host)
			if got != tc.want || local != tc.wantLocal {
				t.Errorf("probeHost(%q) = %q, %v, want %q, %v", tc.host, got, local, tc.want, tc.wantLocal)
			}
		})
	}
}

func TestContainerEnv(t *testing.T) {
	d := target.Deployment{
		Environment: config.Environment{Name: "mb-dev", Tier: "dev", Tenant: "mb"},
		Service:     config.Service{Name: "api"},
		Digest:      v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)},
		Commit:      "c0ffee",
	}
	dc := &config.Docker{Port: 8080, Env: map[string]string{"LOG": "debug", "PORT": "1", "TIER_TENANT": "spoofed"}}
	got := containerEnv(d, dc)
	want := []string{
		"LOG=debug", "PORT=8080", "TIER_COMMIT=c0ffee", "TIER_DIGEST=sha256:" + strings.Repeat("a", 64),
		"TIER_ENVIRONMENT=mb-dev", "TIER_SERVICE=api", "TIER_TENANT=mb", "TIER_TIER=dev",
	}
	if !slices.Equal(got, want) {
		t.Errorf("containerEnv() = %q, want %q", got, want)
	}
	if dc.Env["PORT"] != "1" {
		t.Errorf("containerEnv changed the configuration's env: PORT = %q", dc.Env["PORT"])
	}
}

func TestSpecHash(t *testing.T) {
	dc := &config.Docker{Port: 8080, Network: "host"}
	a := specHash([]string{"A=1", "TIER_DIGEST=sha256:1", "TIER_COMMIT=1"}, dc)
	for _, tc := range []struct {
		name string
		env  []string
		dc   *config.Docker
		same bool
	}{
		{"another build", []string{"A=1", "TIER_DIGEST=sha256:2", "TIER_COMMIT=2"}, dc, true},
		{"another variable", []string{"A=2", "TIER_DIGEST=sha256:1", "TIER_COMMIT=1"}, dc, false},
		{"another port", []string{"A=1", "TIER_DIGEST=sha256:1", "TIER_COMMIT=1"}, &config.Docker{Port: 8081, Network: "host"}, false},
		{"another network", []string{"A=1", "TIER_DIGEST=sha256:1", "TIER_COMMIT=1"}, &config.Docker{Port: 8080}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := specHash(tc.env, tc.dc) == a; got != tc.same {
				t.Errorf("specHash(%q, %+v) == specHash of the first = %v, want %v", tc.env, *tc.dc, got, tc.same)
			}
		})
	}
}

func TestCreateOptionsPublishing(t *testing.T) {
	d := target.Deployment{Image: "127.0.0.1:5000/api@sha256:" + strings.Repeat("b", 64)}
	for _, tc := range []struct {
		network string
		local   bool
		want    string // "" for no binding
	}{
		{"host", true, ""},
		{"none", true, ""},
		{"container:db", true, ""},
		{"", true, "127.0.0.1:8080"},
		{"bridge", true, "127.0.0.1:8080"},
		{"bridge", false, ":8080"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			o := createOptions(d, &config.Docker{Port: 8080, Network: tc.network}, &engine{local: tc.local}, "api-next")
			got := ""
			for _, bs := range o.HostConfig.PortBindings {
				for _, b := range bs {
					ip := ""
					if b.HostIP.IsValid() {
						ip = b.HostIP.String()
					}
					got = ip + ":" + b.HostPort
				}
			}
			if got != tc.want {
				t.Errorf("createOptions(network %q, local %v) binds %q, want %q", tc.network, tc.local, got, tc.want)
			}
			if o.HostConfig.RestartPolicy.Name != container.RestartPolicyDisabled {
				t.Errorf("createOptions().RestartPolicy = %q, want no (set after the health check)", o.HostConfig.RestartPolicy.Name)
			}
		})
	}
}

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want []string
	}{
		{"", 3, nil},
		{"a\nb\r\nc\n", 2, []string{"b", "c"}},
		{"only", 10, []string{"only"}},
		{strings.Repeat("x", 400), 1, []string{strings.Repeat("x", 300) + "…"}},
	} {
		if got := lastLines(tc.in, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("lastLines(%.20q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
