package awsfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// JSON shapes of the ECS stand-in: the requests it reads and the answers it
// writes, with the fields the ECS API reference documents. An answer is
// built as a map, so that what is sent is exactly what is written here.

// Requests. RegisterTaskDefinition is read as a map, to keep the task
// definition verbatim.

type ecsDescribeClustersRequest struct {
	Clusters []string `json:"clusters"`
}

type ecsDescribeServicesRequest struct {
	Cluster  string   `json:"cluster"`
	Services []string `json:"services"`
}

type ecsDescribeTaskDefinitionRequest struct {
	TaskDefinition string   `json:"taskDefinition"`
	Include        []string `json:"include"`
}

type ecsUpdateServiceRequest struct {
	Cluster            string  `json:"cluster"`
	Service            string  `json:"service"`
	TaskDefinition     *string `json:"taskDefinition"`
	ForceNewDeployment bool    `json:"forceNewDeployment"`
	DesiredCount       *int    `json:"desiredCount"`
}

type ecsListTasksRequest struct {
	Cluster       string `json:"cluster"`
	ServiceName   string `json:"serviceName"`
	DesiredStatus string `json:"desiredStatus"`
	StartedBy     string `json:"startedBy"`
	Family        string `json:"family"`
	MaxResults    *int   `json:"maxResults"`
	NextToken     string `json:"nextToken"`
}

type ecsDescribeTasksRequest struct {
	Cluster string   `json:"cluster"`
	Tasks   []string `json:"tasks"`
}

type ecsListServiceDeploymentsRequest struct {
	Cluster   string   `json:"cluster"`
	Service   string   `json:"service"`
	Status    []string `json:"status"`
	CreatedAt *struct {
		After  epochTime `json:"after"`
		Before epochTime `json:"before"`
	} `json:"createdAt"`
	MaxResults *int   `json:"maxResults"`
	NextToken  string `json:"nextToken"`
}

// epochTime is a timestamp as the JSON protocols send it (seconds since
// the epoch, maybe with a fraction); zero when absent.
type epochTime struct{ t time.Time }

func (e *epochTime) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	f, err := n.Float64()
	if err != nil {
		return err
	}
	e.t = time.UnixMilli(int64(f * 1000))
	return nil
}

func (e epochTime) time() time.Time { return e.t }

// Answers.

// failureJSON is an entry of a Describe* answer's failures: a resource
// that is not there.
func failureJSON(arn string) map[string]any {
	return map[string]any{"arn": arn, "reason": "MISSING"}
}

func clusterJSON(c *ecsCluster) map[string]any {
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
	return map[string]any{"clusterArn": c.arn, "clusterName": c.name, "status": active,
		"registeredContainerInstancesCount": 0, "runningTasksCount": running, "pendingTasksCount": 0,
		"activeServicesCount": services, "statistics": []any{}, "tags": []any{}, "settings": []any{},
		"capacityProviders": []any{}, "defaultCapacityProviderStrategy": []any{}}
}

func serviceJSON(c *ecsCluster, svc *ecsService) map[string]any {
	running, pending := 0, 0
	deployments := []any{}
	if svc.controller != ControllerECS {
		// CODE_DEPLOY and EXTERNAL services list task sets, not
		// deployments.
		return serviceWithTaskSets(c, svc)
	}
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
	out := serviceBase(c, svc)
	out["runningCount"], out["pendingCount"] = running, pending
	dc := map[string]any{
		"deploymentCircuitBreaker": map[string]any{"enable": svc.breaker, "rollback": svc.rollback},
		"maximumPercent":           200, "minimumHealthyPercent": 100, "strategy": svc.strategy,
	}
	if svc.bakes() {
		dc["bakeTimeInMinutes"] = svc.bake
	}
	out["deploymentConfiguration"] = dc
	out["deployments"] = deployments
	if svc.current != nil {
		out["currentServiceDeployment"] = svc.current.arn
	}
	return out
}

// serviceBase is what every service's description holds, whatever its
// deployment controller.
func serviceBase(c *ecsCluster, svc *ecsService) map[string]any {
	events := []any{}
	for _, ev := range svc.events {
		events = append(events, map[string]any{"id": ev.id, "createdAt": epoch(ev.at), "message": ev.message})
	}
	return map[string]any{
		"serviceArn": svc.arn, "serviceName": svc.name, "clusterArn": c.arn,
		"loadBalancers": []any{}, "serviceRegistries": []any{},
		"status": svc.status, "desiredCount": svc.desired, "runningCount": 0, "pendingCount": 0,
		"launchType": "FARGATE", "platformVersion": "LATEST", "platformFamily": "Linux",
		"taskDefinition":       svc.taskDef,
		"events":               events,
		"createdAt":            epoch(svc.createdAt),
		"placementConstraints": []any{}, "placementStrategy": []any{},
		"schedulingStrategy": "REPLICA", "deploymentController": map[string]any{"type": svc.controller},
		"enableECSManagedTags": false, "propagateTags": "NONE", "enableExecuteCommand": false,
	}
}

// serviceWithTaskSets describes a CODE_DEPLOY or EXTERNAL service: an
// empty deployments list and its PRIMARY task set (the stand-in's PRIMARY
// deployment, shown as one).
func serviceWithTaskSets(c *ecsCluster, svc *ecsService) map[string]any {
	out := serviceBase(c, svc)
	out["deployments"] = []any{}
	out["deploymentConfiguration"] = map[string]any{"maximumPercent": 200, "minimumHealthyPercent": 100}
	sets := []any{}
	running := 0
	for _, d := range svc.deployments {
		running += len(d.tasks)
		stability := "STABILIZING"
		if d.rollout == completed {
			stability = "STEADY_STATE"
		}
		sets = append(sets, map[string]any{
			"id": d.id, "taskSetArn": strings.Replace(svc.arn, ":service/", ":task-set/", 1) + "/" + d.id,
			"serviceArn": svc.arn, "clusterArn": c.arn, "status": d.status, "taskDefinition": d.taskDef,
			"computedDesiredCount": d.desired, "pendingCount": 0, "runningCount": len(d.tasks),
			"createdAt": epoch(d.createdAt), "updatedAt": epoch(d.updated),
			"launchType": "FARGATE", "platformVersion": "1.4.0", "platformFamily": "Linux",
			"scale": map[string]any{"value": 100, "unit": "PERCENT"}, "stabilityStatus": stability,
			"stabilityStatusAt": epoch(d.updated), "loadBalancers": []any{}, "serviceRegistries": []any{},
		})
	}
	out["runningCount"] = running
	out["taskSets"] = sets
	return out
}

func serviceDeploymentJSON(c *ecsCluster, svc *ecsService, sd *ecsServiceDeployment) map[string]any {
	m := map[string]any{"serviceDeploymentArn": sd.arn, "serviceArn": svc.arn, "clusterArn": c.arn,
		"status": sd.status, "createdAt": epoch(sd.createdAt), "startedAt": epoch(sd.createdAt),
		"targetServiceRevisionArn": sd.revisionARN}
	if sd.reason != "" {
		m["statusReason"] = sd.reason
	}
	if !sd.finishedAt.IsZero() {
		m["finishedAt"] = epoch(sd.finishedAt)
	}
	return m
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
		if ct.reason != "" {
			m["reason"] = ct.reason
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

// JSON values.

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
