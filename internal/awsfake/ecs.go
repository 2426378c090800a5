package awsfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ECS stand-in: the JSON 1.1 operations tier calls (DescribeServices,
// DescribeTaskDefinition, RegisterTaskDefinition, UpdateService, ListTasks,
// DescribeTasks, DescribeClusters), with the state of each account and
// region kept apart, shaped on the ECS API reference.
//
// Rollouts are simulated per call: every DescribeServices of a service
// moves its in-flight deployment one step, according to the service's
// Outcome (see Rollout). Images resolve to digests when a deployment is
// created, through SetImageDigest (or a digest in the reference); a task
// whose image does not resolve fails to start with CannotPullContainerError.

// Outcome is how the stand-in plays a service's deployments.
type Outcome int

// Outcomes of a rollout.
const (
	// Complete: the first step starts half of the new tasks (rolloutState
	// IN_PROGRESS), the second starts the rest, stops the old tasks and
	// marks the deployment COMPLETED; older deployments are drained and
	// leave the list, as ECS does.
	Complete Outcome = iota
	// StuckInProgress: the new tasks keep failing and the deployment stays
	// IN_PROGRESS for ever (a circuit breaker that never trips).
	StuckInProgress
	// FailCircuitBreaker: the first step records failed tasks, the second
	// marks the deployment FAILED with "ECS deployment circuit breaker:
	// tasks failed to start."; when the service's circuit breaker has
	// rollback on, ECS starts a new PRIMARY deployment on the last
	// completed deployment's task definition (and digests), which then
	// completes; the failed deployment is drained and leaves the list.
	FailCircuitBreaker
)

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

func ecsErr(code, msg string) *APIError { return &APIError{400, code, msg} }

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

// Rollout sets how the service's deployments play from now on: the one
// in flight, if any, and every later one until Rollout is called again.
// Rollback deployments always complete.
func (s *Server) Rollout(account, region, cluster, service string, o Outcome) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	if svc := s.ecs.service(account, region, cluster, service); svc != nil {
		svc.outcome = o
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

// The API.

func (s *Server) ecsCall(account, region, op string, body []byte) (any, *APIError) {
	r := s.ecs.region(account, region)
	switch op {
	case "DescribeClusters":
		return s.ecs.describeClusters(r, body)
	case "DescribeServices":
		return s.ecs.describeServices(r, body)
	case "DescribeTaskDefinition":
		return s.ecs.describeTaskDefinition(r, body)
	case "RegisterTaskDefinition":
		return s.ecs.registerTaskDefinition(r, body)
	case "UpdateService":
		return s.ecs.updateService(r, body)
	case "ListTasks":
		return s.ecs.listTasks(r, body)
	case "DescribeTasks":
		return s.ecs.describeTasks(r, body)
	case "ListServiceDeployments":
		return s.ecs.listServiceDeployments(r, body)
	}
	return nil, &APIError{400, "UnknownOperationException", "ECS stand-in: operation not implemented: " + op}
}

func decodeJSON(body []byte, v any) *APIError {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return &APIError{400, "SerializationException", err.Error()}
	}
	return nil
}

// cluster finds a cluster by name or ARN ("" is "default").
func (r *ecsRegion) cluster(ref string) (*ecsCluster, *APIError) {
	name := ref
	if name == "" {
		name = "default"
	}
	if strings.HasPrefix(ref, "arn:") {
		p := strings.TrimPrefix(ref, r.arn("cluster", ""))
		if p == ref || p == "" {
			return nil, ecsErr("ClusterNotFoundException", "Cluster not found.")
		}
		name = p
	}
	c, ok := r.clusters[name]
	if !ok {
		return nil, ecsErr("ClusterNotFoundException", "Cluster not found.")
	}
	return c, nil
}

// serviceName returns the name a service reference (name or ARN) names.
func serviceName(ref string) string {
	if strings.HasPrefix(ref, "arn:") {
		if i := strings.LastIndexByte(ref, '/'); i >= 0 {
			return ref[i+1:]
		}
	}
	return ref
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

func (t *ecsTaskDef) describe() map[string]any {
	out := deepCopy(t.body).(map[string]any)
	// ECS answers with the defaults it fills in.
	for _, cd := range out["containerDefinitions"].([]any) {
		c := cd.(map[string]any)
		for k, v := range map[string]any{"cpu": json.Number("0"), "essential": true, "portMappings": []any{},
			"environment": []any{}, "mountPoints": []any{}, "volumesFrom": []any{}} {
			if _, ok := c[k]; !ok {
				c[k] = v
			}
		}
	}
	for k, v := range map[string]any{"volumes": []any{}, "placementConstraints": []any{}} {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	return out
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

func (e *ecsState) registerTaskDefinition(r *ecsRegion, body []byte) (any, *APIError) {
	var def map[string]any
	if err := decodeJSON(body, &def); err != nil {
		return nil, err
	}
	tags, _ := def["tags"].([]any)
	delete(def, "tags")
	t, aerr := e.register(r, def, tags)
	if aerr != nil {
		return nil, aerr
	}
	out := map[string]any{"taskDefinition": t.describe()}
	if len(tags) > 0 {
		out["tags"] = tags
	}
	return out, nil
}

func (e *ecsState) describeTaskDefinition(r *ecsRegion, body []byte) (any, *APIError) {
	var in struct {
		TaskDefinition string   `json:"taskDefinition"`
		Include        []string `json:"include"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	t := r.taskDef(in.TaskDefinition)
	if t == nil {
		return nil, ecsErr("ClientException", "Unable to describe task definition.")
	}
	out := map[string]any{"taskDefinition": t.describe()}
	if slices.Contains(in.Include, "TAGS") {
		out["tags"] = orEmpty(t.tags)
	}
	return out, nil
}

func (e *ecsState) describeClusters(r *ecsRegion, body []byte) (any, *APIError) {
	var in struct {
		Clusters []string `json:"clusters"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if len(in.Clusters) == 0 {
		in.Clusters = []string{"default"}
	}
	clusters, failures := []any{}, []any{}
	for _, ref := range in.Clusters {
		c, aerr := r.cluster(ref)
		if aerr != nil {
			arn := ref
			if !strings.HasPrefix(ref, "arn:") {
				arn = r.arn("cluster", ref)
			}
			failures = append(failures, map[string]any{"arn": arn, "reason": "MISSING"})
			continue
		}
		running, services := 0, 0
		for _, svc := range c.services {
			if svc.status == active {
				services++
			}
		}
		for _, t := range c.tasks {
			if t.lastStatus == "RUNNING" {
				running++
			}
		}
		clusters = append(clusters, map[string]any{"clusterArn": c.arn, "clusterName": c.name, "status": active,
			"registeredContainerInstancesCount": 0, "runningTasksCount": running, "pendingTasksCount": 0,
			"activeServicesCount": services, "statistics": []any{}, "tags": []any{}, "settings": []any{},
			"capacityProviders": []any{}, "defaultCapacityProviderStrategy": []any{}})
	}
	return map[string]any{"clusters": clusters, "failures": failures}, nil
}

func (e *ecsState) describeServices(r *ecsRegion, body []byte) (any, *APIError) {
	var in struct {
		Cluster  string   `json:"cluster"`
		Services []string `json:"services"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	switch {
	case len(in.Services) == 0:
		return nil, ecsErr("InvalidParameterException", "Services cannot be empty.")
	case len(in.Services) > 10:
		return nil, ecsErr("InvalidParameterException", "Services cannot be longer than 10.")
	}
	c, aerr := r.cluster(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	services, failures := []any{}, []any{}
	for _, ref := range in.Services {
		svc, ok := c.services[serviceName(ref)]
		if !ok {
			failures = append(failures, map[string]any{"arn": r.arn("service", c.name+"/"+serviceName(ref)), "reason": "MISSING"})
			continue
		}
		e.advance(r, c, svc)
		services = append(services, e.serviceJSON(c, svc))
	}
	return map[string]any{"services": services, "failures": failures}, nil
}

func (e *ecsState) updateService(r *ecsRegion, body []byte) (any, *APIError) {
	var in struct {
		Cluster            string  `json:"cluster"`
		Service            string  `json:"service"`
		TaskDefinition     *string `json:"taskDefinition"`
		ForceNewDeployment bool    `json:"forceNewDeployment"`
		DesiredCount       *int    `json:"desiredCount"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	c, aerr := r.cluster(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	svc, ok := c.services[serviceName(in.Service)]
	switch {
	case !ok:
		return nil, ecsErr("ServiceNotFoundException", "Service not found.")
	case svc.status != active:
		return nil, ecsErr("ServiceNotActiveException", "Service was not ACTIVE.")
	}
	td := r.taskDef(svc.taskDef)
	if in.TaskDefinition != nil {
		td = r.taskDef(*in.TaskDefinition)
		if td == nil {
			return nil, ecsErr("InvalidParameterException", "TaskDefinition not found.")
		}
		if td.status != active {
			return nil, ecsErr("InvalidParameterException", "TaskDefinition is inactive.")
		}
	}
	if in.DesiredCount != nil {
		if *in.DesiredCount < 0 {
			return nil, ecsErr("InvalidParameterException", "Desired count must be non-negative.")
		}
		svc.desired = *in.DesiredCount
		if p := svc.primary(); p != nil {
			p.desired = svc.desired
		}
	}
	if in.ForceNewDeployment || td.arn != svc.taskDef {
		e.newDeployment(r, c, svc, td, nil)
	}
	return map[string]any{"service": e.serviceJSON(c, svc)}, nil
}

func (e *ecsState) listTasks(r *ecsRegion, body []byte) (any, *APIError) {
	var in struct {
		Cluster       string `json:"cluster"`
		ServiceName   string `json:"serviceName"`
		DesiredStatus string `json:"desiredStatus"`
		StartedBy     string `json:"startedBy"`
		Family        string `json:"family"`
		MaxResults    *int   `json:"maxResults"`
		NextToken     string `json:"nextToken"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	c, aerr := r.cluster(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	group := ""
	if in.ServiceName != "" {
		if _, ok := c.services[serviceName(in.ServiceName)]; !ok {
			return nil, ecsErr("ServiceNotFoundException", "Service not found.")
		}
		group = "service:" + serviceName(in.ServiceName)
	}
	status := in.DesiredStatus
	if status == "" {
		status = "RUNNING"
	}
	if status != "RUNNING" && status != "PENDING" && status != "STOPPED" {
		return nil, ecsErr("InvalidParameterException", "Invalid desiredStatus: "+status)
	}
	max := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, ecsErr("InvalidParameterException", "maxResults must be between 1 and 100.")
		}
		max = *in.MaxResults
	}
	var arns []string
	for _, t := range c.tasks {
		if t.desiredStatus != status || group != "" && t.group != group || in.StartedBy != "" && t.startedBy != in.StartedBy {
			continue
		}
		if in.Family != "" && !strings.Contains(t.taskDef, ":task-definition/"+in.Family+":") {
			continue
		}
		arns = append(arns, t.arn)
	}
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(in.NextToken, "fake-next-"))
		if err != nil || !strings.HasPrefix(in.NextToken, "fake-next-") || n < 0 || n > len(arns) {
			return nil, ecsErr("InvalidParameterException", "Invalid token.")
		}
		start = n
	}
	end := min(start+max, len(arns))
	out := map[string]any{"taskArns": orEmptyS(arns[start:end])}
	if end < len(arns) {
		out["nextToken"] = fmt.Sprintf("fake-next-%d", end)
	}
	return out, nil
}

func (e *ecsState) describeTasks(r *ecsRegion, body []byte) (any, *APIError) {
	var in struct {
		Cluster string   `json:"cluster"`
		Tasks   []string `json:"tasks"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	switch {
	case len(in.Tasks) == 0:
		return nil, ecsErr("InvalidParameterException", "Tasks cannot be empty.")
	case len(in.Tasks) > 100:
		return nil, ecsErr("InvalidParameterException", "Tasks cannot be longer than 100.")
	}
	c, aerr := r.cluster(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	tasks, failures := []any{}, []any{}
	for _, ref := range in.Tasks {
		var found *ecsTask
		for _, t := range c.tasks {
			if t.arn == ref || strings.HasSuffix(t.arn, "/"+ref) {
				found = t
				break
			}
		}
		if found == nil {
			arn := ref
			if !strings.HasPrefix(ref, "arn:") {
				arn = r.arn("task", c.name+"/"+ref)
			}
			failures = append(failures, map[string]any{"arn": arn, "reason": "MISSING"})
			continue
		}
		tasks = append(tasks, taskJSON(c, found))
	}
	return map[string]any{"tasks": tasks, "failures": failures}, nil
}

// Rollouts.

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

// newDeployment starts a PRIMARY deployment of td; from, when set, is the
// completed deployment a rollback returns to (its digests are reused).
func (e *ecsState) newDeployment(r *ecsRegion, c *ecsCluster, svc *ecsService, td *ecsTaskDef, from *ecsDeployment) *ecsDeployment {
	e.n++
	now := time.Now()
	d := &ecsDeployment{id: fmt.Sprintf("ecs-svc/%d", 4_300_000_000_000_000_000+e.n), status: primary, taskDef: td.arn,
		desired: svc.desired, rollout: inProgress, createdAt: now, updated: now, digests: map[string]string{}}
	d.reason = fmt.Sprintf("ECS deployment %s in progress.", d.id)
	if from != nil {
		d.rollback = true
		maps.Copy(d.digests, from.digests)
	} else {
		for _, img := range td.containers {
			dg, ok := e.resolve(r.account, r.region, img.image)
			if !ok {
				if d.pullErr == "" {
					d.pullErr = fmt.Sprintf("CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref %s: not found", img.image)
				}
				continue
			}
			d.digests[img.name] = dg
		}
	}
	if from == nil {
		d.sd = &ecsServiceDeployment{arn: r.arn("service-deployment", fmt.Sprintf("%s/%d", svc.name, e.n)), status: "IN_PROGRESS", taskDef: td.arn, createdAt: now}
		svc.history = append([]*ecsServiceDeployment{d.sd}, svc.history...)
	}
	for _, o := range svc.deployments {
		if o.status == primary {
			o.status = active
		}
	}
	svc.deployments = append([]*ecsDeployment{d}, svc.deployments...)
	svc.taskDef = td.arn
	return d
}

// advance moves the service's in-flight deployment one step.
func (e *ecsState) advance(r *ecsRegion, c *ecsCluster, svc *ecsService) {
	d := svc.primary()
	if d == nil || d.rollout != inProgress {
		return
	}
	outcome := svc.outcome
	if d.rollback {
		outcome = Complete
	}
	if d.pullErr != "" && outcome == Complete {
		outcome = StuckInProgress
		if svc.breaker {
			outcome = FailCircuitBreaker
		}
	}
	d.step++
	d.updated = time.Now()
	switch outcome {
	case Complete:
		if d.step == 1 && d.desired > 1 {
			e.setRunning(r, c, svc, d, (d.desired+1)/2)
			return
		}
		e.setRunning(r, c, svc, d, d.desired)
		e.complete(r, c, svc, d)
	case StuckInProgress:
		e.failTask(r, c, svc, d)
	case FailCircuitBreaker:
		e.failTask(r, c, svc, d)
		if d.step < 2 {
			return
		}
		d.rollout, d.reason = failed, "ECS deployment circuit breaker: tasks failed to start."
		svc.event("(service %s) (deployment %s) deployment failed: tasks failed to start.", svc.name, d.id)
		if d.sd != nil {
			d.sd.status, d.sd.reason, d.sd.finishedAt = "STOPPED", "ECS deployment circuit breaker: tasks failed to start.", time.Now()
		}
		if svc.rollback && svc.lastCompleted != nil && svc.lastCompleted != d {
			svc.event("(service %s) rolling back to deployment %s.", svc.name, svc.lastCompleted.id)
			if td := r.taskDef(svc.lastCompleted.taskDef); td != nil {
				rd := e.newDeployment(r, c, svc, td, svc.lastCompleted)
				if rd.sd = d.sd; rd.sd != nil {
					rd.sd.status, rd.sd.finishedAt = "ROLLBACK_IN_PROGRESS", time.Time{}
				}
			}
		}
	}
}

// complete marks d COMPLETED and drains every other deployment.
func (e *ecsState) complete(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment) {
	d.rollout, d.reason = completed, fmt.Sprintf("ECS deployment %s completed.", d.id)
	for _, o := range svc.deployments {
		if o != d {
			e.setRunning(r, c, svc, o, 0)
		}
	}
	svc.deployments = []*ecsDeployment{d}
	svc.lastCompleted = d
	if d.sd != nil {
		d.sd.status, d.sd.finishedAt = "SUCCESSFUL", time.Now()
		if d.rollback {
			d.sd.status = "ROLLBACK_SUCCESSFUL"
		}
	}
	svc.event("(service %s) has reached a steady state.", svc.name)
}

// setRunning starts or stops tasks of d until n run.
func (e *ecsState) setRunning(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment, n int) {
	for len(d.tasks) < n {
		t := e.newTask(r, c, svc, d)
		t.lastStatus, t.desiredStatus = "RUNNING", "RUNNING"
		t.startedAt = time.Now()
		d.tasks = append(d.tasks, t)
	}
	for len(d.tasks) > n {
		t := d.tasks[len(d.tasks)-1]
		d.tasks = d.tasks[:len(d.tasks)-1]
		t.lastStatus, t.desiredStatus = "STOPPED", "STOPPED"
		t.stopCode, t.stoppedReason = "ServiceSchedulerInitiated", fmt.Sprintf("Scaling activity initiated by (deployment %s)", d.id)
		t.stoppedAt = time.Now()
	}
}

// failTask records a task of d that failed to start.
func (e *ecsState) failTask(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment) {
	d.failed++
	t := e.newTask(r, c, svc, d)
	t.lastStatus, t.desiredStatus = "STOPPED", "STOPPED"
	t.stopCode, t.stoppedReason = "TaskFailedToStart", d.pullErr
	if d.pullErr == "" {
		t.stopCode, t.stoppedReason = "EssentialContainerExited", "Essential container in task exited"
		one := 1
		for i := range t.containers {
			t.containers[i].exitCode = &one
		}
	}
	t.stoppedAt = time.Now()
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

// JSON shapes.

func (e *ecsState) serviceJSON(c *ecsCluster, svc *ecsService) map[string]any {
	running, pending := 0, 0
	deployments := []any{}
	for _, d := range svc.deployments {
		running += len(d.tasks)
		p := 0
		if d.rollout == inProgress {
			p = max(0, d.desired-len(d.tasks))
		}
		pending += p
		deployments = append(deployments, map[string]any{
			"id": d.id, "status": d.status, "taskDefinition": d.taskDef,
			"desiredCount": d.desired, "pendingCount": p, "runningCount": len(d.tasks), "failedTasks": d.failed,
			"createdAt": epoch(d.createdAt), "updatedAt": epoch(d.updated),
			"launchType": "FARGATE", "platformVersion": "1.4.0", "platformFamily": "Linux",
			"rolloutState": d.rollout, "rolloutStateReason": d.reason,
		})
	}
	events := []any{}
	for _, ev := range svc.events {
		events = append(events, map[string]any{"id": ev.id, "createdAt": epoch(ev.at), "message": ev.message})
	}
	return map[string]any{
		"serviceArn": svc.arn, "serviceName": svc.name, "clusterArn": c.arn,
		"loadBalancers": []any{}, "serviceRegistries": []any{},
		"status": svc.status, "desiredCount": svc.desired, "runningCount": running, "pendingCount": pending,
		"launchType": "FARGATE", "platformVersion": "LATEST", "platformFamily": "Linux",
		"taskDefinition": svc.taskDef,
		"deploymentConfiguration": map[string]any{
			"deploymentCircuitBreaker": map[string]any{"enable": svc.breaker, "rollback": svc.rollback},
			"maximumPercent":           200, "minimumHealthyPercent": 100,
		},
		"deployments": deployments, "events": events,
		"createdAt":            epoch(svc.createdAt),
		"placementConstraints": []any{}, "placementStrategy": []any{},
		"schedulingStrategy": "REPLICA", "deploymentController": map[string]any{"type": "ECS"},
		"enableECSManagedTags": false, "propagateTags": "NONE", "enableExecuteCommand": false,
	}
}

func taskJSON(c *ecsCluster, t *ecsTask) map[string]any {
	var containers []any
	for i, ct := range t.containers {
		m := map[string]any{"containerArn": fmt.Sprintf("%s/container/%d", strings.Replace(t.arn, ":task/", ":container/", 1), i),
			"taskArn": t.arn, "name": ct.name, "image": ct.image, "lastStatus": t.lastStatus,
			"networkBindings": []any{}, "networkInterfaces": []any{}}
		if ct.digest != "" && t.lastStatus != "PENDING" {
			m["imageDigest"] = ct.digest
		}
		if ct.exitCode != nil {
			m["exitCode"] = *ct.exitCode
		}
		containers = append(containers, m)
	}
	out := map[string]any{
		"taskArn": t.arn, "clusterArn": c.arn, "taskDefinitionArn": t.taskDef,
		"lastStatus": t.lastStatus, "desiredStatus": t.desiredStatus, "startedBy": t.startedBy, "group": t.group,
		"launchType": "FARGATE", "containers": orEmpty(containers), "createdAt": epoch(t.createdAt),
		"version": 1, "attachments": []any{}, "tags": []any{},
	}
	if !t.startedAt.IsZero() {
		out["startedAt"] = epoch(t.startedAt)
	}
	if !t.stoppedAt.IsZero() {
		out["stoppedAt"], out["stopCode"], out["stoppedReason"] = epoch(t.stoppedAt), t.stopCode, t.stoppedReason
	}
	return out
}

// epoch is a timestamp as the JSON protocols send it: seconds since the
// epoch, with milliseconds.
func epoch(t time.Time) json.Number {
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64))
}

func orEmpty(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

func orEmptyS(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// normalize makes a value built in Go look like one decoded from JSON
// (numbers as json.Number, slices as []any, maps as map[string]any).
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("awsfake: %v", err))
	}
	var out any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&out); err != nil {
		panic(fmt.Sprintf("awsfake: %v", err))
	}
	return out
}

// listServiceDeployments answers ListServiceDeployments: the service's
// deployments newest first, with their status and reason.
func (e *ecsState) listServiceDeployments(r *ecsRegion, body []byte) (any, *APIError) {
	var in struct {
		Cluster    string `json:"cluster"`
		Service    string `json:"service"`
		MaxResults *int   `json:"maxResults"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	c, aerr := r.cluster(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	svc, ok := c.services[serviceName(in.Service)]
	if !ok {
		return nil, ecsErr("ServiceNotFoundException", "Service not found.")
	}
	e.advance(r, c, svc)
	out := []any{}
	for i, sd := range svc.history {
		if in.MaxResults != nil && i >= *in.MaxResults {
			break
		}
		m := map[string]any{"serviceDeploymentArn": sd.arn, "serviceArn": svc.arn, "clusterArn": c.arn,
			"status": sd.status, "createdAt": epoch(sd.createdAt), "targetServiceRevisionArn": sd.taskDef}
		if sd.reason != "" {
			m["statusReason"] = sd.reason
		}
		if !sd.finishedAt.IsZero() {
			m["finishedAt"] = epoch(sd.finishedAt)
		}
		out = append(out, m)
	}
	return map[string]any{"serviceDeployments": out}, nil
}
