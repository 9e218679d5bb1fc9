package jsonapi

import (
	"net/http"
	"strings"

	"github.com/jwtgate/jwtgate/core"
)

// bearerToken returns the token of an "Authorization: Bearer <jwt>" header.
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// strs reads several optional string properties.
func (o object) strs(names ...string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		var err error
		if out[i], err = o.str(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// credentials reads an account's credentials: username and password, an
// API key (as apikey-KEY or ?key=), or a bearer token.
func (h *Handler) credentials(r *http.Request, o object) (core.Credentials, error) {
	v, err := o.strs("username", "password")
	if err != nil {
		return core.Credentials{}, err
	}
	c := core.Credentials{Username: v[0], Password: v[1], APIKey: queryFold(r.URL.Query(), "key"), Bearer: bearerToken(r), ClientAddr: h.ClientAddr(r)}
	// Core checks it again; here, so that it comes before the other fields.
	return c, c.Validate()
}

func (h *Handler) verifyJWT(r *http.Request, o object) (any, error) {
	v, err := o.strs("serviceKey", "jwt", "method", "clientIp")
	if err != nil {
		return nil, err
	}
	info, err := h.Service.VerifyJWT(r.Context(), &core.VerifyJWTRequest{ServiceKey: v[0], JWT: v[1], Method: v[2], ClientIP: v[3]})
	if err != nil {
		return nil, err
	}
	return verifyJWTResponse(info), nil
}

func (h *Handler) chargeJWT(r *http.Request, o object) (any, error) {
	v, err := o.strs("serviceKey", "jwt", "method", "clientIp", "requestId")
	if err != nil {
		return nil, err
	}
	credits, err := o.int("credits")
	if err != nil {
		return nil, err
	}
	req := &core.ChargeJWTRequest{ServiceKey: v[0], JWT: v[1], Method: v[2], ClientIP: v[3], RequestID: v[4], ClientAddr: h.ClientAddr(r)}
	if credits != nil {
		req.Credits = *credits
	}
	res, err := h.Service.ChargeJWT(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return chargeJWTResponse(res), nil
}

func (h *Handler) revokeJWT(r *http.Request, o object) (any, error) {
	c, err := h.credentials(r, o)
	if err != nil {
		return nil, err
	}
	v, err := o.strs("jwt", "jti")
	if err != nil {
		return nil, err
	}
	jti, err := h.Service.RevokeJWT(r.Context(), &core.RevokeJWTRequest{Credentials: c, JWT: v[0], JTI: v[1]})
	if err != nil {
		return nil, err
	}
	return RevokeJWTResponse{Status: success(0), Jti: &jti}, nil
}

func (h *Handler) getCreditsRemaining(r *http.Request, o object) (any, error) {
	c, err := h.credentials(r, o)
	if err != nil {
		return nil, err
	}
	bal, err := h.Service.GetCreditsRemaining(r.Context(), c)
	if err != nil {
		return nil, err
	}
	return StatusResponse{Status: success(bal)}, nil
}

func (h *Handler) getUsage(r *http.Request, o object) (any, error) {
	c, err := h.credentials(r, o)
	if err != nil {
		return nil, err
	}
	v, err := o.strs("from", "to")
	if err != nil {
		return nil, err
	}
	rows, bal, err := h.Service.GetUsage(r.Context(), &core.GetUsageRequest{Credentials: c, From: v[0], To: v[1]})
	if err != nil {
		return nil, err
	}
	return getUsageResponse(rows, bal), nil
}
