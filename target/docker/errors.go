package docker

import "fmt"

// ExitError says a container exited while tier waited for it to become
// healthy.
type ExitError struct {
	Container string
	Code      int
	OOMKilled bool
	// Message is the engine's error for the container (State.Error), if
	// any: a command that could not be started, for example.
	Message string
}

func (e *ExitError) Error() string {
	s := fmt.Sprintf("container %s exited with code %d", e.Container, e.Code)
	if e.OOMKilled {
		s += " (killed: out of memory)"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}
