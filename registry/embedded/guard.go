package embedded

import (
	"bytes"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"
)

// manifestLimit is the largest manifest the registry accepts (olareg's
// default, set explicitly because guard buffers manifests up to it).
const manifestLimit = 8 << 20

// guard works around a data race in olareg's directory store, present in
// v0.1.2 and still in v0.2.2: a repository's "exists" flag is written under
// the repository's mutex when the repository is created (the first upload
// or manifest) or its index.json is loaded, but read without it by blob
// reads and by the check at the start of every upload. Concurrent pushes to
// a new repository, which every registry client makes, trip the race
// detector (TestServeConcurrent, with guard taken out).
//
// guard orders those accesses with one RWMutex. Requests that can create a
// repository or load an index (manifests, tag lists, referrers, starting an
// upload) hold it exclusively; blob reads share it; a request keeps it only
// until its handler writes the response header, by which point olareg has
// finished with the flag, so a long blob download holds nothing. Requests
// that stream data into an upload session never touch the flag and take no
// lock. A manifest PUT's body is read before the lock is taken, so a slow
// client does not stall the registry. Only a monolithic upload (a POST that
// carries the blob) holds the lock while its body arrives; the usual
// clients (go-containerregistry, docker, regclient) start uploads with an
// empty POST.
type guard struct {
	mu   sync.RWMutex
	next http.Handler
}

// access is how a request must hold guard.mu.
type access int

const (
	accessNone access = iota
	accessShared
	accessExclusive
)

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var release func()
	switch classify(r) {
	case accessNone:
		g.next.ServeHTTP(w, r)
		return
	case accessShared:
		g.mu.RLock()
		release = sync.OnceFunc(g.mu.RUnlock)
	case accessExclusive:
		if r.Method == http.MethodPut && r.Body != nil {
			// Read the manifest first: olareg reads it whole anyway.
			b, err := io.ReadAll(io.LimitReader(r.Body, manifestLimit+1))
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.ContentLength = int64(len(b))
		}
		g.mu.Lock()
		release = sync.OnceFunc(g.mu.Unlock)
	}
	defer release()
	g.next.ServeHTTP(&releaseWriter{ResponseWriter: w, release: release}, r)
}

// classify mirrors the routing in olareg's Server.ServeHTTP.
func classify(r *http.Request) access {
	el := strings.Split(strings.Trim(path.Clean("/"+r.URL.Path), "/"), "/")
	n := len(el)
	if el[0] != "v2" || n < 4 {
		return accessNone
	}
	switch {
	case el[n-2] == "manifests", el[n-2] == "referrers", el[n-2] == "tags" && el[n-1] == "list":
		return accessExclusive
	case el[n-2] == "blobs":
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return accessShared
		}
		return accessExclusive // starting an upload, or a blob delete
	}
	return accessNone // upload sessions: PATCH, PUT, GET, DELETE .../blobs/uploads/ID
}

// releaseWriter calls release before the response header is written.
type releaseWriter struct {
	http.ResponseWriter
	release func()
}

func (w *releaseWriter) WriteHeader(code int) {
	w.release()
	w.ResponseWriter.WriteHeader(code)
}

func (w *releaseWriter) Write(b []byte) (int, error) {
	w.release()
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *releaseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
