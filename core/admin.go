package core

import (
	"context"
	"regexp"
	"strings"
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

// CreateUserRequest creates a user, and its account unless Account names an
// existing one.
type CreateUserRequest struct {
	Username string
	Password string
	Account  string // existing account to join; empty creates one named after the user
	Credits  int64  // initial balance of a new account
}

// CreateUser adds a user (and its account).
func (s *Service) CreateUser(ctx context.Context, req CreateUserRequest) (*User, error) {
	if err := ValidateName("username", req.Username); err != nil {
		return nil, err
	}
	if err := ValidatePassword(req.Password); err != nil {
		return nil, err
	}
	if req.Credits < 0 {
		return nil, Errorf(EINVALID, "credits must not be negative")
	}
	hash, err := s.Hasher.Hash(req.Password)
	if err != nil {
		return nil, Internal(err)
	}
	if _, err := s.Store.UserByName(ctx, req.Username); err == nil {
		return nil, Errorf(ECONFLICT, "user %q already exists", req.Username)
	} else if ErrorCode(err) != ENOTFOUND {
		return nil, err
	}
	u := &User{Username: req.Username, PasswordHash: hash, Created: s.now()}
	var newAccount *Account
	if req.Account == "" {
		if _, err := s.Store.AccountByName(ctx, req.Username); err == nil {
			return nil, Errorf(ECONFLICT, "account %q already exists; name it as the account to add the user to it", req.Username)
		}
		newAccount = &Account{Name: req.Username, Credits: req.Credits, Created: u.Created}
	} else {
		if req.Credits != 0 {
			return nil, Errorf(EINVALID, "credits apply only to a new account; use 'credits add' for account %q", req.Account)
		}
		a, err := s.Store.AccountByName(ctx, req.Account)
		if err != nil {
			return nil, err
		}
		u.AccountID = a.ID
	}
	if err := s.Store.CreateUser(ctx, u, newAccount); err != nil {
		return nil, err
	}
	return u, nil
}

// SetPassword replaces a user's password.
func (s *Service) SetPassword(ctx context.Context, username, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	u, err := s.Store.UserByName(ctx, username)
	if err != nil {
		return err
	}
	hash, err := s.Hasher.Hash(password)
	if err != nil {
		return Internal(err)
	}
	return s.Store.SetPasswordHash(ctx, u.ID, hash)
}

// SetUserDisabled disables or re-enables a user's logins and API keys.
func (s *Service) SetUserDisabled(ctx context.Context, username string, disabled bool) error {
	u, err := s.Store.UserByName(ctx, username)
	if err != nil {
		return err
	}
	return s.Store.SetUserDisabled(ctx, u.ID, disabled)
}

// CreateAPIKey creates an API key for a user and returns the key; it is
// shown only here, the store keeps its hash.
func (s *Service) CreateAPIKey(ctx context.Context, username string) (string, *APIKey, error) {
	u, err := s.Store.UserByName(ctx, username)
	if err != nil {
		return "", nil, err
	}
	id, secret, key := newAPIKey()
	hash, err := s.Hasher.Hash(secret)
	if err != nil {
		return "", nil, Internal(err)
	}
	k := &APIKey{ID: id, AccountID: u.AccountID, UserID: u.ID, SecretHash: hash, Created: s.now()}
	if err := s.Store.CreateAPIKey(ctx, k); err != nil {
		return "", nil, err
	}
	return key, k, nil
}

// RevokeAPIKey revokes a key by its id (the part after "jg_"); revoking twice
// is harmless.
func (s *Service) RevokeAPIKey(ctx context.Context, id string) error {
	if full, _, ok := splitAPIKey(id); ok {
		id = full // accept the whole key as well
	} else if rest, ok := strings.CutPrefix(id, apiKeyPrefix); ok {
		id = strings.TrimSuffix(rest, "_") // and "jg_<id>"
	}
	return s.Store.RevokeAPIKey(ctx, id, s.now())
}

// AddCredits changes an account's balance by delta (which may be negative)
// and returns the new balance.
func (s *Service) AddCredits(ctx context.Context, account string, delta int64) (int64, error) {
	a, err := s.Store.AccountByName(ctx, account)
	if err != nil {
		return 0, err
	}
	if delta > MaxCreditsLimit || delta < -MaxCreditsLimit {
		return 0, Errorf(EINVALID, "credit change must be within ±%d", int64(MaxCreditsLimit))
	}
	return s.Store.AddCredits(ctx, a.ID, delta)
}

// Bootstrap creates the "admin" account and user with a random password and
// BootstrapCredits when the store has no user at all. It returns the password,
// or "" if the store already had users.
func (s *Service) Bootstrap(ctx context.Context) (string, error) {
	n, err := s.Store.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	password := randomID(18)
	_, err = s.CreateUser(ctx, CreateUserRequest{Username: BootstrapUser, Password: password, Credits: BootstrapCredits})
	if ErrorCode(err) == ECONFLICT {
		return "", nil // another process bootstrapped first
	}
	return password, err
}

// Usage returns the usage report for f.
func (s *Service) Usage(ctx context.Context, f UsageFilter) ([]*UsageRow, error) {
	return s.Store.UsageReport(ctx, f)
}
