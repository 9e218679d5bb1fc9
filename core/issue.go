package core

import (
	"context"
	"time"
)

// Issuer issues tokens: GetJWT now; sessions and token exchange will share
// its issue.
type Issuer struct {
	Auth        *Authenticator
	Keys        *KeyRing
	Tokens      TokenStore
	MaxLifetime time.Duration // longest expiresAt accepted, from now
	Now         func() time.Time

	ledger ledger
}

// GetJWTRequest is the GetJWT call as every surface decodes it.
type GetJWTRequest struct {
	// Credentials as the request gave them, bearer token included (GetJWT
	// refuses one): core applies the rules on how they are given.
	Credentials
	ClientIP       string
	ExpiresAt      string // parsed by ParseExpiresAt, so every surface follows one rule
	AllowedMethods []string
	MaxCredits     *int64
	Options        []Option
	// Malformed is what the surface could not decode into the fields above
	// (a maxCredits that is not a number, a body its schema refuses), as an
	// EINVALID error naming the field. Core refuses the call with it, after
	// the rules on credentials, and records the refusal as any other: under
	// the account the credentials name, with the ApplicationName of Options
	// when the surface could read it.
	Malformed error
}

// GetJWTResult is a successful GetJWT.
type GetJWTResult struct {
	JWT              string
	CreditsRemaining int64
}

// Limits are what a token may do, checked: GetJWT's, and later a session's
// and an exchanged token's.
type Limits struct {
	ExpiresAt      time.Time // whole seconds, in the future
	AllowedMethods []string  // normalised; empty: every method
	MaxCredits     *int64    // nil: no limit of its own
	ClientIP       string    // canonical; empty: any address
	Application    string
}

// GetJWT authenticates the caller and issues a token limited as requested.
// It charges no credits. Every call is in the usage ledger: a success with
// the record of its token, a failure on its own.
func (i *Issuer) GetJWT(ctx context.Context, req *GetJWTRequest) (*GetJWTResult, error) {
	now := i.Now().UTC()
	ev := &UsageEvent{Time: now, Method: OpGetJWT.Method, ClientAddr: req.ClientAddr}
	res, err := i.getJWT(ctx, req, now, ev)
	if err != nil {
		ev.Outcome = OutcomeOf(err)
		i.ledger.record(ctx, ev)
		return nil, err
	}
	return res, nil
}

func (i *Issuer) getJWT(ctx context.Context, req *GetJWTRequest, now time.Time, ev *UsageEvent) (*GetJWTResult, error) {
	if err := OpGetJWT.Admit(req.Credentials); err != nil {
		return nil, err
	}
	// The request's own rules first: a malformed request costs no password
	// hash and is no failed login. It is still attributed, without checking
	// a secret, to the account its credentials name, as a wrong password is.
	lim, err := i.limits(req, now)
	ev.Application = lim.Application
	if err != nil {
		i.Auth.identify(ctx, OpGetJWT, req.Credentials).attribute(ev)
		return nil, err
	}
	p, err := i.Auth.login(ctx, req.Credentials)
	p.attribute(ev)
	if err != nil {
		return nil, err
	}
	if p.account.Credits <= 0 {
		return nil, Errorf(ENOCREDITS, "account has no credits remaining; add credits to get a token")
	}
	token, err := i.issue(ctx, p, lim, now, ev)
	if err != nil {
		return nil, err
	}
	return &GetJWTResult{JWT: token, CreditsRemaining: p.account.Credits}, nil
}

// limits checks what GetJWT asks for. The application comes back whenever
// the options could be read, even with an error about another field.
func (i *Issuer) limits(req *GetJWTRequest, now time.Time) (Limits, error) {
	app, err := parseOptions(req.Options)
	if req.Malformed != nil {
		if err != nil {
			app = ""
		}
		return Limits{Application: app}, req.Malformed
	}
	if err != nil {
		return Limits{}, err
	}
	lim := Limits{Application: app}
	expires, err := ParseExpiresAt(req.ExpiresAt)
	if err != nil {
		return lim, err
	}
	if latest := now.Add(i.MaxLifetime); expires.After(latest) {
		return lim, Errorf(EINVALID, "expiresAt %s is too far ahead: tokens may live at most %s (until %s)",
			expires.Format(time.RFC3339), i.MaxLifetime, latest.Format(time.RFC3339))
	}
	// A JWT's exp has whole seconds: check and store the expiry the token
	// will carry, so that no token is issued already expired.
	lim.ExpiresAt = expires.Truncate(time.Second)
	if !lim.ExpiresAt.After(now) {
		return lim, Errorf(EINVALID, "expiresAt %s is not in the future", lim.ExpiresAt.Format(time.RFC3339))
	}
	if lim.AllowedMethods, err = NormalizeMethods(req.AllowedMethods); err != nil {
		return lim, err
	}
	if err := validateMaxCredits(req.MaxCredits); err != nil {
		return lim, err
	}
	lim.MaxCredits = req.MaxCredits
	if lim.ClientIP, err = ParseClientIP(req.ClientIP); err != nil {
		return lim, err
	}
	return lim, nil
}

// issue signs a token for p within lim and records it, with its usage line
// ev, in one write.
func (i *Issuer) issue(ctx context.Context, p *principal, lim Limits, now time.Time, ev *UsageEvent) (string, error) {
	issued := now.Truncate(time.Second)
	c := &Claims{
		Subject:        p.user.Username,
		IssuedAt:       issued,
		NotBefore:      issued,
		ExpiresAt:      lim.ExpiresAt,
		ID:             randomID(16),
		Account:        p.account.Name,
		AllowedMethods: lim.AllowedMethods,
		MaxCredits:     lim.MaxCredits,
		Application:    lim.Application,
		ClientIP:       lim.ClientIP,
	}
	kid, token, err := i.Keys.sign(ctx, c)
	if err != nil {
		return "", err
	}
	rec := &IssuedToken{
		JTI:            c.ID,
		Kid:            kid,
		AccountID:      p.account.ID,
		UserID:         p.user.ID,
		APIKeyID:       p.apiKeyID,
		Application:    lim.Application,
		AllowedMethods: lim.AllowedMethods,
		MaxCredits:     lim.MaxCredits,
		ClientIP:       lim.ClientIP,
		IssuedAt:       issued,
		ExpiresAt:      lim.ExpiresAt,
	}
	ev.Outcome, ev.JTI = OutcomeOK, rec.JTI
	if err := i.Tokens.IssueToken(ctx, rec, ev); err != nil {
		return "", Internal(err)
	}
	return token, nil
}
