package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

var apiKeyTests = []test{
	{"CreateAPIKey/OK", testCreateAPIKey},
	{"CreateAPIKey/ErrConflict", testCreateAPIKeyErrConflict},
	{"CreateAPIKey/ErrNotFoundUser", testCreateAPIKeyErrNotFoundUser},
	{"APIKeyByID/ErrNotFound", testAPIKeyByIDErrNotFound},
	{"ListAPIKeys/OK", testListAPIKeys},
	{"ListAPIKeys/Paged", testListAPIKeysPaged},
	{"RevokeAPIKey/OK", testRevokeAPIKey},
	{"RevokeAPIKey/Twice", testRevokeAPIKeyTwice},
	{"RevokeAPIKey/ErrNotFound", testRevokeAPIKeyErrNotFound},
}

func checkAPIKeys(t *testing.T, s core.Store, want ...*core.APIKey) {
	t.Helper()
	for _, w := range want {
		got, err := s.APIKeyByID(t.Context(), w.ID)
		must(t, err)
		check(t, "APIKeyByID("+w.ID+")", got, w)
	}
}

func testCreateAPIKey(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := &core.APIKey{ID: "k1", AccountID: u.AccountID, UserID: u.ID, SecretHash: "$argon2id$secret", Created: base.In(east)}
	must(t, s.CreateAPIKey(t.Context(), k))
	checkAPIKeys(t, s, k)
}

func testCreateAPIKeyErrConflict(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newAPIKey(t, s, u, "k1", base)
	dup := &core.APIKey{ID: "k1", AccountID: u.AccountID, UserID: u.ID, SecretHash: "other", Created: base.Add(time.Hour)}
	wantErr(t, s.CreateAPIKey(t.Context(), dup), core.ErrConflict)
	checkAPIKeys(t, s, k)
}

func testCreateAPIKeyErrNotFoundUser(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := &core.APIKey{ID: "k1", AccountID: u.AccountID, UserID: u.ID + 1000, SecretHash: "h", Created: base}
	wantErr(t, s.CreateAPIKey(t.Context(), k), core.ErrNotFound)
	_, err := s.APIKeyByID(t.Context(), "k1")
	wantErr(t, err, core.ErrNotFound)
}

func testAPIKeyByIDErrNotFound(t *testing.T, s core.Store) {
	_, err := s.APIKeyByID(t.Context(), "k1")
	wantErr(t, err, core.ErrNotFound)
	newAPIKey(t, s, newUser(t, s, "alice"), "k1", base)
	for _, id := range []string{"k2", "K1", ""} {
		_, err = s.APIKeyByID(t.Context(), id)
		wantErr(t, err, core.ErrNotFound)
	}
}

func testListAPIKeys(t *testing.T, s core.Store) {
	ks, err := s.ListAPIKeys(t.Context(), nil, core.Page{})
	must(t, err)
	check(t, "ListAPIKeys(nil) on an empty store", ks, []*core.APIKey{})
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	carol := newUser(t, s, "carol")
	k3 := newAPIKey(t, s, alice, "k3", base.Add(3*time.Second))
	k1 := newAPIKey(t, s, alice, "k1", base.Add(1*time.Second))
	k2 := newAPIKey(t, s, bob, "k2", base.Add(2*time.Second))
	at := base.Add(time.Hour)
	must(t, s.RevokeAPIKey(t.Context(), "k1", at))
	k1.Revoked = &at
	nobody := carol.ID + 1000

	for _, tc := range []struct {
		name   string
		userID *int64
		want   []*core.APIKey
	}{
		{"all", nil, []*core.APIKey{k1, k2, k3}},
		{"alice", &alice.ID, []*core.APIKey{k1, k3}},
		{"bob", &bob.ID, []*core.APIKey{k2}},
		{"carol", &carol.ID, nil},
		{"nobody", &nobody, nil},
	} {
		ks, err := s.ListAPIKeys(t.Context(), tc.userID, core.Page{})
		must(t, err)
		check(t, "ListAPIKeys("+tc.name+")", ks, tc.want)
	}
}

// Pages of one user's keys, and of every key, among keys some of which
// were created at the same time.
func testListAPIKeysPaged(t *testing.T, s core.Store) {
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	var all, alices []*core.APIKey
	for i, created := range []time.Time{base, base.Add(time.Microsecond), base.Add(time.Second), base.Add(time.Second),
		base.Add(time.Second), base.Add(time.Minute), base.Add(time.Minute)} {
		u := alice
		if i%3 == 1 {
			u = bob
		}
		k := newAPIKey(t, s, u, fmt.Sprintf("key-%d", 7-i), created)
		all = append(all, k)
		if u == alice {
			alices = append(alices, k)
		}
	}
	full, err := s.ListAPIKeys(t.Context(), nil, core.Page{})
	must(t, err)
	checkOrder(t, "ListAPIKeys(nil)", full, all, func(k *core.APIKey) time.Time { return k.Created }, false)
	checkPages(t, "ListAPIKeys(nil)", full, func(p core.Page) ([]*core.APIKey, error) { return s.ListAPIKeys(t.Context(), nil, p) })

	full, err = s.ListAPIKeys(t.Context(), &alice.ID, core.Page{})
	must(t, err)
	checkOrder(t, "ListAPIKeys(alice)", full, alices, func(k *core.APIKey) time.Time { return k.Created }, false)
	checkPages(t, "ListAPIKeys(alice)", full, func(p core.Page) ([]*core.APIKey, error) { return s.ListAPIKeys(t.Context(), &alice.ID, p) })
}

func testRevokeAPIKey(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k1 := newAPIKey(t, s, u, "k1", base)
	k2 := newAPIKey(t, s, u, "k2", base)
	at := base.Add(time.Hour).In(east)
	must(t, s.RevokeAPIKey(t.Context(), "k1", at))
	k1.Revoked = &at
	checkAPIKeys(t, s, k1, k2)
}

func testRevokeAPIKeyTwice(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newAPIKey(t, s, u, "k1", base)
	first := base.Add(time.Hour)
	must(t, s.RevokeAPIKey(t.Context(), "k1", first))
	must(t, s.RevokeAPIKey(t.Context(), "k1", first.Add(time.Hour)))
	must(t, s.RevokeAPIKey(t.Context(), "k1", first.Add(-time.Minute)))
	k.Revoked = &first
	checkAPIKeys(t, s, k)
}

func testRevokeAPIKeyErrNotFound(t *testing.T, s core.Store) {
	wantErr(t, s.RevokeAPIKey(t.Context(), "k1", base), core.ErrNotFound)
	k := newAPIKey(t, s, newUser(t, s, "alice"), "k1", base)
	wantErr(t, s.RevokeAPIKey(t.Context(), "k2", base), core.ErrNotFound)
	checkAPIKeys(t, s, k)
}
