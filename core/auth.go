package core

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jwtgate/jwtgate/internal/argon2id"
)

// Credentials identify an account, one way only: a username and password
// ("apikey-KEY" with an empty password is an API key), an API key given on
// its own, or a token the account was issued (for the operations that take
// one). Surfaces pass what the request gave; the operation's rules (Op)
// decide what is accepted.
type Credentials struct {
	Username string
	Password string
	// APIKey is a key given apart from the username (the JSON surfaces'
	// ?key=); it is read as the username "apikey-KEY".
	APIKey     string
	Bearer     string
	ClientAddr string // the caller's network address, set by the surface
}

// given reports whether any credential is given.
func (c Credentials) given() bool {
	return c.Username != "" || c.Password != "" || c.APIKey != "" || c.Bearer != ""
}

// login returns the username and password to authenticate: an APIKey is
// the username "apikey-KEY" with an empty password.
func (c Credentials) login() (username, password string) {
	if c.APIKey != "" {
		return APIKeyUserPrefix + c.APIKey, ""
	}
	return strings.TrimSpace(c.Username), c.Password
}

// principal is an identified caller.
type principal struct {
	user     *User
	account  *Account
	apiKeyID string
}

// attribute puts the principal's account and user on a ledger line.
func (p *principal) attribute(ev *UsageEvent) {
	if p != nil {
		ev.AccountID, ev.UserID = &p.account.ID, &p.user.ID
	}
}

// Authenticator checks every kind of credential, in one place: passwords and
// API keys (slow hashes, behind the hash gate, throttled, and as slow for an
// unknown name as for a wrong secret), bearer tokens (signature by the
// KeyRing, state from the token's record) and the operator's service keys.
type Authenticator struct {
	Users       UserStore
	Accounts    AccountStore
	APIKeys     APIKeyStore
	ServiceKeys ServiceKeyStore
	Tokens      TokenStore // a bearer token's record
	Keys        *KeyRing   // a bearer token's signature
	Hasher      PasswordHasher
	Throttle    *Throttle
	HashGate    *HashGate // nil: hashing unbounded
	Now         func() time.Time
	Logger      *slog.Logger

	dummyOnce sync.Once
	dummyHash string
	svcKeys   keyCache
}

// authenticate checks credentials for op, of any kind op accepts.
func (a *Authenticator) authenticate(ctx context.Context, op *Op, c Credentials) (*principal, error) {
	if err := op.Admit(c); err != nil {
		return nil, err
	}
	if c.Bearer != "" {
		return a.bearer(ctx, op, c)
	}
	return a.login(ctx, c)
}

// login checks a username and password or an API key (as "apikey-KEY" or on
// its own); c has been admitted. It returns the principal the credentials
// name even when they fail (for the ledger).
func (a *Authenticator) login(ctx context.Context, c Credentials) (*principal, error) {
	now := a.Now().UTC()
	username, password := c.login()
	key, isKey := apiKeyOf(username)
	if username == "" || (!isKey && password == "") {
		return nil, Errorf(EUNAUTHORIZED, "username and password are required (or apikey-<KEY> as username with an empty password)")
	}
	if isKey && password != "" {
		return nil, Errorf(EINVALID, "password must be empty when the username is apikey-<KEY>")
	}
	throttleName := username
	if isKey {
		// Throttle by the key's public id, never by the secret.
		id, _, _ := splitAPIKey(key)
		throttleName = APIKeyUserPrefix + id
	}
	wait, err := a.Throttle.Check(ctx, throttleName, c.ClientAddr, now)
	if err != nil {
		return nil, Internal(err)
	}
	if wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		return nil, &Error{Code: ETHROTTLED, RetryAfter: time.Duration(secs) * time.Second,
			Message: "too many failed attempts, retry in " + strconv.Itoa(secs) + " s"}
	}
	var p *principal
	if isKey {
		p, err = a.apiKey(ctx, key)
	} else {
		p, err = a.password(ctx, username, password)
	}
	var terr error
	switch ErrorCode(err) {
	case "":
		terr = a.Throttle.Succeed(ctx, throttleName, c.ClientAddr)
	case EUNAUTHORIZED:
		terr = a.Throttle.Fail(ctx, throttleName, c.ClientAddr, now)
	}
	if terr != nil {
		// The login's answer stands; an uncounted failure is logged.
		a.Logger.ErrorContext(ctx, "updating the login throttle failed", "err", terr)
	}
	return p, err
}

// identify returns the principal that credentials name, without checking
// their secret: the attribution of a call refused before its credentials
// were checked. Nil when they name nobody, or not one way only.
func (a *Authenticator) identify(ctx context.Context, op *Op, c Credentials) *principal {
	if !c.given() || c.Bearer != "" || op.Admit(c) != nil {
		return nil
	}
	username, _ := c.login()
	var p *principal
	var err error
	if key, isKey := apiKeyOf(username); isKey {
		id, _, ok := splitAPIKey(key)
		if !ok {
			return nil
		}
		var k *APIKey
		if k, err = a.APIKeys.APIKeyByID(ctx, id); err == nil {
			p, err = a.principalByID(ctx, k.UserID, k.AccountID, k.ID)
		}
	} else if username != "" {
		var u *User
		if u, err = a.Users.UserByName(ctx, username); err == nil {
			p, err = a.principalOf(ctx, u, u.AccountID, "")
		}
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		a.Logger.WarnContext(ctx, "identifying a refused call's account failed", "err", err)
	}
	return p
}

var (
	errBadLogin     = Errorf(EUNAUTHORIZED, "invalid username or password")
	errBadAPIKey    = Errorf(EUNAUTHORIZED, "invalid API key")
	errUserDisabled = Errorf(EFORBIDDEN, "user is disabled")
)

func (a *Authenticator) password(ctx context.Context, username, password string) (*principal, error) {
	u, err := a.Users.UserByName(ctx, username)
	ok, rehash, err := a.secret(ctx, err, func() string { return u.PasswordHash }, password)
	if err != nil || u == nil {
		return nil, cmpOr(err, errBadLogin)
	}
	p, err := a.principalOf(ctx, u, u.AccountID, "")
	switch {
	case err != nil:
		return nil, Internal(err)
	case !ok:
		return p, errBadLogin
	case u.Disabled:
		return p, errUserDisabled
	}
	if rehash {
		a.upgradeHash(ctx, u.ID, password)
	}
	return p, nil
}

func (a *Authenticator) apiKey(ctx context.Context, key string) (*principal, error) {
	id, secret, ok := splitAPIKey(key)
	var k *APIKey
	err := ErrNotFound // a key of the wrong form names no key
	if ok {
		k, err = a.APIKeys.APIKeyByID(ctx, id)
	}
	match, _, err := a.secret(ctx, err, func() string { return k.SecretHash }, secret)
	if err != nil || k == nil {
		return nil, cmpOr(err, errBadAPIKey)
	}
	p, err := a.principalByID(ctx, k.UserID, k.AccountID, k.ID)
	switch {
	case err != nil:
		return nil, Internal(err)
	case !match:
		return p, errBadAPIKey
	case k.Revoked != nil:
		return p, Errorf(EFORBIDDEN, "API key has been revoked")
	case p.user.Disabled:
		return p, errUserDisabled
	}
	return p, nil
}

// secret checks a secret against the stored hash of what a lookup found.
// When the lookup found nothing (lookupErr is ErrNotFound) it checks a
// dummy hash instead and reports no match, so that an unknown name costs
// the time a wrong secret does. Any other lookup failure is internal.
func (a *Authenticator) secret(ctx context.Context, lookupErr error, hash func() string, secret string) (match, rehash bool, err error) {
	switch {
	case errors.Is(lookupErr, ErrNotFound):
		return a.verifySecret(ctx, "", secret)
	case lookupErr != nil:
		return false, false, Internal(lookupErr)
	}
	return a.verifySecret(ctx, hash(), secret)
}

// bearer checks a token as a credential: genuine, live, allowing op, from
// an address it is bound to.
func (a *Authenticator) bearer(ctx context.Context, op *Op, c Credentials) (*principal, error) {
	_, rec, err := parseToken(ctx, a.Keys, a.Tokens, c.Bearer, a.Now().UTC())
	if err != nil {
		return nil, err
	}
	if !methodAllowed(rec.AllowedMethods, op.Method) {
		return nil, tokenMethodRefusal(op.Method, rec.AllowedMethods)
	}
	if err := callerAllowed(rec.ClientIP, c.ClientAddr); err != nil {
		return nil, err
	}
	p, err := a.principalByID(ctx, rec.UserID, rec.AccountID, rec.APIKeyID)
	if err != nil {
		return nil, Internal(err)
	}
	if p.user.Disabled {
		return nil, errUserDisabled
	}
	return p, nil
}

// principalByID loads a principal from its ids.
func (a *Authenticator) principalByID(ctx context.Context, userID, accountID int64, apiKeyID string) (*principal, error) {
	u, err := a.Users.UserByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	return a.principalOf(ctx, u, accountID, apiKeyID)
}

// principalOf completes a principal with its account.
func (a *Authenticator) principalOf(ctx context.Context, u *User, accountID int64, apiKeyID string) (*principal, error) {
	acc, err := a.Accounts.AccountByID(ctx, accountID)
	if err != nil {
		return nil, err
	}
	return &principal{user: u, account: acc, apiKeyID: apiKeyID}, nil
}

// verifySecret checks secret against a stored hash inside the hash gate.
// For hash "" (no such user or key) it checks a dummy hash instead and
// reports no match, so that an unknown name costs the time a wrong secret
// does. EBUSY from the gate is kept; any other failure is internal.
func (a *Authenticator) verifySecret(ctx context.Context, hash, secret string) (ok, rehash bool, err error) {
	h := hash
	if h == "" {
		h = a.dummy()
	}
	gerr := a.HashGate.do(ctx, func(m *argon2id.Memory) { ok, rehash, err = a.Hasher.VerifyWith(m, h, secret) })
	switch {
	case gerr != nil && ErrorCode(gerr) == EBUSY:
		return false, false, gerr
	case gerr != nil:
		return false, false, Internal(gerr)
	case err != nil:
		return false, false, Internal(err)
	case hash == "":
		return false, false, nil
	}
	return ok, rehash, nil
}

// dummy returns the hash verified in place of a missing user's or key's.
func (a *Authenticator) dummy() string {
	a.dummyOnce.Do(func() {
		h, err := a.Hasher.Hash(randomID(16))
		if err != nil {
			panic("hashing the dummy password failed: " + err.Error())
		}
		a.dummyHash = h
	})
	return a.dummyHash
}

// upgradeHash replaces a hash made with weaker parameters; a failure is
// logged and the login still succeeds.
func (a *Authenticator) upgradeHash(ctx context.Context, userID int64, password string) {
	var h string
	var err error
	if gerr := a.HashGate.do(ctx, func(m *argon2id.Memory) { h, err = a.Hasher.HashWith(m, password) }); gerr != nil {
		err = gerr
	}
	if err == nil {
		err = a.Users.SetPasswordHash(ctx, userID, h)
	}
	if err != nil {
		a.Logger.WarnContext(ctx, "upgrading password hash failed", "user_id", userID, "err", err)
	}
}

var errServiceKey = Errorf(EUNAUTHORIZED, "a valid serviceKey is required: VerifyJWT and ChargeJWT are for the operator's services")

// serviceKey authenticates one of the operator's services. A key that
// verified is remembered for serviceKeyTTL (revoking it here forgets it at
// once).
func (a *Authenticator) serviceKey(ctx context.Context, key string) error {
	key = strings.TrimSpace(key)
	id, secret, ok := splitServiceKey(key)
	if !ok {
		return errServiceKey
	}
	now := a.Now()
	if a.svcKeys.ok(key, now) {
		return nil
	}
	k, err := a.ServiceKeys.ServiceKeyByID(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return errServiceKey
	case err != nil:
		return Internal(err)
	case subtle.ConstantTimeCompare([]byte(hashServiceSecret(secret)), []byte(k.SecretHash)) != 1:
		return errServiceKey
	case k.Revoked != nil:
		return Errorf(EUNAUTHORIZED, "service key %q has been revoked", k.Name)
	}
	a.svcKeys.put(key, now)
	return nil
}

// forgetServiceKeys drops every remembered service key.
func (a *Authenticator) forgetServiceKeys() { a.svcKeys.clear() }

// The key formats, in one place. API keys read "jg_<id>_<secret>" and
// service keys "jgs_<id>_<secret>": the id (16 hex digits) finds the stored
// hash, the secret is checked against it.
const (
	// APIKeyUserPrefix marks a username that carries an API key instead.
	APIKeyUserPrefix = "apikey-"
	apiKeyPrefix     = "jg_"
	serviceKeyPrefix = "jgs_"
)

func newAPIKey() (id, secret, key string) {
	id, secret = randomHex(8), randomID(32)
	return id, secret, apiKeyPrefix + id + "_" + secret
}

func newServiceKey() (id, secret, key string) {
	id, secret = randomHex(8), randomID(32)
	return id, secret, serviceKeyPrefix + id + "_" + secret
}

// apiKeyOf returns the key a username carries ("apikey-KEY", the prefix in
// any letter case).
func apiKeyOf(username string) (string, bool) {
	if len(username) >= len(APIKeyUserPrefix) && strings.EqualFold(username[:len(APIKeyUserPrefix)], APIKeyUserPrefix) {
		return username[len(APIKeyUserPrefix):], true
	}
	return "", false
}

func splitAPIKey(key string) (id, secret string, ok bool) {
	return splitKey(key, apiKeyPrefix)
}

func splitServiceKey(key string) (id, secret string, ok bool) {
	if !utf8.ValidString(key) {
		return "", "", false
	}
	return splitKey(key, serviceKeyPrefix)
}

// splitKey splits prefix<id>_<secret>; without the prefix, the whole key is
// the secret (to be checked against a dummy hash).
func splitKey(key, prefix string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(key, prefix)
	if !found {
		return "", key, false
	}
	id, secret, found = strings.Cut(rest, "_")
	return id, secret, found && len(id) == 16 && isHex(id) && secret != ""
}

// keyID returns the id of a key given whole, as prefix<id> or as its id.
func keyID(s, prefix string) string {
	if id, _, ok := splitKey(s, prefix); ok {
		return id
	}
	if rest, ok := strings.CutPrefix(s, prefix); ok {
		id, _, _ := strings.Cut(rest, "_")
		return id
	}
	return s
}

// hashServiceSecret is the stored form of a service key's secret: 256
// random bits need no slow hash.
func hashServiceSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// cmpOr returns err, or alt when err is nil.
func cmpOr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}
