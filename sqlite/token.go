package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

func (db *DB) IssueToken(ctx context.Context, t *core.IssuedToken, ev *core.UsageEvent) error {
	methods, err := json.Marshal(nonNil(t.AllowedMethods))
	if err != nil {
		return core.Internal(err)
	}
	return wrap(db.write(ctx, func(w wtx) error {
		_, err := w.exec(`INSERT INTO tokens (jti, kid, account_id, user_id, api_key_id, application, allowed_methods, max_credits, client_ip, issued_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.JTI, t.Kid, t.AccountID, t.UserID, nullString(t.APIKeyID), t.Application, string(methods), t.MaxCredits, t.ClientIP,
			fmtTime(t.IssuedAt), fmtTime(t.ExpiresAt))
		if err != nil {
			return err
		}
		return w.insertUsage(ev)
	}))
}

func (db *DB) TokenByJTI(ctx context.Context, jti string) (*core.IssuedToken, error) {
	t := &core.IssuedToken{}
	var apiKey sql.NullString
	var methods string
	// One statement: outside a transaction each statement is a read
	// transaction of its own, and the join costs no more than two of them
	// (BenchmarkTokenState).
	err := db.queryRow(ctx, `SELECT t.jti, t.kid, t.account_id, t.user_id, t.api_key_id, t.application, t.allowed_methods,
		t.max_credits, t.client_ip, t.issued_at, t.expires_at, t.credits_spent, t.revoked_at,
		u.disabled, k.revoked_at IS NOT NULL, a.credits
		FROM tokens t JOIN users u ON u.id = t.user_id LEFT JOIN api_keys k ON k.id = t.api_key_id
		JOIN accounts a ON a.id = t.account_id
		WHERE t.jti = ?`, jti).Scan(&t.JTI, &t.Kid, &t.AccountID, &t.UserID, &apiKey, &t.Application, &methods, &t.MaxCredits, &t.ClientIP,
		textTime{&t.IssuedAt}, textTime{&t.ExpiresAt}, &t.CreditsSpent, nullTime{&t.Revoked}, &t.UserDisabled, &t.APIKeyRevoked,
		&t.AccountCredits)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("token %q", jti)
	}
	if err != nil {
		return nil, wrap(err)
	}
	t.APIKeyID = apiKey.String
	if err := json.Unmarshal([]byte(methods), &t.AllowedMethods); err != nil {
		return nil, core.Internal(err)
	}
	return t, nil
}

// holderState reads, in the write transaction, whether a token's user is
// disabled and whether its API key (if any) is revoked. These are separate
// primary-key reads rather than TokenByJTI's join: inside a transaction
// SQLite answers them in well under half the time (BenchmarkTokenState).
func (w wtx) holderState(userID int64, apiKeyID sql.NullString) (userDisabled, keyRevoked bool, err error) {
	err = w.queryRow(`SELECT disabled FROM users WHERE id = ?`, userID).Scan(&userDisabled)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, notFound("user %d", userID)
	}
	if err != nil || !apiKeyID.Valid {
		return userDisabled, false, err
	}
	err = w.queryRow(`SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = ?`, apiKeyID.String).Scan(&keyRevoked)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, notFound("API key %q", apiKeyID.String)
	}
	return userDisabled, keyRevoked, err
}

func (db *DB) RevokeToken(ctx context.Context, jti string, at time.Time) error {
	return wrap(db.write(ctx, func(w wtx) error {
		res, err := w.exec(`UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE jti = ?`, fmtTime(at), jti)
		if err != nil {
			return err
		}
		return affected(res, notFound("token %q", jti))
	}))
}

func (db *DB) Charge(ctx context.Context, c *core.ChargeRequest) (*core.ChargeOutcome, error) {
	var out *core.ChargeOutcome
	err := db.write(ctx, func(w wtx) (err error) {
		out, err = db.charge(w, c)
		return err
	})
	return out, wrap(err)
}

func (db *DB) ReplayCharge(ctx context.Context, jti, requestID string) (*core.ChargeOutcome, string, int64, error) {
	out, method, credits, err := replay(db.queryRow(ctx, replayQuery, jti, requestID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", 0, notFound("charge %q", requestID)
	}
	return out, method, credits, wrap(err)
}

const replayQuery = `SELECT method, credits, outcome, message, token_remaining, balance FROM charges WHERE jti = ? AND request_id = ?`

// replay reads the stored outcome of a charge from a replayQuery row.
func replay(row *sql.Row) (*core.ChargeOutcome, string, int64, error) {
	out := &core.ChargeOutcome{Replayed: true}
	var method, outcome string
	var credits int64
	if err := row.Scan(&method, &credits, &outcome, &out.Refusal, &out.TokenRemaining, &out.Balance); err != nil {
		return nil, "", 0, err
	}
	out.Charged = outcome == core.OutcomeOK
	return out, method, credits, nil
}

// charge runs inside one immediate transaction, so that concurrent charges,
// from this process or another, are serialised by SQLite's write lock.
func (db *DB) charge(w wtx, c *core.ChargeRequest) (*core.ChargeOutcome, error) {
	if c.RequestID != "" {
		prev, method, credits, err := replay(w.queryRow(replayQuery, c.JTI, c.RequestID))
		switch {
		case err == nil:
			if err := core.SameCharge(c.RequestID, method, credits, c.Event.Method, c.Credits); err != nil {
				return nil, err
			}
			return prev, nil
		case !errors.Is(err, sql.ErrNoRows):
			return nil, err
		}
	}
	out := &core.ChargeOutcome{}
	var maxCredits sql.NullInt64
	var spent, userID int64
	var revoked, apiKey sql.NullString
	err := w.queryRow(`SELECT max_credits, credits_spent, revoked_at, user_id, api_key_id FROM tokens WHERE jti = ?`, c.JTI).
		Scan(&maxCredits, &spent, &revoked, &userID, &apiKey)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("token %q", c.JTI)
	}
	if err != nil {
		return nil, err
	}
	if revoked.Valid {
		return nil, core.ErrTokenRevoked
	}
	userDisabled, keyRevoked, err := w.holderState(userID, apiKey)
	switch {
	case err != nil:
		return nil, err
	case userDisabled:
		return nil, core.ErrTokenUserDisabled
	case keyRevoked:
		return nil, core.ErrTokenKeyRevoked
	}
	err = w.queryRow(`SELECT credits FROM accounts WHERE id = ?`, c.AccountID).Scan(&out.Balance)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("account %d", c.AccountID)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case maxCredits.Valid && spent+c.Credits > maxCredits.Int64:
		out.Refusal = fmt.Sprintf("token credit limit reached: %d of %d spent, %d more requested", spent, maxCredits.Int64, c.Credits)
	case out.Balance < c.Credits:
		out.Refusal = fmt.Sprintf("account has %d credits remaining, %d requested", out.Balance, c.Credits)
	default:
		out.Charged = true
	}
	ev := c.Event
	ev.Credits, ev.Outcome = 0, string(core.ENOCREDITS)
	if out.Charged {
		if _, err := w.exec(`UPDATE accounts SET credits = credits - ? WHERE id = ?`, c.Credits, c.AccountID); err != nil {
			return nil, err
		}
		if _, err := w.exec(`UPDATE tokens SET credits_spent = credits_spent + ? WHERE jti = ?`, c.Credits, c.JTI); err != nil {
			return nil, err
		}
		out.Balance -= c.Credits
		spent += c.Credits
		ev.Credits, ev.Outcome = c.Credits, core.OutcomeOK
	}
	if maxCredits.Valid {
		r := maxCredits.Int64 - spent
		out.TokenRemaining = &r
	}
	if c.RequestID != "" {
		if _, err := w.exec(`INSERT INTO charges (jti, request_id, method, credits, outcome, message, token_remaining, balance, time)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.JTI, c.RequestID, c.Event.Method, c.Credits, ev.Outcome, out.Refusal,
			out.TokenRemaining, out.Balance, fmtTime(ev.Time)); err != nil {
			return nil, err
		}
	}
	return out, w.insertUsage(&ev)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// SeedTokens inserts n expired-in-an-hour copies of like (jti "seed-<i>"), in
// batches, for benchmarks of how cost grows with the number of live tokens.
func (db *DB) SeedTokens(ctx context.Context, n int, like *core.IssuedToken) error {
	const batch = 100_000
	for done := 0; done < n; done += batch {
		k := min(batch, n-done)
		err := db.write(ctx, func(w wtx) error {
			_, err := w.exec(`WITH RECURSIVE c(x) AS (SELECT ?1 UNION ALL SELECT x + 1 FROM c WHERE x < ?2)
				INSERT INTO tokens (jti, kid, account_id, user_id, application, allowed_methods, client_ip, issued_at, expires_at)
				SELECT 'seed-' || x, ?3, ?4, ?5, ?6, '[]', '', ?7, ?8 FROM c`,
				done+1, done+k, like.Kid, like.AccountID, like.UserID, like.Application, fmtTime(like.IssuedAt), fmtTime(like.ExpiresAt))
			return err
		})
		if err != nil {
			return wrap(err)
		}
	}
	return nil
}
