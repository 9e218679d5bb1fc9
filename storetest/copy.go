package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// CopyStore is a store that can be moved: jwtgate db copy.
type CopyStore interface {
	core.Store
	core.Dumper
	core.Loader
}

// RunCopy runs the cases of Dump and Load: every row of a store loaded into
// another, of the same or of another kind, reads back the same through
// every listing. openSrc and openDst are called once per subtest and must
// return new, empty stores.
func RunCopy(t *testing.T, openSrc, openDst func(t *testing.T) CopyStore) {
	for _, tt := range []struct {
		name string
		fn   func(t *testing.T, src, dst CopyStore)
	}{
		{"Copy/Everything", testCopyEverything},
		{"Copy/Empty", testCopyEmpty},
		{"Copy/ErrTargetNotEmpty", testCopyErrTargetNotEmpty},
		{"Copy/ErrRollsBack", testCopyErrRollsBack},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, openSrc(t), openDst(t)) })
	}
}

// populate writes a row of every kind, in every state a store keeps.
func populate(t *testing.T, s core.Store) {
	t.Helper()
	ctx := t.Context()
	tok := chargeFixture(t, s, 500, ptr[int64](10)) // alice, a signing key, jti-1
	alice, err := s.UserByName(ctx, "alice")
	must(t, err)
	bob := newUserIn(t, s, "Bob", alice.AccountID)
	must(t, s.SetUserDisabled(ctx, bob.ID, true))
	newAccount(t, s, "Empty-Co", 0)
	key := newAPIKey(t, s, alice, "0123456789abcdef", base.Add(time.Minute))
	revoked := newAPIKey(t, s, bob, "fedcba9876543210", base.Add(2*time.Minute))
	must(t, s.RevokeAPIKey(ctx, revoked.ID, base.Add(3*time.Minute)))
	newServiceKey(t, s, "00000000000000aa", "billing", base)
	newServiceKey(t, s, "00000000000000bb", "old", base)
	must(t, s.RevokeServiceKey(ctx, "old", base.Add(time.Hour)))
	// A second key published ahead, so that the first is retired in the future.
	pending := makeSigningKey(t, core.AlgES256, base.Add(time.Hour))
	pending.Activates = pending.Created.Add(2 * time.Second)
	must(t, s.RotateSigningKey(ctx, pending))

	keyTok := newToken(alice, tok.Kid, "jti-key", base, base.Add(2*time.Hour))
	keyTok.APIKeyID, keyTok.AllowedMethods, keyTok.ClientIP = key.ID, []string{"Email", "Address.Clean"}, "192.0.2.0/24"
	issueToken(t, s, keyTok)
	dead := newToken(bob, tok.Kid, "jti-dead", base, base.Add(time.Hour))
	issueToken(t, s, dead)
	must(t, s.RevokeToken(ctx, dead.JTI, base.Add(10*time.Minute)))

	ev := chargeLine(tok, "Address.Clean")
	ev.Credits, ev.Outcome = 3, core.OutcomeOK
	must(t, s.ChargeTx(ctx, tok.JTI, "r1", take(3, chargeRecord(ptr[int64](7), 497), &ev)))
	refused := chargeLine(tok, "Address.Clean")
	refused.Outcome = core.Outcome(core.ENOCREDITS)
	rec := &core.ChargeRecord{Method: "Address.Clean", Credits: 99, Outcome: refused.Outcome, Message: "token credit limit reached",
		TokenRemaining: ptr[int64](7), Balance: 497, Time: base.Add(time.Second)}
	must(t, s.ChargeTx(ctx, tok.JTI, "r2", take(0, rec, &refused)))
	must(t, s.RecordUsage(ctx, &core.UsageEvent{Time: base.Add(time.Minute), Method: "UserAdmin.GetJWT", Outcome: core.Outcome(core.EUNAUTHORIZED), ClientAddr: "198.51.100.1"}))
}

// sameContents requires b to read as a reads, through every listing.
func sameContents(t *testing.T, a, b CopyStore) {
	t.Helper()
	ctx := t.Context()
	ca, err := a.TableCounts(ctx)
	must(t, err)
	cb, err := b.TableCounts(ctx)
	must(t, err)
	check(t, "TableCounts", cb, ca)
	all := core.Page{}
	accA, err := a.ListAccounts(ctx, all)
	must(t, err)
	accB, err := b.ListAccounts(ctx, all)
	must(t, err)
	check(t, "ListAccounts", accB, accA)
	usA, err := a.ListUsers(ctx, all)
	must(t, err)
	usB, err := b.ListUsers(ctx, all)
	must(t, err)
	check(t, "ListUsers", usB, usA)
	akA, err := a.ListAPIKeys(ctx, nil, all)
	must(t, err)
	akB, err := b.ListAPIKeys(ctx, nil, all)
	must(t, err)
	check(t, "ListAPIKeys", akB, akA)
	skA, err := a.ListServiceKeys(ctx, all)
	must(t, err)
	skB, err := b.ListServiceKeys(ctx, all)
	must(t, err)
	check(t, "ListServiceKeys", skB, skA)
	sgA, err := a.ListSigningKeys(ctx)
	must(t, err)
	sgB, err := b.ListSigningKeys(ctx)
	must(t, err)
	check(t, "ListSigningKeys", sgB, sgA)
	tkA, err := a.ListTokens(ctx, core.TokenFilter{}, all)
	must(t, err)
	tkB, err := b.ListTokens(ctx, core.TokenFilter{}, all)
	must(t, err)
	check(t, "ListTokens", tkB, tkA)
	lA, err := a.ListUsage(ctx, core.UsageFilter{}, all)
	must(t, err)
	lB, err := b.ListUsage(ctx, core.UsageFilter{}, all)
	must(t, err)
	check(t, "ListUsage", lB, lA)
	for _, at := range []time.Time{base, base.Add(time.Hour + 2*time.Second)} {
		kA, errA := a.ActiveSigningKey(ctx, at)
		kB, errB := b.ActiveSigningKey(ctx, at)
		if errors.Is(errA, core.ErrNotFound) {
			wantErr(t, errB, core.ErrNotFound)
			continue
		}
		must(t, errA)
		must(t, errB)
		check(t, "ActiveSigningKey", kB, kA)
	}
	// The stored charges answer a retry the same: decide sees them, writes nothing.
	for _, tok := range tkA {
		for _, req := range []string{"r1", "r2", "r3"} {
			var sa, sb core.ChargeState
			errNothing := errors.New("read only")
			wantErr(t, a.ChargeTx(ctx, tok.JTI, req, func(st core.ChargeState) (core.ChargeWrite, error) { sa = st; return core.ChargeWrite{}, errNothing }), errNothing)
			wantErr(t, b.ChargeTx(ctx, tok.JTI, req, func(st core.ChargeState) (core.ChargeWrite, error) { sb = st; return core.ChargeWrite{}, errNothing }), errNothing)
			check(t, "ChargeTx state of "+tok.JTI+"/"+req, &sb, &sa)
		}
	}
}

func testCopyEverything(t *testing.T, src, dst CopyStore) {
	populate(t, src)
	must(t, dst.Load(t.Context(), src.Dump(t.Context())))
	sameContents(t, src, dst)
	// The copy is a store like any other: new rows get new ids.
	a := newAccount(t, dst, "After-Copy", 1)
	accs, err := src.ListAccounts(t.Context(), core.Page{})
	must(t, err)
	for _, b := range accs {
		if b.ID == a.ID {
			t.Errorf("an account created after the copy has the id %d of %s", a.ID, b.Name)
		}
	}
}

func testCopyEmpty(t *testing.T, src, dst CopyStore) {
	must(t, dst.Load(t.Context(), src.Dump(t.Context())))
	sameContents(t, src, dst)
}

func testCopyErrTargetNotEmpty(t *testing.T, src, dst CopyStore) {
	populate(t, src)
	newAccount(t, dst, "Already-Here", 5)
	wantErr(t, dst.Load(t.Context(), src.Dump(t.Context())), core.ErrConflict)
	counts, err := dst.TableCounts(t.Context())
	must(t, err)
	if counts[core.TableAccounts] != 1 || counts[core.TableUsers] != 0 {
		t.Errorf("a refused load changed the target: %v", counts)
	}
}

// A load that fails part way leaves the target empty.
func testCopyErrRollsBack(t *testing.T, src, dst CopyStore) {
	populate(t, src)
	broken := func(yield func(core.Row, error) bool) {
		n := 0
		for r, err := range src.Dump(t.Context()) {
			if n++; n == 6 {
				yield(core.Row{}, errors.New("the source failed"))
				return
			}
			if !yield(r, err) {
				return
			}
		}
	}
	if err := dst.Load(t.Context(), broken); err == nil {
		t.Fatal("a load whose source failed succeeded")
	}
	counts, err := dst.TableCounts(t.Context())
	must(t, err)
	for table, n := range counts {
		if n != 0 {
			t.Errorf("after a failed load, %s holds %d rows", table, n)
		}
	}
}
