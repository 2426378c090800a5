package awsfake

import (
	"net/http"
	"net/url"
)

// stsState is the STS stand-in's state; sts.go is to be written.
type stsState struct{}

func newSTS() *stsState { return &stsState{} }

func (s *Server) stsCall(w http.ResponseWriter, account, key, op string, form url.Values) {
	writeQueryError(w, APIError{400, "InvalidAction", "STS stand-in: not implemented: " + op})
}
