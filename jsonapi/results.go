package jsonapi

import (
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// The results of the enforcement operations, shared by the plain and the
// strict surface. Each starts with Status; on failure the other fields are
// null (or false), never omitted, so that every client sees one shape.

// StatusResponse is GetCreditsRemaining's result: the balance is
// Status.CreditsRemaining.
type StatusResponse struct {
	Status Status `json:"Status"`
}

// VerifyJWTResponse describes a token that passed every check.
type VerifyJWTResponse struct {
	Status                Status   `json:"Status"`
	Username              *string  `json:"Username"`
	Account               *string  `json:"Account"`
	Application           *string  `json:"Application"`
	ExpiresAt             *string  `json:"ExpiresAt"` // RFC 3339, UTC
	AllowedMethods        []string `json:"AllowedMethods"`
	TokenCreditsRemaining *int64   `json:"TokenCreditsRemaining"` // null: no limit of its own
}

// ChargeJWTResponse is a charge: Status.CreditsRemaining is the account
// balance after it.
type ChargeJWTResponse struct {
	Status                Status `json:"Status"`
	TokenCreditsRemaining *int64 `json:"TokenCreditsRemaining"`
	Replayed              bool   `json:"Replayed"`
}

// RevokeJWTResponse names the revoked token.
type RevokeJWTResponse struct {
	Status Status  `json:"Status"`
	Jti    *string `json:"Jti"`
}

// GetUsageResponse is the account's usage by day, application and method.
type GetUsageResponse struct {
	Status Status     `json:"Status"`
	Usage  []UsageRow `json:"Usage"`
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

func success(credits int64) Status { return Status{Success: true, CreditsRemaining: float64(credits)} }

func verifyJWTResponse(info *core.TokenInfo) VerifyJWTResponse {
	exp := info.ExpiresAt.UTC().Format(time.RFC3339)
	methods := info.AllowedMethods
	if methods == nil {
		methods = []string{}
	}
	return VerifyJWTResponse{
		Status: success(info.CreditsRemaining), Username: &info.Username, Account: &info.Account,
		Application: &info.Application, ExpiresAt: &exp, AllowedMethods: methods,
		TokenCreditsRemaining: info.TokenRemaining,
	}
}

func chargeJWTResponse(res *core.ChargeResult) ChargeJWTResponse {
	return ChargeJWTResponse{Status: success(res.CreditsRemaining), TokenCreditsRemaining: res.TokenRemaining, Replayed: res.Replayed}
}

func getUsageResponse(rows []*core.UsageRow, balance int64) GetUsageResponse {
	out := GetUsageResponse{Status: success(balance), Usage: make([]UsageRow, 0, len(rows))}
	for _, r := range rows {
		out.Usage = append(out.Usage, UsageRow{Day: r.Day, Application: r.Application, Method: r.Method,
			Calls: r.Calls, Failures: r.Failures, Credits: r.Credits})
	}
	return out
}

// failureBody returns the result of operation op for a failure: its
// Status, and null for every other field.
func failureBody(op, msg string) any {
	st := failure(msg)
	switch op {
	case "GetJWT":
		return GetJWTResponse{Status: st}
	case "VerifyJWT":
		return VerifyJWTResponse{Status: st}
	case "ChargeJWT":
		return ChargeJWTResponse{Status: st}
	case "RevokeJWT":
		return RevokeJWTResponse{Status: st}
	case "GetUsage":
		return GetUsageResponse{Status: st}
	}
	return StatusResponse{Status: st}
}
