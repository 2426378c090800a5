package awsfake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// STS stand-in: GetCallerIdentity and AssumeRole, in the query protocol
// (form-encoded requests, XML answers in the 2011-06-15 namespace), as the
// STS API reference documents them.

const stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"

// AssumedRole is one successful AssumeRole call.
type AssumedRole struct {
	RoleARN     string
	SessionName string
	// ExternalID is what the caller sent ("" when none).
	ExternalID string
	// CallerKey and CallerAccount signed the AssumeRole call.
	CallerKey     string
	CallerAccount string
	// AccessKeyID is the temporary key handed out; it belongs to Account,
	// the account in the role's ARN.
	AccessKeyID string
	Account     string
}

// identity is who an access key is, as GetCallerIdentity answers.
type identity struct {
	arn, userID string
}

type stsState struct {
	// externalIDs maps role ARNs to the external ID their trust policy
	// requires.
	externalIDs map[string]string
	assumed     []AssumedRole
	identities  map[string]identity
	n           int
}

func newSTS() *stsState {
	return &stsState{externalIDs: map[string]string{}, identities: map[string]identity{}}
}

var (
	// roleARNRE is an IAM role ARN; the account is group 1, the role's
	// name (without its path) group 2.
	roleARNRE = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]+)$`)
	// sessionNameRE is the documented pattern of RoleSessionName.
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	externalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]+$`) // 2 to 1224 characters
)

// RequireExternalID makes AssumeRole of roleARN require externalID, as a
// trust policy with an sts:ExternalId condition does: a missing or wrong
// one is AccessDenied.
func (s *Server) RequireExternalID(roleARN, externalID string) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.sts.externalIDs[roleARN] = externalID
}

// AssumedRoles returns the successful AssumeRole calls, in order.
func (s *Server) AssumedRoles() []AssumedRole {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	return append([]AssumedRole(nil), s.sts.assumed...)
}

// SetIdentity sets what GetCallerIdentity answers for a long-term key
// (by default arn:aws:iam::<account>:user/tier).
func (s *Server) SetIdentity(accessKeyID, arn, userID string) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.sts.identities[accessKeyID] = identity{arn: arn, userID: userID}
}

func (s *Server) stsCall(w http.ResponseWriter, account, key, op string, form url.Values) {
	switch op {
	case "GetCallerIdentity":
		id, ok := s.sts.identities[key]
		if !ok {
			id = identity{arn: fmt.Sprintf("arn:aws:iam::%s:user/tier", account), userID: "AIDA" + strings.ToUpper(pad(key, 17))}
		}
		writeQuery(w, op, struct {
			XMLName xml.Name `xml:"GetCallerIdentityResult"`
			Arn     string   `xml:"Arn"`
			UserID  string   `xml:"UserId"`
			Account string   `xml:"Account"`
		}{Arn: id.arn, UserID: id.userID, Account: account})
	case "AssumeRole":
		s.assumeRole(w, account, key, form)
	default:
		writeQueryError(w, APIError{400, "InvalidAction", fmt.Sprintf("Could not find operation %s for version 2011-06-15", op)})
	}
}

func (s *Server) assumeRole(w http.ResponseWriter, account, key string, form url.Values) {
	role, session, ext := form.Get("RoleArn"), form.Get("RoleSessionName"), form.Get("ExternalId")
	m := roleARNRE.FindStringSubmatch(role)
	switch {
	case role == "":
		writeQueryError(w, APIError{400, "ValidationError", "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"})
		return
	case session == "":
		writeQueryError(w, APIError{400, "ValidationError", "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"})
		return
	case len(session) > 64:
		writeQueryError(w, APIError{400, "ValidationError", fmt.Sprintf("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64", session)})
		return
	case len(session) < 2:
		writeQueryError(w, APIError{400, "ValidationError", fmt.Sprintf("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2", session)})
		return
	case !sessionNameRE.MatchString(session):
		writeQueryError(w, APIError{400, "ValidationError", fmt.Sprintf("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", session)})
		return
	case form.Has("ExternalId") && (len(ext) < 2 || len(ext) > 1224 || !externalIDRE.MatchString(ext)):
		writeQueryError(w, APIError{400, "ValidationError", "1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*"})
		return
	case m == nil:
		writeQueryError(w, APIError{400, "ValidationError", fmt.Sprintf("%s is invalid", role)})
		return
	}
	caller := s.callerARN(account, key)
	if want, ok := s.sts.externalIDs[role]; ok && want != ext {
		writeQueryError(w, APIError{403, "AccessDenied", fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", caller, role)})
		return
	}
	roleAccount, roleName := m[1], m[2]
	s.sts.n++
	n := s.sts.n
	newKey := fmt.Sprintf("ASIAFAKE%012d", n)
	s.Keys[newKey] = roleAccount
	roleID := "AROA" + strings.ToUpper(pad(roleName, 17))
	arn := fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", roleAccount, roleName, session)
	s.sts.identities[newKey] = identity{arn: arn, userID: roleID + ":" + session}
	s.sts.assumed = append(s.sts.assumed, AssumedRole{RoleARN: role, SessionName: session, ExternalID: ext,
		CallerKey: key, CallerAccount: account, AccessKeyID: newKey, Account: roleAccount})
	type user struct {
		Arn           string `xml:"Arn"`
		AssumedRoleID string `xml:"AssumedRoleId"`
	}
	type creds struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	writeQuery(w, "AssumeRole", struct {
		XMLName          xml.Name `xml:"AssumeRoleResult"`
		AssumedRoleUser  user     `xml:"AssumedRoleUser"`
		Credentials      creds    `xml:"Credentials"`
		PackedPolicySize int      `xml:"PackedPolicySize"`
	}{
		AssumedRoleUser: user{Arn: arn, AssumedRoleID: roleID + ":" + session},
		Credentials: creds{AccessKeyID: newKey, SecretAccessKey: fmt.Sprintf("fake-secret-%d", n),
			SessionToken: fmt.Sprintf("fake-session-token-%d", n), Expiration: time.Now().Add(time.Hour).UTC().Format(time.RFC3339)},
	})
}

// callerARN is the ARN AccessDenied messages name for the signer of a call.
func (s *Server) callerARN(account, key string) string {
	if id, ok := s.sts.identities[key]; ok {
		return id.arn
	}
	return fmt.Sprintf("arn:aws:iam::%s:user/tier", account)
}

// writeQuery writes a query-protocol answer:
// <OpResponse><OpResult>...</OpResult><ResponseMetadata>...</ResponseMetadata></OpResponse>;
// result marshals as the <OpResult> element.
func writeQuery(w http.ResponseWriter, op string, result any) {
	b, err := xml.Marshal(result)
	if err != nil {
		writeQueryError(w, APIError{500, "InternalFailure", err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>fake-request</RequestId></ResponseMetadata></%sResponse>`,
		op, stsNS, b, op)
}

// pad returns s's letters and digits, cut or padded with zeros to n.
func pad(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	out := b.String() + strings.Repeat("0", n)
	return out[:n]
}
