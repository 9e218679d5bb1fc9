package jsonapi

import (
	"errors"
	"fmt"
	"maps"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/edge"
)

// Plain serves the lenient plain JSON endpoints: POST
// /UserAdmin/<Operation>.json, the path matched case-insensitively, as the
// reference platform does.
type Plain struct {
	edge.Deps
}

var _ edge.Surface = (*Plain)(nil)

// plainStatuses maps each core code to the HTTP status of the plain
// endpoints: business failures are 200 with Success=false; only server
// faults are not.
var plainStatuses = edge.Codes[int]{
	core.EINVALID:      http.StatusOK,
	core.EUNAUTHORIZED: http.StatusOK,
	core.EFORBIDDEN:    http.StatusOK,
	core.ENOCREDITS:    http.StatusOK,
	core.ETHROTTLED:    http.StatusOK,
	core.EBUSY:         http.StatusOK,
	core.ENOTFOUND:     http.StatusOK,
	core.ECONFLICT:     http.StatusOK,
	core.EINTERNAL:     http.StatusInternalServerError,
}

// PlainStatuses returns (a copy of) the plain surface's code table.
func PlainStatuses() edge.Codes[int] { return maps.Clone(plainStatuses) }

// PlainPath is the path of an operation on the plain surface.
func PlainPath(op *core.Op) string { return "/" + core.ServiceUserAdmin + "/" + op.Name + ".json" }

// plainCall decodes a lenient body for one operation, calls core and
// returns the result. shape is why the body is not an object of the right
// shape (nil when it is): the operation decides what that means.
type plainCall func(p *Plain, r *http.Request, o object, shape error) (any, error)

var plainOps = map[*core.Op]plainCall{
	core.OpGetJWT:              (*Plain).getJWT,
	core.OpVerifyJWT:           (*Plain).verifyJWT,
	core.OpChargeJWT:           (*Plain).chargeJWT,
	core.OpRevokeJWT:           (*Plain).revokeJWT,
	core.OpGetCreditsRemaining: (*Plain).getCreditsRemaining,
	core.OpGetUsage:            (*Plain).getUsage,
}

// Mount registers one route per operation.
func (p *Plain) Mount(r *mux.Router) error {
	if err := errors.Join(p.Deps.Check(), plainStatuses.Check()); err != nil {
		return fmt.Errorf("plain JSON surface: %w", err)
	}
	for _, op := range core.Ops() {
		call, ok := plainOps[op]
		if !ok || failures[op] == nil {
			return fmt.Errorf("plain JSON surface: operation %s has no handler", op.Name)
		}
		r.MatcherFunc(edge.PathFold(PlainPath(op))).Handler(p.serve(op, call))
	}
	return nil
}

func (p *Plain) serve(op *core.Op, call plainCall) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			p.write(w, http.StatusMethodNotAllowed, failure(op, "use POST with a JSON body"))
			return
		}
		body, err := edge.ReadBody(w, r)
		switch {
		case errors.Is(err, edge.ErrTooLarge):
			p.write(w, http.StatusRequestEntityTooLarge, failure(op, err.Error()))
			return
		case err != nil:
			p.write(w, http.StatusBadRequest, failure(op, err.Error()))
			return
		}
		// Only a body that is not JSON at all gets a 4xx; valid JSON of the
		// wrong shape is a business failure, for the operation to answer.
		obj, shape := decodeObject(body)
		var notJSON *notJSONError
		if errors.As(shape, &notJSON) {
			p.write(w, http.StatusBadRequest, failure(op, notJSON.msg))
			return
		}
		res, err := call(p, r, obj, shape)
		if err != nil {
			edge.LogFailure(p.Logger, r, op.Name, err)
			edge.RetryAfter(w, err)
			p.write(w, plainStatuses.Of(core.ErrorCode(err)), failure(op, core.ErrorMessage(err)))
			return
		}
		p.write(w, http.StatusOK, res)
	}
}

func (p *Plain) write(w http.ResponseWriter, status int, v any) {
	body, err := encode(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setHeaders(w.Header())
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the client went away
}

// credentials reads an account's credentials: username and password from
// the body, an API key as ?key= (in any letter case), a bearer token from
// the Authorization header. Core decides which it accepts.
func (p *Plain) credentials(r *http.Request, o object) (core.Credentials, error) {
	c := core.Credentials{APIKey: edge.Query(r, "key", true), Bearer: edge.BearerToken(r), ClientAddr: p.ClientAddr(r)}
	var err error
	if c.Username, err = o.str("username"); err != nil {
		return c, err
	}
	c.Password, err = o.str("password")
	return c, err
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

// getJWT passes whatever the body could not give as the request's
// Malformed: core records such a refusal like any other GetJWT.
func (p *Plain) getJWT(r *http.Request, o object, shape error) (any, error) {
	c, err := p.credentials(r, o)
	req := &core.GetJWTRequest{Credentials: c, Malformed: cmpOr(shape, err)}
	if req.Malformed == nil {
		req.Malformed = getJWTFields(o, req)
	} else {
		req.Options, _ = o.options("options") // for the ledger, when readable
	}
	return getJWT(r.Context(), p.Service, req)
}

// getJWTFields reads GetJWT's other fields into req.
func getJWTFields(o object, req *core.GetJWTRequest) error {
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{{"clientIp", &req.ClientIP}, {"expiresAt", &req.ExpiresAt}} {
		if *f.dst, err = o.str(f.name); err != nil {
			break
		}
	}
	if err == nil {
		req.AllowedMethods, err = o.strings("allowedMethods")
	}
	if err == nil {
		req.MaxCredits, err = o.int("maxCredits")
	}
	opts, oerr := o.options("options")
	req.Options = opts
	return cmpOr(err, oerr)
}

func (p *Plain) verifyJWT(r *http.Request, o object, shape error) (any, error) {
	if shape != nil {
		return nil, shape
	}
	v, err := o.strs("serviceKey", "jwt", "method", "clientIp")
	if err != nil {
		return nil, err
	}
	return verifyJWT(r.Context(), p.Service, &core.VerifyJWTRequest{ServiceKey: v[0], JWT: v[1], Method: v[2], ClientIP: v[3]})
}

func (p *Plain) chargeJWT(r *http.Request, o object, shape error) (any, error) {
	if shape != nil {
		return nil, shape
	}
	v, err := o.strs("serviceKey", "jwt", "method", "clientIp", "requestId")
	if err != nil {
		return nil, err
	}
	credits, err := o.int("credits")
	if err != nil {
		return nil, err
	}
	req := &core.ChargeJWTRequest{ServiceKey: v[0], JWT: v[1], Method: v[2], ClientIP: v[3], RequestID: v[4], ClientAddr: p.ClientAddr(r)}
	if credits != nil {
		req.Credits = *credits
	}
	return chargeJWT(r.Context(), p.Service, req)
}

func (p *Plain) revokeJWT(r *http.Request, o object, shape error) (any, error) {
	c, err := p.accountCredentials(r, core.OpRevokeJWT, o, shape)
	if err != nil {
		return nil, err
	}
	v, err := o.strs("jwt", "jti")
	if err != nil {
		return nil, err
	}
	return revokeJWT(r.Context(), p.Service, &core.RevokeJWTRequest{Credentials: c, JWT: v[0], JTI: v[1]})
}

func (p *Plain) getCreditsRemaining(r *http.Request, o object, shape error) (any, error) {
	c, err := p.accountCredentials(r, core.OpGetCreditsRemaining, o, shape)
	if err != nil {
		return nil, err
	}
	return getCreditsRemaining(r.Context(), p.Service, c)
}

func (p *Plain) getUsage(r *http.Request, o object, shape error) (any, error) {
	c, err := p.accountCredentials(r, core.OpGetUsage, o, shape)
	if err != nil {
		return nil, err
	}
	v, err := o.strs("from", "to")
	if err != nil {
		return nil, err
	}
	return getUsage(r.Context(), p.Service, &core.GetUsageRequest{Credentials: c, From: v[0], To: v[1]})
}

// accountCredentials reads the credentials of an account operation and
// applies the operation's rules on them (core's Op.Admit) before the other
// fields are read, so that a refusal of the credentials comes first, as on
// every surface.
func (p *Plain) accountCredentials(r *http.Request, op *core.Op, o object, shape error) (core.Credentials, error) {
	if shape != nil {
		return core.Credentials{}, shape
	}
	c, err := p.credentials(r, o)
	if err != nil {
		return c, err
	}
	return c, op.Admit(c)
}

// cmpOr returns err, or alt when err is nil.
func cmpOr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}
