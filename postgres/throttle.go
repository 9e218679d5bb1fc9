package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtgate/jwtgate/core"
)

var _ core.ThrottleStore = (*DB)(nil)

func throttleKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// hashed returns the stored form of each key, and the key of each.
func hashed(keys []string) ([]string, map[string]string) {
	out := make([]string, len(keys))
	back := make(map[string]string, len(keys))
	for i, k := range keys {
		out[i] = throttleKey(k)
		back[out[i]] = k
	}
	return out, back
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func readCounters(ctx context.Context, q querier, keys []string) (map[string]core.ThrottleCounter, error) {
	stored, back := hashed(keys)
	rows, err := q.Query(ctx, `SELECT key, failures, last_at, until_at FROM throttle WHERE key = ANY($1)`, stored)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]core.ThrottleCounter{}
	for rows.Next() {
		var k string
		var c core.ThrottleCounter
		var until *time.Time
		if err := rows.Scan(&k, &c.Failures, &c.Last, &until); err != nil {
			return nil, err
		}
		c.Last = utc(c.Last)
		if until != nil {
			c.Until = utc(*until)
		}
		out[back[k]] = c
	}
	return out, rows.Err()
}

func (db *DB) ThrottleCounters(ctx context.Context, keys []string) (_ map[string]core.ThrottleCounter, err error) {
	defer wrapErr(&err, "ThrottleCounters")
	return read(ctx, db, func() (map[string]core.ThrottleCounter, error) { return readCounters(ctx, db.pool, keys) })
}

// ThrottleTx serialises transactions on a key with an advisory lock per
// key, taken in one order: a key may have no row to lock yet.
func (db *DB) ThrottleTx(ctx context.Context, keys []string, update func(map[string]core.ThrottleCounter)) (err error) {
	defer wrapErr(&err, "ThrottleTx")
	return db.tx(ctx, func(tx pgx.Tx) error {
		sorted := slices.Clone(keys)
		slices.SortFunc(sorted, func(a, b string) int {
			return slices.Compare([]byte(throttleKey(a)), []byte(throttleKey(b)))
		})
		for _, k := range sorted {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, throttleKey(k)); err != nil {
				return err
			}
		}
		cs, err := readCounters(ctx, tx, keys)
		if err != nil {
			return err
		}
		update(cs)
		b := &pgx.Batch{}
		for _, k := range keys {
			c, ok := cs[k]
			if !ok {
				b.Queue(`DELETE FROM throttle WHERE key = $1`, throttleKey(k))
				continue
			}
			var until *time.Time
			if !c.Until.IsZero() {
				until = &c.Until
			}
			b.Queue(`INSERT INTO throttle (key, failures, last_at, until_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (key) DO UPDATE SET failures = $2, last_at = $3, until_at = $4`, throttleKey(k), c.Failures, c.Last, until)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

func (db *DB) PurgeThrottle(ctx context.Context, before time.Time) (err error) {
	defer wrapErr(&err, "PurgeThrottle")
	return db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM throttle WHERE last_at < $1 AND (until_at IS NULL OR until_at <= $1)`, before)
		return err
	})
}
