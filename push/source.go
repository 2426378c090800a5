// Package push builds or loads an image from a source (an OCI layout, a
// docker-archive tarball, an image in some registry, or a directory of
// files) and pushes it as one build: <repo>:<commit>, annotated with its
// revision, creation time and source.
package push

import (
	"archive/tar"
	"context"
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
	"unicode"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tierdeploy/tier/registry"
)

// ErrSource is wrapped by errors about a source the user named.
var ErrSource = errors.New("bad image source")

// Kind says what a source is.
type Kind string

// Source kinds.
const (
	KindLayout    Kind = "oci-layout"
	KindTarball   Kind = "docker-archive"
	KindReference Kind = "image-reference"
	KindFiles     Kind = "files"
)

// FilesOptions shape an image built from a directory of files.
type FilesOptions struct {
	// Base is an image reference to layer the files on; empty means an
	// empty base (linux, this machine's architecture).
	Base       string
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	// Created is the time stamped on the image config and file entries, so
	// one directory gives one digest.
	Created time.Time
}

// Loader reads sources. Remote references are read with Registry, which
// returns a client for a registry host.
type Loader struct {
	Registry func(host string) (*registry.Client, error)
	Files    FilesOptions
}

// Validate checks the options as given, before anything is read or sent:
// every Env entry is KEY=VALUE and Base, when set, is an image reference
// (registry.ParseReference).
func (o FilesOptions) Validate() error {
	for _, e := range o.Env {
		k, _, ok := strings.Cut(e, "=")
		if !ok {
			return fmt.Errorf("%w: --env %q is not KEY=VALUE: write --env %s=VALUE (or %s= for an empty value); tier does not copy values from its own environment", ErrSource, registry.Clip(e), registry.Clip(e), registry.Clip(e))
		}
		if k == "" || strings.ContainsFunc(k, unicode.IsSpace) || strings.ContainsRune(e, 0) {
			return fmt.Errorf("%w: --env %q has no valid variable name before '=': write --env KEY=VALUE with a KEY of letters, digits and '_'", ErrSource, registry.Clip(e))
		}
	}
	if o.Base != "" {
		if _, err := registry.ParseReference(o.Base); err != nil {
			return fmt.Errorf("%w: --base %w", ErrSource, err)
		}
	}
	return nil
}

// Load returns the image or index a source names, and its kind. The
// options are validated first, so bad input is refused before anything is
// read or sent.
func (l *Loader) Load(ctx context.Context, src string) (remote.Taggable, Kind, error) {
	if err := l.Files.Validate(); err != nil {
		return nil, "", err
	}
	fi, err := os.Stat(src)
	switch {
	case err == nil && fi.IsDir():
		if _, err := os.Stat(filepath.Join(src, "oci-layout")); err == nil {
			t, err := loadLayout(src)
			return t, KindLayout, err
		}
		img, err := l.files(ctx, src)
		return img, KindFiles, err
	case err == nil:
		img, err := loadArchive(src)
		return img, KindTarball, err
	case looksLikePath(src):
		return nil, "", fmt.Errorf("%w: %s does not exist: give an OCI layout directory, a docker-archive tarball, a directory of files, or an image reference", ErrSource, registry.Clip(src))
	}
	t, err := l.remote(ctx, src)
	return t, KindReference, err
}

func looksLikePath(s string) bool {
	return strings.HasPrefix(s, ".") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, ".tar") || strings.HasSuffix(s, ".tar.gz")
}

func loadLayout(dir string) (remote.Taggable, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: reading OCI layout %s: %s", ErrSource, registry.Clip(dir), registry.Clip(err.Error()))
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("%w: reading OCI layout %s: %s", ErrSource, registry.Clip(dir), registry.Clip(err.Error()))
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s/index.json: %s", ErrSource, registry.Clip(dir), registry.Clip(err.Error()))
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("%w: OCI layout %s lists %d manifests in index.json; tier pushes one image or index: export a layout with exactly one", ErrSource, registry.Clip(dir), len(m.Manifests))
	}
	d := m.Manifests[0]
	switch {
	case d.MediaType.IsImage():
		return idx.Image(d.Digest)
	case d.MediaType.IsIndex():
		return idx.ImageIndex(d.Digest)
	}
	return nil, fmt.Errorf("%w: OCI layout %s holds a %s, not an image or an index", ErrSource, registry.Clip(dir), registry.Clip(string(d.MediaType)))
}

func (l *Loader) remote(ctx context.Context, src string) (remote.Taggable, error) {
	ref, err := registry.ParseReference(src)
	var re *registry.ReferenceError
	if errors.As(err, &re) {
		return nil, fmt.Errorf("%w: %q is neither a file, a directory nor an image reference: %s; give an existing path, or %s", ErrSource, registry.Clip(src), re.Why, registry.ReferenceForm)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSource, err)
	}
	c, err := l.Registry(ref.Context().RegistryStr())
	if err != nil {
		return nil, err
	}
	d, err := c.Get(ctx, ref.Context().RepositoryStr(), ref.Identifier())
	if err != nil {
		return nil, err
	}
	if d.MediaType.IsIndex() {
		return d.ImageIndex()
	}
	return d.Image()
}

func (l *Loader) files(ctx context.Context, dir string) (v1.Image, error) {
	o := l.Files
	var base v1.Image = empty.Image
	if o.Base != "" {
		t, err := l.remote(ctx, o.Base)
		if err != nil {
			return nil, fmt.Errorf("base image: %w", err)
		}
		img, ok := t.(v1.Image)
		if !ok {
			return nil, fmt.Errorf("%w: base %s is a multi-platform index; name one platform's image by digest", ErrSource, registry.Clip(o.Base))
		}
		base = img
	}
	layer, err := DirLayer(dir, o.Created)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	if cf.OS == "" {
		cf.OS, cf.Architecture = "linux", runtime.GOARCH
	}
	if o.Entrypoint != nil {
		cf.Config.Entrypoint = o.Entrypoint
	}
	if o.Cmd != nil {
		cf.Config.Cmd = o.Cmd
	}
	cf.Config.Env = append(cf.Config.Env, o.Env...)
	if o.WorkingDir != "" {
		cf.Config.WorkingDir = o.WorkingDir
	}
	cf.Created = v1.Time{Time: o.Created.UTC()}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	if base == empty.Image {
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	}
	return img, nil
}

// DirLayer packs the files under dir into one gzip-compressed OCI layer,
// with every file stamped mtime and owned by root, so the same files always
// give the same layer digest. The layer is streamed once into a temporary
// file, computing its digest and diffID on the way, so memory stays flat
// whatever the size of dir.
func DirLayer(dir string, mtime time.Time) (v1.Layer, error) {
	var terr error
	l, err := spool(types.OCILayer, func(w io.Writer) error {
		terr = tarDir(w, dir, mtime)
		return terr
	})
	switch {
	case terr != nil:
		return nil, fmt.Errorf("%w: packing %s: %s", ErrSource, registry.Clip(dir), registry.Clip(terr.Error()))
	case err != nil:
		// The temporary file, not the directory, failed.
		return nil, fmt.Errorf("packing %s: %w", registry.Clip(dir), err)
	}
	return l, nil
}

// tarDir writes dir to w as an uncompressed tar with sorted entries, root
// ownership and one timestamp, so the same files always give the same layer.
func tarDir(w io.Writer, dir string, mtime time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	tw := tar.NewWriter(w)
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = path.Clean(filepath.ToSlash(rel))
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		h.ModTime, h.AccessTime, h.ChangeTime = mtime.UTC().Truncate(time.Second), time.Time{}, time.Time{}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return tw.Close()
}
