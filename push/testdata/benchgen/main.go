// Command benchgen writes the inputs of the push benchmarks
// (push/testdata/bench.sh): under -out, a directory of files of -mib MiB
// (files/), the same files as one layer in an OCI layout (oci/), and as a
// docker-archive tarball with the layer uncompressed (archive.tar), as
// docker save wrote before Docker 25.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tierdeploy/tier/push"
)

func main() {
	mib := flag.Int("mib", 64, "size of the directory in MiB")
	out := flag.String("out", "", "directory to write into")
	flag.Parse()
	if *out == "" {
		log.Fatal("benchgen: -out is required")
	}
	if err := run(*out, *mib); err != nil {
		log.Fatal(err)
	}
}

func run(out string, mib int) error {
	files := filepath.Join(out, "files")
	if err := writeFiles(files, mib); err != nil {
		return err
	}
	layer, err := push.DirLayer(files, time.Unix(0, 0))
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	lp, err := layout.Write(filepath.Join(out, "oci"), empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendImage(img); err != nil {
		return err
	}
	// The docker archive: the same config and the layer as a plain tar.
	raw, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	plain, err := os.CreateTemp(out, "layer-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(plain.Name())
	defer plain.Close()
	rc, err := layer.Uncompressed()
	if err != nil {
		return err
	}
	n, err := io.Copy(plain, rc)
	rc.Close()
	if err != nil {
		return err
	}
	if _, err := plain.Seek(0, io.SeekStart); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(out, "archive.tar"))
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	manifest, err := json.Marshal([]tarball.Descriptor{{Config: "config.json", RepoTags: []string{"app:latest"}, Layers: []string{"layer/layer.tar"}}})
	if err != nil {
		return err
	}
	for _, e := range []struct {
		name string
		size int64
		r    io.Reader
	}{
		{"config.json", int64(len(raw)), bytes.NewReader(raw)},
		{"layer/layer.tar", n, plain},
		{"manifest.json", int64(len(manifest)), bytes.NewReader(manifest)},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: e.size, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := io.Copy(tw, e.r); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// writeFiles writes mib MiB as 4 MiB files, each half seeded noise and half
// runs, so the layer compresses about as much as a typical build output.
func writeFiles(dir string, mib int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(7, uint64(mib)))
	buf := make([]byte, 4<<20)
	for i := 0; i*4 < mib; i++ {
		for j := range buf {
			if j%4096 < 2048 {
				buf[j] = byte(r.Uint32())
			} else {
				buf[j] = byte(j / 4096)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%03d.bin", i)), buf, 0o644); err != nil {
			return err
		}
	}
	return nil
}
