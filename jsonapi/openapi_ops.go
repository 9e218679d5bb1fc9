package jsonapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
)

// The operations of the strict surface. Each request struct is its schema
// in openapi.yaml, decoded only after the document has vouched for the body
// (a failure to decode is the server's: the struct and the schema disagree);
// core checks every rule again.

// strictGetJWTRequest is components/schemas/GetJWTRequest.
type strictGetJWTRequest struct {
	Username       string       `json:"username"`
	Password       string       `json:"password"`
	ClientIP       *string      `json:"clientIp"`
	ExpiresAt      string       `json:"expiresAt"`
	AllowedMethods []string     `json:"allowedMethods"`
	MaxCredits     *json.Number `json:"maxCredits"`
	Options        *struct {
		ApplicationName *string `json:"ApplicationName"`
	} `json:"options"`
}

// strictVerifyJWTRequest is components/schemas/VerifyJWTRequest.
type strictVerifyJWTRequest struct {
	ServiceKey string  `json:"serviceKey"`
	JWT        string  `json:"jwt"`
	Method     string  `json:"method"`
	ClientIP   *string `json:"clientIp"`
}

// strictChargeJWTRequest is components/schemas/ChargeJWTRequest.
type strictChargeJWTRequest struct {
	ServiceKey string      `json:"serviceKey"`
	JWT        string      `json:"jwt"`
	Method     string      `json:"method"`
	Credits    json.Number `json:"credits"`
	ClientIP   *string     `json:"clientIp"`
	RequestID  string      `json:"requestId"`
}

// strictRevokeJWTRequest is components/schemas/RevokeJWTRequest.
type strictRevokeJWTRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	JWT      string `json:"jwt"`
	JTI      string `json:"jti"`
}

// strictAccountCredentials is components/schemas/AccountCredentials.
type strictAccountCredentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// strictGetUsageRequest is components/schemas/GetUsageRequest.
type strictGetUsageRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	From     string `json:"from"`
	To       string `json:"to"`
}

// getJWT passes a body the document refused to core as the request's
// Malformed, with what can still be read of it (the credentials, the
// ApplicationName), so that core records the refusal as on every surface.
func (a *OpenAPI) getJWT(r *http.Request, body []byte, violation error) (any, error) {
	c := a.credentials(r, "", "")
	var in strictGetJWTRequest
	if violation == nil {
		// A failure here is the server's (the struct and the schema
		// disagree), and still a GetJWT for the ledger.
		violation = decodeBody("GetJWT", body, &in)
	}
	if violation != nil {
		req := &core.GetJWTRequest{Malformed: violation}
		req.Credentials, req.Options = readable(body, c)
		return getJWT(r.Context(), a.Service, req)
	}
	c.Username, c.Password = in.Username, in.Password
	req := &core.GetJWTRequest{Credentials: c, ExpiresAt: in.ExpiresAt, AllowedMethods: in.AllowedMethods, ClientIP: orEmpty(in.ClientIP)}
	if in.MaxCredits != nil {
		n, err := wholeNumber("maxCredits", *in.MaxCredits)
		if err != nil {
			return nil, err
		}
		req.MaxCredits = &n
	}
	if in.Options != nil && in.Options.ApplicationName != nil {
		req.Options = []core.Option{{Name: core.OptionApplicationName, Value: *in.Options.ApplicationName}}
	}
	return getJWT(r.Context(), a.Service, req)
}

// readable returns what a GetJWT body the document refused still says: the
// username and password and the ApplicationName, where they are strings
// under their exact names.
func readable(body []byte, c core.Credentials) (core.Credentials, []core.Option) {
	var top, options map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return c, nil
	}
	str := func(m map[string]json.RawMessage, name string) string {
		var s string
		json.Unmarshal(m[name], &s) //nolint:errcheck // absent or not a string: nothing to read
		return s
	}
	c.Username, c.Password = str(top, "username"), str(top, "password")
	var opts []core.Option
	if json.Unmarshal(top["options"], &options) == nil {
		if app := str(options, core.OptionApplicationName); app != "" {
			opts = []core.Option{{Name: core.OptionApplicationName, Value: app}}
		}
	}
	return c, opts
}

func (a *OpenAPI) verifyJWT(r *http.Request, body []byte, _ error) (any, error) {
	var in strictVerifyJWTRequest
	if err := decodeBody("VerifyJWT", body, &in); err != nil {
		return nil, err
	}
	return verifyJWT(r.Context(), a.Service, &core.VerifyJWTRequest{
		ServiceKey: in.ServiceKey, JWT: in.JWT, Method: in.Method, ClientIP: orEmpty(in.ClientIP)})
}

func (a *OpenAPI) chargeJWT(r *http.Request, body []byte, _ error) (any, error) {
	var in strictChargeJWTRequest
	if err := decodeBody("ChargeJWT", body, &in); err != nil {
		return nil, err
	}
	credits, err := wholeNumber("credits", in.Credits)
	if err != nil {
		return nil, err
	}
	return chargeJWT(r.Context(), a.Service, &core.ChargeJWTRequest{
		ServiceKey: in.ServiceKey, JWT: in.JWT, Method: in.Method, Credits: credits,
		ClientIP: orEmpty(in.ClientIP), RequestID: in.RequestID, ClientAddr: a.ClientAddr(r)})
}

func (a *OpenAPI) revokeJWT(r *http.Request, body []byte, _ error) (any, error) {
	var in strictRevokeJWTRequest
	if err := decodeBody("RevokeJWT", body, &in); err != nil {
		return nil, err
	}
	return revokeJWT(r.Context(), a.Service, &core.RevokeJWTRequest{
		Credentials: a.credentials(r, in.Username, in.Password), JWT: in.JWT, JTI: in.JTI})
}

func (a *OpenAPI) getCreditsRemaining(r *http.Request, body []byte, _ error) (any, error) {
	var in strictAccountCredentials
	if err := decodeBody("GetCreditsRemaining", body, &in); err != nil {
		return nil, err
	}
	return getCreditsRemaining(r.Context(), a.Service, a.credentials(r, in.Username, in.Password))
}

func (a *OpenAPI) getUsage(r *http.Request, body []byte, _ error) (any, error) {
	var in strictGetUsageRequest
	if err := decodeBody("GetUsage", body, &in); err != nil {
		return nil, err
	}
	return getUsage(r.Context(), a.Service, &core.GetUsageRequest{
		Credentials: a.credentials(r, in.Username, in.Password), From: in.From, To: in.To})
}

// credentials are an account's as the request gives them: username and
// password in the body, an API key as ?key= (the document's ApiKeyQuery),
// a token as Authorization: Bearer (bearerAuth). Core decides which the
// operation accepts; the document has already checked the fields, so
// core's refusal of the credentials is the first one either way.
func (a *OpenAPI) credentials(r *http.Request, username, password string) core.Credentials {
	return core.Credentials{Username: username, Password: password, APIKey: edge.Query(r, "key", false),
		Bearer: edge.BearerToken(r), ClientAddr: a.ClientAddr(r)}
}

// decodeBody decodes a body the document has vouched for into v, the
// operation's request struct.
func decodeBody(op string, body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return core.Internal(fmt.Errorf("decoding a %s body the document accepted: %w", op, err))
	}
	return nil
}

// wholeNumber converts an integer the document has vouched for: a whole
// number up to 2^53-1, which JSON may also spell 5.0 or 1e2, so that it
// converts exactly.
func wholeNumber(name string, n json.Number) (int64, error) {
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil {
		return 0, core.Internal(fmt.Errorf("%s %q the document accepted: %w", name, n, err))
	}
	return int64(f), nil
}

func orEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
