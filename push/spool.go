package push

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fileLayer is a gzip-compressed layer held in a temporary file, written
// once with its digest, diffID and size computed on the way, so a layer of
// any size costs disk, not memory, and is never compressed twice. The file
// is unlinked as soon as it is created: the open handle keeps it readable
// until the layer is garbage collected or the process exits, and nothing is
// left behind however the process ends.
type fileLayer struct {
	f              *os.File
	size           int64
	digest, diffID v1.Hash
	mediaType      types.MediaType
}

var _ v1.Layer = (*fileLayer)(nil)

// Digest implements v1.Layer: the sha256 of the compressed bytes.
func (l *fileLayer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID implements v1.Layer: the sha256 of the uncompressed bytes.
func (l *fileLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Size implements v1.Layer: the size of the compressed bytes.
func (l *fileLayer) Size() (int64, error) { return l.size, nil }

// MediaType implements v1.Layer.
func (l *fileLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// Compressed implements v1.Layer. Readers are independent: each reads the
// file at its own offset, so uploads may run side by side.
func (l *fileLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(io.NewSectionReader(l.f, 0, l.size)), nil
}

// Uncompressed implements v1.Layer.
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) {
	return gzip.NewReader(io.NewSectionReader(l.f, 0, l.size))
}

// spool writes one layer through write into a temporary file: write gets a
// writer for the uncompressed bytes, which are hashed (diffID) and gzipped
// at gzip.BestSpeed with a zero header, exactly as go-containerregistry
// compresses an uncompressed layer, and the compressed bytes are hashed
// (digest) and counted on their way to the file.
func spool(mt types.MediaType, write func(w io.Writer) error) (_ *fileLayer, err error) {
	f, err := os.CreateTemp("", "tier-layer-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary file for a layer: %w", err)
	}
	// Unlink at once where the system allows it (not on Windows, where
	// the file goes when the temporary directory is cleaned).
	os.Remove(f.Name())
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	zsum := sha256.New()
	counter := &countWriter{}
	bw := bufio.NewWriterSize(io.MultiWriter(f, zsum, counter), 1<<16)
	gw, err := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	sum := sha256.New()
	if err := write(io.MultiWriter(gw, sum)); err != nil {
		return nil, err
	}
	if err := gw.Close(); err != nil {
		return nil, fmt.Errorf("compressing a layer: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("writing a layer to %s: %w", f.Name(), err)
	}
	return &fileLayer{f: f, size: counter.n, digest: sha256Hash(zsum), diffID: sha256Hash(sum), mediaType: mt}, nil
}

func sha256Hash(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
