package jsonapi

import (
	"encoding/json"
	"net/http"

	"github.com/jwtgate/jwtgate/core"
)

// The enforcement operations of the strict surface. Each request struct is
// its schema in openapi.yaml, decoded only after the document has vouched
// for the body; core checks every rule again. The semantics are the plain
// endpoints' (plain_enforce.go), the results the shared ones (results.go).

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

func (a *API) verifyJWT(r *http.Request, body []byte) (any, error) {
	var in strictVerifyJWTRequest
	if err := decodeBody("VerifyJWT", body, &in); err != nil {
		return nil, err
	}
	info, err := a.Service.VerifyJWT(r.Context(), &core.VerifyJWTRequest{
		ServiceKey: in.ServiceKey, JWT: in.JWT, Method: in.Method, ClientIP: orEmpty(in.ClientIP)})
	if err != nil {
		return nil, err
	}
	return verifyJWTResponse(info), nil
}

func (a *API) chargeJWT(r *http.Request, body []byte) (any, error) {
	var in strictChargeJWTRequest
	if err := decodeBody("ChargeJWT", body, &in); err != nil {
		return nil, err
	}
	credits, err := wholeNumber("credits", in.Credits)
	if err != nil {
		return nil, err
	}
	res, err := a.Service.ChargeJWT(r.Context(), &core.ChargeJWTRequest{
		ServiceKey: in.ServiceKey, JWT: in.JWT, Method: in.Method, Credits: credits,
		ClientIP: orEmpty(in.ClientIP), RequestID: in.RequestID, ClientAddr: a.ClientAddr(r)})
	if err != nil {
		return nil, err
	}
	return chargeJWTResponse(res), nil
}

func (a *API) revokeJWT(r *http.Request, body []byte) (any, error) {
	var in strictRevokeJWTRequest
	if err := decodeBody("RevokeJWT", body, &in); err != nil {
		return nil, err
	}
	c, err := a.credentials(r, in.Username, in.Password)
	if err != nil {
		return nil, err
	}
	jti, err := a.Service.RevokeJWT(r.Context(), &core.RevokeJWTRequest{Credentials: c, JWT: in.JWT, JTI: in.JTI})
	if err != nil {
		return nil, err
	}
	return RevokeJWTResponse{Status: success(0), Jti: &jti}, nil
}

func (a *API) getCreditsRemaining(r *http.Request, body []byte) (any, error) {
	var in strictAccountCredentials
	if err := decodeBody("GetCreditsRemaining", body, &in); err != nil {
		return nil, err
	}
	c, err := a.credentials(r, in.Username, in.Password)
	if err != nil {
		return nil, err
	}
	bal, err := a.Service.GetCreditsRemaining(r.Context(), c)
	if err != nil {
		return nil, err
	}
	return StatusResponse{Status: success(bal)}, nil
}

func (a *API) getUsage(r *http.Request, body []byte) (any, error) {
	var in strictGetUsageRequest
	if err := decodeBody("GetUsage", body, &in); err != nil {
		return nil, err
	}
	c, err := a.credentials(r, in.Username, in.Password)
	if err != nil {
		return nil, err
	}
	rows, bal, err := a.Service.GetUsage(r.Context(), &core.GetUsageRequest{Credentials: c, From: in.From, To: in.To})
	if err != nil {
		return nil, err
	}
	return getUsageResponse(rows, bal), nil
}

// credentials are an account's, given one way only: username and password
// in the body, an API key as ?key= (the document's ApiKeyQuery), or a token
// as Authorization: Bearer (bearerAuth), which core checks allows the
// operation.
func (a *API) credentials(r *http.Request, username, password string) (core.Credentials, error) {
	c := core.Credentials{Username: username, Password: password, APIKey: r.URL.Query().Get("key"), Bearer: bearerToken(r), ClientAddr: a.ClientAddr(r)}
	return c, validateCredentials(c)
}

func orEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
