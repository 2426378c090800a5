package demo

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/docker"
)

// verify asks every environment over HTTP what it serves and checks it is
// the build its tier points to, for the right environment.
func verify(ctx context.Context, res Summary) error {
	want := map[string]string{"dev": "v3", "staging": "v2", "prod": "v1"}
	var errs []error
	for _, e := range res.Grid.Environments {
		info, err := fetchInfo(ctx, e.URL)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", e.Name, err))
		case info.Version != want[e.Tier] || info.Environment != e.Name || info.Digest != e.DesiredDigest || e.State != target.InSync:
			errs = append(errs, fmt.Errorf("%s serves %+v (state %s), want %s of %s", e.Name, info, e.State, want[e.Tier], e.DesiredDigest))
		}
	}
	return errors.Join(errs...)
}

func fetchInfo(ctx context.Context, url string) (AppInfo, error) {
	var info AppInfo
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"version", nil)
	if err != nil {
		return info, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return info, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("GET %sversion: %s", url, resp.Status)
	}
	return info, json.NewDecoder(resp.Body).Decode(&info)
}

func versionOf(builds []Build, digest string) string {
	for _, b := range builds {
		if b.Digest == digest {
			return b.Version
		}
	}
	return "-"
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// engineAnswers checks, before anything is built, that the Docker engine
// of the docker demo answers.
func engineAnswers(ctx context.Context, host string, log *slog.Logger) error {
	d := docker.New(docker.Options{Log: log})
	defer d.Close()
	probe := config.Environment{Name: "tier-demo-probe", Target: config.Target{Docker: &config.Docker{Host: host, Container: "tier-demo-probe"}}}
	if _, err := d.Observe(ctx, probe, config.Service{Name: "api", Repository: "api"}); err != nil {
		where := host
		if where == "" {
			where = "DOCKER_HOST (" + cmp.Or(os.Getenv("DOCKER_HOST"), "the default socket") + ")"
		}
		return fmt.Errorf("the docker demo needs a Docker engine, and the one at %s does not answer: %v: start one (scripts/docker-engines.sh start), or pass --docker-host", where, err)
	}
	return nil
}
