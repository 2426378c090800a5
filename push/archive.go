package push

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/tierdeploy/tier/registry"
)

// loadArchive reads a docker-archive tarball (docker save). When its layers
// are uncompressed tars, go-containerregistry gzips a layer again each time
// its digest or its content is asked for (the manifest, the push's layer
// list, the upload), and finds it by reading the archive from the start
// each time; here each such layer is compressed once into a temporary file
// instead. The image is the same, byte for byte: the same compression, the
// same manifest.
func loadArchive(src string) (v1.Image, error) {
	img, err := tarball.ImageFromPath(src, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s as a docker-archive tarball (docker save): %s", ErrSource, registry.Clip(src), registry.Clip(err.Error()))
	}
	plain, err := plainLayers(src)
	if err != nil || !plain {
		// Compressed layers are read from the archive as they are; an
		// archive tier cannot peek into is left to go-containerregistry.
		return img, nil
	}
	s, err := spoolImage(img)
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s as a docker-archive tarball (docker save): %s", ErrSource, registry.Clip(src), registry.Clip(err.Error()))
	}
	return s, nil
}

// plainLayers reports whether the archive's first layer is an
// uncompressed tar (neither gzip nor zstd), as go-containerregistry decides
// for the whole image.
func plainLayers(src string) (bool, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(src) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return false, err
	}
	if len(m) != 1 || len(m[0].Layers) == 0 {
		return false, nil
	}
	f, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			return false, err
		}
		if h.Name != m[0].Layers[0] {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return false, nil
		}
		magic := make([]byte, 4)
		n, err := io.ReadFull(tr, magic)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return false, err
		}
		magic = magic[:n]
		gz := bytes.HasPrefix(magic, []byte{0x1f, 0x8b})
		zstd := bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd})
		return !gz && !zstd, nil
	}
}

// spooledImage is an image whose uncompressed layers were compressed once
// into temporary files. Its manifest is built as go-containerregistry
// builds one for a docker archive with uncompressed layers
// (partial.UncompressedToImage), so the digest does not change.
type spooledImage struct {
	img      v1.Image
	layers   []v1.Layer
	manifest *v1.Manifest
}

var _ v1.Image = (*spooledImage)(nil)

func spoolImage(img v1.Image) (*spooledImage, error) {
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	s := &spooledImage{img: img, layers: make([]v1.Layer, len(ls))}
	// Compress layers side by side, as an upload of the plain archive
	// would have.
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, l := range ls {
		g.Go(func() error {
			fl, err := spoolLayer(l)
			if err != nil {
				return err
			}
			s.layers[i] = fl
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	h, n, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	m := &v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config:        v1.Descriptor{MediaType: types.DockerConfigJSON, Size: n, Digest: h},
		Layers:        make([]v1.Descriptor, len(s.layers)),
	}
	for i, l := range s.layers {
		d, err := partial.Descriptor(l)
		if err != nil {
			return nil, err
		}
		m.Layers[i] = *d
	}
	s.manifest = m
	return s, nil
}

// spoolLayer compresses l's uncompressed content once into a fileLayer
// and checks it against the diffID the image config names.
func spoolLayer(l v1.Layer) (*fileLayer, error) {
	want, err := l.DiffID()
	if err != nil {
		return nil, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return nil, err
	}
	fl, err := spool(mt, func(w io.Writer) error {
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(w, rc)
		return err
	})
	if err != nil {
		return nil, err
	}
	if fl.diffID != want {
		fl.f.Close()
		return nil, fmt.Errorf("layer content has diffID %s, but the image config names %s", fl.diffID, want)
	}
	return fl, nil
}

// MediaType implements v1.Image.
func (s *spooledImage) MediaType() (types.MediaType, error) { return s.manifest.MediaType, nil }

// Size implements v1.Image: the size of the manifest.
func (s *spooledImage) Size() (int64, error) { return partial.Size(s) }

// ConfigName implements v1.Image.
func (s *spooledImage) ConfigName() (v1.Hash, error) { return s.manifest.Config.Digest, nil }

// ConfigFile implements v1.Image.
func (s *spooledImage) ConfigFile() (*v1.ConfigFile, error) { return s.img.ConfigFile() }

// RawConfigFile implements v1.Image.
func (s *spooledImage) RawConfigFile() ([]byte, error) { return s.img.RawConfigFile() }

// Digest implements v1.Image.
func (s *spooledImage) Digest() (v1.Hash, error) { return partial.Digest(s) }

// Manifest implements v1.Image.
func (s *spooledImage) Manifest() (*v1.Manifest, error) { return s.manifest, nil }

// RawManifest implements v1.Image.
func (s *spooledImage) RawManifest() ([]byte, error) { return partial.RawManifest(s) }

// Layers implements v1.Image.
func (s *spooledImage) Layers() ([]v1.Layer, error) { return append([]v1.Layer(nil), s.layers...), nil }

// LayerByDigest implements v1.Image: a layer, or the config blob.
func (s *spooledImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	if h == s.manifest.Config.Digest {
		return partial.ConfigLayer(s)
	}
	for i, d := range s.manifest.Layers {
		if d.Digest == h {
			return s.layers[i], nil
		}
	}
	return nil, fmt.Errorf("blob %s not found in the image", h)
}

// LayerByDiffID implements v1.Image.
func (s *spooledImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	for _, l := range s.layers {
		if d, err := l.DiffID(); err == nil && d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("layer with diffID %s not found in the image", h)
}
