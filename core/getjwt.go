package core

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MethodGetJWT is how GetJWT calls appear in the usage ledger.
const MethodGetJWT = "UserAdmin.GetJWT"

// APIKeyUserPrefix marks a username that carries an API key instead.
const APIKeyUserPrefix = "apikey-"

// GetJWTRequest is the GetJWT call as every transport decodes it.
type GetJWTRequest struct {
	Username       string
	Password       string
	APIKey         string // an API key given on its own, as in Credentials
	ClientIP       string
	ExpiresAt      string // parsed by ParseExpiresAt, so every transport follows one rule
	AllowedMethods []string
	MaxCredits     *int64
	Options        []Option
	ClientAddr     string // network address of the caller, set by the transport
}

// Credentials returns the credentials the request gives. GetJWT takes no
// bearer token: a token cannot mint tokens.
func (r *GetJWTRequest) Credentials() Credentials {
	return Credentials{Username: r.Username, Password: r.Password, APIKey: r.APIKey, ClientAddr: r.ClientAddr}
}

// GetJWTResult is a successful GetJWT.
type GetJWTResult struct {
	JWT              string
	CreditsRemaining int64
}

// principal is an authenticated caller.
type principal struct {
	user     *User
	account  *Account
	apiKeyID string
}

// GetJWT authenticates the caller and issues a token limited as requested.
// It charges no credits. A failed call records its usage line and nothing else.
func (s *Service) GetJWT(ctx context.Context, req *GetJWTRequest) (*GetJWTResult, error) {
	now := s.now()
	ev := &UsageEvent{Time: now, Method: MethodGetJWT, ClientAddr: req.ClientAddr}
	res, err := s.getJWT(ctx, req, now, ev)
	if err != nil {
		ev.Outcome = string(ErrorCode(err))
		if rerr := s.Store.RecordUsage(ctx, ev); rerr != nil {
			s.Logger.ErrorContext(ctx, "recording usage failed", "method", ev.Method, "err", rerr)
		}
		return nil, err
	}
	return res, nil
}

// RecordRefused records in the usage ledger a call that a transport refused
// before it could reach the service (a request it could not map).
func (s *Service) RecordRefused(ctx context.Context, method, clientAddr string, err error) {
	ev := &UsageEvent{Time: s.now(), Method: method, ClientAddr: clientAddr, Outcome: string(ErrorCode(err))}
	if rerr := s.Store.RecordUsage(ctx, ev); rerr != nil {
		s.Logger.ErrorContext(ctx, "recording usage failed", "method", method, "err", rerr)
	}
}

func (s *Service) getJWT(ctx context.Context, req *GetJWTRequest, now time.Time, ev *UsageEvent) (*GetJWTResult, error) {
	// Cheap checks first: a malformed request costs no password hash.
	cred := req.Credentials()
	if err := cred.Validate(); err != nil {
		return nil, err
	}
	app, err := parseOptions(req.Options)
	if err != nil {
		return nil, err
	}
	ev.Application = app
	expires, err := ParseExpiresAt(req.ExpiresAt)
	if err != nil {
		return nil, err
	}
	if latest := now.Add(s.MaxLifetime); expires.After(latest) {
		return nil, Errorf(EINVALID, "expiresAt %s is too far ahead: tokens may live at most %s (until %s)",
			expires.Format(time.RFC3339), s.MaxLifetime, latest.Format(time.RFC3339))
	}
	// A JWT's exp has whole seconds: check and store the expiry the token
	// will carry, so that no token is issued already expired.
	expires = expires.Truncate(time.Second)
	if !expires.After(now) {
		return nil, Errorf(EINVALID, "expiresAt %s is not in the future", expires.Format(time.RFC3339))
	}
	methods, err := NormalizeMethods(req.AllowedMethods)
	if err != nil {
		return nil, err
	}
	if err := validateMaxCredits(req.MaxCredits); err != nil {
		return nil, err
	}
	clientIP, err := ParseClientIP(req.ClientIP)
	if err != nil {
		return nil, err
	}

	p, err := s.authenticate(ctx, cred, now)
	if p != nil {
		ev.AccountID, ev.UserID = &p.account.ID, &p.user.ID
	}
	if err != nil {
		return nil, err
	}
	if p.account.Credits <= 0 {
		return nil, Errorf(ENOCREDITS, "account has no credits remaining; add credits to get a token")
	}

	key, err := s.Store.ActiveSigningKey(ctx)
	if err != nil {
		return nil, Internal(err)
	}
	tok := &IssuedToken{
		JTI:            randomID(16),
		Kid:            key.Kid,
		AccountID:      p.account.ID,
		UserID:         p.user.ID,
		APIKeyID:       p.apiKeyID,
		Application:    app,
		AllowedMethods: methods,
		MaxCredits:     req.MaxCredits,
		ClientIP:       clientIP,
		IssuedAt:       now.Truncate(time.Second),
		ExpiresAt:      expires,
	}
	signed, err := key.Sign(&Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.Issuer,
			Subject:   p.user.Username,
			IssuedAt:  jwt.NewNumericDate(tok.IssuedAt),
			NotBefore: jwt.NewNumericDate(tok.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(expires),
			ID:        tok.JTI,
		},
		Account:        p.account.Name,
		AllowedMethods: methods,
		MaxCredits:     req.MaxCredits,
		Application:    app,
		ClientIP:       clientIP,
	})
	if err != nil {
		return nil, Internal(err)
	}
	ev.Outcome, ev.JTI = OutcomeOK, tok.JTI
	if err := s.Store.IssueToken(ctx, tok, ev); err != nil {
		return nil, Internal(err)
	}
	return &GetJWTResult{JWT: signed, CreditsRemaining: p.account.Credits}, nil
}

// authenticate checks a username+password or an API key, as "apikey-KEY"
// username or on its own; c has been validated. It returns the principal it
// identified even on some failures (for the ledger).
func (s *Service) authenticate(ctx context.Context, c Credentials, now time.Time) (*principal, error) {
	username, password := c.login()
	username, clientAddr := strings.TrimSpace(username), c.ClientAddr
	isKey := len(username) >= len(APIKeyUserPrefix) && strings.EqualFold(username[:len(APIKeyUserPrefix)], APIKeyUserPrefix)
	if username == "" || (!isKey && password == "") {
		return nil, Errorf(EUNAUTHORIZED, "username and password are required (or apikey-<KEY> as username with an empty password)")
	}
	if isKey && password != "" {
		return nil, Errorf(EINVALID, "password must be empty when the username is apikey-<KEY>")
	}
	throttleName := username
	if isKey {
		// Throttle by the key's public id, never by the secret.
		id, _, _ := splitAPIKey(username[len(APIKeyUserPrefix):])
		throttleName = APIKeyUserPrefix + id
	}
	if wait := s.Throttle.Check(throttleName, clientAddr, now); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		return nil, &Error{Code: ETHROTTLED, RetryAfter: time.Duration(secs) * time.Second,
			Message: "too many failed attempts, retry in " + strconv.Itoa(secs) + " s"}
	}
	var p *principal
	var err error
	if isKey {
		p, err = s.authAPIKey(ctx, username[len(APIKeyUserPrefix):])
	} else {
		p, err = s.authPassword(ctx, username, password)
	}
	switch ErrorCode(err) {
	case "":
		s.Throttle.Succeed(throttleName, clientAddr)
	case EUNAUTHORIZED:
		s.Throttle.Fail(throttleName, clientAddr, now)
	}
	return p, err
}

func (s *Service) authPassword(ctx context.Context, username, password string) (*principal, error) {
	bad := Errorf(EUNAUTHORIZED, "invalid username or password")
	u, err := s.Store.UserByName(ctx, username)
	if ErrorCode(err) == ENOTFOUND {
		if _, _, err := s.verifySecret(ctx, s.dummy(), password); ErrorCode(err) == EBUSY {
			return nil, err
		}
		return nil, bad
	} else if err != nil {
		return nil, Internal(err)
	}
	ok, rehash, err := s.verifySecret(ctx, u.PasswordHash, password)
	if err != nil {
		return nil, gateOrInternal(err)
	}
	a, aerr := s.Store.AccountByID(ctx, u.AccountID)
	if aerr != nil {
		return nil, Internal(aerr)
	}
	p := &principal{user: u, account: a}
	if !ok {
		return p, bad
	}
	if u.Disabled {
		return p, Errorf(EFORBIDDEN, "user is disabled")
	}
	if rehash {
		s.upgradeHash(ctx, u.ID, password)
	}
	return p, nil
}

// upgradeHash replaces a hash made with weaker parameters; a failure is
// logged and the login still succeeds.
func (s *Service) upgradeHash(ctx context.Context, userID int64, password string) {
	h, err := s.hashSecretSlow(ctx, password)
	if err == nil {
		err = s.Store.SetPasswordHash(ctx, userID, h)
	}
	if err != nil {
		s.Logger.WarnContext(ctx, "upgrading password hash failed", "user_id", userID, "err", err)
	}
}

func (s *Service) authAPIKey(ctx context.Context, key string) (*principal, error) {
	bad := Errorf(EUNAUTHORIZED, "invalid API key")
	id, secret, ok := splitAPIKey(key)
	var k *APIKey
	var err error
	if ok {
		k, err = s.Store.APIKeyByID(ctx, id)
	}
	if !ok || ErrorCode(err) == ENOTFOUND {
		if _, _, err := s.verifySecret(ctx, s.dummy(), secret); ErrorCode(err) == EBUSY {
			return nil, err
		}
		return nil, bad
	} else if err != nil {
		return nil, Internal(err)
	}
	match, _, err := s.verifySecret(ctx, k.SecretHash, secret)
	if err != nil {
		return nil, gateOrInternal(err)
	}
	u, err := s.Store.UserByID(ctx, k.UserID)
	if err != nil {
		return nil, Internal(err)
	}
	a, err := s.Store.AccountByID(ctx, k.AccountID)
	if err != nil {
		return nil, Internal(err)
	}
	p := &principal{user: u, account: a, apiKeyID: k.ID}
	switch {
	case !match:
		return p, bad
	case k.Revoked != nil:
		return p, Errorf(EFORBIDDEN, "API key has been revoked")
	case u.Disabled:
		return p, Errorf(EFORBIDDEN, "user is disabled")
	}
	return p, nil
}

// API keys read "jg_<id>_<secret>": the id finds the stored hash, the secret
// is verified against it.
const apiKeyPrefix = "jg_"

func newAPIKey() (id, secret, key string) {
	id, secret = randomHex(8), randomID(32)
	return id, secret, apiKeyPrefix + id + "_" + secret
}

func splitAPIKey(key string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(key, apiKeyPrefix)
	if !found {
		return "", key, false
	}
	id, secret, found = strings.Cut(rest, "_")
	return id, secret, found && len(id) == 16 && isHex(id) && secret != ""
}
