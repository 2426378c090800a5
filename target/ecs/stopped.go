package ecs

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// stopped says why the tasks of deployment id stopped: how many of the
// service's recently stopped tasks it started, and the latest one's stop
// code, stoppedReason and containers' reasons or exit codes. ECS keeps
// stopped tasks for a while (ListTasks: "Recently stopped tasks might
// appear"); one page of them is read. It returns "" when none is the
// deployment's.
func (c *conn) stopped(ctx context.Context, id string) (string, error) {
	list, err := c.api.ListTasks(ctx, &ecs.ListTasksInput{Cluster: &c.cluster, ServiceName: &c.service,
		DesiredStatus: types.DesiredStatusStopped, MaxResults: aws.Int32(describeTasksMax)})
	if err != nil {
		return "", c.wrap("ListTasks", err)
	}
	if len(list.TaskArns) == 0 {
		return "", nil
	}
	out, err := c.api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: &c.cluster, Tasks: list.TaskArns})
	if err != nil {
		return "", c.wrap("DescribeTasks", err)
	}
	var ours []types.Task
	for _, task := range out.Tasks {
		// A service's tasks are started by their deployment's ID.
		if str(task.StartedBy) == id {
			ours = append(ours, task)
		}
	}
	if len(ours) == 0 {
		return "", nil
	}
	last := slices.MaxFunc(ours, func(a, b types.Task) int {
		switch {
		case later(a.StoppedAt, b.StoppedAt):
			return 1
		case later(b.StoppedAt, a.StoppedAt):
			return -1
		}
		return 0
	})
	why := cmp.Or(str(last.StoppedReason), "no reason given")
	parts := []string{fmt.Sprintf("%d stopped task(s) of the deployment, the latest: %s", len(ours), why)}
	if last.StopCode != "" {
		parts[0] = fmt.Sprintf("%d stopped task(s) of the deployment, the latest: %s: %s", len(ours), last.StopCode, why)
	}
	for _, ct := range last.Containers {
		switch {
		case ct.Reason != nil && *ct.Reason != why:
			parts = append(parts, fmt.Sprintf("container %s: %s", str(ct.Name), *ct.Reason))
		case ct.Reason == nil && ct.ExitCode != nil && *ct.ExitCode != 0:
			parts = append(parts, fmt.Sprintf("container %s exited with %d", str(ct.Name), *ct.ExitCode))
		}
	}
	return strings.Join(parts, ", "), nil
}
