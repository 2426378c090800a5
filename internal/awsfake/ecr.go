package awsfake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The ECR stand-in follows the Amazon ECR API reference (API version
// 2015-09-21): private registries per account and region, repositories with
// their tag-mutability setting, repository policy and lifecycle policy, and
// images stored as manifests (no layers: PutImage does not check that the
// layers a manifest names were uploaded).
//
// Operations: DescribeRepositories, BatchGetImage, PutImage, DescribeImages,
// GetRepositoryPolicy, PutImageTagMutability, GetLifecyclePolicy,
// PutLifecyclePolicy, GetAuthorizationToken.
//
// Where the documents say how ECR answers, the stand-in answers so:
//
//   - BatchGetImage's acceptedMediaTypes takes the valid values the API
//     reference lists (Docker image manifest V2 schema 1 and schema 2, OCI
//     image manifest); any other value, a manifest list or an image index
//     type among them, is an InvalidParameterException. An image named by
//     digest is returned as stored: the user guide ("Container image
//     manifest format support") says no conversion happens on a pull by
//     digest. Conversions on a pull by tag are not modelled.
//   - PutImage of the digest a tag already has: ImageAlreadyExistsException
//     where the tag may move, but ImageTagAlreadyExistsException where the
//     repository's tag mutability keeps the tag, as public AWS issue threads
//     report (aws/containers-roadmap#2179, aws/aws-sdk#750); another digest
//     under a kept tag is ImageTagAlreadyExistsException, as documented.
//   - Tag mutability: IMMUTABLE keeps every tag, IMMUTABLE_WITH_EXCLUSION
//     every tag no exclusion filter matches, MUTABLE_WITH_EXCLUSION only the
//     tags a filter matches. A WILDCARD filter matches a whole tag, '*'
//     standing for any run of characters (the filter alphabet,
//     [0-9a-zA-Z._*-], has no other special character).
//   - Lifecycle policies are checked against the rules of the user guide
//     ("Lifecycle policy properties") when put; they are never run.
//
// Reads after writes are consistent unless a test asks otherwise
// (LagTagReads): ECR documents nothing about it either way.
//
// A call naming another account's registry (registryId) is allowed when
// that repository's policy has an Allow statement for the caller's account
// (or "*") and the action, and no Deny; conditions are not evaluated. A
// call to the caller's own registry is always allowed: IAM identity
// policies are not modelled.

// Tag mutability settings of a repository.
const (
	ECRMutable                = "MUTABLE"
	ECRImmutable              = "IMMUTABLE"
	ECRImmutableWithExclusion = "IMMUTABLE_WITH_EXCLUSION"
	ECRMutableWithExclusion   = "MUTABLE_WITH_EXCLUSION"
)

// ecrAcceptedMediaTypes are the valid values of BatchGetImage's
// acceptedMediaTypes, as the API reference lists them.
var ecrAcceptedMediaTypes = []string{
	"application/vnd.docker.distribution.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
}

// Manifest media types ECR stores.
var ecrMediaTypes = []string{
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
}

type ecrKey struct{ account, region string }

// ecrState is the ECR stand-in's state: one private registry per account
// and region.
type ecrState struct {
	registries map[ecrKey]map[string]*ecrRepo
	// putTimes are the arrival times of PutImage calls that reached the
	// stand-in's logic (calls failed by FailNext are not included).
	putTimes map[ecrKey][]time.Time
	seq      int
}

type ecrRepo struct {
	name       string
	created    time.Time
	mutability string
	exclusions []string // WILDCARD filters
	policy     string
	// lifecycle is the lifecycle policy text ("" for none).
	lifecycle string
	images    map[string]*ecrImage // by digest
	tags      map[string]string    // tag → digest
	// before holds what each tag pointed at before the PutImage that last
	// moved it ("" when the tag was new), and stale how many more
	// DescribeImages reads by tag answer that (LagTagReads).
	before map[string]string
	stale  int
}

type ecrImage struct {
	digest    string
	manifest  string
	mediaType string
	artifact  string // config media type, for image manifests
	size      int64
	pushedAt  time.Time
	seq       int // push order, for stable listings
}

func newECR() *ecrState {
	return &ecrState{registries: map[ecrKey]map[string]*ecrRepo{}, putTimes: map[ecrKey][]time.Time{}}
}

func (e *ecrState) repos(account, region string) map[string]*ecrRepo {
	k := ecrKey{account, region}
	if e.registries[k] == nil {
		e.registries[k] = map[string]*ecrRepo{}
	}
	return e.registries[k]
}

// AddRepository creates a repository in the registry of account and region
// with a tag mutability setting (ECRMutable, ECRImmutable, ECRImmutableWithExclusion
// or ECRMutableWithExclusion; "" means ECRMutable) and WILDCARD exclusion filters
// ("dev", "release-*"). It replaces a repository of that name. It panics on
// a setting PutImageTagMutability would refuse.
func (s *Server) AddRepository(account, region, name, mutability string, exclusions ...string) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	if mutability == "" {
		mutability = ECRMutable
	}
	var filters []ecrExclusionOut
	for _, f := range exclusions {
		filters = append(filters, ecrExclusionOut{FilterType: "WILDCARD", Filter: f})
	}
	if _, aerr := ecrMutability(mutability, filters); aerr != nil {
		panic(fmt.Sprintf("awsfake: AddRepository %s: %s", name, aerr.Message))
	}
	s.ecr.repos(account, region)[name] = &ecrRepo{name: name, created: time.Now().UTC(), mutability: mutability,
		exclusions: slices.Clone(exclusions), images: map[string]*ecrImage{}, tags: map[string]string{}, before: map[string]string{}}
}

// LagTagReads makes the next n DescribeImages reads by tag in repo answer
// what the tag pointed at before the PutImage call that last moved it
// (ImageNotFoundException for a tag that call created), as a read that has
// not caught up with a write would. Tags no PutImage call moved are read as
// they are.
func (s *Server) LagTagReads(account, region, repo string, n int) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	r := s.ecr.repos(account, region)[repo]
	if r == nil {
		panic(fmt.Sprintf("awsfake: LagTagReads: no repository %q in %s/%s", repo, account, region))
	}
	r.stale = n
}

// PutManifest stores manifest in repo and points tag at it (no tag when tag
// is ""), as a push would, and returns its digest. It is set-up, not an API
// call: it moves the tag whatever the repository's mutability. It panics if
// the repository does not exist.
func (s *Server) PutManifest(account, region, repo, tag string, manifest []byte, mediaType string) string {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	r := s.ecr.repos(account, region)[repo]
	if r == nil {
		panic(fmt.Sprintf("awsfake: PutManifest: no repository %q in %s/%s: call AddRepository first", repo, account, region))
	}
	img := s.ecr.store(r, string(manifest), mediaType)
	if tag != "" {
		r.tags[tag] = img.digest
		delete(r.before, tag) // set-up is not a write a read can lag
	}
	return img.digest
}

// SetRepositoryPolicy sets the repository policy text of repo.
func (s *Server) SetRepositoryPolicy(account, region, repo, policyJSON string) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	r := s.ecr.repos(account, region)[repo]
	if r == nil {
		panic(fmt.Sprintf("awsfake: SetRepositoryPolicy: no repository %q in %s/%s", repo, account, region))
	}
	r.policy = policyJSON
}

// Tags returns the tags of repo and the digests they point at.
func (s *Server) Tags(account, region, repo string) map[string]string {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	r := s.ecr.repos(account, region)[repo]
	if r == nil {
		return nil
	}
	return maps.Clone(r.tags)
}

// ECRManifest returns the stored manifest of digest in repo and its media
// type.
func (s *Server) ECRManifest(account, region, repo, digest string) (manifest []byte, mediaType string, ok bool) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	r := s.ecr.repos(account, region)[repo]
	if r == nil || r.images[digest] == nil {
		return nil, "", false
	}
	img := r.images[digest]
	return []byte(img.manifest), img.mediaType, true
}

// PutImageTimes returns when the PutImage calls to the registry of account
// and region arrived, in order (calls answered by FailNext excluded).
func (s *Server) PutImageTimes(account, region string) []time.Time {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	return slices.Clone(s.ecr.putTimes[ecrKey{account, region}])
}

// store adds a manifest to r unless it is there, and returns the image.
func (e *ecrState) store(r *ecrRepo, manifest, mediaType string) *ecrImage {
	sum := sha256.Sum256([]byte(manifest))
	d := "sha256:" + hex.EncodeToString(sum[:])
	if img := r.images[d]; img != nil {
		return img
	}
	var m struct {
		Config struct {
			MediaType string `json:"mediaType"`
			Size      int64  `json:"size"`
		} `json:"config"`
		Layers []struct {
			Size int64 `json:"size"`
		} `json:"layers"`
	}
	json.Unmarshal([]byte(manifest), &m)
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	e.seq++
	img := &ecrImage{digest: d, manifest: manifest, mediaType: mediaType, artifact: m.Config.MediaType,
		size: size, pushedAt: time.Now().UTC(), seq: e.seq}
	r.images[d] = img
	return img
}

// Wire shapes (JSON 1.1, member names of the API reference).

type ecrImageID struct {
	ImageDigest string `json:"imageDigest,omitempty"`
	ImageTag    string `json:"imageTag,omitempty"`
}

type ecrRequest struct {
	RegistryID             string       `json:"registryId"`
	RepositoryName         string       `json:"repositoryName"`
	RepositoryNames        []string     `json:"repositoryNames"`
	ImageIDs               []ecrImageID `json:"imageIds"`
	AcceptedMediaTypes     []string     `json:"acceptedMediaTypes"`
	ImageManifest          *string      `json:"imageManifest"`
	ImageManifestMediaType string       `json:"imageManifestMediaType"`
	ImageTag               *string      `json:"imageTag"`
	ImageDigest            string       `json:"imageDigest"`
	MaxResults             *int         `json:"maxResults"`
	NextToken              string       `json:"nextToken"`
	Filter                 *struct {
		TagStatus string `json:"tagStatus"`
	} `json:"filter"`
	ImageTagMutability                 string            `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters []ecrExclusionOut `json:"imageTagMutabilityExclusionFilters"`
	LifecyclePolicyText                *string           `json:"lifecyclePolicyText"`
}

type ecrExclusionOut struct {
	FilterType string `json:"filterType"`
	Filter     string `json:"filter"`
}

type ecrImageOut struct {
	RegistryID             string     `json:"registryId"`
	RepositoryName         string     `json:"repositoryName"`
	ImageID                ecrImageID `json:"imageId"`
	ImageManifest          string     `json:"imageManifest"`
	ImageManifestMediaType string     `json:"imageManifestMediaType"`
}

type ecrFailure struct {
	ImageID       ecrImageID `json:"imageId"`
	FailureCode   string     `json:"failureCode"`
	FailureReason string     `json:"failureReason"`
}

func ecrEpoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (s *Server) ecrCall(account, region, op string, body []byte) (any, *APIError) {
	var req ecrRequest
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, &APIError{400, "SerializationException", "Start of structure or map found where not expected."}
		}
	}
	e := s.ecr
	switch op {
	case "DescribeRepositories":
		return e.describeRepositories(account, region, req)
	case "BatchGetImage":
		return e.batchGetImage(account, region, req)
	case "PutImage":
		return e.putImage(account, region, req)
	case "DescribeImages":
		return e.describeImages(account, region, req)
	case "GetRepositoryPolicy":
		return e.getRepositoryPolicy(account, region, req)
	case "PutImageTagMutability":
		return e.putImageTagMutability(account, region, req)
	case "GetLifecyclePolicy":
		return e.getLifecyclePolicy(account, region, req)
	case "PutLifecyclePolicy":
		return e.putLifecyclePolicy(account, region, req)
	case "GetAuthorizationToken":
		return e.getAuthorizationToken(account, region)
	}
	return nil, &APIError{400, "InvalidAction", "ECR stand-in: not implemented: " + op}
}

func ecrInvalidParameter(msg string) *APIError {
	return &APIError{400, "InvalidParameterException", msg}
}

// repo finds the repository a request names, in the registry it names, and
// checks that the caller may perform action on it.
func (e *ecrState) repo(account, region string, req ecrRequest, action string) (*ecrRepo, string, *APIError) {
	if req.RepositoryName == "" {
		return nil, "", ecrInvalidParameter("Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must not be null'")
	}
	return e.named(account, region, req.RegistryID, req.RepositoryName, action)
}

func (e *ecrState) named(account, region, registryID, name, action string) (*ecrRepo, string, *APIError) {
	if registryID == "" {
		registryID = account
	}
	r := e.repos(registryID, region)[name]
	if r == nil {
		if registryID != account {
			// ECR does not tell another account whether a repository exists.
			return nil, "", ecrAccessDenied(account, region, registryID, name, action)
		}
		return nil, "", &APIError{400, "RepositoryNotFoundException",
			fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", name, registryID)}
	}
	if registryID != account && !ecrPolicyAllows(r.policy, account, action) {
		return nil, "", ecrAccessDenied(account, region, registryID, name, action)
	}
	return r, registryID, nil
}

func ecrAccessDenied(account, region, registryID, name, action string) *APIError {
	return &APIError{400, "AccessDeniedException", fmt.Sprintf(
		"User: arn:aws:iam::%s:root is not authorized to perform: %s on resource: arn:aws:ecr:%s:%s:repository/%s because no resource-based policy allows the %s action",
		account, action, region, registryID, name, action)}
}

// policyAllows evaluates a repository policy for a caller from account:
// an explicit Deny wins, then any Allow; conditions are ignored.
func ecrPolicyAllows(policy, account, action string) bool {
	if policy == "" {
		return false
	}
	var doc struct {
		Statement []struct {
			Effect    string
			Principal any
			Action    any
		}
	}
	if json.Unmarshal([]byte(policy), &doc) != nil {
		return false
	}
	allowed := false
	for _, st := range doc.Statement {
		if !ecrPrincipalMatches(st.Principal, account) || !ecrActionMatches(st.Action, action) {
			continue
		}
		switch st.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

func ecrPrincipalMatches(p any, account string) bool {
	switch v := p.(type) {
	case string:
		return v == "*"
	case map[string]any:
		for _, id := range ecrStrings(v["AWS"]) {
			if id == "*" || id == account || strings.HasPrefix(id, "arn:aws:iam::"+account+":") ||
				strings.HasPrefix(id, "arn:aws:sts::"+account+":") {
				return true
			}
		}
	}
	return false
}

func ecrActionMatches(a any, action string) bool {
	for _, pat := range ecrStrings(a) {
		if ok, _ := path.Match(strings.ToLower(pat), strings.ToLower(action)); ok {
			return true
		}
	}
	return false
}

func ecrStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (r *ecrRepo) wire(registryID, region string) map[string]any {
	out := map[string]any{
		"repositoryArn":              fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", region, registryID, r.name),
		"registryId":                 registryID,
		"repositoryName":             r.name,
		"repositoryUri":              fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", registryID, region, r.name),
		"createdAt":                  ecrEpoch(r.created),
		"imageTagMutability":         r.mutability,
		"imageScanningConfiguration": map[string]any{"scanOnPush": false},
		"encryptionConfiguration":    map[string]any{"encryptionType": "AES256"},
	}
	if len(r.exclusions) > 0 {
		var fs []ecrExclusionOut
		for _, f := range r.exclusions {
			fs = append(fs, ecrExclusionOut{FilterType: "WILDCARD", Filter: f})
		}
		out["imageTagMutabilityExclusionFilters"] = fs
	}
	return out
}

// page applies maxResults and nextToken to n sorted items.
func ecrPage(n int, maxResults *int, token string) (from, to int, next string, aerr *APIError) {
	limit := 100
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 1000 {
			return 0, 0, "", ecrInvalidParameter("Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value less than or equal to 1000 and greater than or equal to 1'")
		}
		limit = *maxResults
	}
	if token != "" {
		i, err := strconv.Atoi(strings.TrimPrefix(token, "t"))
		if err != nil || !strings.HasPrefix(token, "t") || i < 0 || i > n {
			return 0, 0, "", ecrInvalidParameter("Invalid parameter at 'nextToken': the token is not valid")
		}
		from = i
	}
	to = min(from+limit, n)
	if to < n {
		next = "t" + strconv.Itoa(to)
	}
	return from, to, next, nil
}

func (e *ecrState) describeRepositories(account, region string, req ecrRequest) (any, *APIError) {
	registryID := req.RegistryID
	if registryID == "" {
		registryID = account
	}
	if len(req.RepositoryNames) > 0 {
		if req.MaxResults != nil || req.NextToken != "" {
			return nil, ecrInvalidParameter("maxResults and nextToken cannot be used with repositoryNames")
		}
		var out []map[string]any
		for _, n := range req.RepositoryNames {
			r, id, aerr := e.named(account, region, req.RegistryID, n, "ecr:DescribeRepositories")
			if aerr != nil {
				return nil, aerr
			}
			out = append(out, r.wire(id, region))
		}
		return map[string]any{"repositories": out}, nil
	}
	repos := e.repos(registryID, region)
	var names []string
	for n, r := range repos {
		if registryID == account || ecrPolicyAllows(r.policy, account, "ecr:DescribeRepositories") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	from, to, next, aerr := ecrPage(len(names), req.MaxResults, req.NextToken)
	if aerr != nil {
		return nil, aerr
	}
	out := []map[string]any{}
	for _, n := range names[from:to] {
		out = append(out, repos[n].wire(registryID, region))
	}
	res := map[string]any{"repositories": out}
	if next != "" {
		res["nextToken"] = next
	}
	return res, nil
}

var ecrDigestRE = regexp.MustCompile(`^[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+$`)

// resolve finds the image an identifier names, or the failure ECR reports.
func (r *ecrRepo) resolve(id ecrImageID) (*ecrImage, *ecrFailure) {
	fail := func(code, reason string) (*ecrImage, *ecrFailure) {
		return nil, &ecrFailure{ImageID: id, FailureCode: code, FailureReason: reason}
	}
	switch {
	case id.ImageDigest == "" && id.ImageTag == "":
		return fail("MissingDigestAndTag", "Missing image digest and tag")
	case id.ImageDigest != "" && !ecrDigestRE.MatchString(id.ImageDigest):
		return fail("InvalidImageDigest", "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'")
	case id.ImageDigest != "":
		img := r.images[id.ImageDigest]
		if img == nil {
			return fail("ImageNotFound", "Requested image not found")
		}
		if id.ImageTag != "" && r.tags[id.ImageTag] != id.ImageDigest {
			return fail("ImageTagDoesNotMatchDigest", "Invalid tag and digest pair")
		}
		return img, nil
	default:
		d, ok := r.tags[id.ImageTag]
		if !ok {
			return fail("ImageNotFound", "Requested image not found")
		}
		return r.images[d], nil
	}
}

func (e *ecrState) batchGetImage(account, region string, req ecrRequest) (any, *APIError) {
	r, registryID, aerr := e.repo(account, region, req, "ecr:BatchGetImage")
	if aerr != nil {
		return nil, aerr
	}
	if len(req.ImageIDs) == 0 || len(req.ImageIDs) > 100 {
		return nil, ecrInvalidParameter("Invalid parameter at 'imageIds' failed to satisfy constraint: 'Member must have length less than or equal to 100 and greater than or equal to 1'")
	}
	if req.AcceptedMediaTypes != nil && (len(req.AcceptedMediaTypes) == 0 || len(req.AcceptedMediaTypes) > 100) {
		return nil, ecrInvalidParameter("Invalid parameter at 'acceptedMediaTypes' failed to satisfy constraint: 'Member must have length less than or equal to 100 and greater than or equal to 1'")
	}
	for _, mt := range req.AcceptedMediaTypes {
		if !slices.Contains(ecrAcceptedMediaTypes, mt) {
			return nil, ecrInvalidParameter(fmt.Sprintf("Invalid parameter at 'acceptedMediaTypes' failed to satisfy constraint: 'Member must satisfy enum value set: [%s]' (got %q)",
				strings.Join(ecrAcceptedMediaTypes, ", "), mt))
		}
	}
	images, failures := []ecrImageOut{}, []ecrFailure{}
	for _, id := range req.ImageIDs {
		img, f := r.resolve(id)
		if f != nil {
			failures = append(failures, *f)
			continue
		}
		out := id
		out.ImageDigest = img.digest
		images = append(images, ecrImageOut{RegistryID: registryID, RepositoryName: r.name, ImageID: out,
			ImageManifest: img.manifest, ImageManifestMediaType: img.mediaType})
	}
	return map[string]any{"images": images, "failures": failures}, nil
}

var ecrTagRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}$`)

// tagImmutable reports whether the repository's setting keeps tag from
// moving.
func (r *ecrRepo) tagImmutable(tag string) bool {
	switch r.mutability {
	case ECRImmutable:
		return true
	case ECRImmutableWithExclusion:
		return !ecrMatchesAny(r.exclusions, tag)
	case ECRMutableWithExclusion:
		return ecrMatchesAny(r.exclusions, tag)
	}
	return false
}

func ecrMatchesAny(filters []string, tag string) bool {
	for _, f := range filters {
		if ecrWildcard(f, tag) {
			return true
		}
	}
	return false
}

// ecrWildcard reports whether the WILDCARD filter (or lifecycle tag
// pattern) f matches the whole of tag, '*' matching any run of characters.
func ecrWildcard(f, tag string) bool {
	parts := strings.Split(f, "*")
	if len(parts) == 1 {
		return f == tag
	}
	rest, ok := strings.CutPrefix(tag, parts[0])
	if !ok {
		return false
	}
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return len(rest) >= len(last) && strings.HasSuffix(rest, last)
}

func (e *ecrState) putImage(account, region string, req ecrRequest) (any, *APIError) {
	r, registryID, aerr := e.repo(account, region, req, "ecr:PutImage")
	if aerr != nil {
		return nil, aerr
	}
	k := ecrKey{registryID, region}
	e.putTimes[k] = append(e.putTimes[k], time.Now())
	if req.ImageManifest == nil || *req.ImageManifest == "" {
		return nil, ecrInvalidParameter("Invalid parameter at 'imageManifest' failed to satisfy constraint: 'Member must have length greater than or equal to 1'")
	}
	manifest := *req.ImageManifest
	tag := ""
	if req.ImageTag != nil {
		tag = *req.ImageTag
		if !ecrTagRE.MatchString(tag) {
			return nil, ecrInvalidParameter(fmt.Sprintf("Invalid parameter at 'imageTag' failed to satisfy constraint: 'must satisfy regular expression '[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}'' (got %q)", tag))
		}
	}
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal([]byte(manifest), &m); err != nil {
		return nil, ecrInvalidParameter("Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'")
	}
	mt := req.ImageManifestMediaType
	switch {
	case mt == "" && m.MediaType == "":
		return nil, ecrInvalidParameter("Invalid parameter at 'imageManifestMediaType': the manifest has no mediaType field, so imageManifestMediaType must be given")
	case mt == "":
		mt = m.MediaType
	case m.MediaType != "" && m.MediaType != mt:
		return nil, ecrInvalidParameter(fmt.Sprintf("Invalid parameter at 'imageManifestMediaType': '%s' does not match the manifest's mediaType '%s'", mt, m.MediaType))
	}
	if !slices.Contains(ecrMediaTypes, mt) {
		return nil, &APIError{400, "UnsupportedImageTypeException", fmt.Sprintf("Unsupported image manifest media type '%s'", mt)}
	}
	sum := sha256.Sum256([]byte(manifest))
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if req.ImageDigest != "" && req.ImageDigest != digest {
		return nil, &APIError{400, "ImageDigestDoesNotMatchException",
			fmt.Sprintf("The specified digest '%s' does not match the digest '%s' calculated for the image manifest", req.ImageDigest, digest)}
	}
	if tag == "" {
		if r.images[digest] != nil {
			return nil, &APIError{400, "ImageAlreadyExistsException",
				fmt.Sprintf("Image with digest '%s' already exists in the repository with name '%s' in registry with id '%s'", digest, r.name, registryID)}
		}
	} else if cur, ok := r.tags[tag]; ok {
		// A kept tag is refused even when it already has this digest
		// (aws/containers-roadmap#2179).
		if r.tagImmutable(tag) {
			return nil, &APIError{400, "ImageTagAlreadyExistsException",
				fmt.Sprintf("The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.", tag, r.name)}
		}
		if cur == digest {
			return nil, &APIError{400, "ImageAlreadyExistsException",
				fmt.Sprintf("Image with digest '%s' and tag '%s' already exists in the repository with name '%s' in registry with id '%s'", digest, tag, r.name, registryID)}
		}
	}
	img := e.store(r, manifest, mt)
	if tag != "" {
		r.before[tag] = r.tags[tag]
		r.tags[tag] = digest
	}
	return map[string]any{"image": ecrImageOut{RegistryID: registryID, RepositoryName: r.name,
		ImageID: ecrImageID{ImageDigest: digest, ImageTag: tag}, ImageManifest: img.manifest, ImageManifestMediaType: img.mediaType}}, nil
}

func (r *ecrRepo) detail(registryID string, img *ecrImage) map[string]any {
	var tags []string
	for t, d := range r.tags {
		if d == img.digest {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	out := map[string]any{
		"registryId":             registryID,
		"repositoryName":         r.name,
		"imageDigest":            img.digest,
		"imageSizeInBytes":       img.size,
		"imagePushedAt":          ecrEpoch(img.pushedAt),
		"imageManifestMediaType": img.mediaType,
		"imageStatus":            "ACTIVE",
	}
	if len(tags) > 0 {
		out["imageTags"] = tags
	}
	if img.artifact != "" {
		out["artifactMediaType"] = img.artifact
	}
	return out
}

func (e *ecrState) describeImages(account, region string, req ecrRequest) (any, *APIError) {
	r, registryID, aerr := e.repo(account, region, req, "ecr:DescribeImages")
	if aerr != nil {
		return nil, aerr
	}
	if len(req.ImageIDs) > 0 {
		if req.MaxResults != nil || req.NextToken != "" {
			return nil, ecrInvalidParameter("maxResults and nextToken cannot be used with imageIds")
		}
		var out []map[string]any
		for _, id := range req.ImageIDs {
			img, f := r.resolve(id)
			lagging := false
			if prev, ok := r.before[id.ImageTag]; ok && id.ImageDigest == "" && r.stale > 0 {
				// A lagging read: what the tag was before its last move.
				r.stale--
				img, f, lagging = r.images[prev], nil, true
				if img == nil {
					f = &ecrFailure{ImageID: id, FailureCode: "ImageNotFound", FailureReason: "Requested image not found"}
				}
			}
			if f != nil {
				if f.FailureCode != "ImageNotFound" {
					return nil, ecrInvalidParameter(f.FailureReason)
				}
				return nil, &APIError{400, "ImageNotFoundException", fmt.Sprintf(
					"The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'",
					ecrOrNull(id.ImageDigest), ecrOrNull(id.ImageTag), r.name, registryID)}
			}
			d := r.detail(registryID, img)
			if lagging {
				tags, _ := d["imageTags"].([]string)
				d["imageTags"] = append(tags, id.ImageTag)
			}
			out = append(out, d)
		}
		return map[string]any{"imageDetails": out}, nil
	}
	status := "ANY"
	if req.Filter != nil && req.Filter.TagStatus != "" {
		status = req.Filter.TagStatus
	}
	tagged := map[string]bool{}
	for _, d := range r.tags {
		tagged[d] = true
	}
	var imgs []*ecrImage
	for _, img := range r.images {
		if status == "ANY" || status == "TAGGED" && tagged[img.digest] || status == "UNTAGGED" && !tagged[img.digest] {
			imgs = append(imgs, img)
		}
	}
	slices.SortFunc(imgs, func(a, b *ecrImage) int { return a.seq - b.seq })
	from, to, next, aerr := ecrPage(len(imgs), req.MaxResults, req.NextToken)
	if aerr != nil {
		return nil, aerr
	}
	out := []map[string]any{}
	for _, img := range imgs[from:to] {
		out = append(out, r.detail(registryID, img))
	}
	res := map[string]any{"imageDetails": out}
	if next != "" {
		res["nextToken"] = next
	}
	return res, nil
}

func ecrOrNull(s string) string {
	if s == "" {
		return "null"
	}
	return s
}

func (e *ecrState) getRepositoryPolicy(account, region string, req ecrRequest) (any, *APIError) {
	r, registryID, aerr := e.repo(account, region, req, "ecr:GetRepositoryPolicy")
	if aerr != nil {
		return nil, aerr
	}
	if r.policy == "" {
		return nil, &APIError{400, "RepositoryPolicyNotFoundException", fmt.Sprintf(
			"Repository policy does not exist for the repository with name '%s' in the registry with id '%s'", r.name, registryID)}
	}
	return map[string]any{"registryId": registryID, "repositoryName": r.name, "policyText": r.policy}, nil
}

var ecrExclusionRE = regexp.MustCompile(`^[0-9a-zA-Z._*-]{1,128}$`)

func (e *ecrState) putImageTagMutability(account, region string, req ecrRequest) (any, *APIError) {
	if req.RegistryID != "" && req.RegistryID != account {
		return nil, ecrAccessDenied(account, region, req.RegistryID, req.RepositoryName, "ecr:PutImageTagMutability")
	}
	r, registryID, aerr := e.repo(account, region, req, "ecr:PutImageTagMutability")
	if aerr != nil {
		return nil, aerr
	}
	filters, aerr := ecrMutability(req.ImageTagMutability, req.ImageTagMutabilityExclusionFilters)
	if aerr != nil {
		return nil, aerr
	}
	r.mutability, r.exclusions = req.ImageTagMutability, filters
	out := map[string]any{"registryId": registryID, "repositoryName": r.name, "imageTagMutability": r.mutability}
	if len(req.ImageTagMutabilityExclusionFilters) > 0 {
		out["imageTagMutabilityExclusionFilters"] = req.ImageTagMutabilityExclusionFilters
	}
	return out, nil
}

// ecrMutability checks a tag mutability setting and its exclusion filters
// as PutImageTagMutability does, and returns the filters.
func ecrMutability(mutability string, in []ecrExclusionOut) ([]string, *APIError) {
	var filters []string
	for _, f := range in {
		if f.FilterType != "WILDCARD" {
			return nil, ecrInvalidParameter(fmt.Sprintf("Invalid parameter at 'filterType': '%s' is not a valid value; valid values: WILDCARD", f.FilterType))
		}
		if !ecrExclusionRE.MatchString(f.Filter) {
			return nil, ecrInvalidParameter(fmt.Sprintf("Invalid parameter at 'filter' failed to satisfy constraint: 'must satisfy regular expression '^[0-9a-zA-Z._*-]{1,128}$'' (got %q)", f.Filter))
		}
		filters = append(filters, f.Filter)
	}
	switch mutability {
	case ECRMutable, ECRImmutable:
		if len(filters) > 0 {
			return nil, ecrInvalidParameter(fmt.Sprintf("imageTagMutabilityExclusionFilters can only be used with %s or %s", ECRImmutableWithExclusion, ECRMutableWithExclusion))
		}
	case ECRImmutableWithExclusion, ECRMutableWithExclusion:
		if len(filters) == 0 {
			return nil, ecrInvalidParameter(fmt.Sprintf("imageTagMutabilityExclusionFilters must be given with %s", mutability))
		}
	default:
		return nil, ecrInvalidParameter(fmt.Sprintf("Invalid parameter at 'imageTagMutability': '%s' is not a valid value; valid values: MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION", mutability))
	}
	return filters, nil
}

func (e *ecrState) getAuthorizationToken(account, region string) (any, *APIError) {
	token := base64.StdEncoding.EncodeToString([]byte("AWS:awsfake-token-" + account))
	return map[string]any{"authorizationData": []map[string]any{{
		"authorizationToken": token,
		"expiresAt":          ecrEpoch(time.Now().Add(12 * time.Hour)),
		"proxyEndpoint":      fmt.Sprintf("https://%s.dkr.ecr.%s.amazonaws.com", account, region),
	}}}, nil
}

var ecrImageRE = regexp.MustCompile(`^(\d{12})\.dkr(?:-fips)?\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(.+):([A-Za-z0-9_][A-Za-z0-9._-]{0,127})$`)

// ECRImageResolver returns a resolver for SetImageResolver that resolves an
// image in the ECR stand-in ("012345678922.dkr.ecr.us-east-1.amazonaws.com/api:dev")
// to the digest its tag points at now, as ECS does when it starts a
// deployment: s.SetImageResolver(s.ECRImageResolver()). The resolver reads
// the stand-in's state without locking: it is for callers that hold s.Mu,
// as the ECS stand-in does while it answers a call.
func (s *Server) ECRImageResolver() func(account, region, image string) (string, bool) {
	return func(_, _, image string) (string, bool) {
		m := ecrImageRE.FindStringSubmatch(image)
		if m == nil {
			return "", false
		}
		r := s.ecr.registries[ecrKey{m[1], m[2]}][m[3]]
		if r == nil {
			return "", false
		}
		d, ok := r.tags[m[4]]
		return d, ok
	}
}
