// Package storetest is the conformance suite that every core.Store
// implementation runs: Run on one handle, with the concurrency cases (run it
// under -race), and RunMultiHandle on two handles of one database, which
// stand for two instances of jwtgate sharing it.
//
// Times: a store keeps times to at least the microsecond and returns them
// in UTC. The suite compares times at microsecond precision: its times have
// whole microseconds, and it never requires the digits below (a store may
// drop them or round them).
//
// The suite tests what a store persists, not what core decides: ChargeTx
// is driven with small decisions of the suite's own (the rules of a charge
// are core's, tested there).
//
// Beyond what the core.Store comments say, the suite pins down:
//   - account names and usernames are unique and looked up case-insensitively;
//   - ListAccounts orders by name and ListUsers by username, case-insensitively;
//     ListAPIKeys, ListServiceKeys and ListSigningKeys order by creation time;
//     ListTokens by issue time, newest first; ListUsage by time, oldest first;
//   - a page is a window of its listing, and the order is stable: pages read
//     one after the other make up the listing, even where times are equal;
//   - a failed write leaves nothing behind;
//   - a balance stays within 0 … core.MaxCreditsLimit (ErrOutOfRange), in
//     CreateAccount, AddCredits and ChargeTx alike; a reused jti is ErrConflict;
//   - service key names are matched case-insensitively, both for the
//     uniqueness of active keys and by RevokeServiceKey; ListServiceKeys
//     includes revoked keys;
//   - ChargeTx counts CreditsSpent for tokens without MaxCredits too;
//   - TokenFilter.LiveAt selects tokens expiring strictly after it and not
//     revoked (revoked before it, at least);
//   - UsageReport groups methods case-insensitively.
package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// test is a case on one handle.
type test struct {
	name string
	fn   func(t *testing.T, s core.Store)
}

// sharedTest is a case on one database through any number of handles.
type sharedTest struct {
	name string
	fn   func(t *testing.T, ss []core.Store)
}

// Run runs the suite. open is called once per subtest, with that subtest's t,
// and must return a new, empty store; it may register its own cleanup.
func Run(t *testing.T, open func(t *testing.T) core.Store) {
	for _, tt := range slices.Concat(accountTests, userTests, apiKeyTests, serviceKeyTests, signingKeyTests,
		tokenTests, chargeTests, usageTests, pingTests) {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
	for _, tt := range concurrentTests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, []core.Store{open(t)}) })
	}
}

// RunMultiHandle runs the cases of two handles on one database: what one
// writes the other reads at once, and concurrent writes through both are
// serialised as through one. open is called once per subtest and must
// return two handles on one new, empty database.
func RunMultiHandle(t *testing.T, open func(t *testing.T) (core.Store, core.Store)) {
	for _, tt := range visibleTests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t)
			tt.fn(t, a, b)
		})
	}
	for _, tt := range concurrentTests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t)
			tt.fn(t, []core.Store{a, b})
		})
	}
}

// base is the suite's clock: fixed, in UTC, with microseconds that a store
// must keep.
var base = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// east is a zone ahead of UTC, to check that stores return times in UTC.
var east = time.FixedZone("UTC+2", 2*60*60)

var pingTests = []test{
	{"Ping/OK", func(t *testing.T, s core.Store) { must(t, s.Ping(t.Context())) }},
	{"Times/Microseconds", testTimesMicroseconds},
}

// A store keeps a time's microseconds, and may drop what is below them
// (or round it: 400 ns is kept either way as the microsecond below).
func testTimesMicroseconds(t *testing.T, s core.Store) {
	a := &core.Account{Name: "acme", Created: base.Add(400 * time.Nanosecond).In(east)}
	must(t, s.CreateAccount(t.Context(), a))
	got, err := s.AccountByID(t.Context(), a.ID)
	must(t, err)
	check(t, "AccountByID", got, &core.Account{ID: a.ID, Name: "acme", Created: base})
	if d := diff(got, &core.Account{ID: a.ID, Name: "acme", Created: base.Add(time.Microsecond)}); d == "" {
		t.Errorf("AccountByID: a time a microsecond off compares the same: %s", show(got))
	}
}
