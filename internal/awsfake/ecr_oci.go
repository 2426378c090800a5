package awsfake

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The registry side of the ECR stand-in: the OCI distribution API that ECR
// serves at <account>.dkr.ecr.<region>.amazonaws.com, read-only, from the
// same state as the ECR API. Tests route that host here with a transport
// that keeps the Host header.

var ecrRegistryHost = regexp.MustCompile(`^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?(:\d+)?$`)

func (s *Server) serveOCI(w http.ResponseWriter, r *http.Request) {
	m := ecrRegistryHost.FindStringSubmatch(r.Host)
	if m == nil {
		http.Error(w, "not an ECR registry host: "+r.Host, http.StatusNotFound)
		return
	}
	account, region := m[1], m[2]
	path := strings.TrimPrefix(r.URL.Path, "/v2/")
	s.Calls = append(s.Calls, Call{Service: "ecr-registry", Operation: r.Method + " " + r.URL.Path, Account: account, Region: region})
	if path == "" {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return
	}
	ociError := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
	}
	if name, ok := strings.CutSuffix(path, "/tags/list"); ok && r.Method == http.MethodGet {
		repo := s.ecr.repos(account, region)[name]
		if repo == nil {
			ociError(http.StatusNotFound, "NAME_UNKNOWN", "repository "+name+" not found")
			return
		}
		tags := make([]string, 0, len(repo.tags))
		for t := range repo.tags {
			tags = append(tags, t)
		}
		slices.Sort(tags)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"name": name, "tags": tags})
		return
	}
	i := strings.LastIndex(path, "/manifests/")
	if i < 0 || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		ociError(http.StatusMethodNotAllowed, "UNSUPPORTED", "the stand-in serves manifest and tag reads only")
		return
	}
	name, ref := path[:i], path[i+len("/manifests/"):]
	repo := s.ecr.repos(account, region)[name]
	if repo == nil {
		ociError(http.StatusNotFound, "NAME_UNKNOWN", "repository "+name+" not found")
		return
	}
	digest := ref
	if !strings.HasPrefix(ref, "sha256:") {
		digest = repo.tags[ref]
	}
	img := repo.images[digest]
	if img == nil {
		ociError(http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest "+ref+" not found")
		return
	}
	w.Header().Set("Content-Type", img.mediaType)
	w.Header().Set("Docker-Content-Digest", img.digest)
	w.Header().Set("Content-Length", strconv.Itoa(len(img.manifest)))
	if r.Method == http.MethodGet {
		w.Write([]byte(img.manifest))
	}
}
