// Package core is the protocol-neutral domain of jwtgate: accounts, users, API
// keys, signing keys, token issuing and usage. It imports no transport and no
// SQL package; adapters (jsonapi, soap, sqlite) translate to and from it.
package core

import (
	"context"
	"time"
)

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
// Exactly one key is active; retired keys keep verifying the tokens they signed.
type SigningKey struct {
	Kid     string
	Alg     string // EdDSA, ES256, RS256 or HS256
	Private []byte // PKCS#8 DER, or the raw secret for HS256
	Public  []byte // PKIX DER; nil for HS256
	Created time.Time
	Retired *time.Time
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

// ChargeRequest asks the store to charge a token and its account atomically.
type ChargeRequest struct {
	JTI       string
	AccountID int64
	Credits   int64
	RequestID string     // empty: not idempotent
	Event     UsageEvent // the ledger line; the store sets Credits and Outcome
}

// ChargeOutcome is what a charge did. A refusal for lack of credits is an
// outcome, not an error: it is committed (ledger line, idempotency record).
type ChargeOutcome struct {
	Charged        bool
	Refusal        string // why not, when !Charged
	TokenRemaining *int64 // nil: no token limit
	Balance        int64
	Replayed       bool // the outcome of an earlier call with the same requestId
}

// Usage outcomes other than the error codes.
const OutcomeOK = "ok"

// UsageEvent is one line of the usage ledger.
type UsageEvent struct {
	Time        time.Time
	AccountID   *int64 // nil when the caller could not be identified
	UserID      *int64
	Application string
	Method      string // Service.Method, e.g. UserAdmin.GetJWT
	Credits     int64
	Outcome     string // OutcomeOK or an error Code
	ClientAddr  string
	JTI         string
}

// UsageFilter selects ledger lines for a report; zero fields select all.
type UsageFilter struct {
	AccountID *int64
	From, To  time.Time // [From, To)
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

// Store persists jwtgate's state. Implementations return *Error with
// ENOTFOUND or ECONFLICT where those apply and must be safe for concurrent use.
type Store interface {
	AccountStore
	UserStore
	APIKeyStore
	ServiceKeyStore
	SigningKeyStore
	TokenStore
	UsageStore
}

type AccountStore interface {
	CreateAccount(ctx context.Context, a *Account) error
	AccountByName(ctx context.Context, name string) (*Account, error)
	AccountByID(ctx context.Context, id int64) (*Account, error)
	ListAccounts(ctx context.Context) ([]*Account, error)
	// AddCredits changes the balance by delta and returns the new balance; it
	// refuses (EINVALID) a change that would take the balance below zero.
	AddCredits(ctx context.Context, accountID, delta int64) (int64, error)
}

type UserStore interface {
	// CreateUser inserts u, creating its account first when account is non-nil.
	CreateUser(ctx context.Context, u *User, account *Account) error
	UserByName(ctx context.Context, username string) (*User, error)
	UserByID(ctx context.Context, id int64) (*User, error)
	ListUsers(ctx context.Context) ([]*UserInfo, error)
	SetPasswordHash(ctx context.Context, userID int64, hash string) error
	SetUserDisabled(ctx context.Context, userID int64, disabled bool) error
	CountUsers(ctx context.Context) (int64, error)
}

type APIKeyStore interface {
	CreateAPIKey(ctx context.Context, k *APIKey) error
	APIKeyByID(ctx context.Context, id string) (*APIKey, error)
	ListAPIKeys(ctx context.Context, userID *int64) ([]*APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
}

type ServiceKeyStore interface {
	// CreateServiceKey refuses (ECONFLICT) a name held by an active key.
	CreateServiceKey(ctx context.Context, k *ServiceKey) error
	ServiceKeyByID(ctx context.Context, id string) (*ServiceKey, error)
	ListServiceKeys(ctx context.Context) ([]*ServiceKey, error)
	// RevokeServiceKey revokes the active key with this id or name;
	// revoking a revoked key is harmless.
	RevokeServiceKey(ctx context.Context, idOrName string, at time.Time) error
}

type SigningKeyStore interface {
	// RotateSigningKey retires the active key (if any) at k.Created and makes
	// k the active key, atomically.
	RotateSigningKey(ctx context.Context, k *SigningKey) error
	ActiveSigningKey(ctx context.Context) (*SigningKey, error)
	SigningKeyByKid(ctx context.Context, kid string) (*SigningKey, error)
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	// VerificationKeys returns the active key and every retired key that
	// signed a token still unexpired at now.
	VerificationKeys(ctx context.Context, now time.Time) ([]*SigningKey, error)
}

type TokenStore interface {
	// IssueToken records t and its usage event in one transaction.
	IssueToken(ctx context.Context, t *IssuedToken, ev *UsageEvent) error
	// TokenByJTI returns a token with its spend, revocation and the current
	// state of its user, API key and account balance.
	TokenByJTI(ctx context.Context, jti string) (*IssuedToken, error)
	// ReplayCharge returns the stored outcome of a charge with this
	// requestId, its method and credits, or ENOTFOUND.
	ReplayCharge(ctx context.Context, jti, requestID string) (*ChargeOutcome, string, int64, error)
	// RevokeToken marks a token revoked; revoking twice keeps the first time.
	RevokeToken(ctx context.Context, jti string, at time.Time) error
	// Charge, in one transaction: replays the stored outcome of an earlier
	// request with the same (JTI, RequestID), or refuses a token that has
	// been revoked, whose user is disabled or whose API key is revoked
	// (ErrTokenRevoked, ErrTokenUserDisabled, ErrTokenKeyRevoked), or charges
	// the token and the account only if neither would overdraw; it writes
	// the ledger line and, with a RequestID, the outcome. A replay with
	// other credits or method is ECONFLICT.
	Charge(ctx context.Context, c *ChargeRequest) (*ChargeOutcome, error)
}

type UsageStore interface {
	RecordUsage(ctx context.Context, ev *UsageEvent) error
	UsageReport(ctx context.Context, f UsageFilter) ([]*UsageRow, error)
}
