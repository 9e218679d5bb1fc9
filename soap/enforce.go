package soap

import (
	"net/http"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/soap/useradminws"
)

// chargeJWTRequest shadows credits so that a bad value is a fault naming it.
type chargeJWTRequest struct {
	useradminws.ChargeJWT
	Credits xsdLong `xml:"credits"`
}

// businessFailure reports whether err is answered with Success=false (as
// opposed to a Server fault).
func businessFailure(err error) bool { return err != nil && core.ErrorCode(err) != core.EINTERNAL }

func (h *Handler) verifyJWT(r *http.Request, env *envelope) ([]byte, error) {
	var in useradminws.VerifyJWT
	if err := env.decode(&in); err != nil {
		return nil, err
	}
	info, err := h.Service.VerifyJWT(r.Context(), &core.VerifyJWTRequest{
		ServiceKey: in.ServiceKey, JWT: in.Jwt, Method: in.Method, ClientIP: in.ClientIp})
	if err != nil && !businessFailure(err) {
		return nil, err
	}
	return result("VerifyJWT", func(w *xmlw) {
		if err != nil {
			w.status(false, core.ErrorMessage(err), 0)
			w.nillableTime("ExpiresAt", info0.ExpiresAt)
			w.nillableLong("TokenCreditsRemaining", nil)
			return
		}
		w.status(true, "", info.CreditsRemaining)
		w.optText("Username", info.Username)
		w.optText("Account", info.Account)
		w.optText("Application", info.Application)
		w.nillableTime("ExpiresAt", info.ExpiresAt)
		w.strings("AllowedMethods", info.AllowedMethods)
		w.nillableLong("TokenCreditsRemaining", info.TokenRemaining)
	}), nil
}

// info0 is the zero token info a failure reports.
var info0 core.TokenInfo

func (h *Handler) chargeJWT(r *http.Request, env *envelope) ([]byte, error) {
	var in chargeJWTRequest
	if err := env.decode(&in); err != nil {
		return nil, err
	}
	credits := int64(0)
	if in.Credits.v != nil {
		credits = *in.Credits.v
	}
	res, err := h.Service.ChargeJWT(r.Context(), &core.ChargeJWTRequest{
		ServiceKey: in.ServiceKey, JWT: in.Jwt, Method: in.Method, Credits: credits,
		ClientIP: in.ClientIp, RequestID: in.RequestId, ClientAddr: h.ClientAddr(r)})
	if err != nil && !businessFailure(err) {
		return nil, err
	}
	return result("ChargeJWT", func(w *xmlw) {
		if err != nil {
			w.status(false, core.ErrorMessage(err), 0)
			w.nillableLong("TokenCreditsRemaining", nil)
			w.boolean("Replayed", false)
			return
		}
		w.status(true, "", res.CreditsRemaining)
		w.nillableLong("TokenCreditsRemaining", res.TokenRemaining)
		w.boolean("Replayed", res.Replayed)
	}), nil
}

func (h *Handler) revokeJWT(r *http.Request, env *envelope) ([]byte, error) {
	var in useradminws.RevokeJWT
	if err := env.decode(&in); err != nil {
		return nil, err
	}
	jti, err := h.Service.RevokeJWT(r.Context(), &core.RevokeJWTRequest{
		Credentials: core.Credentials{Username: in.Username, Password: in.Password, ClientAddr: h.ClientAddr(r)},
		JWT:         in.Jwt, JTI: in.Jti})
	if err != nil && !businessFailure(err) {
		return nil, err
	}
	return result("RevokeJWT", func(w *xmlw) {
		if err != nil {
			w.status(false, core.ErrorMessage(err), 0)
			return
		}
		w.status(true, "", 0)
		w.text("Jti", jti)
	}), nil
}

func (h *Handler) getCreditsRemaining(r *http.Request, env *envelope) ([]byte, error) {
	var in useradminws.GetCreditsRemaining
	if err := env.decode(&in); err != nil {
		return nil, err
	}
	bal, err := h.Service.GetCreditsRemaining(r.Context(), core.Credentials{Username: in.Username, Password: in.Password, ClientAddr: h.ClientAddr(r)})
	if err != nil && !businessFailure(err) {
		return nil, err
	}
	return result("GetCreditsRemaining", func(w *xmlw) {
		if err != nil {
			w.status(false, core.ErrorMessage(err), 0)
			return
		}
		w.status(true, "", bal)
	}), nil
}

func (h *Handler) getUsage(r *http.Request, env *envelope) ([]byte, error) {
	var in useradminws.GetUsage
	if err := env.decode(&in); err != nil {
		return nil, err
	}
	rows, bal, err := h.Service.GetUsage(r.Context(), &core.GetUsageRequest{
		Credentials: core.Credentials{Username: in.Username, Password: in.Password, ClientAddr: h.ClientAddr(r)},
		From:        in.From, To: in.To})
	if err != nil && !businessFailure(err) {
		return nil, err
	}
	return result("GetUsage", func(w *xmlw) {
		if err != nil {
			w.status(false, core.ErrorMessage(err), 0)
			return
		}
		w.status(true, "", bal)
		w.open("Usage")
		for _, u := range rows {
			w.open("UsageRow")
			w.text("Day", u.Day)
			w.optText("Application", u.Application)
			w.text("Method", u.Method)
			w.long("Calls", u.Calls)
			w.long("Failures", u.Failures)
			w.long("Credits", u.Credits)
			w.close("UsageRow")
		}
		w.close("Usage")
	}), nil
}
