package core

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"
)

// Operation names, as the usage ledger shows calls that charge nothing.
const (
	MethodChargeJWT = "UserAdmin.ChargeJWT"
	MaxRequestIDLen = 128
)

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
func (s *Service) VerifyJWT(ctx context.Context, req *VerifyJWTRequest) (*TokenInfo, error) {
	if err := s.checkServiceKey(ctx, req.ServiceKey); err != nil {
		return nil, err
	}
	method, err := parseMethod(req.Method)
	if err != nil {
		return nil, err
	}
	claims, rec, err := s.parseToken(ctx, req.JWT, s.now())
	if err != nil {
		return nil, err
	}
	if err := checkUse(rec, method, req.ClientIP); err != nil {
		return nil, err
	}
	return tokenInfo(claims, rec, rec.AccountCredits), nil
}

// tokenInfo describes a token from its record; claims may be nil (a token
// refused for its time), leaving the username and account empty.
func tokenInfo(c *Claims, rec *IssuedToken, balance int64) *TokenInfo {
	info := &TokenInfo{
		JTI: rec.JTI, Application: rec.Application, ExpiresAt: rec.ExpiresAt, AllowedMethods: rec.AllowedMethods,
		TokenRemaining: rec.Remaining(), CreditsRemaining: balance,
	}
	if c != nil {
		info.Username, info.Account = c.Subject, c.Account
	}
	return info
}

// checkUse applies a token's limits of use: method and client address.
func checkUse(rec *IssuedToken, method, clientIP string) error {
	if !methodAllowed(rec.AllowedMethods, method) {
		return tokenMethodRefusal(method, rec.AllowedMethods)
	}
	return clientAllowed(rec.ClientIP, clientIP)
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
// Every charge and refusal of a token that could be identified is recorded.
func (s *Service) ChargeJWT(ctx context.Context, req *ChargeJWTRequest) (*ChargeResult, error) {
	if err := s.checkServiceKey(ctx, req.ServiceKey); err != nil {
		return nil, err
	}
	now := s.now()
	ev := UsageEvent{Time: now, Method: MethodChargeJWT, ClientAddr: req.ClientAddr}
	res, recorded, err := s.chargeJWT(ctx, req, now, &ev)
	if err != nil && !recorded {
		ev.Outcome = string(ErrorCode(err))
		if rerr := s.Store.RecordUsage(ctx, &ev); rerr != nil {
			s.Logger.ErrorContext(ctx, "recording usage failed", "method", ev.Method, "err", rerr)
		}
	}
	return res, err
}

// chargeJWT reports whether the store already wrote the ledger line.
func (s *Service) chargeJWT(ctx context.Context, req *ChargeJWTRequest, now time.Time, ev *UsageEvent) (*ChargeResult, bool, error) {
	method, err := parseMethod(req.Method)
	if err != nil {
		return nil, false, err
	}
	ev.Method = method
	if req.Credits < 1 || req.Credits > MaxCreditsLimit {
		return nil, false, Errorf(EINVALID, "credits must be at least 1 and at most %d (got %d)", int64(MaxCreditsLimit), req.Credits)
	}
	reqID := strings.TrimSpace(req.RequestID)
	if len(reqID) > MaxRequestIDLen || !printable(reqID) {
		return nil, false, Errorf(EINVALID, "requestId must be at most %d printable characters", MaxRequestIDLen)
	}
	// The signature (cached once verified) and the token's immutable record
	// (cached too); revocation and the user's and key's state are checked by
	// the charge transaction itself, so a charge costs one transaction and
	// no other read.
	claims, err := s.verifySignature(ctx, req.JWT, now, true)
	var rec *IssuedToken
	if claims != nil {
		var rerr error
		if rec, rerr = s.staticRecord(ctx, claims.ID, now); rerr != nil && err == nil {
			err = rerr
		}
	}
	if rec != nil {
		ev.AccountID, ev.UserID, ev.Application, ev.JTI = &rec.AccountID, &rec.UserID, rec.Application, rec.JTI
	}
	if err != nil {
		// A retry answers what the first call did, whatever has happened to
		// the token since (expired, revoked, ...). A token that passes its
		// checks is replayed by the store's charge itself.
		if rec != nil {
			if res, ok, rerr := s.replayCharge(ctx, rec, claims, reqID, method, req.Credits); ok || rerr != nil {
				return res, true, rerr
			}
		}
		return nil, false, err
	}
	if err := checkUse(rec, method, req.ClientIP); err != nil {
		if res, ok, rerr := s.replayCharge(ctx, rec, claims, reqID, method, req.Credits); ok || rerr != nil {
			return res, true, rerr
		}
		// A dead token is reported as dead before any limit of its use, as
		// VerifyJWT does; its state is read only on this failing path.
		if cur, rerr := s.record(ctx, rec.JTI); rerr == nil {
			if serr := tokenState(cur); serr != nil {
				return nil, false, serr
			}
		}
		return nil, false, err
	}
	out, err := s.Store.Charge(ctx, &ChargeRequest{JTI: rec.JTI, AccountID: rec.AccountID, Credits: req.Credits, RequestID: reqID, Event: *ev})
	if err != nil {
		return nil, false, err
	}
	// From here the store has written the ledger line (or replayed).
	if !out.Charged {
		return nil, true, &Error{Code: ENOCREDITS, Message: out.Refusal}
	}
	info := tokenInfo(claims, rec, out.Balance)
	info.TokenRemaining = out.TokenRemaining
	return &ChargeResult{TokenInfo: *info, Replayed: out.Replayed}, true, nil
}

// replayCharge answers a retried requestId from its stored outcome; ok is
// false when there is none.
func (s *Service) replayCharge(ctx context.Context, rec *IssuedToken, claims *Claims, reqID, method string, credits int64) (*ChargeResult, bool, error) {
	if reqID == "" {
		return nil, false, nil
	}
	prev, prevMethod, prevCredits, err := s.Store.ReplayCharge(ctx, rec.JTI, reqID)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return nil, false, nil
	case err != nil:
		return nil, false, Internal(err)
	}
	if err := SameCharge(reqID, prevMethod, prevCredits, method, credits); err != nil {
		return nil, false, err
	}
	if !prev.Charged {
		return nil, true, &Error{Code: ENOCREDITS, Message: prev.Refusal}
	}
	info := tokenInfo(claims, rec, prev.Balance)
	info.TokenRemaining = prev.TokenRemaining
	return &ChargeResult{TokenInfo: *info, Replayed: true}, true, nil
}

// SameCharge refuses a requestId reused for a different charge.
func SameCharge(reqID, prevMethod string, prevCredits int64, method string, credits int64) error {
	if !strings.EqualFold(prevMethod, method) || prevCredits != credits {
		return Errorf(ECONFLICT, "requestId %q was already used for a charge of %d credits for %s", reqID, prevCredits, prevMethod)
	}
	return nil
}

// Credentials identify an account, one way only: a username and password
// ("apikey-KEY" with an empty password is an API key), an API key given on
// its own, or (where a transport allows it) a token the account was issued.
type Credentials struct {
	Username string
	Password string
	// APIKey is a key given apart from the username: the JSON surfaces'
	// ?key=. Core reads it as the username "apikey-KEY".
	APIKey     string
	Bearer     string
	ClientAddr string
}

// Validate refuses credentials given more than one way. Core applies it to
// every request it authenticates; a transport may call it first, to refuse
// before its own checks. A key given with anything else is refused first, so
// that the refusal is about the key whenever APIKey is set.
func (c Credentials) Validate() error {
	login := c.Username != "" || c.Password != ""
	switch {
	case c.APIKey != "" && login:
		return Errorf(EINVALID, "give either a username and password or an API key, not both")
	case c.APIKey != "" && c.Bearer != "":
		return Errorf(EINVALID, "give either a bearer token or an API key, not both")
	case c.Bearer != "" && login:
		return Errorf(EINVALID, "give either a bearer token or a username and password, not both")
	}
	return nil
}

// login returns the username and password to authenticate: an APIKey is
// the username "apikey-KEY" with an empty password.
func (c Credentials) login() (username, password string) {
	if c.APIKey != "" {
		return APIKeyUserPrefix + c.APIKey, ""
	}
	return c.Username, c.Password
}

// Operations as a bearer token's allowedMethods name them.
const (
	MethodGetCreditsRemaining = "UserAdmin.GetCreditsRemaining"
	MethodGetUsage            = "UserAdmin.GetUsage"
	MethodRevokeJWT           = "UserAdmin.RevokeJWT"
)

// authenticateAny checks credentials of any kind for operation op. A bearer
// token is a limited credential: its allowedMethods must allow op.
func (s *Service) authenticateAny(ctx context.Context, c Credentials, op string) (*principal, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	now := s.now()
	if c.Bearer != "" {
		_, rec, err := s.parseToken(ctx, c.Bearer, now)
		if err != nil {
			return nil, err
		}
		if !methodAllowed(rec.AllowedMethods, op) {
			return nil, tokenMethodRefusal(op, rec.AllowedMethods)
		}
		if err := callerAllowed(rec.ClientIP, c.ClientAddr); err != nil {
			return nil, err
		}
		u, err := s.Store.UserByID(ctx, rec.UserID)
		if err != nil {
			return nil, Internal(err)
		}
		a, err := s.Store.AccountByID(ctx, rec.AccountID)
		if err != nil {
			return nil, Internal(err)
		}
		if u.Disabled {
			return nil, Errorf(EFORBIDDEN, "user is disabled")
		}
		return &principal{user: u, account: a}, nil
	}
	return s.authenticate(ctx, c, now)
}

// GetCreditsRemaining returns the balance of the caller's account.
func (s *Service) GetCreditsRemaining(ctx context.Context, c Credentials) (int64, error) {
	p, err := s.authenticateAny(ctx, c, MethodGetCreditsRemaining)
	if err != nil {
		return 0, err
	}
	return p.account.Credits, nil
}

// MaxUsageRange bounds a GetUsage query.
const MaxUsageRange = 366 * 24 * time.Hour

// GetUsageRequest asks for the caller's usage in [From, To); empty To means
// the end of today (UTC), empty From 30 days before To. Days (YYYY-MM-DD)
// and date-times are accepted; a day as To includes that day.
type GetUsageRequest struct {
	Credentials
	From, To string
}

// GetUsage returns the caller's account usage by day, application and method.
func (s *Service) GetUsage(ctx context.Context, req *GetUsageRequest) ([]*UsageRow, int64, error) {
	endOfToday := s.now().Truncate(24 * time.Hour).Add(24 * time.Hour)
	to, err := parseBound("to", req.To, endOfToday, true)
	if err != nil {
		return nil, 0, err
	}
	from, err := parseBound("from", req.From, to.Add(-30*24*time.Hour), false)
	if err != nil {
		return nil, 0, err
	}
	if !from.Before(to) {
		return nil, 0, Errorf(EINVALID, "from must be before to")
	}
	if to.Sub(from) > MaxUsageRange {
		return nil, 0, Errorf(EINVALID, "the range from %s to %s is longer than %d days", from.Format(time.RFC3339), to.Format(time.RFC3339), int(MaxUsageRange.Hours()/24))
	}
	p, err := s.authenticateAny(ctx, req.Credentials, MethodGetUsage)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.Store.UsageReport(ctx, UsageFilter{AccountID: &p.account.ID, From: from, To: to})
	if err != nil {
		return nil, 0, Internal(err)
	}
	return rows, p.account.Credits, nil
}

// parseBound reads a day or a date-time; a day as an upper bound means the
// end of that day.
func parseBound(name, v string, def time.Time, upper bool) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return def, nil
	}
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		if upper {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := ParseExpiresAt(v)
	if err != nil {
		return time.Time{}, Errorf(EINVALID, "%s %q is neither a day (YYYY-MM-DD) nor an RFC 3339 date-time", name, clip(v, 64))
	}
	return t, nil
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
func (s *Service) RevokeJWT(ctx context.Context, req *RevokeJWTRequest) (string, error) {
	jti := strings.TrimSpace(req.JTI)
	token := strings.TrimSpace(req.JWT)
	if jti == "" && token == "" {
		return "", Errorf(EINVALID, "give the jwt to revoke or its jti")
	}
	if req.Username == "" && req.Password == "" && req.APIKey == "" && req.Bearer == "" {
		// The token itself: it must be genuine (expired or revoked is fine:
		// revoking it again changes nothing).
		if token == "" {
			return "", Errorf(EUNAUTHORIZED, "to revoke by jti, authenticate as the token's account")
		}
		rec, err := s.tokenRecord(ctx, token)
		if err != nil {
			return "", err
		}
		if jti != "" && jti != rec.JTI {
			return "", Errorf(EINVALID, "jti does not match the jwt")
		}
		return rec.JTI, s.revoke(ctx, rec.JTI)
	}
	p, err := s.authenticateAny(ctx, req.Credentials, MethodRevokeJWT)
	if err != nil {
		return "", err
	}
	if token != "" {
		rec, err := s.tokenRecord(ctx, token)
		if err != nil {
			return "", err
		}
		if jti != "" && jti != rec.JTI {
			return "", Errorf(EINVALID, "jti does not match the jwt")
		}
		jti = rec.JTI
	}
	rec, err := s.Store.TokenByJTI(ctx, jti)
	if ErrorCode(err) == ENOTFOUND || (err == nil && rec.AccountID != p.account.ID) {
		return "", Errorf(ENOTFOUND, "no token with this jti in your account")
	} else if err != nil {
		return "", Internal(err)
	}
	return jti, s.revoke(ctx, jti)
}

// tokenRecord checks a token's signature and returns its record, whether or
// not it has expired or been revoked (revoking it again changes nothing).
func (s *Service) tokenRecord(ctx context.Context, token string) (*IssuedToken, error) {
	claims, err := s.verifySignature(ctx, token, time.Time{}, false)
	if err != nil {
		return nil, err
	}
	return s.record(ctx, claims.ID)
}

func (s *Service) revoke(ctx context.Context, jti string) error {
	if err := s.Store.RevokeToken(ctx, jti, s.now()); err != nil {
		if ErrorCode(err) == ENOTFOUND {
			return Errorf(ENOTFOUND, "no token with this jti")
		}
		return Internal(err)
	}
	return nil
}

// Service keys read "jgs_<id>_<secret>".
const serviceKeyPrefix = "jgs_"

// CreateServiceKey creates a key for one of the operator's services and
// returns it; it is shown only here.
func (s *Service) CreateServiceKey(ctx context.Context, name string) (string, *ServiceKey, error) {
	if err := ValidateName("service key name", name); err != nil {
		return "", nil, err
	}
	if strings.HasPrefix(strings.ToLower(name), serviceKeyPrefix) {
		return "", nil, Errorf(EINVALID, "service key name may not start with %q", serviceKeyPrefix)
	}
	id, secret := randomHex(8), randomID(32)
	k := &ServiceKey{ID: id, Name: name, SecretHash: hashSecret(secret), Created: s.now()}
	if err := s.Store.CreateServiceKey(ctx, k); err != nil {
		return "", nil, err
	}
	return serviceKeyPrefix + id + "_" + secret, k, nil
}

// RevokeServiceKey revokes a service key by name, id or the whole key.
func (s *Service) RevokeServiceKey(ctx context.Context, nameOrID string) error {
	if rest, ok := strings.CutPrefix(nameOrID, serviceKeyPrefix); ok {
		nameOrID, _, _ = strings.Cut(rest, "_")
	}
	defer s.svcKeys.clear()
	return s.Store.RevokeServiceKey(ctx, nameOrID, s.now())
}

func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

var errServiceKey = Errorf(EUNAUTHORIZED, "a valid serviceKey is required: VerifyJWT and ChargeJWT are for the operator's services")

// checkServiceKey authenticates the calling service.
func (s *Service) checkServiceKey(ctx context.Context, key string) (err error) {
	key = strings.TrimSpace(key)
	rest, ok := strings.CutPrefix(key, serviceKeyPrefix)
	if !ok || !utf8.ValidString(rest) {
		return errServiceKey
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 || !isHex(id) {
		return errServiceKey
	}
	if s.svcKeys.ok(key, s.now()) {
		return nil
	}
	k, err := s.Store.ServiceKeyByID(ctx, id)
	defer func() {
		if err == nil && k != nil && k.Revoked == nil {
			s.svcKeys.put(key, s.now())
		}
	}()
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return errServiceKey
	case err != nil:
		return Internal(err)
	case subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(k.SecretHash)) != 1:
		return errServiceKey
	case k.Revoked != nil:
		return Errorf(EUNAUTHORIZED, "service key %q has been revoked", k.Name)
	}
	return nil
}

// staticRecord returns a token's record for its immutable fields: from the
// cache, or read (with its current state) and cached.
func (s *Service) staticRecord(ctx context.Context, jti string, now time.Time) (*IssuedToken, error) {
	if r, ok := s.recs.get(jti, now); ok {
		return r, nil
	}
	r, err := s.record(ctx, jti)
	if err != nil {
		return nil, err
	}
	s.recs.put(r)
	return r, nil
}
