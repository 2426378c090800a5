package awsfake

// ecsState is the ECS stand-in's state; ecs.go is to be written.
type ecsState struct{}

func newECS() *ecsState { return &ecsState{} }

func (s *Server) ecsCall(account, region, op string, body []byte) (any, *APIError) {
	return nil, &APIError{400, "InvalidAction", "ECS stand-in: not implemented: " + op}
}
