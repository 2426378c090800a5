package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/push"
	"github.com/tierdeploy/tier/registry"
)

func (a *app) pushCmd() *cobra.Command {
	var (
		commit, created, source string
		force                   bool
		files                   push.FilesOptions
	)
	cmd := &cobra.Command{
		Use:   "push SERVICE SOURCE",
		Short: "Push an image as <repository>:<commit>",
		Long: `Push one build of SERVICE, tagged with its full git commit hash (default:
git rev-parse HEAD) and annotated with org.opencontainers.image.revision,
.created and .source.

SOURCE is one of:
  an OCI layout directory       (skopeo copy ... oci:DIR, docker buildx --output type=oci)
  a docker-archive tarball      (docker save -o app.tar app)
  a directory of files          layered onto --base (default: an empty image), run with --entrypoint
  an image reference            copied from another registry (ghcr.io/acme/api:1.2)

Builds are immutable: pushing a different image under a commit that already has
one is refused unless --force; pushing the same content again does nothing.
The created time defaults to the commit's time, so a rebuild gives the same digest.`,
		Example: `  tier push api ./oci-layout
  docker save -o api.tar api && tier push api api.tar
  tier push api ./dist --entrypoint /server --commit $(git rev-parse HEAD)
  tier push api ghcr.io/acme/api:1.2.0 --commit 4f2a9c1...`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.withSession(cmd.Context(), func(ctx context.Context, s *session) error {
				svc, err := s.cfg.LookupService(argv[0])
				if err != nil {
					return err
				}
				if commit == "" {
					if commit, err = git(ctx, "rev-parse", "HEAD"); err != nil {
						return config.Usagef("no --commit given and `git rev-parse HEAD` failed (%v): pass --commit SHA", err)
					}
				}
				when, err := buildTime(ctx, created, commit, a.now)
				if err != nil {
					return err
				}
				files.Created = when
				if source == "" {
					source = gitSource(ctx)
				} else if clean := push.SourceURL(source); clean != strings.TrimSpace(source) {
					// The value is not logged: what was removed may be a token.
					a.log.Warn("--source-url is recorded without its user info, query string and fragment, which can hold credentials", "source", clean)
				}
				loader := &push.Loader{Files: files, Registry: func(host string) (*registry.Client, error) {
					if host == s.reg.Host() {
						return s.reg, nil
					}
					return registry.New(host, registry.Options{Transport: a.transport, Keychain: a.keychain, Log: a.log})
				}}
				img, kind, err := loader.Load(ctx, argv[1])
				if err != nil {
					return err
				}
				a.log.Info("pushing", "service", svc.Name, "source", argv[1], "kind", kind)
				res, err := push.Push(ctx, s.reg, img, push.Request{Repository: svc.Repository, Commit: commit, Created: when, SourceURL: source, Force: force})
				if err != nil {
					return err
				}
				if a.json() {
					return a.writeJSON(res)
				}
				switch res.Status {
				case push.Unchanged:
					fmt.Fprintf(a.stdout, "%s already holds this build (%s): nothing pushed\n", res.Ref, res.Digest)
				case push.Replaced:
					fmt.Fprintf(a.stdout, "replaced %s: %s (was %s)\n", res.Ref, res.Digest, res.Previous)
				default:
					fmt.Fprintf(a.stdout, "pushed %s: %s\n", res.Ref, res.Digest)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&commit, "commit", "", "full git commit hash the image was built from (default: git rev-parse HEAD)")
	f.StringVar(&created, "created", "", "creation time, RFC 3339 (default: the commit's time, else SOURCE_DATE_EPOCH, else now)")
	f.StringVar(&source, "source-url", "", "org.opencontainers.image.source (default: git remote origin, without credentials)")
	f.BoolVar(&force, "force", false, "replace a different image already pushed under this commit")
	f.StringVar(&files.Base, "base", "", "base image for a directory SOURCE (default: empty)")
	f.StringSliceVar(&files.Entrypoint, "entrypoint", nil, "entrypoint for a directory SOURCE, comma-separated (/server,--port,8080)")
	f.StringSliceVar(&files.Cmd, "cmd", nil, "command (arguments) for a directory SOURCE, comma-separated")
	f.StringArrayVar(&files.Env, "env", nil, "KEY=VALUE set in the image config for a directory SOURCE (repeatable)")
	f.StringVar(&files.WorkingDir, "workdir", "", "working directory for a directory SOURCE")
	return cmd
}

// buildTime picks the build's created time: --created, else the commit's
// committer time, else SOURCE_DATE_EPOCH, else now.
func buildTime(ctx context.Context, flag, commit string, now func() time.Time) (time.Time, error) {
	if flag != "" {
		t, err := time.Parse(time.RFC3339, flag)
		if err != nil {
			return time.Time{}, config.Usagef("--created %q is not an RFC 3339 time (2020-11-12T10:30:00Z)", registry.Clip(flag))
		}
		return t.UTC(), nil
	}
	if out, err := git(ctx, "show", "-s", "--format=%cI", commit); err == nil {
		if t, err := time.Parse(time.RFC3339, out); err == nil {
			return t.UTC(), nil
		}
	}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Unix(s, 0).UTC(), nil
		}
	}
	return now().UTC().Truncate(time.Second), nil
}

// gitSource returns the origin remote's URL with any credentials removed
// (push.SourceURL), or "" outside a git checkout.
func gitSource(ctx context.Context) string {
	u, err := git(ctx, "remote", "get-url", "origin")
	if err != nil {
		return ""
	}
	return push.SourceURL(u)
}

func git(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", args...).Output()
	return strings.TrimSpace(string(out)), err
}
