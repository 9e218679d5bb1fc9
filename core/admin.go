package core

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on names and passwords set by admin operations.
const (
	MaxNameLen       = 64
	MinPasswordLen   = 8
	MaxPasswordBytes = 1024
	BootstrapUser    = "admin"
	BootstrapCredits = 1000
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*$`)

// ValidateName checks a username or account name: 1–64 ASCII letters, digits,
// '.', '_', '@' or '-', starting with a letter or digit. Names are compared
// case-insensitively; "apikey-" is reserved for API-key logins.
func ValidateName(kind, name string) error {
	switch {
	case name == "" || len(name) > MaxNameLen:
		return Errorf(EINVALID, "%s must be 1 to %d characters", kind, MaxNameLen)
	case !nameRE.MatchString(name):
		return Errorf(EINVALID, "%s %q may hold only letters, digits, '.', '_', '@' and '-', starting with a letter or digit", kind, clip(name, 64))
	case strings.HasPrefix(strings.ToLower(name), APIKeyUserPrefix):
		return Errorf(EINVALID, "%s may not start with %q", kind, APIKeyUserPrefix)
	}
	return nil
}

// ValidatePassword checks a new password.
func ValidatePassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return Errorf(EINVALID, "password must be at least %d characters", MinPasswordLen)
	case len(pw) > MaxPasswordBytes:
		return Errorf(EINVALID, "password must be at most %d bytes", MaxPasswordBytes)
	case !utf8.ValidString(pw):
		return Errorf(EINVALID, "password must be valid UTF-8")
	}
	return nil
}

// Admin is what the operator does: users, accounts, keys and credits, and
// every listing, each paged. Its callers (the CLI, later a console) are
// trusted: it authenticates nobody.
type Admin struct {
	Users       UserStore
	Accounts    AccountStore
	APIKeys     APIKeyStore
	ServiceKeys ServiceKeyStore
	Tokens      TokenStore
	Usage       UsageStore
	Keys        *KeyRing
	Auth        *Authenticator // its Hasher hashes new secrets; it forgets a revoked service key
	Now         func() time.Time
}

func (a *Admin) now() time.Time { return a.Now().UTC() }

// CreateUserRequest creates a user, and its account unless Account names an
// existing one.
type CreateUserRequest struct {
	Username string
	Password string
	Account  string // existing account to join; empty creates one named after the user
	Credits  int64  // initial balance of a new account
}

// CreateUser adds a user (and its account).
func (a *Admin) CreateUser(ctx context.Context, req CreateUserRequest) (*User, error) {
	if err := ValidateName("username", req.Username); err != nil {
		return nil, err
	}
	if err := ValidatePassword(req.Password); err != nil {
		return nil, err
	}
	if req.Credits < 0 {
		return nil, Errorf(EINVALID, "credits must not be negative")
	}
	if req.Credits > MaxCreditsLimit {
		return nil, Errorf(EINVALID, "credits must be between 0 and %d", int64(MaxCreditsLimit))
	}
	hash, err := a.Auth.Hasher.Hash(req.Password)
	if err != nil {
		return nil, Internal(err)
	}
	userExists := Errorf(ECONFLICT, "user %q already exists", req.Username)
	if _, err := a.Users.UserByName(ctx, req.Username); err == nil {
		return nil, userExists
	} else if !errors.Is(err, ErrNotFound) {
		return nil, Internal(err)
	}
	u := &User{Username: req.Username, PasswordHash: hash, Created: a.now()}
	var newAccount *Account
	if req.Account == "" {
		accountExists := Errorf(ECONFLICT, "account %q already exists; name it as the account to add the user to it", req.Username)
		if _, err := a.Accounts.AccountByName(ctx, req.Username); err == nil {
			return nil, accountExists
		}
		newAccount = &Account{Name: req.Username, Credits: req.Credits, Created: u.Created}
		// Both checks race with another writer; then the store's
		// constraints decide, and its conflict does not say which name.
		userExists = Errorf(ECONFLICT, "user %q or account %q already exists", req.Username, req.Username)
	} else {
		if req.Credits != 0 {
			return nil, Errorf(EINVALID, "credits apply only to a new account; use 'credits add' for account %q", req.Account)
		}
		acc, err := a.account(ctx, req.Account)
		if err != nil {
			return nil, err
		}
		u.AccountID = acc.ID
	}
	if err := a.Users.CreateUser(ctx, u, newAccount); errors.Is(err, ErrConflict) {
		return nil, userExists
	} else if err != nil {
		return nil, Internal(err)
	}
	return u, nil
}

// worded says what a store error means to the operator: ErrNotFound is
// "<what> <name> not found"; anything else is unexpected, so internal.
func worded(err error, what, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return Errorf(ENOTFOUND, "%s %q not found", what, clip(name, 64))
	}
	return Internal(err)
}

// user finds a user by name.
func (a *Admin) user(ctx context.Context, username string) (*User, error) {
	u, err := a.Users.UserByName(ctx, username)
	return u, worded(err, "user", username)
}

// account finds an account by name.
func (a *Admin) account(ctx context.Context, name string) (*Account, error) {
	acc, err := a.Accounts.AccountByName(ctx, name)
	return acc, worded(err, "account", name)
}

// SetPassword replaces a user's password.
func (a *Admin) SetPassword(ctx context.Context, username, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	u, err := a.user(ctx, username)
	if err != nil {
		return err
	}
	hash, err := a.Auth.Hasher.Hash(password)
	if err != nil {
		return Internal(err)
	}
	return worded(a.Users.SetPasswordHash(ctx, u.ID, hash), "user", username)
}

// SetUserDisabled disables or re-enables a user's logins and API keys.
func (a *Admin) SetUserDisabled(ctx context.Context, username string, disabled bool) error {
	u, err := a.user(ctx, username)
	if err != nil {
		return err
	}
	return worded(a.Users.SetUserDisabled(ctx, u.ID, disabled), "user", username)
}

// CreateAPIKey creates an API key for a user and returns the key; it is
// shown only here, the store keeps its hash.
func (a *Admin) CreateAPIKey(ctx context.Context, username string) (string, *APIKey, error) {
	u, err := a.user(ctx, username)
	if err != nil {
		return "", nil, err
	}
	id, secret, key := newAPIKey()
	hash, err := a.Auth.Hasher.Hash(secret)
	if err != nil {
		return "", nil, Internal(err)
	}
	k := &APIKey{ID: id, AccountID: u.AccountID, UserID: u.ID, SecretHash: hash, Created: a.now()}
	if err := a.APIKeys.CreateAPIKey(ctx, k); err != nil {
		return "", nil, Internal(err) // a random id that collides, or a user deleted meanwhile
	}
	return key, k, nil
}

// RevokeAPIKey revokes a key by its id, "jg_<id>" or the whole key;
// revoking twice is harmless.
func (a *Admin) RevokeAPIKey(ctx context.Context, idOrKey string) error {
	id := keyID(idOrKey, apiKeyPrefix)
	return worded(a.APIKeys.RevokeAPIKey(ctx, id, a.now()), "API key", id)
}

// CreateServiceKey creates a key for one of the operator's services and
// returns it; it is shown only here.
func (a *Admin) CreateServiceKey(ctx context.Context, name string) (string, *ServiceKey, error) {
	if err := ValidateName("service key name", name); err != nil {
		return "", nil, err
	}
	if strings.HasPrefix(strings.ToLower(name), serviceKeyPrefix) {
		return "", nil, Errorf(EINVALID, "service key name may not start with %q", serviceKeyPrefix)
	}
	id, secret, key := newServiceKey()
	k := &ServiceKey{ID: id, Name: name, SecretHash: hashServiceSecret(secret), Created: a.now()}
	err := a.ServiceKeys.CreateServiceKey(ctx, k)
	switch {
	case errors.Is(err, ErrConflict):
		return "", nil, Errorf(ECONFLICT, "an active service key named %q already exists", name)
	case err != nil:
		return "", nil, Internal(err)
	}
	return key, k, nil
}

// RevokeServiceKey revokes a service key by name, id or the whole key.
func (a *Admin) RevokeServiceKey(ctx context.Context, nameOrID string) error {
	defer a.Auth.forgetServiceKeys()
	id := keyID(nameOrID, serviceKeyPrefix)
	return worded(a.ServiceKeys.RevokeServiceKey(ctx, id, a.now()), "service key", id)
}

// AddCredits changes an account's balance by delta (which may be negative)
// and returns the new balance.
func (a *Admin) AddCredits(ctx context.Context, account string, delta int64) (int64, error) {
	acc, err := a.account(ctx, account)
	if err != nil {
		return 0, err
	}
	if delta > MaxCreditsLimit || delta < -MaxCreditsLimit {
		return 0, Errorf(EINVALID, "credit change must be within ±%d", int64(MaxCreditsLimit))
	}
	bal, err := a.Accounts.AddCredits(ctx, acc.ID, delta)
	if errors.Is(err, ErrOutOfRange) {
		return 0, Errorf(EINVALID, "the balance must stay between 0 and %d; it cannot go below zero", int64(MaxCreditsLimit))
	}
	return bal, worded(err, "account", account)
}

// RotateSigningKey adds a signing key of alg (the newest key's algorithm
// when alg is empty), published at once and signing after the key ring's
// PublishAhead, or at once with now (a compromised key's emergency);
// earlier keys stay published while their tokens live.
func (a *Admin) RotateSigningKey(ctx context.Context, alg string, now bool) (*SigningKey, error) {
	if alg == "" {
		keys, err := a.Keys.Keys(ctx)
		if err != nil {
			return nil, err
		}
		if cur := newest(keys); cur != nil {
			alg = cur.Alg
		}
	}
	return a.Keys.Rotate(ctx, alg, now)
}

// Bootstrap creates the "admin" account and user with a random password and
// BootstrapCredits when the store has no user at all. It returns the password,
// or "" if the store already had users.
func (a *Admin) Bootstrap(ctx context.Context) (string, error) {
	n, err := a.Users.CountUsers(ctx)
	if err != nil {
		return "", Internal(err)
	}
	if n > 0 {
		return "", nil
	}
	password := randomID(18)
	_, err = a.CreateUser(ctx, CreateUserRequest{Username: BootstrapUser, Password: password, Credits: BootstrapCredits})
	if ErrorCode(err) == ECONFLICT {
		return "", nil // another process bootstrapped first
	}
	return password, err
}

// Listings. Each is ordered as its store role says and paged by p.

// UsersPage lists users with their account's name, by username.
func (a *Admin) UsersPage(ctx context.Context, p Page) ([]*UserInfo, error) {
	users, err := a.Users.ListUsers(ctx, p)
	return users, internalOr(err)
}

// AccountsPage lists accounts by name.
func (a *Admin) AccountsPage(ctx context.Context, p Page) ([]*Account, error) {
	accs, err := a.Accounts.ListAccounts(ctx, p)
	return accs, internalOr(err)
}

// Account returns one account by name.
func (a *Admin) Account(ctx context.Context, name string) (*Account, error) {
	return a.account(ctx, name)
}

// APIKeyInfo is an API key as listed, with its user's name.
type APIKeyInfo struct {
	APIKey
	Username string
}

// APIKeysPage lists one user's API keys (everyone's for ""), by creation time.
func (a *Admin) APIKeysPage(ctx context.Context, username string, p Page) ([]*APIKeyInfo, error) {
	var uid *int64
	if username != "" {
		u, err := a.user(ctx, username)
		if err != nil {
			return nil, err
		}
		uid = &u.ID
	}
	keys, err := a.APIKeys.ListAPIKeys(ctx, uid, p)
	if err != nil {
		return nil, Internal(err)
	}
	names := map[int64]string{}
	out := make([]*APIKeyInfo, 0, len(keys))
	for _, k := range keys {
		name, ok := names[k.UserID]
		if !ok {
			u, err := a.Users.UserByID(ctx, k.UserID)
			if err != nil {
				return nil, Internal(err)
			}
			name, names[k.UserID] = u.Username, u.Username
		}
		out = append(out, &APIKeyInfo{APIKey: *k, Username: name})
	}
	return out, nil
}

// ServiceKeysPage lists service keys, revoked ones too, by creation time.
func (a *Admin) ServiceKeysPage(ctx context.Context, p Page) ([]*ServiceKey, error) {
	keys, err := a.ServiceKeys.ListServiceKeys(ctx, p)
	return keys, internalOr(err)
}

// SigningKeys lists the signing keys, oldest first.
func (a *Admin) SigningKeys(ctx context.Context) ([]*SigningKey, error) {
	return a.Keys.Keys(ctx)
}

// UsageQuery selects usage for the operator: one account by name (every
// account and unattributed calls when empty) and a time range [From, To)
// (zero: unbounded).
type UsageQuery struct {
	Account  string
	From, To time.Time
}

func (a *Admin) usageFilter(ctx context.Context, q UsageQuery) (UsageFilter, error) {
	f := UsageFilter{From: q.From, To: q.To}
	if q.Account != "" {
		acc, err := a.account(ctx, q.Account)
		if err != nil {
			return f, err
		}
		f.AccountID = &acc.ID
	}
	return f, nil
}

// UsageReport returns usage by day, account, application and method.
func (a *Admin) UsageReport(ctx context.Context, q UsageQuery) ([]*UsageRow, error) {
	f, err := a.usageFilter(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := a.Usage.UsageReport(ctx, f)
	return rows, internalOr(err)
}

// UsageLines returns the ledger's lines one by one, oldest first.
func (a *Admin) UsageLines(ctx context.Context, q UsageQuery, p Page) ([]*UsageEvent, error) {
	f, err := a.usageFilter(ctx, q)
	if err != nil {
		return nil, err
	}
	lines, err := a.Usage.ListUsage(ctx, f, p)
	return lines, internalOr(err)
}

// TokenQuery selects issued tokens: one account by name (all when empty),
// and only those live now when Live.
type TokenQuery struct {
	Account string
	Live    bool
}

// TokensPage lists issued tokens, newest first.
func (a *Admin) TokensPage(ctx context.Context, q TokenQuery, p Page) ([]*IssuedToken, error) {
	var f TokenFilter
	if q.Account != "" {
		acc, err := a.account(ctx, q.Account)
		if err != nil {
			return nil, err
		}
		f.AccountID = &acc.ID
	}
	if q.Live {
		f.LiveAt = a.now()
	}
	toks, err := a.Tokens.ListTokens(ctx, f, p)
	return toks, internalOr(err)
}

// internalOr wraps a store failure as internal.
func internalOr(err error) error {
	if err != nil {
		return Internal(err)
	}
	return nil
}
