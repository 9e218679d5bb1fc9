package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

var serviceKeyTests = []test{
	{"CreateServiceKey/OK", testCreateServiceKey},
	{"CreateServiceKey/ErrConflict", testCreateServiceKeyErrConflict},
	{"CreateServiceKey/NameReusableAfterRevoke", testCreateServiceKeyNameReusable},
	{"ServiceKeyByID/ErrNotFound", testServiceKeyByIDErrNotFound},
	{"ListServiceKeys/OK", testListServiceKeys},
	{"ListServiceKeys/Paged", testListServiceKeysPaged},
	{"RevokeServiceKey/ByID", testRevokeServiceKeyByID},
	{"RevokeServiceKey/ByName", testRevokeServiceKeyByName},
	{"RevokeServiceKey/Twice", testRevokeServiceKeyTwice},
	{"RevokeServiceKey/ErrNotFound", testRevokeServiceKeyErrNotFound},
}

// checkServiceKeys requires ListServiceKeys to be want, in order, and each
// key to read back the same by id.
func checkServiceKeys(t *testing.T, s core.Store, want ...*core.ServiceKey) {
	t.Helper()
	ks, err := s.ListServiceKeys(t.Context(), core.Page{})
	must(t, err)
	check(t, "ListServiceKeys", ks, want)
	for _, w := range want {
		got, err := s.ServiceKeyByID(t.Context(), w.ID)
		must(t, err)
		check(t, "ServiceKeyByID("+w.ID+")", got, w)
	}
}

func testCreateServiceKey(t *testing.T, s core.Store) {
	k := &core.ServiceKey{ID: "0123456789abcdef", Name: "Billing", SecretHash: strings.Repeat("ab", 32), Created: base.In(east)}
	must(t, s.CreateServiceKey(t.Context(), k))
	checkServiceKeys(t, s, k)
}

func testCreateServiceKeyErrConflict(t *testing.T, s core.Store) {
	k := newServiceKey(t, s, "sk1", "Billing", base)
	for i, name := range []string{"Billing", "billing", "BILLING"} {
		dup := &core.ServiceKey{ID: fmt.Sprintf("dup%d", i), Name: name, SecretHash: "other", Created: base.Add(time.Hour)}
		wantErr(t, s.CreateServiceKey(t.Context(), dup), core.ErrConflict)
		_, err := s.ServiceKeyByID(t.Context(), dup.ID)
		wantErr(t, err, core.ErrNotFound)
	}
	// The same id under another name is a conflict too.
	dup := &core.ServiceKey{ID: "sk1", Name: "shipping", SecretHash: "other", Created: base.Add(time.Hour)}
	wantErr(t, s.CreateServiceKey(t.Context(), dup), core.ErrConflict)
	checkServiceKeys(t, s, k)
}

// A name is unique among active keys only: a revoked key's name can be reused,
// once at a time.
func testCreateServiceKeyNameReusable(t *testing.T, s core.Store) {
	k1 := newServiceKey(t, s, "sk1", "billing", base)
	at := base.Add(time.Hour)
	must(t, s.RevokeServiceKey(t.Context(), "sk1", at))
	k1.Revoked = &at
	k2 := newServiceKey(t, s, "sk2", "Billing", base.Add(2*time.Hour))
	dup := &core.ServiceKey{ID: "sk3", Name: "BILLING", SecretHash: "other", Created: base.Add(3 * time.Hour)}
	wantErr(t, s.CreateServiceKey(t.Context(), dup), core.ErrConflict)
	checkServiceKeys(t, s, k1, k2)
}

func testServiceKeyByIDErrNotFound(t *testing.T, s core.Store) {
	_, err := s.ServiceKeyByID(t.Context(), "sk1")
	wantErr(t, err, core.ErrNotFound)
	newServiceKey(t, s, "sk1", "billing", base)
	for _, id := range []string{"sk2", "billing", "SK1", ""} {
		_, err = s.ServiceKeyByID(t.Context(), id)
		wantErr(t, err, core.ErrNotFound)
	}
}

func testListServiceKeys(t *testing.T, s core.Store) {
	checkServiceKeys(t, s)
	k3 := newServiceKey(t, s, "sk3", "reports", base.Add(3*time.Second))
	k1 := newServiceKey(t, s, "sk1", "shipping", base.Add(1*time.Second))
	k2 := newServiceKey(t, s, "sk2", "billing", base.Add(2*time.Second))
	at := base.Add(time.Hour)
	must(t, s.RevokeServiceKey(t.Context(), "sk2", at))
	k2.Revoked = &at
	checkServiceKeys(t, s, k1, k2, k3)
}

// Pages of the service keys, revoked ones included, some created at the same time.
func testListServiceKeysPaged(t *testing.T, s core.Store) {
	var all []*core.ServiceKey
	for i, created := range []time.Time{base, base.Add(time.Second), base.Add(time.Second), base.Add(time.Second), base.Add(time.Hour)} {
		all = append(all, newServiceKey(t, s, fmt.Sprintf("sk%d", 9-i), fmt.Sprintf("service %d", i), created))
	}
	at := base.Add(2 * time.Hour)
	must(t, s.RevokeServiceKey(t.Context(), all[2].ID, at))
	all[2].Revoked = &at
	full, err := s.ListServiceKeys(t.Context(), core.Page{})
	must(t, err)
	checkOrder(t, "ListServiceKeys", full, all, func(k *core.ServiceKey) time.Time { return k.Created }, false)
	checkPages(t, "ListServiceKeys", full, func(p core.Page) ([]*core.ServiceKey, error) { return s.ListServiceKeys(t.Context(), p) })
}

func testRevokeServiceKeyByID(t *testing.T, s core.Store) {
	k1 := newServiceKey(t, s, "sk1", "billing", base)
	k2 := newServiceKey(t, s, "sk2", "shipping", base.Add(time.Second))
	at := base.Add(time.Hour).In(east)
	must(t, s.RevokeServiceKey(t.Context(), "sk1", at))
	k1.Revoked = &at
	checkServiceKeys(t, s, k1, k2)
}

// By name, only the active key of that name is revoked; an older, revoked
// key of the same name keeps its time.
func testRevokeServiceKeyByName(t *testing.T, s core.Store) {
	old := newServiceKey(t, s, "sk1", "billing", base)
	first := base.Add(time.Hour)
	must(t, s.RevokeServiceKey(t.Context(), "sk1", first))
	old.Revoked = &first
	k := newServiceKey(t, s, "sk2", "Billing", base.Add(2*time.Hour))
	other := newServiceKey(t, s, "sk3", "shipping", base.Add(3*time.Hour))

	at := base.Add(4 * time.Hour).In(east)
	must(t, s.RevokeServiceKey(t.Context(), "BILLING", at))
	k.Revoked = &at
	checkServiceKeys(t, s, old, k, other)
}

func testRevokeServiceKeyTwice(t *testing.T, s core.Store) {
	k1 := newServiceKey(t, s, "sk1", "billing", base)
	k2 := newServiceKey(t, s, "sk2", "shipping", base.Add(time.Second))
	first, later := base.Add(time.Hour), base.Add(2*time.Hour)
	// By id, then again by id and by name.
	must(t, s.RevokeServiceKey(t.Context(), "sk1", first))
	must(t, s.RevokeServiceKey(t.Context(), "sk1", later))
	must(t, s.RevokeServiceKey(t.Context(), "billing", later))
	// By name, then again by name and by id.
	must(t, s.RevokeServiceKey(t.Context(), "shipping", first))
	must(t, s.RevokeServiceKey(t.Context(), "Shipping", later))
	must(t, s.RevokeServiceKey(t.Context(), "sk2", later))
	k1.Revoked, k2.Revoked = &first, &first
	checkServiceKeys(t, s, k1, k2)
}

func testRevokeServiceKeyErrNotFound(t *testing.T, s core.Store) {
	wantErr(t, s.RevokeServiceKey(t.Context(), "sk1", base), core.ErrNotFound)
	k := newServiceKey(t, s, "sk1", "billing", base)
	for _, idOrName := range []string{"sk2", "shipping", "bill", ""} {
		wantErr(t, s.RevokeServiceKey(t.Context(), idOrName, base), core.ErrNotFound)
	}
	checkServiceKeys(t, s, k)
}
