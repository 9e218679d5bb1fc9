package core

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Enforcer enforces the tokens issued: VerifyJWT and ChargeJWT for the
// operator's services, RevokeJWT for the accounts that hold them.
type Enforcer struct {
	Auth   *Authenticator
	Keys   *KeyRing
	Tokens TokenStore
	Now    func() time.Time

	ledger ledger
	recs   recCache
}

// MaxRequestIDLen bounds ChargeJWT's requestId.
const MaxRequestIDLen = 128

// VerifyJWTRequest asks whether a token may call a method from an address.
type VerifyJWTRequest struct {
	ServiceKey string
	JWT        string
	Method     string // Service.Method
	ClientIP   string // the address the token is presented from
}

// TokenInfo describes a token that passed every check.
type TokenInfo struct {
	JTI              string
	Username         string
	Account          string
	Application      string
	ExpiresAt        time.Time
	AllowedMethods   []string
	TokenRemaining   *int64 // nil: no limit of its own
	CreditsRemaining int64  // the account balance
}

// VerifyJWT checks a token for a call, read-only: signature (by kid),
// expiry, revocation, method and client IP.
func (e *Enforcer) VerifyJWT(ctx context.Context, req *VerifyJWTRequest) (*TokenInfo, error) {
	if err := e.Auth.serviceKey(ctx, req.ServiceKey); err != nil {
		return nil, err
	}
	method, err := parseMethod(req.Method)
	if err != nil {
		return nil, err
	}
	claims, rec, err := parseToken(ctx, e.Keys, e.Tokens, req.JWT, e.Now().UTC())
	if err != nil {
		return nil, err
	}
	if err := checkUse(rec, method, req.ClientIP); err != nil {
		return nil, err
	}
	return tokenInfo(claims, rec, rec.Remaining(), rec.AccountCredits), nil
}

// tokenInfo describes a token from its claims and record, with its figures.
func tokenInfo(c *Claims, rec *IssuedToken, remaining *int64, balance int64) *TokenInfo {
	return &TokenInfo{
		JTI: rec.JTI, Username: c.Subject, Account: c.Account, Application: rec.Application,
		ExpiresAt: rec.ExpiresAt, AllowedMethods: rec.AllowedMethods,
		TokenRemaining: remaining, CreditsRemaining: balance,
	}
}

// ChargeJWTRequest charges credits for one metered call made with a token.
type ChargeJWTRequest struct {
	ServiceKey string
	JWT        string
	Method     string
	Credits    int64
	ClientIP   string
	RequestID  string // makes the call idempotent: a retry charges nothing more
	ClientAddr string // network address of the calling service
}

// ChargeResult is a successful charge.
type ChargeResult struct {
	TokenInfo
	Replayed bool // the result of an earlier call with the same RequestID
}

// ChargeJWT checks a token as VerifyJWT does, then charges credits against
// both the token's limit and the account balance, atomically, or not at all.
// Every call of an authenticated service is in the usage ledger: under the
// token's account once the token is identified, else under none.
func (e *Enforcer) ChargeJWT(ctx context.Context, req *ChargeJWTRequest) (*ChargeResult, error) {
	if err := e.Auth.serviceKey(ctx, req.ServiceKey); err != nil {
		return nil, err
	}
	now := e.Now().UTC()
	ev := &UsageEvent{Time: now, Method: OpChargeJWT.Method, ClientAddr: req.ClientAddr}
	in, claims, rec, err := e.identifyCharge(ctx, req, now, ev)
	if rec == nil {
		ev.Outcome = OutcomeOf(err)
		e.ledger.record(ctx, ev)
		return nil, err
	}
	// From here one transaction decides and writes the outcome, the ledger
	// line included, whatever it is.
	ev.AccountID, ev.UserID, ev.Application, ev.JTI = &rec.AccountID, &rec.UserID, rec.Application, rec.JTI
	if in.timeRefusal = err; err == nil {
		in.useRefusal = checkUse(rec, in.method, req.ClientIP)
	}
	var d chargeDecision
	err = e.Tokens.ChargeTx(ctx, rec.JTI, in.requestID, func(st ChargeState) (ChargeWrite, error) {
		d = decideCharge(in, st, *ev)
		return d.write, nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, errTokenUnknown
	case err != nil:
		return nil, Internal(err)
	case d.err != nil:
		return nil, d.err
	}
	info := tokenInfo(claims, rec, d.remaining, d.balance)
	return &ChargeResult{TokenInfo: *info, Replayed: d.replayed}, nil
}

// identifyCharge checks the request and finds the token: its signature
// (cached once verified) and its record's fixed part (cached too). A token
// whose signature holds but whose time does not comes back with its record
// and the refusal: a retry of an earlier charge is still answered as it was.
func (e *Enforcer) identifyCharge(ctx context.Context, req *ChargeJWTRequest, now time.Time, ev *UsageEvent) (chargeInput, *Claims, *IssuedToken, error) {
	in := chargeInput{credits: req.Credits}
	var err error
	if in.method, err = parseMethod(req.Method); err != nil {
		return in, nil, nil, err
	}
	ev.Method = in.method
	if req.Credits < 1 || req.Credits > MaxCreditsLimit {
		return in, nil, nil, Errorf(EINVALID, "credits must be at least 1 and at most %d (got %d)", int64(MaxCreditsLimit), req.Credits)
	}
	in.requestID = strings.TrimSpace(req.RequestID)
	if len(in.requestID) > MaxRequestIDLen || !printable(in.requestID) {
		return in, nil, nil, Errorf(EINVALID, "requestId must be at most %d printable characters", MaxRequestIDLen)
	}
	claims, err := e.Keys.verify(ctx, req.JWT, now)
	if claims == nil {
		return in, nil, nil, err
	}
	rec, rerr := e.cachedRecord(ctx, claims.ID, now)
	if rerr != nil {
		return in, nil, nil, cmpOr(err, rerr)
	}
	return in, claims, rec, err
}

// cachedRecord returns a token's record for its fixed fields (owner,
// limits, expiry): cached until the token expires, or read and cached.
// Nothing that changes is ever taken from it.
func (e *Enforcer) cachedRecord(ctx context.Context, jti string, now time.Time) (*IssuedToken, error) {
	if r, ok := e.recs.get(jti, now); ok {
		return r, nil
	}
	r, err := readRecord(ctx, e.Tokens, jti)
	if err != nil {
		return nil, err
	}
	e.recs.put(r)
	return r, nil
}

// RevokeJWTRequest revokes a token, named by the token itself or its jti.
// Without credentials the token itself must be given (and be genuine).
type RevokeJWTRequest struct {
	Credentials
	JWT string
	JTI string
}

// RevokeJWT revokes a token of the caller's account; revoking twice is
// harmless. It returns the revoked token's jti.
func (e *Enforcer) RevokeJWT(ctx context.Context, req *RevokeJWTRequest) (string, error) {
	if err := OpRevokeJWT.Admit(req.Credentials); err != nil {
		return "", err
	}
	jti := strings.TrimSpace(req.JTI)
	token := strings.TrimSpace(req.JWT)
	if jti == "" && token == "" {
		return "", Errorf(EINVALID, "give the jwt to revoke or its jti")
	}
	if !req.Credentials.given() {
		// The token itself: it must be genuine (expired or revoked is fine:
		// revoking it again changes nothing).
		if token == "" {
			return "", Errorf(EUNAUTHORIZED, "to revoke by jti, authenticate as the token's account")
		}
		rec, err := e.genuineRecord(ctx, token, jti)
		if err != nil {
			return "", err
		}
		return rec.JTI, e.revoke(ctx, rec.JTI)
	}
	p, err := e.Auth.authenticate(ctx, OpRevokeJWT, req.Credentials)
	if err != nil {
		return "", err
	}
	if token != "" {
		rec, err := e.genuineRecord(ctx, token, jti)
		if err != nil {
			return "", err
		}
		jti = rec.JTI
	}
	rec, err := e.Tokens.TokenByJTI(ctx, jti)
	if errors.Is(err, ErrNotFound) || (err == nil && rec.AccountID != p.account.ID) {
		return "", Errorf(ENOTFOUND, "no token with this jti in your account")
	} else if err != nil {
		return "", Internal(err)
	}
	return jti, e.revoke(ctx, jti)
}

// genuineRecord checks a token's signature, not its time, and returns its
// record as it stands; jti, when given, must be the token's.
func (e *Enforcer) genuineRecord(ctx context.Context, token, jti string) (*IssuedToken, error) {
	claims, err := e.Keys.verifySignature(ctx, token)
	if err != nil {
		return nil, err
	}
	rec, err := readRecord(ctx, e.Tokens, claims.ID)
	if err != nil {
		return nil, err
	}
	if jti != "" && jti != rec.JTI {
		return nil, Errorf(EINVALID, "jti does not match the jwt")
	}
	return rec, nil
}

func (e *Enforcer) revoke(ctx context.Context, jti string) error {
	err := e.Tokens.RevokeToken(ctx, jti, e.Now().UTC())
	switch {
	case errors.Is(err, ErrNotFound):
		return Errorf(ENOTFOUND, "no token with this jti")
	case err != nil:
		return Internal(err)
	}
	return nil
}
