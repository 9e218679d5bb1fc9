package core

import (
	"context"
	"strings"
	"time"
)

// Accounts answers an account's holder about the account: its credits and
// its usage.
type Accounts struct {
	Auth  *Authenticator
	Usage UsageStore
	Now   func() time.Time
}

// GetCreditsRemaining returns the balance of the caller's account.
func (a *Accounts) GetCreditsRemaining(ctx context.Context, c Credentials) (int64, error) {
	p, err := a.Auth.authenticate(ctx, OpGetCreditsRemaining, c)
	if err != nil {
		return 0, err
	}
	return p.account.Credits, nil
}

// MaxUsageRange bounds a GetUsage query.
const MaxUsageRange = 366 * 24 * time.Hour

// GetUsageRequest asks for the caller's usage in [From, To); empty To means
// the end of today (UTC), empty From 30 days before To. Days (YYYY-MM-DD)
// and date-times are accepted; a day as To includes that day.
type GetUsageRequest struct {
	Credentials
	From, To string
}

// GetUsage returns the caller's account usage by day, application and
// method, and the account's balance.
func (a *Accounts) GetUsage(ctx context.Context, req *GetUsageRequest) ([]*UsageRow, int64, error) {
	if err := OpGetUsage.Admit(req.Credentials); err != nil {
		return nil, 0, err
	}
	endOfToday := a.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	to, err := parseUntil("to", req.To, endOfToday)
	if err != nil {
		return nil, 0, err
	}
	from, err := parseSince("from", req.From, to.Add(-30*24*time.Hour))
	if err != nil {
		return nil, 0, err
	}
	if !from.Before(to) {
		return nil, 0, Errorf(EINVALID, "from must be before to")
	}
	if to.Sub(from) > MaxUsageRange {
		return nil, 0, Errorf(EINVALID, "the range from %s to %s is longer than %d days", from.Format(time.RFC3339), to.Format(time.RFC3339), int(MaxUsageRange.Hours()/24))
	}
	p, err := a.Auth.authenticate(ctx, OpGetUsage, req.Credentials)
	if err != nil {
		return nil, 0, err
	}
	rows, err := a.Usage.UsageReport(ctx, UsageFilter{AccountID: &p.account.ID, From: from, To: to})
	if err != nil {
		return nil, 0, Internal(err)
	}
	return rows, p.account.Credits, nil
}

// parseSince reads a lower bound: a day (its start) or a date-time.
func parseSince(name, v string, def time.Time) (time.Time, error) {
	return parseBound(name, v, def, 0)
}

// parseUntil reads an upper bound: a day (its end) or a date-time.
func parseUntil(name, v string, def time.Time) (time.Time, error) {
	return parseBound(name, v, def, 1)
}

func parseBound(name, v string, def time.Time, dayOffset int) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return def, nil
	}
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		return d.AddDate(0, 0, dayOffset), nil
	}
	t, err := ParseExpiresAt(v)
	if err != nil {
		return time.Time{}, Errorf(EINVALID, "%s %q is neither a day (YYYY-MM-DD) nor an RFC 3339 date-time", name, clip(v, 64))
	}
	return t, nil
}
