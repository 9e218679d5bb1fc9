package core

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/argon2id"
)

// The gate's slots are its working memories: however many hashes go
// through it, sequentially or at once, they use no more memories than slots.
func TestHashGate_MemoriesPerSlot(t *testing.T) {
	g := NewHashGate(2, 64, time.Minute)
	var mu sync.Mutex
	seen := map[*argon2id.Memory]bool{}
	use := func(m *argon2id.Memory) {
		mu.Lock()
		seen[m] = true
		mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	for range 10 {
		if err := g.do(context.Background(), use); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if err := g.do(context.Background(), use); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(seen) != 2 {
		t.Errorf("26 hashes through a gate of 2 slots used %d memories, want 2", len(seen))
	}
}
