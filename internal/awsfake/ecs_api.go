package awsfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ECS stand-in: the JSON 1.1 operations tier calls (DescribeServices,
// DescribeTaskDefinition, RegisterTaskDefinition, UpdateService, ListTasks,
// DescribeTasks, DescribeClusters, ListServiceDeployments), with the state
// of each account and region kept apart, shaped on the ECS API reference.
//
// Rollouts are simulated per call: every DescribeServices of a service
// moves its in-flight deployment one step, according to the service's
// Outcome (see Rollout). Images resolve to digests when a deployment is
// created, through SetImageDigest (or a digest in the reference); a task
// whose image does not resolve fails to start with CannotPullContainerError.
// ListServiceDeployments pages as the API reference says (20 by default,
// maxResults up to 100, nextToken) and answers oldest first: the reference
// documents no order, and a caller must not take the first entry for the
// newest.

func (s *Server) ecsCall(account, region, caller, op string, body []byte) (any, *APIError) {
	r := s.ecs.region(account, region)
	switch op {
	case "DescribeClusters":
		return s.ecs.describeClusters(r, body)
	case "DescribeServices":
		return s.ecs.describeServices(r, body)
	case "DescribeTaskDefinition":
		return s.ecs.describeTaskDefinition(r, body)
	case "RegisterTaskDefinition":
		return s.ecs.registerTaskDefinition(r, caller, body)
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

func ecsErr(code, msg string) *APIError { return &APIError{400, code, msg} }

// reservedTag reports whether a tag key or value starts with aws: in any
// case.
func reservedTag(s string) bool { return len(s) >= 4 && strings.EqualFold(s[:4], "aws:") }

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

// checkCount refuses a list parameter (field, as ECS names it in messages:
// "Services") that is empty or longer than most.
func checkCount(field string, n, most int) *APIError {
	switch {
	case n == 0:
		return ecsErr("InvalidParameterException", field+" cannot be empty.")
	case n > most:
		return ecsErr("InvalidParameterException", fmt.Sprintf("%s cannot be longer than %d.", field, most))
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

// clusterService finds a cluster by name or ARN ("" is "default") and a
// service of it by name or ARN.
func (r *ecsRegion) clusterService(clusterRef, serviceRef string) (*ecsCluster, *ecsService, *APIError) {
	c, aerr := r.cluster(clusterRef)
	if aerr != nil {
		return nil, nil, aerr
	}
	svc, aerr := c.service(serviceRef)
	if aerr != nil {
		return nil, nil, aerr
	}
	return c, svc, nil
}

// service finds a service of c by name or ARN.
func (c *ecsCluster) service(ref string) (*ecsService, *APIError) {
	svc, ok := c.services[serviceName(ref)]
	if !ok {
		return nil, ecsErr("ServiceNotFoundException", "Service not found.")
	}
	return svc, nil
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

// refARN is ref when it is an ARN, otherwise the ARN of kind/rest.
func (r *ecsRegion) refARN(ref, kind, rest string) string {
	if strings.HasPrefix(ref, "arn:") {
		return ref
	}
	return r.arn(kind, rest)
}

func (e *ecsState) describeClusters(r *ecsRegion, body []byte) (any, *APIError) {
	var in ecsDescribeClustersRequest
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
			failures = append(failures, failureJSON(r.refARN(ref, "cluster", ref)))
			continue
		}
		clusters = append(clusters, clusterJSON(c))
	}
	return map[string]any{"clusters": clusters, "failures": failures}, nil
}

func (e *ecsState) describeServices(r *ecsRegion, body []byte) (any, *APIError) {
	var in ecsDescribeServicesRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if aerr := checkCount("Services", len(in.Services), 10); aerr != nil {
		return nil, aerr
	}
	c, aerr := r.cluster(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	services, failures := []any{}, []any{}
	for _, ref := range in.Services {
		svc, ok := c.services[serviceName(ref)]
		if !ok {
			failures = append(failures, failureJSON(r.arn("service", c.name+"/"+serviceName(ref))))
			continue
		}
		e.advance(r, c, svc)
		services = append(services, serviceJSON(c, svc))
	}
	return map[string]any{"services": services, "failures": failures}, nil
}

func (e *ecsState) describeTaskDefinition(r *ecsRegion, body []byte) (any, *APIError) {
	var in ecsDescribeTaskDefinitionRequest
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

// registerTaskDefinition registers a revision; caller (the identity that
// signed the request) is recorded as its registeredBy, as ECS does.
func (e *ecsState) registerTaskDefinition(r *ecsRegion, caller string, body []byte) (any, *APIError) {
	var def map[string]any
	if err := decodeJSON(body, &def); err != nil {
		return nil, err
	}
	tags, _ := def["tags"].([]any)
	delete(def, "tags")
	for _, tag := range tags {
		// RegisterTaskDefinition (API reference, tags): "Do not use aws:,
		// AWS:, or any upper or lowercase combination of such as a prefix
		// for either keys or values as it is reserved for Amazon Web
		// Services use." The reference names no error; the code and
		// message here are the stand-in's.
		m, _ := tag.(map[string]any)
		k, _ := m["key"].(string)
		v, _ := m["value"].(string)
		if reservedTag(k) || reservedTag(v) {
			return nil, ecsErr("InvalidParameterException", fmt.Sprintf("Tag %q uses the aws: prefix, which is reserved for AWS use.", k))
		}
	}
	t, aerr := e.register(r, def, tags)
	if aerr != nil {
		return nil, aerr
	}
	t.body["registeredBy"] = caller
	out := map[string]any{"taskDefinition": t.describe()}
	if len(tags) > 0 {
		out["tags"] = tags
	}
	return out, nil
}

func (e *ecsState) updateService(r *ecsRegion, body []byte) (any, *APIError) {
	var in ecsUpdateServiceRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	c, svc, aerr := r.clusterService(in.Cluster, in.Service)
	if aerr != nil {
		return nil, aerr
	}
	if svc.status != active {
		return nil, ecsErr("ServiceNotActiveException", "Service was not ACTIVE.")
	}
	if svc.controller != ControllerECS {
		// UpdateService (API reference): a CODE_DEPLOY service takes a new
		// task definition only from a CodeDeploy deployment, an EXTERNAL
		// one only from a new task set. The CODE_DEPLOY message is the one
		// public reports quote; the others are the stand-in's.
		switch {
		case in.TaskDefinition != nil && svc.controller == ControllerCodeDeploy:
			return nil, ecsErr("InvalidParameterException", "Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment.")
		case in.TaskDefinition != nil:
			return nil, ecsErr("InvalidParameterException", "Unable to update task definition on services with a EXTERNAL deployment controller. Use CreateTaskSet to deploy a new task set.")
		case in.ForceNewDeployment:
			return nil, ecsErr("InvalidParameterException", fmt.Sprintf("Unable to force a new deployment on services with a %s deployment controller.", svc.controller))
		}
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
		e.newDeployment(r, c, svc, td)
	}
	return map[string]any{"service": serviceJSON(c, svc)}, nil
}

func (e *ecsState) listTasks(r *ecsRegion, body []byte) (any, *APIError) {
	var in ecsListTasksRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	c, aerr := r.cluster(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	group := ""
	if in.ServiceName != "" {
		svc, aerr := c.service(in.ServiceName)
		if aerr != nil {
			return nil, aerr
		}
		group = "service:" + svc.name
	}
	status := in.DesiredStatus
	if status == "" {
		status = "RUNNING"
	}
	if status != "RUNNING" && status != "PENDING" && status != "STOPPED" {
		return nil, ecsErr("InvalidParameterException", "Invalid desiredStatus: "+status)
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, ecsErr("InvalidParameterException", "maxResults must be between 1 and 100.")
		}
		limit = *in.MaxResults
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
	end := min(start+limit, len(arns))
	out := map[string]any{"taskArns": orEmptyS(arns[start:end])}
	if end < len(arns) {
		out["nextToken"] = fmt.Sprintf("fake-next-%d", end)
	}
	return out, nil
}

func (e *ecsState) describeTasks(r *ecsRegion, body []byte) (any, *APIError) {
	var in ecsDescribeTasksRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if aerr := checkCount("Tasks", len(in.Tasks), 100); aerr != nil {
		return nil, aerr
	}
	c, aerr := r.cluster(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	tasks, failures := []any{}, []any{}
	for _, ref := range in.Tasks {
		i := slices.IndexFunc(c.tasks, func(t *ecsTask) bool { return t.arn == ref || strings.HasSuffix(t.arn, "/"+ref) })
		if i < 0 {
			failures = append(failures, failureJSON(r.refARN(ref, "task", c.name+"/"+ref)))
			continue
		}
		tasks = append(tasks, taskJSON(c, c.tasks[i]))
	}
	return map[string]any{"tasks": tasks, "failures": failures}, nil
}

// listServiceDeployments answers ListServiceDeployments: the service's
// service deployments, oldest first, filtered by status and createdAt,
// maxResults (1 to 100, 20 when not given) a page with a nextToken while
// more remain.
func (e *ecsState) listServiceDeployments(r *ecsRegion, body []byte) (any, *APIError) {
	var in ecsListServiceDeploymentsRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if in.Service == "" {
		return nil, ecsErr("InvalidParameterException", "Service cannot be empty.")
	}
	c, svc, aerr := r.clusterService(in.Cluster, in.Service)
	if aerr != nil {
		return nil, aerr
	}
	limit := 20
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, ecsErr("InvalidParameterException", "maxResults must be between 1 and 100.")
		}
		limit = *in.MaxResults
	}
	var after, before time.Time
	if in.CreatedAt != nil {
		after, before = in.CreatedAt.After.time(), in.CreatedAt.Before.time()
	}
	var match []*ecsServiceDeployment
	for _, sd := range svc.history {
		switch {
		case len(in.Status) > 0 && !slices.Contains(in.Status, sd.status),
			!after.IsZero() && !sd.createdAt.After(after),
			!before.IsZero() && !sd.createdAt.Before(before):
			continue
		}
		match = append(match, sd)
	}
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(in.NextToken, "fake-sd-next-"))
		if err != nil || !strings.HasPrefix(in.NextToken, "fake-sd-next-") || n < 0 || n > len(match) {
			return nil, ecsErr("InvalidParameterException", "Invalid token.")
		}
		start = n
	}
	end := min(start+limit, len(match))
	out := []any{}
	for _, sd := range match[start:end] {
		out = append(out, serviceDeploymentJSON(c, svc, sd))
	}
	answer := map[string]any{"serviceDeployments": out}
	if end < len(match) {
		answer["nextToken"] = fmt.Sprintf("fake-sd-next-%d", end)
	}
	return answer, nil
}
