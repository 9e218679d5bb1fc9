package soap

import (
	"net/http"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/soap/useradminws"
)

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
		Username:   in.Username,
		Password:   in.Password,
		ClientIP:   in.ClientIp,
		ExpiresAt:  in.ExpiresAt,
		MaxCredits: in.MaxCredits.v,
		ClientAddr: h.ClientAddr(r),
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
	res, err := h.Service.GetJWT(r.Context(), req)
	if core.ErrorCode(err) == core.EINTERNAL {
		return nil, err
	}
	return result("GetJWT", func(w *xmlw) {
		if err != nil {
			w.status(false, core.ErrorMessage(err), 0)
			return
		}
		w.status(true, "", res.CreditsRemaining)
		w.text("Jwt", res.JWT)
	}), nil
}
