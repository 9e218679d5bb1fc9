// Package core is the protocol-neutral domain of jwtgate: accounts, users, API
// keys, signing keys, tokens and usage, every rule about them, and the one
// table of operations (ops.go) that every surface serves. It imports no
// transport, no SQL and no token library: surfaces (jsonapi, soap) translate
// to and from it, stores (sqlite) persist for it, and the token strategy
// (token) signs and checks for it, through the ports in ports.go.
//
// It is split by use case, each a type with the store roles it needs:
// Authenticator (every credential, in one place), KeyRing (signing keys,
// token verification, JWKS), Issuer (GetJWT), Enforcer (VerifyJWT,
// ChargeJWT, RevokeJWT), Accounts (a caller's credits and usage) and Admin
// (the operator's writes and listings). New assembles them into a Service.
package core

import "time"

// Account holds a credit balance shared by its users and API keys.
type Account struct {
	ID      int64
	Name    string
	Credits int64
	Created time.Time
}

// User logs in with a password and belongs to one account.
type User struct {
	ID           int64
	AccountID    int64
	Username     string
	PasswordHash string // PHC string; records its own parameters
	Disabled     bool
	Created      time.Time
}

// APIKey authenticates as the user it was created for. The secret is shown
// once at creation; only its hash is stored.
type APIKey struct {
	ID         string // public part of the key, used to find it
	AccountID  int64
	UserID     int64
	SecretHash string
	Created    time.Time
	Revoked    *time.Time
}

// SigningKey is a key pair (or, for HS256, a shared secret) identified by Kid.
// It is published (JWKS) from Created, signs from Activates — later, so that
// every instance's key set holds it before any token names it — until the
// next key activates; retired keys keep verifying the tokens they signed.
type SigningKey struct {
	Kid       string
	Alg       string // EdDSA, ES256, RS256 or HS256
	Private   []byte // PKCS#8 DER, or the raw secret for HS256
	Public    []byte // PKIX DER; nil for HS256
	Created   time.Time
	Activates time.Time
	Retired   *time.Time // when the next key activated (or will)
}

// IssuedToken is the record of a token kept so that it can be charged and
// revoked later.
type IssuedToken struct {
	JTI            string
	Kid            string
	AccountID      int64
	UserID         int64
	APIKeyID       string // empty when issued for a password login
	Application    string
	AllowedMethods []string
	MaxCredits     *int64
	ClientIP       string
	IssuedAt       time.Time
	ExpiresAt      time.Time
	CreditsSpent   int64      // charged so far against MaxCredits
	Revoked        *time.Time // nil while the token is live

	// The state, when read, of who the token was issued to.
	UserDisabled   bool  // the user has been disabled since
	APIKeyRevoked  bool  // the API key it was issued for has been revoked since
	AccountCredits int64 // the account's balance
}

// Remaining returns the credits the token may still spend, nil when it has
// no limit of its own.
func (t *IssuedToken) Remaining() *int64 {
	if t.MaxCredits == nil {
		return nil
	}
	r := max(*t.MaxCredits-t.CreditsSpent, 0)
	return &r
}

// ServiceKey authenticates one of the operator's services to VerifyJWT and
// ChargeJWT. The secret is shown once at creation; only its hash is stored.
type ServiceKey struct {
	ID         string
	Name       string
	SecretHash string // hex SHA-256 of the secret: 256 random bits need no slow hash
	Created    time.Time
	Revoked    *time.Time
}

// Outcome is how a call ended, in the usage ledger: OutcomeOK or the Code
// of its error.
type Outcome string

const OutcomeOK Outcome = "ok"

// OutcomeOf returns the outcome of a call that returned err.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return OutcomeOK
	}
	return Outcome(ErrorCode(err))
}

// UsageEvent is one line of the usage ledger.
type UsageEvent struct {
	Time        time.Time
	AccountID   *int64 // nil when the caller could not be identified
	UserID      *int64
	Application string
	Method      string // Service.Method, e.g. UserAdmin.GetJWT
	Credits     int64
	Outcome     Outcome
	ClientAddr  string
	JTI         string
}

// UsageFilter selects ledger lines; zero fields select all.
type UsageFilter struct {
	AccountID *int64
	From, To  time.Time // [From, To)
}

// TokenFilter selects issued tokens; zero fields select all.
type TokenFilter struct {
	AccountID *int64
	// LiveAt, when set, selects the tokens unexpired at that time and not
	// revoked.
	LiveAt time.Time
}

// Claims are what a jwtgate token says, whatever its encoding (the token
// strategy's business).
type Claims struct {
	Issuer         string
	Subject        string // the username
	IssuedAt       time.Time
	NotBefore      time.Time
	ExpiresAt      time.Time
	ID             string // jti
	Account        string
	AllowedMethods []string
	MaxCredits     *int64
	Application    string
	ClientIP       string
}

// UsageRow is one line of a usage report, grouped by day, application and method.
type UsageRow struct {
	Day         string // YYYY-MM-DD, UTC
	Account     string
	Application string
	Method      string
	Calls       int64
	Failures    int64
	Credits     int64
}

// UserInfo is a user as listed by admin tools.
type UserInfo struct {
	User
	Account string
}
