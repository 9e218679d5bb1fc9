package soap

import (
	"errors"
	"maps"
	"net/http"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
	"github.com/jwtgate/jwtgate/soap/useradminws"
)

// Outcome is how the SOAP surface answers a core code.
type Outcome int

const (
	// BusinessFailure is a normal response whose Status says Success=false.
	BusinessFailure Outcome = iota + 1
	// ServerFault is a soap:Server (1.2: env:Receiver) fault.
	ServerFault
)

// outcomes maps every core code to its SOAP outcome: only internal errors
// are faults; every refusal is an answer the client's generated code reads.
var outcomes = edge.Codes[Outcome]{
	core.EINVALID:      BusinessFailure,
	core.EUNAUTHORIZED: BusinessFailure,
	core.EFORBIDDEN:    BusinessFailure,
	core.ENOCREDITS:    BusinessFailure,
	core.ETHROTTLED:    BusinessFailure,
	core.EBUSY:         BusinessFailure,
	core.ENOTFOUND:     BusinessFailure,
	core.ECONFLICT:     BusinessFailure,
	core.EINTERNAL:     ServerFault,
}

// Outcomes returns (a copy of) the SOAP surface's code table.
func Outcomes() edge.Codes[Outcome] { return maps.Clone(outcomes) }

// operation decodes one operation element, calls core and returns the
// response body element (without the envelope).
type operation func(h *Handler, r *http.Request, env *envelope) ([]byte, error)

var operations = map[*core.Op]operation{
	core.OpGetJWT:              (*Handler).getJWT,
	core.OpVerifyJWT:           (*Handler).verifyJWT,
	core.OpChargeJWT:           (*Handler).chargeJWT,
	core.OpRevokeJWT:           (*Handler).revokeJWT,
	core.OpGetCreditsRemaining: (*Handler).getCreditsRemaining,
	core.OpGetUsage:            (*Handler).getUsage,
}

// respond makes op's response element from its outcome: on success, ok
// writes the result after the Status; a refusal writes a failed Status and
// then fail (the result's other required fields; may be nil); an internal
// error becomes a fault (the error is returned).
func respond(op *core.Op, err error, fail func(*xmlw), ok func(*xmlw)) ([]byte, error) {
	if err != nil {
		var f *faultError
		if errors.As(err, &f) || outcomes.Of(core.ErrorCode(err)) == ServerFault {
			return nil, err
		}
		return result(op.Name, func(w *xmlw) {
			w.status(edge.Failed(core.ErrorMessage(err)))
			if fail != nil {
				fail(w)
			}
		}), nil
	}
	return result(op.Name, ok), nil
}

// getJWTRequest is the generated GetJWT element with two fields shadowed:
// expiresAt is kept as text so that core's one parsing rule applies to every
// protocol, and maxCredits understands xsi:nil.
type getJWTRequest struct {
	useradminws.GetJWT
	ExpiresAt  string      `xml:"expiresAt"`
	MaxCredits nillableInt `xml:"maxCredits"`
}

func (h *Handler) getJWT(r *http.Request, env *envelope) ([]byte, error) {
	var in getJWTRequest
	if err := env.decode(&in); err != nil {
		return nil, err
	}
	req := &core.GetJWTRequest{
		Credentials: core.Credentials{Username: in.Username, Password: in.Password, ClientAddr: h.ClientAddr(r)},
		ClientIP:    in.ClientIp,
		ExpiresAt:   in.ExpiresAt,
		MaxCredits:  in.MaxCredits.v,
	}
	if f := in.MaxCredits.err; f != nil {
		// Still a GetJWT, for core to record; answered with the fault.
		req.Malformed = &core.Error{Code: core.EINVALID, Message: f.message, Err: f}
	}
	if in.AllowedMethods != nil {
		for _, m := range in.AllowedMethods.Astring {
			if m == nil {
				req.AllowedMethods = append(req.AllowedMethods, "")
				continue
			}
			req.AllowedMethods = append(req.AllowedMethods, *m)
		}
	}
	if in.Options != nil {
		for _, o := range in.Options.Option {
			if o != nil {
				req.Options = append(req.Options, core.Option{Name: o.Name, Value: o.Value})
			}
		}
	}
	res, err := h.Service.Issuer.GetJWT(r.Context(), req)
	return respond(core.OpGetJWT, err, nil, func(w *xmlw) {
		w.status(edge.Succeeded(res.CreditsRemaining))
		w.text("Jwt", res.JWT)
	})
}

// chargeJWTRequest shadows credits so that a bad value is a fault naming it.
type chargeJWTRequest struct {
	useradminws.ChargeJWT
	Credits xsdLong `xml:"credits"`
}

func (h *Handler) verifyJWT(r *http.Request, env *envelope) ([]byte, error) {
	var in useradminws.VerifyJWT
	if err := env.decode(&in); err != nil {
		return nil, err
	}
	info, err := h.Service.Enforcer.VerifyJWT(r.Context(), &core.VerifyJWTRequest{
		ServiceKey: in.ServiceKey, JWT: in.Jwt, Method: in.Method, ClientIP: in.ClientIp})
	return respond(core.OpVerifyJWT, err, func(w *xmlw) {
		var none core.TokenInfo
		w.nillableTime("ExpiresAt", none.ExpiresAt)
		w.nillableLong("TokenCreditsRemaining", nil)
	}, func(w *xmlw) {
		w.status(edge.Succeeded(info.CreditsRemaining))
		w.optText("Username", info.Username)
		w.optText("Account", info.Account)
		w.optText("Application", info.Application)
		w.nillableTime("ExpiresAt", info.ExpiresAt)
		w.strings("AllowedMethods", info.AllowedMethods)
		w.nillableLong("TokenCreditsRemaining", info.TokenRemaining)
	})
}

func (h *Handler) chargeJWT(r *http.Request, env *envelope) ([]byte, error) {
	var in chargeJWTRequest
	if err := env.decode(&in); err != nil {
		return nil, err
	}
	if in.Credits.err != nil {
		return nil, in.Credits.err
	}
	credits := int64(0)
	if in.Credits.v != nil {
		credits = *in.Credits.v
	}
	res, err := h.Service.Enforcer.ChargeJWT(r.Context(), &core.ChargeJWTRequest{
		ServiceKey: in.ServiceKey, JWT: in.Jwt, Method: in.Method, Credits: credits,
		ClientIP: in.ClientIp, RequestID: in.RequestId, ClientAddr: h.ClientAddr(r)})
	return respond(core.OpChargeJWT, err, func(w *xmlw) {
		w.nillableLong("TokenCreditsRemaining", nil)
		w.boolean("Replayed", false)
	}, func(w *xmlw) {
		w.status(edge.Succeeded(res.CreditsRemaining))
		w.nillableLong("TokenCreditsRemaining", res.TokenRemaining)
		w.boolean("Replayed", res.Replayed)
	})
}

// credentials are the username and password of the request: the SOAP
// contract has no other way to give an account's credentials.
func (h *Handler) credentials(r *http.Request, username, password string) core.Credentials {
	return core.Credentials{Username: username, Password: password, ClientAddr: h.ClientAddr(r)}
}

func (h *Handler) revokeJWT(r *http.Request, env *envelope) ([]byte, error) {
	var in useradminws.RevokeJWT
	if err := env.decode(&in); err != nil {
		return nil, err
	}
	jti, err := h.Service.Enforcer.RevokeJWT(r.Context(), &core.RevokeJWTRequest{
		Credentials: h.credentials(r, in.Username, in.Password), JWT: in.Jwt, JTI: in.Jti})
	return respond(core.OpRevokeJWT, err, nil, func(w *xmlw) {
		w.status(edge.Succeeded(0))
		w.text("Jti", jti)
	})
}

func (h *Handler) getCreditsRemaining(r *http.Request, env *envelope) ([]byte, error) {
	var in useradminws.GetCreditsRemaining
	if err := env.decode(&in); err != nil {
		return nil, err
	}
	bal, err := h.Service.Accounts.GetCreditsRemaining(r.Context(), h.credentials(r, in.Username, in.Password))
	return respond(core.OpGetCreditsRemaining, err, nil, func(w *xmlw) {
		w.status(edge.Succeeded(bal))
	})
}

func (h *Handler) getUsage(r *http.Request, env *envelope) ([]byte, error) {
	var in useradminws.GetUsage
	if err := env.decode(&in); err != nil {
		return nil, err
	}
	rows, bal, err := h.Service.Accounts.GetUsage(r.Context(), &core.GetUsageRequest{
		Credentials: h.credentials(r, in.Username, in.Password), From: in.From, To: in.To})
	return respond(core.OpGetUsage, err, nil, func(w *xmlw) {
		w.status(edge.Succeeded(bal))
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
	})
}
