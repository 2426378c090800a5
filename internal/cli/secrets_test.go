package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tierdeploy/tier/internal/awsfake"
	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/target/targettest"
)

// secret is a value planted where tier reads secrets from, and that place.
type secret struct{ value, planted string }

// leaks returns one line per planted value found in data, naming where it
// was planted, where it was found (what) and the text around it.
func leaks(secrets []secret, what string, data []byte) []string {
	var out []string
	for _, s := range secrets {
		i := bytes.Index(data, []byte(s.value))
		if i < 0 {
			continue
		}
		from, to := max(i-60, 0), min(i+len(s.value)+60, len(data))
		out = append(out, fmt.Sprintf("%s (planted in %s) leaked into %s at byte %d: %q", s.value, s.planted, what, i, data[from:to]))
	}
	return out
}

// dockerConfig writes a Docker config directory whose auths give user and
// password for host, and other credentials for another host.
func dockerConfig(t *testing.T, host, user, password, otherPassword string) string {
	t.Helper()
	dir := t.TempDir()
	auth := func(u, p string) string { return base64.StdEncoding.EncodeToString([]byte(u + ":" + p)) }
	cfg := fmt.Sprintf(`{"auths": {%q: {"auth": %q}, "other.example.com": {"auth": %q}}}`, host, auth(user, password), auth("someone", otherPassword))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// basicAuthProxy serves the registry at backend to clients that send user
// and password with basic auth, and counts the requests it let through.
type basicAuthProxy struct {
	user, password string
	backend        *httputil.ReverseProxy
	authorized     atomic.Int32

	mu   sync.Mutex
	urls []string
}

func (p *basicAuthProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.urls = append(p.urls, r.URL.String())
	p.mu.Unlock()
	if u, pw, ok := r.BasicAuth(); !ok || u != p.user || pw != p.password {
		w.Header().Set("WWW-Authenticate", `Basic realm="tier-test"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	p.authorized.Add(1)
	// The credentials go on to the embedded registry too: its log with -v
	// is looked into.
	p.backend.ServeHTTP(w, r)
}

// TestVerboseLogsRegistryRequests: with -v, every registry request is on
// stderr (method, path, status, duration, retry number) and every retry
// with its reason; never the credentials that were sent.
func TestVerboseLogsRegistryRequests(t *testing.T) {
	const user, password = "tier-ci", "VerbosePassw0rdPlanted5e1d"
	var busy sync.Once
	host := testreg.NewWithHandler(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="tier-test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if r.Method == http.MethodHead && r.URL.Path == "/v2/api/manifests/"+c1 {
				first := false
				busy.Do(func() { first = true })
				if first {
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	t.Setenv("DOCKER_CONFIG", dockerConfig(t, host, user, password, "unused"))
	e := newEnv(t)
	e.config("registry: " + host + "\n" + registryOnly)
	code, out, stderr := e.runApp(&app{}, "-v", "push", "api", e.files("v1", "1"), "--commit", c1)
	if code != 0 {
		t.Fatalf("tier -v push = exit %d\n%s\n%s", code, out, stderr)
	}
	h := regexp.QuoteMeta(host)
	for _, want := range []string{
		`level=DEBUG msg="registry request" method=GET host=` + h + ` path=/v2/ status=401 duration=\S+ retry=0`,
		`level=DEBUG msg="registry request" method=HEAD host=` + h + ` path=/v2/api/manifests/` + c1 + ` status=503 duration=\S+ retry=0`,
		`level=INFO msg="registry retry" method=HEAD host=` + h + ` path=/v2/api/manifests/` + c1 + ` retry=1 reason="503 Service Unavailable, Retry-After 0s" wait=0s`,
		`level=DEBUG msg="registry request" method=HEAD host=` + h + ` path=/v2/api/manifests/` + c1 + ` status=404 duration=\S+ retry=1`,
		`level=DEBUG msg="registry request" method=POST host=` + h + ` path=/v2/api/blobs/uploads/ status=202 duration=\S+ retry=0`,
		`level=DEBUG msg="registry request" method=PUT host=` + h + ` path=/v2/api/manifests/` + c1 + ` status=201 duration=\S+ retry=0`,
	} {
		if !regexp.MustCompile(want).MatchString(stderr) {
			t.Errorf("tier -v push: stderr lacks a line matching\n  %s\nstderr:\n%s", want, stderr)
		}
	}
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	for _, s := range []string{password, basic, "Authorization", "Basic "} {
		if strings.Contains(stderr, s) {
			t.Errorf("tier -v push: stderr contains %q:\n%s", s, stderr)
		}
	}
	code, _, stderr = e.runApp(&app{}, "-v", "status")
	if code != 0 || !regexp.MustCompile(`msg="registry request" method=GET host=`+h+` path=/v2/api/tags/list status=200 duration=\S+ retry=0`).MatchString(stderr) {
		t.Errorf("tier -v status = exit %d, stderr lacks the tag listing:\n%s", code, stderr)
	}
	// Without -v, no request is logged.
	code, _, stderr = e.runApp(&app{}, "status")
	if code != 0 || strings.Contains(stderr, "registry request") {
		t.Errorf("tier status = exit %d, stderr %q; want requests logged only with -v", code, stderr)
	}
}

// TestSecretsDoNotLeak plants distinct secret values in every place tier
// reads secrets from (the Docker config, the AWS variables of the default
// chain, the variables tier.yaml's ECS blocks name, a --source-url and the
// git origin), runs the seed's scenario with -v and with -o json, and
// looks for each value in every output stream, every file under the
// project and the home directory (the state dir with the embedded
// registry's blobs, manifests and annotations), every request sent to AWS
// and every registry URL.
func TestSecretsDoNotLeak(t *testing.T) {
	const (
		dockerUser     = "tier-ci"
		dockerPassword = "DockerPassw0rdPlanted4c1e"
		otherPassword  = "OtherHostPassw0rdPlanted77d2"
		wrongPassword  = "WrongDockerPassw0rdPlanted9b3a"
		keyChain       = "AKIAPLANTEDCHAIN0001"
		keyDev         = "AKIAPLANTEDDEV000001"
		keyStaging     = "AKIAPLANTEDSTAGING01"
		keyProd        = "AKIAPLANTEDPROD00001"
		keyUnknown     = "AKIAPLANTEDUNKNOWN01"
		keyLiteral     = "AKIALITERALPLANTED01"
		secretLiteral  = "LiteralSecretInYamlPlanted6c2a"
		urlToken       = "UrlTokenPlanted8d4f"
		urlQueryToken  = "UrlQueryTokenPlanted2b6e"
		originToken    = "GitOriginTokenPlanted93c0"
	)
	// Where tier reads AWS keys from: the default chain's variables and
	// those the ECS blocks name.
	awsVars := []struct{ name, value string }{
		{"AWS_ACCESS_KEY_ID", keyChain},
		{"AWS_SECRET_ACCESS_KEY", "ChainSecretPlanted5d9f"},
		{"AWS_SESSION_TOKEN", "ChainSessionTokenPlanted3a7b"},
		{"TIER_DEV_KEY_ID", keyDev},
		{"TIER_DEV_SECRET", "DevSecretPlanted0e2c"},
		{"TIER_DEV_TOKEN", "DevSessionTokenPlanted61aa"},
		{"TIER_STAGING_KEY_ID", keyStaging},
		{"TIER_STAGING_SECRET", "StagingSecretPlanted7f30"},
		{"TIER_PROD_KEY_ID", keyProd},
		{"TIER_PROD_SECRET", "ProdSecretPlanted2d84"},
		{"TIER_PROD_TOKEN", "ProdSessionTokenPlanted5b19"},
	}
	basic := func(user, password string) string {
		return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	}
	secrets := []secret{
		{dockerPassword, "the Docker config (auths of the registry host)"},
		{basic(dockerUser, dockerPassword), "the Docker config (auth of the registry host, base64)"},
		{otherPassword, "the Docker config (auths of another host)"},
		{wrongPassword, "a Docker config with a wrong password"},
		{basic(dockerUser, wrongPassword), "a Docker config with a wrong password (base64)"},
		{keyUnknown, "TIER_STAGING_KEY_ID, a key AWS does not know"},
		{keyLiteral, "a tier.yaml with literal keys (access_key_id)"},
		{secretLiteral, "a tier.yaml with literal keys (secret_access_key)"},
		{urlToken, "the user info of --source-url"},
		{urlQueryToken, "the query of --source-url"},
		{originToken, "the git origin URL"},
	}
	for _, v := range awsVars {
		secrets = append(secrets, secret{v.value, v.name})
	}
	if got := leaks(secrets, "a control", []byte("x"+dockerPassword+"x")); len(got) != 1 {
		t.Fatalf("leaks() of a planted value = %v, want one finding", got)
	}

	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(home, "run"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "no-aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "no-aws-credentials"))
	for _, v := range awsVars {
		t.Setenv(v.name, v.value)
	}

	// The AWS stand-in: the default chain's key belongs to the registry
	// account and assumes mb's role; the named keys belong to the default
	// tenant's account.
	fake := awsfake.New(t)
	fake.AddKey(keyChain, regAccount)
	for _, k := range []string{keyDev, keyStaging, keyProd} {
		fake.AddKey(k, defAccount)
	}
	fake.RequireExternalID(mbRole, "mb-deploys")

	// The registry: `tier registry serve` on the project's state dir,
	// behind a proxy that wants the Docker config's credentials.
	e := newEnv(t)
	regDir := filepath.Join(e.dir, ".tier", "registry")
	embedded := fmt.Sprintf("127.0.0.1:%d", targettest.FreePort(t))
	var serveOut, serveErr bytes.Buffer
	serveCtx, stopServe := context.WithCancel(context.Background())
	served := make(chan int, 1)
	go func() {
		served <- run(serveCtx, &app{stdout: &serveOut, stderr: &serveErr, now: time.Now}, []string{"-v", "registry", "serve", "--addr", embedded, "--dir", regDir})
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopServe()
			<-served
		}
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := http.Get("http://" + embedded + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tier registry serve did not answer on %s: %v", embedded, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	backend, _ := url.Parse("http://" + embedded)
	proxy := &basicAuthProxy{user: dockerUser, password: dockerPassword, backend: httputil.NewSingleHostReverseProxy(backend)}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	goodDocker := dockerConfig(t, host, dockerUser, dockerPassword, otherPassword)
	t.Setenv("DOCKER_CONFIG", goodDocker)

	// ECS resolves a tag to what the registry says when a deployment starts.
	fake.SetImageResolver(func(_, _, image string) (string, bool) {
		tag, ok := strings.CutPrefix(image, host+"/api:")
		if !ok {
			return "", false
		}
		req, _ := http.NewRequest(http.MethodHead, "http://"+embedded+"/v2/api/manifests/"+tag, nil)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", false
		}
		resp.Body.Close()
		d := resp.Header.Get("Docker-Content-Digest")
		return d, resp.StatusCode == http.StatusOK && d != ""
	})
	initial := host + "/api@sha256:" + strings.Repeat("0", 64)
	for _, s := range []struct{ account, tier, image string }{
		{defAccount, "dev", host + "/api:dev"}, {mbAccount, "dev", host + "/api:dev"},
		{defAccount, "staging", host + "/api:staging"},
		{defAccount, "prod", initial}, {mbAccount, "prod", initial},
	} {
		cluster := "api-" + s.tier
		fake.AddCluster(s.account, region, cluster)
		fake.AddService(s.account, region, cluster, "api", awsfake.TaskDef{Family: "api-" + s.tier, Containers: map[string]string{"api": s.image},
			Extra: map[string]any{"cpu": "256", "memory": "512", "networkMode": "awsvpc"}}, 2, true)
	}
	e.config(fmt.Sprintf(`registry: %s
services:
  api: {repository: api}
tiers:
  - {name: dev, tag: dev}
  - {name: staging, tag: staging, from: dev}
  - {name: prod, release: true, from: staging}
environments:
  dev:     {tier: dev,     tenant: default, ecs: {cluster: api-dev, service: api, region: %[2]s, access_key_id_env: TIER_DEV_KEY_ID, secret_access_key_env: TIER_DEV_SECRET, session_token_env: TIER_DEV_TOKEN}}
  mb-dev:  {tier: dev,     tenant: mb,      ecs: {cluster: api-dev, service: api, region: %[2]s, role_arn: %[3]q, external_id: mb-deploys}}
  staging: {tier: staging, tenant: default, ecs: {cluster: api-staging, service: api, region: %[2]s, access_key_id_env: TIER_STAGING_KEY_ID, secret_access_key_env: TIER_STAGING_SECRET}}
  prod:    {tier: prod,    tenant: default, ecs: {cluster: api-prod, service: api, region: %[2]s, access_key_id_env: TIER_PROD_KEY_ID, secret_access_key_env: TIER_PROD_SECRET, session_token_env: TIER_PROD_TOKEN}}
  mb-prod: {tier: prod,    tenant: mb,      ecs: {cluster: api-prod, service: api, region: %[2]s, role_arn: %[3]q, external_id: mb-deploys}}
`, host, region, mbRole))

	// The git origin carries a token; push reads it when no --source-url
	// is given.
	t.Chdir(e.dir)
	for _, args := range [][]string{{"init", "-q"}, {"remote", "add", "origin", "https://oauth2:" + originToken + "@git.example.com/acme/api.git"}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	type stream struct{ what, text string }
	var streams []stream
	tier := func(want int, args ...string) string {
		t.Helper()
		code, out, stderr := e.runApp(&app{awsEndpoint: fake.URL}, args...)
		cmd := "tier " + strings.Join(args, " ")
		streams = append(streams, stream{"stdout of `" + cmd + "`", out}, stream{"stderr of `" + cmd + "`", stderr})
		if code != want {
			t.Fatalf("%s = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", cmd, code, want, out, stderr)
		}
		return out
	}
	v1, v2 := e.files("v1", "1"), e.files("v2", "2")
	initCfg := filepath.Join(e.dir, "init", "tier.yaml")
	os.MkdirAll(filepath.Dir(initCfg), 0o755)
	tier(0, "-v", "--config", initCfg, "init")
	tier(0, "-v", "--config", initCfg, "validate")
	tier(0, "-v", "validate")
	tier(0, "-v", "-o", "json", "validate")
	tier(0, "-v", "push", "api", v1, "--commit", c1, "--entrypoint", "/bin/app",
		"--source-url", "https://ci:"+urlToken+"@git.example.com/acme/api.git?private_token="+urlQueryToken)
	tier(0, "-v", "-o", "json", "push", "api", v2, "--commit", c2, "--entrypoint", "/bin/app")
	tier(0, "-v", "push", "api", v1, "--commit", c1, "--entrypoint", "/bin/app")
	tier(0, "-v", "promote", "dev", "--commit", c1[:8], "--timeout", "1m")
	tier(0, "-v", "-o", "json", "promote", "dev", "--commit", c1[:8], "--timeout", "1m")
	tier(0, "-v", "-o", "json", "promote", "staging", "--timeout", "1m")
	tier(0, "-v", "promote", "prod", "--timeout", "1m")
	e.clock = e.clock.Add(24 * time.Hour)
	tier(0, "-v", "promote", "dev", "--commit", c2, "--timeout", "1m")
	tier(0, "-v", "promote", "staging", "--timeout", "1m")
	tier(0, "-v", "-o", "json", "promote", "prod", "--timeout", "1m")
	tier(0, "-v", "status")
	tier(0, "-v", "-o", "json", "status")
	e.clock = e.clock.Add(24 * time.Hour)
	tier(0, "-v", "-o", "json", "rollback", "prod", "--to", "2020-11-12", "--timeout", "1m")
	tier(0, "-v", "rollback", "dev", "--to", c1, "--timeout", "1m")
	tier(0, "-v", "doctor")
	tier(0, "-v", "-o", "json", "doctor")
	tier(2, "-v", "push", "api", "ghcr.io/acme/../x:1", "--commit", c2)
	tier(2, "-v", "promote", "dev", "--commit", "ffffffff")
	// Keys AWS refuses.
	t.Setenv("TIER_STAGING_KEY_ID", keyUnknown)
	tier(1, "-v", "doctor")
	t.Setenv("TIER_STAGING_KEY_ID", keyStaging)
	// Literal keys in a tier.yaml: refused, not repeated.
	literal := filepath.Join(t.TempDir(), "tier.yaml")
	os.WriteFile(literal, []byte(`services: {api: {repository: api}}
tiers: [{name: dev, tag: dev}]
environments:
  dev: {tier: dev, tenant: default, ecs: {cluster: c, service: s, region: `+region+`, access_key_id: `+keyLiteral+`, secret_access_key: `+secretLiteral+`}}
`), 0o644)
	tier(2, "-v", "--config", literal, "validate")
	tier(2, "-v", "-o", "json", "--config", literal, "status")
	// Refused credentials: the error says so without repeating them.
	t.Setenv("DOCKER_CONFIG", dockerConfig(t, host, dockerUser, wrongPassword, otherPassword))
	tier(1, "-v", "status")
	if stderr := streams[len(streams)-1].text; !strings.Contains(stderr, "refused access") {
		t.Errorf("tier status with a wrong password: stderr lacks %q:\n%s", "refused access", stderr)
	}
	stop()
	streams = append(streams, stream{"stdout of `tier registry serve`", serveOut.String()}, stream{"stderr of `tier registry serve`", serveErr.String()})

	// The secrets were used: the registry saw the Docker config's
	// credentials, AWS saw every key.
	if proxy.authorized.Load() == 0 {
		t.Errorf("the registry never got the Docker config's credentials")
	}
	signers := map[string]bool{}
	for _, c := range fake.Calls {
		signers[c.AccessKeyID] = true
	}
	for _, k := range []string{keyChain, keyDev, keyStaging, keyProd} {
		if !signers[k] {
			t.Errorf("no AWS call was signed with %s", k)
		}
	}
	// The temporary credentials the stand-in handed out are secrets too.
	for i := range fake.AssumedRoles() {
		secrets = append(secrets, secret{fmt.Sprintf("fake-secret-%d", i+1), "AssumeRole's answer"}, secret{fmt.Sprintf("fake-session-token-%d", i+1), "AssumeRole's answer"})
	}

	var found []string
	for _, s := range streams {
		found = append(found, leaks(secrets, s.what, []byte(s.text))...)
	}
	files, registryFiles, annotated := 0, 0, false
	for _, root := range []string{e.dir, home} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && p == filepath.Join(e.dir, ".git") {
				return fs.SkipDir // where the origin token was planted
			}
			if !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files++
			if strings.HasPrefix(p, regDir+string(filepath.Separator)) {
				registryFiles++
			}
			annotated = annotated || bytes.Contains(b, []byte(`"org.opencontainers.image.source":"https://git.example.com/acme/api.git"`))
			found = append(found, leaks(secrets, p, b)...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if registryFiles < 6 || !annotated {
		t.Errorf("looked into %d files of the embedded registry, annotated build found: %v; want its blobs, manifests and annotations", registryFiles, annotated)
	}
	for _, c := range fake.Calls {
		b, _ := json.Marshal(c.Params)
		found = append(found, leaks(secrets, fmt.Sprintf("the parameters of %s:%s sent to AWS", c.Service, c.Operation), b)...)
	}
	proxy.mu.Lock()
	found = append(found, leaks(secrets, "the URLs sent to the registry", []byte(strings.Join(proxy.urls, "\n")))...)
	proxy.mu.Unlock()
	for _, f := range found {
		t.Error(f)
	}
	t.Logf("looked for %d planted values in %d output streams, %d files (%d of the registry), %d AWS calls", len(secrets), len(streams), files, registryFiles, len(fake.Calls))
}
