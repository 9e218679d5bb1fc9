package storetest

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// RunThrottle runs the cases of core.ThrottleStore, for the stores that keep
// the throttle's counters (those shared by instances). open is called once
// per subtest and must return two handles on one new, empty database (the
// same handle twice will do for a store of one process).
func RunThrottle(t *testing.T, open func(t *testing.T) (core.ThrottleStore, core.ThrottleStore)) {
	for _, tt := range []struct {
		name string
		fn   func(t *testing.T, a, b core.ThrottleStore)
	}{
		{"Throttle/Empty", testThrottleEmpty},
		{"Throttle/StoreAndRead", testThrottleStore},
		{"Throttle/Delete", testThrottleDelete},
		{"Throttle/ConcurrentIncrements", testThrottleConcurrent},
		{"Throttle/Purge", testThrottlePurge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t)
			tt.fn(t, a, b)
		})
	}
}

func testThrottleEmpty(t *testing.T, a, _ core.ThrottleStore) {
	cs, err := a.ThrottleCounters(t.Context(), []string{"u\x00alice\x00192.0.2.1", "c\x00192.0.2.1"})
	must(t, err)
	if len(cs) != 0 {
		t.Errorf("counters of a new store: %v", cs)
	}
	must(t, a.ThrottleTx(t.Context(), []string{"k"}, func(cs map[string]core.ThrottleCounter) {
		if len(cs) != 0 {
			t.Errorf("ThrottleTx on a new store sees %v", cs)
		}
	}))
	if cs, err := a.ThrottleCounters(t.Context(), []string{"k"}); err != nil || len(cs) != 0 {
		t.Errorf("a ThrottleTx that stored nothing left %v, %v", cs, err)
	}
}

// What one handle stores the other reads, field for field, keys being
// any strings (a long one, NULs, non-ASCII).
func testThrottleStore(t *testing.T, a, b core.ThrottleStore) {
	long := "u\x00" + string(make([]byte, 5000)) + "\x00198.51.100.7"
	keys := []string{"u\x00Ålice\x00192.0.2.1", "c\x002001:db8::/64", long}
	want := map[string]core.ThrottleCounter{
		keys[0]: {Failures: 6, Last: base, Until: base.Add(time.Second)},
		keys[1]: {Failures: 1, Last: base.Add(time.Microsecond)},
		keys[2]: {Failures: 51, Last: base, Until: base.Add(15 * time.Minute)},
	}
	must(t, a.ThrottleTx(t.Context(), keys, func(cs map[string]core.ThrottleCounter) {
		for k, c := range want {
			cs[k] = c
		}
	}))
	got, err := b.ThrottleCounters(t.Context(), keys)
	must(t, err)
	check(t, "ThrottleCounters", got, want)
	// A read of some keys returns those only.
	got, err = b.ThrottleCounters(t.Context(), keys[1:2])
	must(t, err)
	check(t, "ThrottleCounters(one key)", got, map[string]core.ThrottleCounter{keys[1]: want[keys[1]]})
	// ThrottleTx sees the stored counters of its keys.
	must(t, b.ThrottleTx(t.Context(), keys[:1], func(cs map[string]core.ThrottleCounter) {
		check(t, "ThrottleTx state", cs, map[string]core.ThrottleCounter{keys[0]: want[keys[0]]})
	}))
}

func testThrottleDelete(t *testing.T, a, b core.ThrottleStore) {
	keys := []string{"u\x00bob\x00a", "c\x00a"}
	must(t, a.ThrottleTx(t.Context(), keys, func(cs map[string]core.ThrottleCounter) {
		cs[keys[0]] = core.ThrottleCounter{Failures: 2, Last: base}
		cs[keys[1]] = core.ThrottleCounter{Failures: 2, Last: base}
	}))
	must(t, b.ThrottleTx(t.Context(), keys[:1], func(cs map[string]core.ThrottleCounter) { delete(cs, keys[0]) }))
	got, err := a.ThrottleCounters(t.Context(), keys)
	must(t, err)
	check(t, "after deleting one", got, map[string]core.ThrottleCounter{keys[1]: {Failures: 2, Last: base}})
}

// Increments through both handles at once are serialised: none is lost,
// even on keys that had no counter yet.
func testThrottleConcurrent(t *testing.T, a, b core.ThrottleStore) {
	const n = 40
	keys := []string{"u\x00carol\x00x", "c\x00x"}
	var wg sync.WaitGroup
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		order := keys
		if i%3 == 0 {
			order = []string{keys[1], keys[0]} // either order of keys: no deadlock
		}
		wg.Go(func() {
			err := s.ThrottleTx(t.Context(), order, func(cs map[string]core.ThrottleCounter) {
				for _, k := range keys {
					c := cs[k]
					c.Failures++
					c.Last = base.Add(time.Duration(c.Failures) * time.Microsecond)
					cs[k] = c
				}
			})
			if err != nil {
				t.Errorf("ThrottleTx %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got, err := a.ThrottleCounters(t.Context(), keys)
	must(t, err)
	for _, k := range keys {
		if got[k].Failures != n {
			t.Errorf("%q: %d failures after %d concurrent increments", k, got[k].Failures, n)
		}
	}
}

// Purge deletes the counters quiet since before and not locking anyone out.
func testThrottlePurge(t *testing.T, a, b core.ThrottleStore) {
	cut := base.Add(time.Hour)
	counters := map[string]core.ThrottleCounter{
		"old":        {Failures: 3, Last: base},
		"oldLocked":  {Failures: 9, Last: base, Until: cut.Add(time.Minute)},
		"oldExpired": {Failures: 9, Last: base, Until: cut.Add(-time.Minute)},
		"recent":     {Failures: 1, Last: cut},
	}
	var keys []string
	for k := range counters {
		keys = append(keys, k)
	}
	for i := range 5 {
		keys = append(keys, "filler"+strconv.Itoa(i))
	}
	must(t, a.ThrottleTx(t.Context(), keys, func(cs map[string]core.ThrottleCounter) {
		for k, c := range counters {
			cs[k] = c
		}
	}))
	must(t, b.PurgeThrottle(t.Context(), cut))
	got, err := a.ThrottleCounters(t.Context(), keys)
	must(t, err)
	check(t, "after PurgeThrottle", got, map[string]core.ThrottleCounter{"oldLocked": counters["oldLocked"], "recent": counters["recent"]})
}
