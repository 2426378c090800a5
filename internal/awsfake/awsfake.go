// Package awsfake is an in-process stand-in for the AWS APIs tier calls
// (ECS, ECR, STS), for tests that run the real aws-sdk-go-v2 clients against
// it through the SDK's endpoint setting. It follows the AWS API references:
// the JSON 1.1 protocol with X-Amz-Target for ECS and ECR, the query
// protocol for STS, the documented shapes of requests, responses and
// errors. It keeps the state of several accounts, records every call with
// the credentials that signed it, and can play the documented failures.
package awsfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Call is one API call the stand-in received.
type Call struct {
	Service   string // "ecs", "ecr", "sts"
	Operation string // "UpdateService", "PutImage", "AssumeRole", ...
	// AccessKeyID signed the request; Account is the account it belongs to.
	AccessKeyID string
	Account     string
	Region      string
	// Params is the request body (JSON services) or form (STS).
	Params map[string]any
}

// Server is the stand-in. Fields are guarded by Mu; handlers hold it.
type Server struct {
	URL string

	Mu sync.Mutex
	// Keys maps access key IDs to account IDs (12 digits).
	Keys  map[string]string
	Calls []Call
	// Fail makes the next calls of an operation fail: each entry is used
	// once, in order. Key: "ecs:UpdateService".
	Fail map[string][]APIError

	ecs *ecsState
	ecr *ecrState
	sts *stsState
}

// APIError is an AWS error answer.
type APIError struct {
	Status  int
	Code    string // e.g. "ThrottlingException", "AccessDeniedException"
	Message string
}

// New starts the stand-in on 127.0.0.1 for the test.
func New(t testing.TB) *Server {
	s := &Server{Keys: map[string]string{}, Fail: map[string][]APIError{}}
	s.ecs = newECS()
	s.ecr = newECR()
	s.sts = newSTS()
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

var credRE = regexp.MustCompile(`Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m := credRE.FindStringSubmatch(r.Header.Get("Authorization"))
	var key, region, service string
	if m != nil {
		key, region, service = m[1], m[2], m[3]
	}
	s.Mu.Lock()
	defer s.Mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/v2/") {
		s.serveOCI(w, r)
		return
	}
	account, known := s.Keys[key]
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		_, op, _ := strings.Cut(target, ".")
		var params map[string]any
		json.Unmarshal(body, &params)
		svc := "ecs"
		if strings.HasPrefix(target, "AmazonEC2ContainerRegistry") {
			svc = "ecr"
		}
		s.Calls = append(s.Calls, Call{Service: svc, Operation: op, AccessKeyID: key, Account: account, Region: region, Params: params})
		if !known {
			writeJSONError(w, APIError{400, "UnrecognizedClientException", "The security token included in the request is invalid."})
			return
		}
		if e, ok := s.nextFailure(svc + ":" + op); ok {
			writeJSONError(w, e)
			return
		}
		var out any
		var aerr *APIError
		switch svc {
		case "ecs":
			out, aerr = s.ecsCall(account, region, s.callerARN(account, key), op, body)
		case "ecr":
			out, aerr = s.ecrCall(account, region, op, body)
		}
		if aerr != nil {
			writeJSONError(w, *aerr)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(out)
		return
	}
	// STS: the query protocol.
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	r.ParseForm()
	params := map[string]any{}
	for k, v := range r.PostForm {
		params[k] = v[0]
	}
	op := r.PostForm.Get("Action")
	s.Calls = append(s.Calls, Call{Service: "sts", Operation: op, AccessKeyID: key, Account: account, Region: region, Params: params})
	_ = service
	if !known {
		writeQueryError(w, APIError{403, "InvalidClientTokenId", "The security token included in the request is invalid."})
		return
	}
	if e, ok := s.nextFailure("sts:" + op); ok {
		writeQueryError(w, e)
		return
	}
	s.stsCall(w, account, key, op, r.PostForm)
}

func (s *Server) nextFailure(key string) (APIError, bool) {
	q := s.Fail[key]
	if len(q) == 0 {
		return APIError{}, false
	}
	s.Fail[key] = q[1:]
	return q[0], true
}

// FailNext queues failures for an operation ("ecs:UpdateService").
func (s *Server) FailNext(op string, errs ...APIError) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.Fail[op] = append(s.Fail[op], errs...)
}

// AddKey registers an access key of an account.
func (s *Server) AddKey(accessKeyID, account string) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.Keys[accessKeyID] = account
}

// CallsOf returns the recorded calls of one operation ("ecs:UpdateService").
func (s *Server) CallsOf(op string) []Call {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	var out []Call
	for _, c := range s.Calls {
		if c.Service+":"+c.Operation == op {
			out = append(out, c)
		}
	}
	return out
}

func writeJSONError(w http.ResponseWriter, e APIError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	if e.Status == 0 {
		e.Status = 400
	}
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
}

func writeQueryError(w http.ResponseWriter, e APIError) {
	w.Header().Set("Content-Type", "text/xml")
	if e.Status == 0 {
		e.Status = 400
	}
	w.WriteHeader(e.Status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fake</RequestId></ErrorResponse>`, e.Code, e.Message)
}
