// Copyright 2017 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Package argon2id computes Argon2id (RFC 9106) in memory that the caller
// keeps between hashes.
//
// It is golang.org/x/crypto/argon2 (the version in go.mod) restricted to
// Argon2id, with two changes. First, the hash memory (m KiB, 19 MiB at the OWASP
// level) comes from a [Memory] the caller reuses instead of a fresh
// allocation per hash. A server verifying passwords all day otherwise
// allocates, zeroes and garbage-collects 19 MiB per login, and the runtime
// returns it to the operating system and faults it back in; that cost more
// than a tenth of each login here (docs/PERFORMANCE.md). Upstream has the
// same request open as golang/go#36634.
//
// Because a reused memory is not zero, the first pass writes every block
// (the compression without XOR); upstream XORs into zeroed memory on every
// pass, which gives the same result only on fresh memory.
//
// Second, sharing the processor. A hash is 4 × t segments (8 at the OWASP
// level) of a few milliseconds each; with one lane, the
// segments run on the calling goroutine, which yields between them
// (runtime.Gosched) instead of holding its P for the whole hash. The short
// work of a server (reading a request, a database call, a reply) then runs
// at the next segment boundary rather than after a signal-based preemption
// 10 ms later, and the runtime stops handing Ps between threads: under a
// login load this took the server's CPU per login from 23 ms to 21 ms
// (docs/PERFORMANCE.md). Upstream spawns a goroutine per segment.
//
// blamka_*.go, blamka_amd64.s and blake2b.go are upstream's files, byte for
// byte but for the package clause; TestUpstreamFiles checks that, and `go generate`
// copies them again after an x/crypto upgrade.
package argon2id

//go:generate go run ./internal/syncupstream

import (
	"encoding/binary"
	"runtime"
	"sync"

	"golang.org/x/crypto/blake2b"
)

// Version is the Argon2 version computed (0x13).
const Version = 0x13

const (
	argon2id    = 2
	blockLength = 128
	syncPoints  = 4
)

type block [blockLength]uint64

// Memory is the working memory of one hash at a time. The zero value is
// ready; it grows to the largest memory parameter it has been asked for and
// keeps that. A Memory must not be used by two hashes at once.
type Memory struct {
	blocks []block
}

// Key derives a key of keyLen bytes from password and salt with Argon2id
// under time passes over memory KiB in threads lanes, exactly as
// golang.org/x/crypto/argon2.IDKey does, computing in m.
func (m *Memory) Key(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	return m.deriveKey(password, salt, nil, nil, time, memory, threads, keyLen)
}

func (m *Memory) deriveKey(password, salt, secret, data []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	if time < 1 {
		panic("argon2id: number of rounds too small")
	}
	if threads < 1 {
		panic("argon2id: parallelism degree too low")
	}
	h0 := initHash(password, salt, secret, data, time, memory, uint32(threads), keyLen)

	memory = memory / (syncPoints * uint32(threads)) * (syncPoints * uint32(threads))
	if memory < 2*syncPoints*uint32(threads) {
		memory = 2 * syncPoints * uint32(threads)
	}
	if uint32(cap(m.blocks)) < memory {
		m.blocks = make([]block, memory)
	}
	B := m.blocks[:memory]
	initBlocks(B, &h0, memory, uint32(threads))
	processBlocks(B, time, memory, uint32(threads))
	return extractKey(B, memory, uint32(threads), keyLen)
}

func initHash(password, salt, key, data []byte, time, memory, threads, keyLen uint32) [blake2b.Size + 8]byte {
	var (
		h0     [blake2b.Size + 8]byte
		params [24]byte
		tmp    [4]byte
	)

	b2, _ := blake2b.New512(nil)
	binary.LittleEndian.PutUint32(params[0:4], threads)
	binary.LittleEndian.PutUint32(params[4:8], keyLen)
	binary.LittleEndian.PutUint32(params[8:12], memory)
	binary.LittleEndian.PutUint32(params[12:16], time)
	binary.LittleEndian.PutUint32(params[16:20], uint32(Version))
	binary.LittleEndian.PutUint32(params[20:24], uint32(argon2id))
	b2.Write(params[:])
	for _, in := range [][]byte{password, salt, key, data} {
		binary.LittleEndian.PutUint32(tmp[:], uint32(len(in)))
		b2.Write(tmp[:])
		b2.Write(in)
	}
	b2.Sum(h0[:0])
	return h0
}

// initBlocks writes the first two blocks of every lane.
func initBlocks(B []block, h0 *[blake2b.Size + 8]byte, memory, threads uint32) {
	var block0 [1024]byte
	for lane := uint32(0); lane < threads; lane++ {
		j := lane * (memory / threads)
		binary.LittleEndian.PutUint32(h0[blake2b.Size+4:], lane)
		for k := uint32(0); k < 2; k++ {
			binary.LittleEndian.PutUint32(h0[blake2b.Size:], k)
			blake2bHash(block0[:], h0[:])
			for i := range B[j+k] {
				B[j+k][i] = binary.LittleEndian.Uint64(block0[i*8:])
			}
		}
	}
}

func processBlocks(B []block, time, memory, threads uint32) {
	lanes := memory / threads
	segments := lanes / syncPoints

	processSegment := func(n, slice, lane uint32) {
		var addresses, in, zero block
		// Argon2id addresses data-independently in the first half of the
		// first pass.
		independent := n == 0 && slice < syncPoints/2
		if independent {
			in[0] = uint64(n)
			in[1] = uint64(lane)
			in[2] = uint64(slice)
			in[3] = uint64(memory)
			in[4] = uint64(time)
			in[5] = uint64(argon2id)
		}

		index := uint32(0)
		if n == 0 && slice == 0 {
			index = 2 // the first two blocks were written by initBlocks
			in[6]++
			processBlock(&addresses, &in, &zero)
			processBlock(&addresses, &addresses, &zero)
		}

		offset := lane*lanes + slice*segments + index
		var random uint64
		for index < segments {
			prev := offset - 1
			if index == 0 && slice == 0 {
				prev += lanes // last block in lane
			}
			if independent {
				if index%blockLength == 0 {
					in[6]++
					processBlock(&addresses, &in, &zero)
					processBlock(&addresses, &addresses, &zero)
				}
				random = addresses[index%blockLength]
			} else {
				random = B[prev][0]
			}
			newOffset := indexAlpha(random, lanes, segments, threads, n, slice, lane, index)
			if n == 0 {
				// The block holds whatever the memory held before: overwrite.
				processBlock(&B[offset], &B[prev], &B[newOffset])
			} else {
				processBlockXOR(&B[offset], &B[prev], &B[newOffset])
			}
			index, offset = index+1, offset+1
		}
	}

	for n := uint32(0); n < time; n++ {
		for slice := uint32(0); slice < syncPoints; slice++ {
			if threads == 1 {
				// One lane: compute the segment here, then yield the
				// processor (see the package comment).
				processSegment(n, slice, 0)
				runtime.Gosched()
				continue
			}
			var wg sync.WaitGroup
			for lane := uint32(0); lane < threads; lane++ {
				wg.Go(func() { processSegment(n, slice, lane) })
			}
			wg.Wait()
		}
	}
}

func extractKey(B []block, memory, threads, keyLen uint32) []byte {
	lanes := memory / threads
	for lane := uint32(0); lane < threads-1; lane++ {
		for i, v := range B[(lane*lanes)+lanes-1] {
			B[memory-1][i] ^= v
		}
	}

	var block [1024]byte
	for i, v := range B[memory-1] {
		binary.LittleEndian.PutUint64(block[i*8:], v)
	}
	key := make([]byte, keyLen)
	blake2bHash(key, block[:])
	return key
}

func indexAlpha(rand uint64, lanes, segments, threads, n, slice, lane, index uint32) uint32 {
	refLane := uint32(rand>>32) % threads
	if n == 0 && slice == 0 {
		refLane = lane
	}
	m, s := 3*segments, ((slice+1)%syncPoints)*segments
	if lane == refLane {
		m += index
	}
	if n == 0 {
		m, s = slice*segments, 0
		if slice == 0 || lane == refLane {
			m += index
		}
	}
	if index == 0 || lane == refLane {
		m--
	}
	return phi(rand, uint64(m), uint64(s), refLane, lanes)
}

func phi(rand, m, s uint64, lane, lanes uint32) uint32 {
	p := rand & 0xFFFFFFFF
	p = (p * p) >> 32
	p = (p * m) >> 32
	return lane*lanes + uint32((s+m-(p+1))%uint64(lanes))
}
