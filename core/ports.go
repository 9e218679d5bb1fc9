package core

import (
	"context"
	"errors"
	"iter"
	"time"
)

// What core needs from the outside: a store that persists (and decides
// nothing), a token strategy that knows what a signed token is, and a clock.
// Each use case takes the store roles it uses.

// Store persists jwtgate's state. Implementations must be safe for
// concurrent use, keep times to at least the microsecond, and return the
// errors below (wrapped with their own context) where they apply. They word
// nothing for callers: core does.
type Store interface {
	AccountStore
	UserStore
	APIKeyStore
	ServiceKeyStore
	SigningKeyStore
	TokenStore
	UsageStore
	// Ping checks that the store can be reached.
	Ping(ctx context.Context) error
}

// Errors a store returns; core matches them with errors.Is and says what
// they mean to the caller.
var (
	// ErrNotFound: no row has the id or name asked for.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique id or name is taken.
	ErrConflict = errors.New("already exists")
	// ErrOutOfRange: a value the store bounds (a balance) would leave its range.
	ErrOutOfRange = errors.New("out of range")
)

// Page selects part of a listing: Limit ≤ 0 means all from Offset.
type Page struct {
	Offset, Limit int
}

type AccountStore interface {
	CreateAccount(ctx context.Context, a *Account) error
	AccountByName(ctx context.Context, name string) (*Account, error)
	AccountByID(ctx context.Context, id int64) (*Account, error)
	// ListAccounts orders by name.
	ListAccounts(ctx context.Context, p Page) ([]*Account, error)
	// AddCredits changes the balance by delta and returns the new balance;
	// ErrOutOfRange when it would leave 0 … MaxCreditsLimit.
	AddCredits(ctx context.Context, accountID, delta int64) (int64, error)
}

type UserStore interface {
	// CreateUser inserts u, creating its account first when account is non-nil.
	CreateUser(ctx context.Context, u *User, account *Account) error
	UserByName(ctx context.Context, username string) (*User, error)
	UserByID(ctx context.Context, id int64) (*User, error)
	// ListUsers orders by username.
	ListUsers(ctx context.Context, p Page) ([]*UserInfo, error)
	SetPasswordHash(ctx context.Context, userID int64, hash string) error
	SetUserDisabled(ctx context.Context, userID int64, disabled bool) error
	CountUsers(ctx context.Context) (int64, error)
}

type APIKeyStore interface {
	CreateAPIKey(ctx context.Context, k *APIKey) error
	APIKeyByID(ctx context.Context, id string) (*APIKey, error)
	// ListAPIKeys lists one user's keys (every key when userID is nil), by creation time.
	ListAPIKeys(ctx context.Context, userID *int64, p Page) ([]*APIKey, error)
	// RevokeAPIKey marks a key revoked; revoking twice keeps the first time.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
}

type ServiceKeyStore interface {
	// CreateServiceKey: ErrConflict for a name held by an active key.
	CreateServiceKey(ctx context.Context, k *ServiceKey) error
	ServiceKeyByID(ctx context.Context, id string) (*ServiceKey, error)
	// ListServiceKeys lists revoked keys too, by creation time.
	ListServiceKeys(ctx context.Context, p Page) ([]*ServiceKey, error)
	// RevokeServiceKey revokes the key with this id, or the active key of
	// this name (case-insensitively); revoking a revoked key is harmless.
	RevokeServiceKey(ctx context.Context, idOrName string, at time.Time) error
}

type SigningKeyStore interface {
	// RotateSigningKey adds k and retires at k.Activates every key not
	// retired by then, atomically: each key signs from its Activates until
	// the next key's.
	RotateSigningKey(ctx context.Context, k *SigningKey) error
	// ActiveSigningKey returns the key that signs at now: activated and
	// not retired.
	ActiveSigningKey(ctx context.Context, now time.Time) (*SigningKey, error)
	SigningKeyByKid(ctx context.Context, kid string) (*SigningKey, error)
	// ListSigningKeys orders by creation time.
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	// VerificationKeys returns the keys to publish at now, newest first:
	// those not retired by then (the active one, and any that will
	// activate), and every retired key that signed a token unexpired at now.
	VerificationKeys(ctx context.Context, now time.Time) ([]*SigningKey, error)
}

type TokenStore interface {
	// IssueToken records t and its usage line in one transaction.
	IssueToken(ctx context.Context, t *IssuedToken, ev *UsageEvent) error
	// TokenByJTI returns a token with its spend, revocation and the current
	// state of its user, API key and account balance.
	TokenByJTI(ctx context.Context, jti string) (*IssuedToken, error)
	// ListTokens lists the tokens f selects, newest first (the last issued
	// first among those of one second).
	ListTokens(ctx context.Context, f TokenFilter, p Page) ([]*IssuedToken, error)
	// RevokeToken marks a token revoked; revoking twice keeps the first time.
	RevokeToken(ctx context.Context, jti string, at time.Time) error
	// ChargeTx runs decide inside one write transaction, on the token's
	// state and the charge stored under (jti, requestID) as they are now,
	// then persists what decide returned, or nothing if it returned an
	// error (which ChargeTx returns as is). Concurrent transactions, from
	// this process or another, see each other's writes in full or not at
	// all. ErrNotFound when no token has this jti.
	ChargeTx(ctx context.Context, jti, requestID string, decide func(ChargeState) (ChargeWrite, error)) error
}

type UsageStore interface {
	RecordUsage(ctx context.Context, ev *UsageEvent) error
	// UsageReport groups the selected lines by day (UTC), account,
	// application and method (case-insensitively), in that order.
	UsageReport(ctx context.Context, f UsageFilter) ([]*UsageRow, error)
	// ListUsage returns the selected lines one by one, oldest first.
	ListUsage(ctx context.Context, f UsageFilter, p Page) ([]*UsageEvent, error)
}

// ThrottleStore keeps the failed-login counters of a Throttle shared by
// every instance on one database. Keys are core's; a store may keep them
// hashed. A store that has no such table does not implement it, and the
// counters stay in each process's memory.
type ThrottleStore interface {
	// ThrottleCounters returns the counters of keys; a key without one is
	// missing from the map.
	ThrottleCounters(ctx context.Context, keys []string) (map[string]ThrottleCounter, error)
	// ThrottleTx runs update on the counters of keys (those without one
	// missing) in one transaction, serialised with every other on those
	// keys, and stores what update leaves: a key deleted from the map has
	// its counter deleted.
	ThrottleTx(ctx context.Context, keys []string, update func(map[string]ThrottleCounter)) error
	// PurgeThrottle deletes the counters last failed before before and not
	// locking anyone out at it.
	PurgeThrottle(ctx context.Context, before time.Time) error
}

// ThrottleCounter is the failures of one throttle key.
type ThrottleCounter struct {
	Failures int
	Last     time.Time // the last failure
	Until    time.Time // locked out until then; zero: not locked
}

// A store that can be moved: Dump reads every row, Load writes rows into an
// empty store ("jwtgate db copy" moves a deployment from SQLite to
// PostgreSQL, or back). Rows keep their ids.

// Dumper reads every row of a store, in an order that respects references:
// accounts, users, API keys, service keys, signing keys, tokens, charges,
// usage lines.
type Dumper interface {
	Dump(ctx context.Context) iter.Seq2[Row, error]
	// TableCounts returns how many rows each of the tables Dump reads holds.
	TableCounts(ctx context.Context) (map[string]int64, error)
}

// Loader writes rows into a store that holds none, in one transaction: all
// of them or, on any failure, none.
type Loader interface {
	Load(ctx context.Context, rows iter.Seq2[Row, error]) error
	TableCounts(ctx context.Context) (map[string]int64, error)
}

// Row is one row of a store: exactly one field is set.
type Row struct {
	Account    *Account
	User       *User
	APIKey     *APIKey
	ServiceKey *ServiceKey
	SigningKey *SigningKey
	Token      *IssuedToken // with its spend and revocation
	Charge     *StoredCharge
	Usage      *UsageEvent
}

// StoredCharge is a ChargeRecord with the request it is kept under.
type StoredCharge struct {
	JTI, RequestID string
	ChargeRecord
}

// The tables Dump reads, in its order (TableCounts' keys).
const (
	TableAccounts    = "accounts"
	TableUsers       = "users"
	TableAPIKeys     = "api_keys"
	TableServiceKeys = "service_keys"
	TableSigningKeys = "signing_keys"
	TableTokens      = "tokens"
	TableCharges     = "charges"
	TableUsage       = "usage"
)

// Tables lists them in Dump's order.
func Tables() []string {
	return []string{TableAccounts, TableUsers, TableAPIKeys, TableServiceKeys, TableSigningKeys, TableTokens, TableCharges, TableUsage}
}

// ChargeState is what a charge transaction reads before core decides.
type ChargeState struct {
	Token TokenState
	// Previous is the charge stored under the request id; nil when there is
	// none, or no request id.
	Previous *ChargeRecord
}

// TokenState is the part of a token that changes after it is issued, and
// the state of who holds it, as a charge transaction reads them.
type TokenState struct {
	AccountID     int64
	MaxCredits    *int64
	CreditsSpent  int64
	Revoked       bool
	UserDisabled  bool
	APIKeyRevoked bool
	Balance       int64 // the account's
}

// ChargeRecord is the outcome of a charge kept under its request id, so that
// a retry is answered as the first call was.
type ChargeRecord struct {
	Method         string
	Credits        int64
	Outcome        Outcome
	Message        string // the refusal, when the charge was refused
	TokenRemaining *int64 // nil: the token has no limit of its own
	Balance        int64
	Time           time.Time
}

// ChargeWrite is what core decided a charge transaction writes.
type ChargeWrite struct {
	// Credits are added to the token's spend and taken from its account's
	// balance; 0 changes neither.
	Credits int64
	// Record is kept under the request id; nil keeps nothing.
	Record *ChargeRecord
	// Usage is the ledger line; nil writes none.
	Usage *UsageEvent
}

// TokenStrategy is what a signed token is: how claims become a token and a
// token is checked (package token: JWS compact, with golang-jwt).
type TokenStrategy interface {
	// NewKey generates a signing key of alg (one of Algorithms()).
	NewKey(alg string, now time.Time) (*SigningKey, error)
	// Sign returns c signed with k, naming k's kid.
	Sign(k *SigningKey, c *Claims) (string, error)
	// Parse checks raw's form and its signature, with the key named by its
	// kid, in the algorithm of that key; with check, also its expiry, start,
	// issue time and issuer. A refusal is a *TokenError; a failed key
	// lookup is returned as is. When only check failed, the claims are
	// returned with the *TokenError.
	Parse(raw string, key KeyLookup, check *TimeCheck) (*Claims, error)
	// PublicJWK returns k's public key as a JWK; ok is false for a key with
	// nothing to publish (an HS256 secret).
	PublicJWK(k *SigningKey) (j JWK, ok bool, err error)
}

// KeyLookup returns the signing key of kid, or nil (and no error) when kid
// is not one of this service's keys.
type KeyLookup func(kid string) (*SigningKey, error)

// TimeCheck is what Parse checks beyond the signature.
type TimeCheck struct {
	Now    time.Time
	Issuer string
	Leeway time.Duration
}

// TokenError is why a token strategy refused a token; core words it.
type TokenError struct {
	Fault  TokenFault
	Alg    string // the token's algorithm (FaultAlgorithm, FaultKeyAlgorithm)
	KeyAlg string // its key's (FaultKeyAlgorithm)
}

func (e *TokenError) Error() string { return "token refused: " + string(e.Fault) }

// TokenFault classifies a refused token.
type TokenFault string

const (
	FaultMalformed    TokenFault = "malformed"     // not a well-formed token
	FaultUnsigned     TokenFault = "unsigned"      // alg "none"
	FaultAlgorithm    TokenFault = "algorithm"     // an algorithm jwtgate never signs with
	FaultNoKid        TokenFault = "no-kid"        // no key id
	FaultUnknownKid   TokenFault = "unknown-kid"   // a key id that is none of this service's
	FaultKeyAlgorithm TokenFault = "key-algorithm" // signed in another algorithm than its key's
	FaultSignature    TokenFault = "signature"     // the signature does not verify
	FaultExpired      TokenFault = "expired"
	FaultNotYet       TokenFault = "not-yet" // nbf or iat in the future
	FaultIssuer       TokenFault = "issuer"  // another iss
	FaultClaims       TokenFault = "claims"  // claims missing or out of range
)
