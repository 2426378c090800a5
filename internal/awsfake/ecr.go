package awsfake

// ecrState is the ECR stand-in's state; ecr.go is to be written.
type ecrState struct{}

func newECR() *ecrState { return &ecrState{} }

func (s *Server) ecrCall(account, region, op string, body []byte) (any, *APIError) {
	return nil, &APIError{400, "InvalidAction", "ECR stand-in: not implemented: " + op}
}
