// Package cli is tier's command line: thin cobra commands over the domain
// packages, one file per command.
package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/awscred"
	"github.com/tierdeploy/tier/internal/targets"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/registry/ecr"
	"github.com/tierdeploy/tier/registry/embedded"
)

// app holds what every command shares: flags, streams and seams for tests.
type app struct {
	stdout, stderr io.Writer
	configPath     string
	output         string
	verbose        bool
	log            *slog.Logger

	// Now is the clock; Transport, when set, is the base HTTP transport of
	// registry clients (tests count bytes through it).
	now       func() time.Time
	transport http.RoundTripper
	// aws holds every environment's AWS configuration for the process;
	// awsEndpoint, when set, sends AWS calls to a stand-in (tests).
	aws         *awscred.Cache
	awsEndpoint string
	awsGetenv   func(string) string
	// keychain, when set, replaces the registry credentials (tests).
	keychain authn.Keychain
}

// awsCreds returns the process's AWS settings cache.
func (a *app) awsCreds() *awscred.Cache {
	if a.aws == nil {
		a.aws = &awscred.Cache{Endpoint: a.awsEndpoint, Getenv: a.awsGetenv}
	}
	return a.aws
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Run executes tier with args and returns the exit status.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, &app{stdout: stdout, stderr: stderr, now: time.Now}, args)
}

func run(ctx context.Context, a *app, args []string) int {
	// Logs and live progress reach stderr from many goroutines.
	a.stderr = &syncWriter{w: a.stderr}
	root := a.root()
	root.SetArgs(args)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(a.stderr, "tier:", err)
		if errors.Is(err, config.ErrUsage) {
			fmt.Fprintln(a.stderr, "Run 'tier --help' for usage.")
		}
	}
	return ExitCode(err)
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "tier",
		Short: "Promote container images through environment tiers by moving registry tags",
		Long: `tier keeps many deployment environments in sync by promoting container images
through tiers (dev -> staging -> prod) with registry tags, and shows what is
deployed where.

Every build is pushed once, tagged with its git commit. Promoting it to a tier
moves that tier's mutable tag (api:dev) server-side, copying only the manifest;
release tiers get a new immutable, timestamped tag per promotion
(prod-20201112T103000Z) that can be rolled back to by date.

Exit status: 0 done, 1 failed, 2 bad input (usage, config, unknown tier,
invalid tag, build not found), 3 partly done.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// An unknown command is bad input (exit 2) with a suggestion;
		// no command prints the help.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, argv []string) error {
			if len(argv) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", argv[0], cmd.Name())
			if s := cmd.SuggestionsFor(argv[0]); len(s) > 0 {
				msg += fmt.Sprintf(": did you mean %s?", strings.Join(s, " or "))
			}
			return config.Usagef("%s", msg)
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelWarn
			if a.verbose {
				level = slog.LevelDebug
			}
			a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
			switch a.output {
			case "table", "json":
			default:
				return config.Usagef("--output %q: use table or json", registry.Clip(a.output))
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return config.Usagef("%v", err) })
	f := root.PersistentFlags()
	def := cmp.Or(os.Getenv("TIER_CONFIG"), config.DefaultFile)
	f.StringVarP(&a.configPath, "config", "c", def, "configuration file (env TIER_CONFIG)")
	f.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	f.BoolVarP(&a.verbose, "verbose", "v", false, "log progress and registry requests to stderr")
	root.AddCommand(a.initCmd(), a.validateCmd(), a.registryCmd(), a.pushCmd(), a.promoteCmd(), a.rollbackCmd(), a.statusCmd(), a.demoCmd(), a.demoAppCmd(), a.doctorCmd())
	return root
}

// args wraps a cobra positional-argument check so its error counts as a
// usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return config.Usagef("%v", err)
		}
		return nil
	}
}

// session is a loaded configuration with a registry client, for one command.
type session struct {
	cfg     *config.Config
	reg     *registry.Client
	release func() error
}

// Close stops the embedded registry when the session started it.
func (s *session) Close() error {
	if s.release != nil {
		return s.release()
	}
	return nil
}

func (a *app) loadConfig() (*config.Config, error) {
	return config.Load(a.configPath)
}

// open loads the configuration and connects to its registry, starting the
// embedded one for the length of the command when the config names none and
// no `tier registry serve` owns its storage.
func (a *app) open(ctx context.Context) (*session, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	s := &session{cfg: cfg}
	host := cfg.Registry
	if host == "" {
		addr, release, err := embedded.Open(ctx, registryDir(cfg), a.log)
		if err != nil {
			return nil, fmt.Errorf("starting the embedded registry: %w", err)
		}
		host, s.release = addr, release
		a.log.Debug("embedded registry", "addr", addr, "dir", registryDir(cfg))
	}
	opts := registry.Options{Transport: a.transport, Keychain: a.keychain, Log: a.log}
	if _, region, ok := ecr.ParseHost(host); ok {
		// Tags move through the ECR API with the registry account's
		// credentials (the default chain: AWS_PROFILE, role, ...).
		cfg, err := a.awsCreds().Config(ctx, awscred.Settings{Environment: "registry", Region: region})
		if err == nil {
			opts.Retagger, err = ecr.ForHost(cfg, host, ecr.Options{Transport: a.transport})
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("registry %s: %w", host, err)
		}
	}
	s.reg, err = registry.New(host, opts)
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// withSession opens the project for run and closes it afterwards.
func (a *app) withSession(ctx context.Context, run func(ctx context.Context, s *session) error) error {
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	return run(ctx, s)
}

// targetSet returns the deploy targets of the session's environments; the
// caller closes them. healthTimeout bounds the health waits of the targets
// that run builds themselves (0: their default).
func (a *app) targetSet(s *session, healthTimeout time.Duration) *targets.Set {
	return targets.New(targets.Options{Config: s.cfg, Registry: s.reg, AWS: a.awsCreds(), HealthTimeout: healthTimeout, Log: a.log})
}

// registryDir is where the embedded registry of cfg keeps its storage.
func registryDir(cfg *config.Config) string {
	return filepath.Join(cfg.StatePath(), "registry")
}
