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

// Deployment controllers (DeploymentController.type) and deployment
// strategies of the ECS controller (DeploymentConfiguration.strategy), as
// the ECS API reference spells them.
const (
	ControllerECS        = "ECS"
	ControllerCodeDeploy = "CODE_DEPLOY"
	ControllerExternal   = "EXTERNAL"

	StrategyRolling   = "ROLLING"
	StrategyBlueGreen = "BLUE_GREEN"
	StrategyLinear    = "LINEAR"
	StrategyCanary    = "CANARY"
)

// Service deployment statuses (ListServiceDeployments), as ECS spells them.
const (
	sdInProgress         = "IN_PROGRESS"
	sdSuccessful         = "SUCCESSFUL"
	sdStopped            = "STOPPED"
	sdRollbackInProgress = "ROLLBACK_IN_PROGRESS"
	sdRollbackSuccessful = "ROLLBACK_SUCCESSFUL"
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
	// ServiceDeployments is the service deployment history, oldest first.
	ServiceDeployments []ServiceDeploymentView
	// CurrentServiceDeployment is the ARN DescribeServices reports as
	// currentServiceDeployment.
	CurrentServiceDeployment string
}

// ServiceDeploymentView is one service deployment, for assertions.
type ServiceDeploymentView struct {
	ARN, Status, Reason, TaskDefinition string
}

// DeploymentView is one deployment of a service, newest first.
type DeploymentView struct {
	ID, Status, TaskDefinition  string
	RolloutState, RolloutReason string
	// Failed is the deployment's failedTasks: its consecutive failed
	// tasks, reset when a task reaches RUNNING.
	Desired, Running, Failed int
	Digests                  map[string]string
	// Rollback: the circuit breaker made this deployment PRIMARY again to
	// roll the service back to it.
	Rollback bool
}

type ecsState struct {
	regions  map[string]*ecsRegion
	digests  map[string]string
	resolver func(account, region, image string) (string, bool)
	n        int
	// skew moves the stand-in's clock ahead of the real one (AdvanceClock):
	// bake times are measured on it.
	skew time.Duration
}

// now is the stand-in's clock.
func (e *ecsState) now() time.Time { return time.Now().Add(e.skew) }

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
	// update that started a deployment, oldest first, kept after its
	// deployment is drained; current is the latest
	// (currentServiceDeployment).
	history []*ecsServiceDeployment
	current *ecsServiceDeployment
	// controller is deploymentController.type; strategy and bake are the
	// ECS controller's deploymentConfiguration.strategy and
	// bakeTimeInMinutes.
	controller string
	strategy   string
	bake       int
}

// bakes reports whether the service's strategy keeps the previous
// revision through a bake time (BLUE_GREEN, LINEAR, CANARY).
func (svc *ecsService) bakes() bool {
	return svc.strategy == StrategyBlueGreen || svc.strategy == StrategyLinear || svc.strategy == StrategyCanary
}

// ecsServiceDeployment is one service deployment as ListServiceDeployments
// reports it (status SUCCESSFUL, STOPPED, IN_PROGRESS, ROLLBACK_*).
type ecsServiceDeployment struct {
	arn, revisionARN        string
	status, reason, taskDef string
	createdAt, finishedAt   time.Time
}

type ecsEvent struct {
	id      string
	at      time.Time
	message string
}

type ecsDeployment struct {
	id, status, taskDef string
	rollout, reason     string
	desired             int
	// failed is failedTasks: the consecutive failed tasks, reset to 0 when
	// a task reaches RUNNING.
	failed             int
	createdAt, updated time.Time
	digests            map[string]string // container → resolved digest
	pullErr            string
	rollback           bool
	step               int
	tasks              []*ecsTask
	// bakeUntil is when the bake time of a BLUE_GREEN, LINEAR or CANARY
	// deployment ends, once every new task runs.
	bakeUntil time.Time
	// sd is the service deployment this deployment carries out (a
	// deployment made PRIMARY again by a rollback carries the one it
	// rolls back).
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
	// reason is the container's reason (a pull failure's message).
	reason   string
	exitCode *int
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
	now := s.ecs.now()
	svc := &ecsService{name: service, arn: r.arn("service", cluster+"/"+service), status: active, desired: desiredCount,
		breaker: true, rollback: circuitBreakerRollback, createdAt: now, controller: ControllerECS, strategy: StrategyRolling}
	c.services[service] = svc
	d := s.ecs.newDeployment(r, c, svc, t)
	if d.pullErr == "" {
		s.ecs.setRunning(r, c, svc, d, d.desired)
		s.ecs.complete(r, c, svc, d)
	}
	return t.arn
}

// SetDeploymentController sets the service's deploymentController.type
// (ControllerECS, ControllerCodeDeploy, ControllerExternal), as
// CreateService would have. A CODE_DEPLOY or EXTERNAL service lists no
// deployments but task sets, and refuses a new task definition through
// UpdateService.
func (s *Server) SetDeploymentController(account, region, cluster, service, controller string) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	if svc := s.ecs.service(account, region, cluster, service); svc != nil {
		svc.controller = controller
	}
}

// SetDeploymentStrategy sets the ECS controller's deployment strategy
// (StrategyRolling, StrategyBlueGreen, StrategyLinear, StrategyCanary) and
// its bakeTimeInMinutes. With a bake time, a deployment whose new tasks
// all run stays IN_PROGRESS, the previous revision's tasks still running,
// until that many minutes of the stand-in's clock (AdvanceClock) have
// passed.
func (s *Server) SetDeploymentStrategy(account, region, cluster, service, strategy string, bakeTimeInMinutes int) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	if svc := s.ecs.service(account, region, cluster, service); svc != nil {
		svc.strategy, svc.bake = strategy, bakeTimeInMinutes
	}
}

// AdvanceClock moves the ECS stand-in's clock forward (bake times end on
// it; timestamps it reports follow it).
func (s *Server) AdvanceClock(d time.Duration) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.ecs.skew += d
}

// SeedServiceDeployments adds n older service deployments to the service's
// history, each SUCCESSFUL on the service's current task definition and
// created a minute before the next, all before the history's oldest: a
// service with a long past, for ListServiceDeployments' paging.
func (s *Server) SeedServiceDeployments(account, region, cluster, service string, n int) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	r := s.ecs.region(account, region)
	svc := s.ecs.service(account, region, cluster, service)
	if svc == nil {
		return
	}
	oldest := s.ecs.now()
	if len(svc.history) > 0 {
		oldest = svc.history[0].createdAt
	}
	var seeded []*ecsServiceDeployment
	for i := n; i >= 1; i-- {
		sd := s.ecs.newServiceDeployment(r, cluster, svc, svc.taskDef, oldest.Add(-time.Duration(i)*time.Minute))
		sd.status, sd.finishedAt = sdSuccessful, sd.createdAt.Add(30*time.Second)
		seeded = append(seeded, sd)
	}
	svc.history = append(seeded, svc.history...)
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
	for _, sd := range svc.history {
		v.ServiceDeployments = append(v.ServiceDeployments, ServiceDeploymentView{ARN: sd.arn, Status: sd.status, Reason: sd.reason, TaskDefinition: sd.taskDef})
	}
	if svc.current != nil {
		v.CurrentServiceDeployment = svc.current.arn
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
	t.body["registeredAt"] = epoch(e.now())
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

func (e *ecsState) event(svc *ecsService, format string, args ...any) {
	now := e.now()
	svc.events = append([]ecsEvent{{id: fmt.Sprintf("%08x-fake-event-%04d", now.UnixNano()&0xffffffff, len(svc.events)),
		at: now, message: fmt.Sprintf(format, args...)}}, svc.events...)
	if len(svc.events) > 100 {
		svc.events = svc.events[:100]
	}
}

func (e *ecsState) newTask(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment) *ecsTask {
	e.n++
	now := e.now()
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

// stop marks t STOPPED at now, with ECS's stop code and reason.
func (t *ecsTask) stop(now time.Time, code, reason string) {
	t.lastStatus, t.desiredStatus = "STOPPED", "STOPPED"
	t.stopCode, t.stoppedReason = code, reason
	t.stoppedAt = now
}
