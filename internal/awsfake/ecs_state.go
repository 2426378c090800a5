package awsfake

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The ECS stand-in's in-memory model: per account and region, clusters with
// their services, deployments and tasks, and task definitions by family.
// Server.Mu guards all of it; the exported helpers take it, the handlers
// run under it.

// Deployment and rollout states, as ECS spells them.
const (
	primary    = "PRIMARY"
	active     = "ACTIVE"
	inProgress = "IN_PROGRESS"
	completed  = "COMPLETED"
	failed     = "FAILED"
)

// TaskDef is a task definition for AddService.
type TaskDef struct {
	Family string
	// Containers maps container names to images; containerDefinitions are
	// written in name order.
	Containers map[string]string
	// Extra holds other top-level fields (cpu, memory, executionRoleArn,
	// volumes, ...), kept verbatim.
	Extra map[string]any
	// ContainerExtra holds other fields of each container (portMappings,
	// environment, ...), kept verbatim.
	ContainerExtra map[string]map[string]any
	// Tags are the task definition's tags (key → value).
	Tags map[string]string
}

// ServiceView is a service's state, for assertions.
type ServiceView struct {
	ARN            string
	Status         string
	TaskDefinition string
	// Images maps the container names of TaskDefinition to their images.
	Images       map[string]string
	DesiredCount int
	RunningCount int
	Deployments  []DeploymentView
	// RunningDigests maps container names to the imageDigests of the
	// service's running tasks, sorted, without repeats.
	RunningDigests map[string][]string
	Events         []string
}

// DeploymentView is one deployment of a service, newest first.
type DeploymentView struct {
	ID, Status, TaskDefinition  string
	RolloutState, RolloutReason string
	Desired, Running, Failed    int
	Digests                     map[string]string
	Rollback                    bool
}

type ecsState struct {
	regions  map[string]*ecsRegion
	digests  map[string]string
	resolver func(account, region, image string) (string, bool)
	n        int
}

func newECS() *ecsState {
	return &ecsState{regions: map[string]*ecsRegion{}, digests: map[string]string{}}
}

type ecsRegion struct {
	account, region string
	clusters        map[string]*ecsCluster
	taskDefs        map[string][]*ecsTaskDef // by family, index revision-1
}

type ecsTaskDef struct {
	arn      string
	family   string
	revision int
	status   string
	// body is the definition as registered (without tags), plus the
	// fields ECS computes.
	body       map[string]any
	tags       []any
	containers []ecsImage
}

type ecsImage struct{ name, image string }

type ecsCluster struct {
	name, arn string
	services  map[string]*ecsService
	tasks     []*ecsTask
}

type ecsService struct {
	name, arn   string
	status      string
	taskDef     string
	desired     int
	breaker     bool
	rollback    bool
	outcome     Outcome
	deployments []*ecsDeployment // newest first
	// lastCompleted is the most recent deployment that completed, which
	// a circuit-breaker rollback returns to.
	lastCompleted *ecsDeployment
	events        []ecsEvent // newest first
	createdAt     time.Time
	// history is what ListServiceDeployments answers: one entry per
	// update, newest first, kept after its deployment is drained.
	history []*ecsServiceDeployment
}

// ecsServiceDeployment is one service deployment as ListServiceDeployments
// reports it (status SUCCESSFUL, STOPPED, IN_PROGRESS, ROLLBACK_*).
type ecsServiceDeployment struct {
	arn, status, reason, taskDef string
	createdAt, finishedAt        time.Time
}

type ecsEvent struct {
	id      string
	at      time.Time
	message string
}

type ecsDeployment struct {
	id, status, taskDef string
	rollout, reason     string
	desired, failed     int
	createdAt, updated  time.Time
	digests             map[string]string // container → resolved digest
	pullErr             string
	rollback            bool
	step                int
	tasks               []*ecsTask
	// sd is the service deployment this deployment carries out (a
	// rollback deployment carries the one it rolls back).
	sd *ecsServiceDeployment
}

type ecsTask struct {
	arn, taskDef, startedBy, group string
	lastStatus, desiredStatus      string
	stoppedReason, stopCode        string
	containers                     []ecsTaskContainer
	createdAt, startedAt           time.Time
	stoppedAt                      time.Time
}

type ecsTaskContainer struct {
	name, image, digest string
	exitCode            *int
}

func (e *ecsState) region(account, region string) *ecsRegion {
	k := account + "/" + region
	r, ok := e.regions[k]
	if !ok {
		r = &ecsRegion{account: account, region: region, clusters: map[string]*ecsCluster{}, taskDefs: map[string][]*ecsTaskDef{}}
		e.regions[k] = r
	}
	return r
}

func (r *ecsRegion) arn(kind, rest string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:%s/%s", r.region, r.account, kind, rest)
}

// Exported helpers for tests.

// AddCluster creates a cluster and returns its ARN.
func (s *Server) AddCluster(account, region, name string) string {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	return s.ecs.addCluster(s.ecs.region(account, region), name).arn
}

func (e *ecsState) addCluster(r *ecsRegion, name string) *ecsCluster {
	if c, ok := r.clusters[name]; ok {
		return c
	}
	c := &ecsCluster{name: name, arn: r.arn("cluster", name), services: map[string]*ecsService{}}
	r.clusters[name] = c
	return c
}

// AddService registers td as a new revision of its family and creates a
// service running it with desiredCount tasks, its cluster too if needed.
// The service's circuit breaker is enabled, with rollback as given. When
// every image resolves (see SetImageDigest), the service starts steady:
// one COMPLETED deployment whose tasks run; otherwise its first deployment
// is in flight and its tasks fail to pull. AddService returns the task
// definition's ARN; it panics when ECS would refuse the task definition.
func (s *Server) AddService(account, region, cluster, service string, td TaskDef, desiredCount int, circuitBreakerRollback bool) string {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	r := s.ecs.region(account, region)
	c := s.ecs.addCluster(r, cluster)
	def := map[string]any{"family": td.Family}
	maps.Copy(def, td.Extra)
	var cds []any
	for _, name := range slices.Sorted(maps.Keys(td.Containers)) {
		cd := map[string]any{}
		maps.Copy(cd, td.ContainerExtra[name])
		cd["name"], cd["image"] = name, td.Containers[name]
		cds = append(cds, cd)
	}
	def["containerDefinitions"] = cds
	def = normalize(def).(map[string]any)
	var tags []any
	for _, k := range slices.Sorted(maps.Keys(td.Tags)) {
		tags = append(tags, map[string]any{"key": k, "value": td.Tags[k]})
	}
	t, aerr := s.ecs.register(r, def, tags)
	if aerr != nil {
		panic(fmt.Sprintf("awsfake: AddService: %s: %s", aerr.Code, aerr.Message))
	}
	now := time.Now()
	svc := &ecsService{name: service, arn: r.arn("service", cluster+"/"+service), status: active, desired: desiredCount,
		breaker: true, rollback: circuitBreakerRollback, createdAt: now}
	c.services[service] = svc
	d := s.ecs.newDeployment(r, c, svc, t, nil)
	if d.pullErr == "" {
		s.ecs.setRunning(r, c, svc, d, d.desired)
		s.ecs.complete(r, c, svc, d)
	}
	return t.arn
}

// DeleteService marks a service INACTIVE, as DeleteService does: it is
// still described (with status INACTIVE) but can no longer be updated.
func (s *Server) DeleteService(account, region, cluster, service string) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	r := s.ecs.region(account, region)
	if c, ok := r.clusters[cluster]; ok {
		if svc, ok := c.services[service]; ok {
			svc.status = "INACTIVE"
			svc.desired = 0
			for _, d := range svc.deployments {
				s.ecs.setRunning(r, c, svc, d, 0)
			}
			svc.deployments = nil
		}
	}
}

// SetImageDigest says what image (exactly as a task definition names it,
// e.g. "host/api:dev") resolves to when ECS in account and region starts a
// deployment; account and region "" mean everywhere. A reference with
// "@sha256:..." resolves to that digest without this.
func (s *Server) SetImageDigest(account, region, image, digest string) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.ecs.digests[account+"/"+region+"/"+image] = digest
}

// SetImageResolver sets a function consulted for images SetImageDigest
// does not name (for instance the ECR stand-in's tags).
func (s *Server) SetImageResolver(f func(account, region, image string) (digest string, ok bool)) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.ecs.resolver = f
}

// ServiceState returns a service's state, or false when there is none.
func (s *Server) ServiceState(account, region, cluster, service string) (ServiceView, bool) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	r := s.ecs.region(account, region)
	svc := s.ecs.service(account, region, cluster, service)
	if svc == nil {
		return ServiceView{}, false
	}
	v := ServiceView{ARN: svc.arn, Status: svc.status, TaskDefinition: svc.taskDef, DesiredCount: svc.desired,
		Images: map[string]string{}, RunningDigests: map[string][]string{}}
	if t := r.taskDef(svc.taskDef); t != nil {
		for _, c := range t.containers {
			v.Images[c.name] = c.image
		}
	}
	for _, d := range svc.deployments {
		v.RunningCount += len(d.tasks)
		v.Deployments = append(v.Deployments, DeploymentView{ID: d.id, Status: d.status, TaskDefinition: d.taskDef,
			RolloutState: d.rollout, RolloutReason: d.reason, Desired: d.desired, Running: len(d.tasks), Failed: d.failed,
			Digests: maps.Clone(d.digests), Rollback: d.rollback})
		for _, t := range d.tasks {
			for _, c := range t.containers {
				if !slices.Contains(v.RunningDigests[c.name], c.digest) {
					v.RunningDigests[c.name] = append(v.RunningDigests[c.name], c.digest)
				}
			}
		}
	}
	for _, ds := range v.RunningDigests {
		sort.Strings(ds)
	}
	for _, ev := range svc.events {
		v.Events = append(v.Events, ev.message)
	}
	return v, true
}

// TaskDefinition returns a task definition as DescribeTaskDefinition
// answers it (without tags); ref is an ARN, family:revision or family.
func (s *Server) TaskDefinition(account, region, ref string) (map[string]any, bool) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	t := s.ecs.region(account, region).taskDef(ref)
	if t == nil {
		return nil, false
	}
	return t.describe(), true
}

func (e *ecsState) service(account, region, cluster, service string) *ecsService {
	c, ok := e.region(account, region).clusters[cluster]
	if !ok {
		return nil
	}
	return c.services[service]
}

func (e *ecsState) resolve(account, region, image string) (string, bool) {
	if i := strings.LastIndexByte(image, '@'); i >= 0 {
		return image[i+1:], true
	}
	for _, k := range []string{account + "/" + region + "/" + image, "//" + image} {
		if d, ok := e.digests[k]; ok {
			return d, true
		}
	}
	if e.resolver != nil {
		return e.resolver(account, region, image)
	}
	return "", false
}

var tdRefRE = regexp.MustCompile(`^(?:arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/)?([a-zA-Z0-9_-]{1,255})(?::(\d+))?$`)

// taskDef finds a task definition by ARN, family:revision or family (its
// latest ACTIVE revision).
func (r *ecsRegion) taskDef(ref string) *ecsTaskDef {
	m := tdRefRE.FindStringSubmatch(ref)
	if m == nil {
		return nil
	}
	if strings.HasPrefix(ref, "arn:") && !strings.HasPrefix(ref, r.arn("task-definition", "")) {
		return nil
	}
	revs := r.taskDefs[m[1]]
	if m[2] == "" {
		for i := len(revs) - 1; i >= 0; i-- {
			if revs[i].status == active {
				return revs[i]
			}
		}
		return nil
	}
	n, err := strconv.Atoi(m[2])
	if err != nil || n < 1 || n > len(revs) {
		return nil
	}
	return revs[n-1]
}

var familyRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

func (e *ecsState) register(r *ecsRegion, def map[string]any, tags []any) (*ecsTaskDef, *APIError) {
	family, _ := def["family"].(string)
	if !familyRE.MatchString(family) {
		return nil, ecsErr("ClientException", "Family contains invalid characters or is too long: up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.")
	}
	cds, _ := def["containerDefinitions"].([]any)
	if len(cds) == 0 {
		return nil, ecsErr("ClientException", "Container list cannot be empty.")
	}
	var images []ecsImage
	for _, cd := range cds {
		c, _ := cd.(map[string]any)
		name, _ := c["name"].(string)
		image, _ := c["image"].(string)
		switch {
		case name == "":
			return nil, ecsErr("ClientException", "Container.name should not be null or empty.")
		case image == "":
			return nil, ecsErr("ClientException", "Container.image should not be null or empty.")
		}
		for _, o := range images {
			if o.name == name {
				return nil, ecsErr("ClientException", "Duplicate container name found: "+name)
			}
		}
		images = append(images, ecsImage{name, image})
	}
	rev := len(r.taskDefs[family]) + 1
	t := &ecsTaskDef{arn: r.arn("task-definition", fmt.Sprintf("%s:%d", family, rev)), family: family, revision: rev, status: active,
		body: deepCopy(def).(map[string]any), tags: tags, containers: images}
	t.body["taskDefinitionArn"] = t.arn
	t.body["revision"] = rev
	t.body["status"] = active
	t.body["registeredAt"] = epoch(time.Now())
	t.body["requiresAttributes"] = []any{}
	compat := []any{"EC2"}
	if rc, ok := def["requiresCompatibilities"].([]any); ok && slices.Contains(rc, any("FARGATE")) {
		compat = append(compat, "FARGATE")
	}
	t.body["compatibilities"] = compat
	r.taskDefs[family] = append(r.taskDefs[family], t)
	return t, nil
}

func (svc *ecsService) primary() *ecsDeployment {
	for _, d := range svc.deployments {
		if d.status == primary {
			return d
		}
	}
	return nil
}

func (svc *ecsService) event(format string, args ...any) {
	svc.events = append([]ecsEvent{{id: fmt.Sprintf("%08x-fake-event-%04d", time.Now().UnixNano()&0xffffffff, len(svc.events)),
		at: time.Now(), message: fmt.Sprintf(format, args...)}}, svc.events...)
	if len(svc.events) > 100 {
		svc.events = svc.events[:100]
	}
}

func (e *ecsState) newTask(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment) *ecsTask {
	e.n++
	now := time.Now()
	t := &ecsTask{arn: r.arn("task", fmt.Sprintf("%s/%032x", c.name, e.n)), taskDef: d.taskDef, startedBy: d.id,
		group: "service:" + svc.name, lastStatus: "PENDING", desiredStatus: "RUNNING", createdAt: now}
	if td := r.taskDef(d.taskDef); td != nil {
		for _, img := range td.containers {
			t.containers = append(t.containers, ecsTaskContainer{name: img.name, image: img.image, digest: d.digests[img.name]})
		}
	}
	c.tasks = append(c.tasks, t)
	// Keep the stopped tasks ECS still reports: the latest 100.
	stopped := 0
	for i := len(c.tasks) - 1; i >= 0; i-- {
		if c.tasks[i].desiredStatus == "STOPPED" {
			if stopped++; stopped > 100 {
				c.tasks = slices.Delete(c.tasks, i, i+1)
			}
		}
	}
	return t
}

// stop marks t STOPPED now, with ECS's stop code and reason.
func (t *ecsTask) stop(code, reason string) {
	t.lastStatus, t.desiredStatus = "STOPPED", "STOPPED"
	t.stopCode, t.stoppedReason = code, reason
	t.stoppedAt = time.Now()
}
