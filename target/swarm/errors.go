package swarm

import (
	"fmt"
)

// NotFoundError says an environment's Swarm service does not exist on its
// manager. tier never creates services: the user creates them with their
// own spec.
type NotFoundError struct {
	Service string
	// Host is the manager asked, as the client resolved it.
	Host string
	// Err is the engine's answer.
	Err error
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("swarm service %s not found on %s: create it first (docker service create --name %s ... IMAGE)", e.Service, e.Host, e.Service)
}

// Unwrap returns the engine's error.
func (e *NotFoundError) Unwrap() error { return e.Err }

// SpecError says a service's spec is one Deploy cannot update without
// changing more than its image: it runs a plugin or a job, or carries a
// field this build of tier does not know and would drop.
type SpecError struct {
	Service string
	Host    string
	// Reason says what is wrong, e.g. "field Spec.TaskTemplate.Foo is unknown to this build of tier".
	Reason string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("swarm service %s on %s: %s", e.Service, e.Host, e.Reason)
}

// Permanent marks errors that waiting will not cure, so the engine fails
// the environment at once instead of polling until its timeout.
func (e *NotFoundError) Permanent() bool { return true }
