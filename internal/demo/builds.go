package demo

import (
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tierdeploy/tier/push"
	"github.com/tierdeploy/tier/registry"
)

// pushBuilds makes three versions of the demo app: one layer holding the
// app (this executable) shared by all, one layer per version, and pushes
// each as api:<commit>.
//
// Each version has a fixed creation time, so the same app binary always
// gives the same digests and a second run on one project finds its builds
// already pushed.
func pushBuilds(ctx context.Context, reg *registry.Client, dir, app string) ([]Build, error) {
	appDir := filepath.Join(dir, "build", "app")
	if err := os.MkdirAll(filepath.Join(appDir, "app"), 0o755); err != nil {
		return nil, err
	}
	if err := copyFile(app, filepath.Join(appDir, "app", "tier"), 0o755); err != nil {
		return nil, err
	}
	appLayer, err := push.DirLayer(appDir, time.Unix(0, 0))
	if err != nil {
		return nil, err
	}
	var out []Build
	for i, v := range []string{"v1", "v2", "v3"} {
		created := time.Date(2020, 11, 10+i, 10, 30, 0, 0, time.UTC)
		vdir := filepath.Join(dir, "build", v)
		if err := os.MkdirAll(filepath.Join(vdir, "app"), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(vdir, "app", "VERSION"), []byte(v+"\n"), 0o644); err != nil {
			return nil, err
		}
		vl, err := push.DirLayer(vdir, time.Unix(0, 0))
		if err != nil {
			return nil, err
		}
		img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), appLayer, vl)
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", runtime.GOARCH
		cf.Config.Entrypoint = []string{"/app/tier", "demo-app"}
		cf.Config.Env = []string{"VERSION=" + v}
		cf.Config.WorkingDir = "/app"
		cf.Created = v1.Time{Time: created}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return nil, err
		}
		p, err := push.Push(ctx, reg, img, push.Request{Repository: "api", Commit: commitOf(v), Created: created})
		if err != nil {
			return nil, err
		}
		out = append(out, Build{Version: v, Commit: p.Commit, Digest: p.Digest.String()})
	}
	return out, nil
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// appBinary returns the program the demo images run: this executable, or
// for containers a static build of it (containers have no C library to
// load a dynamically linked one).
func appBinary(ctx context.Context, kind string) (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	if kind != "docker" || isStatic(self) {
		return self, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "tier-demo-app-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	out := filepath.Join(dir, "tier")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/tierdeploy/tier/cmd/tier")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("the docker demo needs a static tier binary and building one failed (%v: %s): run it from the tier source tree, or build with CGO_ENABLED=0 go build ./cmd/tier", err, b)
	}
	return out, cleanup, nil
}

// isStatic reports whether the ELF executable at path needs no dynamic
// loader.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}
