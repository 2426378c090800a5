package local

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// image is one build unpacked on disk.
type image struct {
	Digest v1.Hash
	// Rootfs is the unpacked root filesystem.
	Rootfs string
	// Config is the image's run configuration.
	Config v1.Config
}

// imageDir is where digest is unpacked.
func (t *Target) imageDir(digest v1.Hash) string {
	return filepath.Join(t.o.Dir, "images", digest.Algorithm+"-"+digest.Hex)
}

// image returns digest of repo unpacked, pulling and unpacking it unless an
// earlier deploy (of any environment, by any process) already did.
func (t *Target) image(ctx context.Context, repo string, digest v1.Hash) (*image, error) {
	dir := t.imageDir(digest)
	// The directory only appears, complete, by a rename: when it exists it
	// is ready.
	if img, err := loadImage(dir, digest); err == nil {
		return img, nil
	}
	unlock, err := lock(ctx, dir+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if img, err := loadImage(dir, digest); err == nil {
		return img, nil
	}
	// Holding the lock, any temporary directory for this digest is left
	// over from a process that died while unpacking.
	prefix := ".tmp-" + filepath.Base(dir) + "-"
	if old, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), prefix+"*")); len(old) > 0 {
		for _, o := range old {
			if err := removeAll(o); err != nil {
				return nil, fmt.Errorf("removing an abandoned unpack: %w", err)
			}
		}
	}
	start := time.Now()
	t.log.Info("pulling and unpacking", "repository", repo, "digest", digest.String())
	img, err := t.pull(ctx, repo, digest)
	if err != nil {
		return nil, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config of %s: %w", digest, err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(cfg))
	if err != nil {
		return nil, fmt.Errorf("parsing image config of %s: %w", digest, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), prefix)
	if err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", digest, err)
	}
	done := false
	defer func() {
		if !done {
			removeAll(tmp)
		}
	}()
	rootfs := filepath.Join(tmp, "rootfs")
	if err := unpack(ctx, img, rootfs, cf.Config.WorkingDir); err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", digest, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "config.json"), cfg, 0o644); err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", digest, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", digest, err)
	}
	done = true
	t.log.Info("unpacked", "digest", digest.String(), "dir", dir, "elapsed", time.Since(start).Round(time.Millisecond))
	return &image{Digest: digest, Rootfs: filepath.Join(dir, "rootfs"), Config: cf.Config}, nil
}

// loadImage reads an unpacked image.
func loadImage(dir string, digest v1.Hash) (*image, error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, "config.json"), err)
	}
	return &image{Digest: digest, Rootfs: filepath.Join(dir, "rootfs"), Config: cf.Config}, nil
}

// pull fetches the manifest of digest and returns its image; for an index,
// the image for this machine's platform.
func (t *Target) pull(ctx context.Context, repo string, digest v1.Hash) (v1.Image, error) {
	if t.o.Registry == nil {
		return nil, fmt.Errorf("pulling %s: no registry client configured", digest)
	}
	desc, err := t.o.Registry.Manifest(ctx, repo, digest)
	if err != nil {
		return nil, fmt.Errorf("pulling: %w", err)
	}
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		if err != nil {
			return nil, fmt.Errorf("pulling %s: %w", digest, err)
		}
		return img, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", digest, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", digest, err)
	}
	var have []string
	for _, d := range m.Manifests {
		if d.Platform == nil {
			continue
		}
		if d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("pulling %s for linux/%s: %w", digest, runtime.GOARCH, err)
			}
			return img, nil
		}
		have = append(have, d.Platform.OS+"/"+d.Platform.Architecture)
	}
	return nil, fmt.Errorf("pulling %s: the index has no image for linux/%s (it has %s)", digest, runtime.GOARCH, strings.Join(have, ", "))
}

// unpack writes the flattened file system of img into dir, which must not
// exist. Whiteouts are applied by mutate.Extract; every write goes through
// an os.Root, so no entry (nor a symlink it creates) can place a file
// outside dir. Ownership is not kept (tier runs as an ordinary user),
// setuid and setgid bits are dropped, and device nodes and FIFOs are
// skipped.
func unpack(ctx context.Context, img v1.Image, dir, workdir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	rc := mutate.Extract(img)
	defer rc.Close()

	type dirEntry struct {
		name  string
		mode  fs.FileMode
		mtime time.Time
	}
	var dirs []dirEntry
	var links []*tar.Header
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading layers: %w", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if name == "" {
			continue
		}
		mode := h.FileInfo().Mode().Perm()
		// mutate.Extract emits the upper layers first and each path once,
		// so a path that exists already was made (as a parent directory)
		// for an upper layer's entry: the upper layer wins.
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return fmt.Errorf("creating %s: %w", name, err)
			}
			dirs = append(dirs, dirEntry{name, mode, h.ModTime})
		case tar.TypeReg:
			if err := parent(root, name); err != nil {
				return err
			}
			if exists(root, name) {
				continue
			}
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("creating %s: %w", name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("writing %s: %w", name, err)
			}
			if err := root.Chmod(name, mode); err != nil {
				return fmt.Errorf("setting the mode of %s: %w", name, err)
			}
			if err := root.Chtimes(name, h.ModTime, h.ModTime); err != nil {
				return fmt.Errorf("setting the time of %s: %w", name, err)
			}
		case tar.TypeSymlink:
			if err := parent(root, name); err != nil {
				return err
			}
			if exists(root, name) {
				continue
			}
			if err := root.Symlink(h.Linkname, name); err != nil {
				return fmt.Errorf("creating symlink %s: %w", name, err)
			}
		case tar.TypeLink:
			// The target may come from a lower layer, later in the stream.
			links = append(links, h)
		}
	}
	// Hard links, in passes: a link may point at another link.
	for len(links) > 0 {
		var again []*tar.Header
		var lastErr error
		for _, h := range links {
			name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
			target := strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")
			if err := parent(root, name); err != nil {
				return err
			}
			if exists(root, name) {
				continue
			}
			if !exists(root, target) {
				again = append(again, h)
				lastErr = fmt.Errorf("hard link %s points at %s, which the image does not have", name, target)
				continue
			}
			if err := root.Link(target, name); err != nil {
				return fmt.Errorf("creating hard link %s: %w", name, err)
			}
		}
		if len(again) == len(links) {
			return lastErr
		}
		links = again
	}
	if workdir != "" {
		if err := root.MkdirAll(strings.TrimPrefix(path.Clean("/"+workdir), "/"), 0o755); err != nil {
			return fmt.Errorf("creating working directory %s: %w", workdir, err)
		}
	}
	// Directory modes last, deepest first: a read-only directory could not
	// have been filled, and a parent without search permission would hide
	// its children.
	sort.SliceStable(dirs, func(i, j int) bool {
		return strings.Count(dirs[i].name, "/") > strings.Count(dirs[j].name, "/")
	})
	for _, d := range dirs {
		if err := root.Chmod(d.name, d.mode); err != nil {
			return fmt.Errorf("setting the mode of %s: %w", d.name, err)
		}
		if err := root.Chtimes(d.name, d.mtime, d.mtime); err != nil {
			return fmt.Errorf("setting the time of %s: %w", d.name, err)
		}
	}
	return nil
}

// parent creates the parent directories of name.
func parent(root *os.Root, name string) error {
	if d := path.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	return nil
}

func exists(root *os.Root, name string) bool {
	_, err := root.Lstat(name)
	return err == nil
}

// removeAll removes dir even when an unpack left read-only directories in it.
func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
