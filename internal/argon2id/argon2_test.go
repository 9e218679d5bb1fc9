package argon2id

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/jwtgate/jwtgate/internal/argon2id/internal/upstream"
)

// RFC 9106 section 5.3: Argon2id, m=32 KiB, t=3, p=4, with secret and
// associated data.
func TestRFC9106Vector(t *testing.T) {
	rep := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	want := "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
	for _, sse4 := range []bool{useSSE4, false} {
		func() {
			defer func(v bool) { useSSE4 = v }(useSSE4)
			useSSE4 = sse4
			var m Memory
			for round := range 2 { // fresh memory, then reused memory
				got := m.deriveKey(rep(1, 32), rep(2, 16), rep(3, 8), rep(4, 12), 3, 32, 4, 32)
				if hex.EncodeToString(got) != want {
					t.Fatalf("sse4=%v round %d: tag %x, want %s", sse4, round, got, want)
				}
			}
		}()
	}
}

// One Memory, reused across parameters in random order (growing, shrinking,
// after being filled with junk), always gives upstream's answer.
func TestSameAsUpstreamWithReusedMemory(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var m Memory
	n := 200
	if testing.Short() {
		n = 40
	}
	for i := range n {
		password := make([]byte, rng.IntN(40))
		salt := make([]byte, 8+rng.IntN(24))
		for _, b := range [][]byte{password, salt} {
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
		}
		tm := 1 + rng.Uint32N(3)
		threads := uint8(1 + rng.IntN(4))
		mem := 8*uint32(threads) + rng.Uint32N(600) // also below the minimum and not a multiple
		keyLen := 4 + rng.Uint32N(100)
		if i%7 == 0 {
			for b := range m.blocks {
				for w := range m.blocks[b] {
					m.blocks[b][w] = rng.Uint64()
				}
			}
		}
		want := argon2.IDKey(password, salt, tm, mem, threads, keyLen)
		got := m.Key(password, salt, tm, mem, threads, keyLen)
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d (t=%d m=%d p=%d len=%d): %x, upstream %x", i, tm, mem, threads, keyLen, got, want)
		}
	}
}

// The OWASP parameters the service uses, on memory left dirty by another
// password.
func TestOWASPParametersReused(t *testing.T) {
	var m Memory
	m.Key([]byte("another password"), []byte("0123456789abcdef"), 2, 19*1024, 1, 32)
	got := m.Key([]byte("correct horse"), []byte("fedcba9876543210"), 2, 19*1024, 1, 32)
	want := argon2.IDKey([]byte("correct horse"), []byte("fedcba9876543210"), 2, 19*1024, 1, 32)
	if !bytes.Equal(got, want) {
		t.Fatalf("%x, upstream %x", got, want)
	}
}

func TestUpstreamFiles(t *testing.T) {
	dir, err := upstream.Dir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range upstream.Files {
		want, err := upstream.Carried(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from upstream's %s (run go generate ./internal/argon2id)", name, dir)
		}
	}
}

// BenchmarkOWASP compares a hash at the service's parameters in reused
// memory with upstream's, which allocates per hash.
func BenchmarkOWASP(b *testing.B) {
	pw, salt := []byte("correct horse"), []byte("fedcba9876543210")
	b.Run("reused", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			var m Memory
			for pb.Next() {
				m.Key(pw, salt, 2, 19*1024, 1, 32)
			}
		})
	})
	b.Run("x-crypto", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				argon2.IDKey(pw, salt, 2, 19*1024, 1, 32)
			}
		})
	})
}
