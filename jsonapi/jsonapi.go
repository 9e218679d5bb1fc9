// Package jsonapi serves jwtgate's UserAdmin operations over JSON, two ways:
//
//   - Plain, the lenient endpoints /UserAdmin/<Operation>.json of the
//     reference platform: property names in any letter case, unknown ones
//     ignored, business failures answered HTTP 200 with Success=false;
//   - OpenAPI, the strict surface under /api/v1 described by openapi.yaml:
//     every request validated by kin-openapi before core, meaningful HTTP
//     statuses.
//
// Both decode into core's requests, call the same core operation (the calls
// below) and encode the same results; each keeps its own decoding and its
// own table from core's codes to HTTP statuses.
package jsonapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
)

// The results of the operations, shared by both surfaces. Each starts with
// Status; on failure the other fields are null (or false), never omitted, so
// that every client sees one shape.

// GetJWTResponse is the body of a GetJWT answer: Status then Jwt.
type GetJWTResponse struct {
	Status edge.Status `json:"Status"`
	Jwt    *string     `json:"Jwt"`
}

// StatusResponse is GetCreditsRemaining's result: the balance is
// Status.CreditsRemaining.
type StatusResponse struct {
	Status edge.Status `json:"Status"`
}

// VerifyJWTResponse describes a token that passed every check.
type VerifyJWTResponse struct {
	Status                edge.Status `json:"Status"`
	Username              *string     `json:"Username"`
	Account               *string     `json:"Account"`
	Application           *string     `json:"Application"`
	ExpiresAt             *string     `json:"ExpiresAt"` // RFC 3339, UTC
	AllowedMethods        []string    `json:"AllowedMethods"`
	TokenCreditsRemaining *int64      `json:"TokenCreditsRemaining"` // null: no limit of its own
}

// ChargeJWTResponse is a charge: Status.CreditsRemaining is the account
// balance after it.
type ChargeJWTResponse struct {
	Status                edge.Status `json:"Status"`
	TokenCreditsRemaining *int64      `json:"TokenCreditsRemaining"`
	Replayed              bool        `json:"Replayed"`
}

// RevokeJWTResponse names the revoked token.
type RevokeJWTResponse struct {
	Status edge.Status `json:"Status"`
	Jti    *string     `json:"Jti"`
}

// GetUsageResponse is the account's usage by day, application and method.
type GetUsageResponse struct {
	Status edge.Status `json:"Status"`
	Usage  []UsageRow  `json:"Usage"`
}

// UsageRow is one line of GetUsage.
type UsageRow struct {
	Day         string `json:"Day"` // YYYY-MM-DD, UTC
	Application string `json:"Application"`
	Method      string `json:"Method"`
	Calls       int64  `json:"Calls"`
	Failures    int64  `json:"Failures"`
	Credits     int64  `json:"Credits"`
}

// failures gives each operation's result for a failure: its Status, and
// null for every other field. Both surfaces check at Mount that it has
// every operation.
var failures = map[*core.Op]func(edge.Status) any{
	core.OpGetJWT:              func(st edge.Status) any { return GetJWTResponse{Status: st} },
	core.OpVerifyJWT:           func(st edge.Status) any { return VerifyJWTResponse{Status: st} },
	core.OpChargeJWT:           func(st edge.Status) any { return ChargeJWTResponse{Status: st} },
	core.OpRevokeJWT:           func(st edge.Status) any { return RevokeJWTResponse{Status: st} },
	core.OpGetCreditsRemaining: func(st edge.Status) any { return StatusResponse{Status: st} },
	core.OpGetUsage:            func(st edge.Status) any { return GetUsageResponse{Status: st} },
}

// failure returns op's result for a failure saying msg; outside the
// operations (op nil) the bare envelope.
func failure(op *core.Op, msg string) any {
	if f, ok := failures[op]; ok {
		return f(edge.Failed(msg))
	}
	return StatusResponse{Status: edge.Failed(msg)}
}

// The calls of core's operations and the encoding of their results, shared
// by both surfaces: each surface decodes its own way into a core request.

func getJWT(ctx context.Context, svc *core.Service, req *core.GetJWTRequest) (any, error) {
	res, err := svc.Issuer.GetJWT(ctx, req)
	if err != nil {
		return nil, err
	}
	return GetJWTResponse{Status: edge.Succeeded(res.CreditsRemaining), Jwt: &res.JWT}, nil
}

func verifyJWT(ctx context.Context, svc *core.Service, req *core.VerifyJWTRequest) (any, error) {
	info, err := svc.Enforcer.VerifyJWT(ctx, req)
	if err != nil {
		return nil, err
	}
	exp := info.ExpiresAt.UTC().Format(time.RFC3339)
	methods := info.AllowedMethods
	if methods == nil {
		methods = []string{}
	}
	return VerifyJWTResponse{
		Status: edge.Succeeded(info.CreditsRemaining), Username: &info.Username, Account: &info.Account,
		Application: &info.Application, ExpiresAt: &exp, AllowedMethods: methods,
		TokenCreditsRemaining: info.TokenRemaining,
	}, nil
}

func chargeJWT(ctx context.Context, svc *core.Service, req *core.ChargeJWTRequest) (any, error) {
	res, err := svc.Enforcer.ChargeJWT(ctx, req)
	if err != nil {
		return nil, err
	}
	return ChargeJWTResponse{Status: edge.Succeeded(res.CreditsRemaining), TokenCreditsRemaining: res.TokenRemaining, Replayed: res.Replayed}, nil
}

func revokeJWT(ctx context.Context, svc *core.Service, req *core.RevokeJWTRequest) (any, error) {
	jti, err := svc.Enforcer.RevokeJWT(ctx, req)
	if err != nil {
		return nil, err
	}
	return RevokeJWTResponse{Status: edge.Succeeded(0), Jti: &jti}, nil
}

func getCreditsRemaining(ctx context.Context, svc *core.Service, c core.Credentials) (any, error) {
	bal, err := svc.Accounts.GetCreditsRemaining(ctx, c)
	if err != nil {
		return nil, err
	}
	return StatusResponse{Status: edge.Succeeded(bal)}, nil
}

func getUsage(ctx context.Context, svc *core.Service, req *core.GetUsageRequest) (any, error) {
	rows, bal, err := svc.Accounts.GetUsage(ctx, req)
	if err != nil {
		return nil, err
	}
	out := GetUsageResponse{Status: edge.Succeeded(bal), Usage: make([]UsageRow, 0, len(rows))}
	for _, r := range rows {
		out.Usage = append(out.Usage, UsageRow{Day: r.Day, Application: r.Application, Method: r.Method,
			Calls: r.Calls, Failures: r.Failures, Credits: r.Credits})
	}
	return out, nil
}

// encode renders an answer body.
func encode(v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(body, '\n'), nil
}

// setHeaders sets the headers of every JSON answer.
func setHeaders(h http.Header) {
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}
