package core

import (
	"context"
	"log/slog"
)

// ledger writes lines of the usage ledger that no other write carries. A
// line that cannot be written is logged: the call's answer does not depend
// on it.
type ledger struct {
	store UsageStore
	log   *slog.Logger
}

func (l ledger) record(ctx context.Context, ev *UsageEvent) {
	if err := l.store.RecordUsage(ctx, ev); err != nil {
		l.log.ErrorContext(ctx, "recording usage failed", "method", ev.Method, "err", err)
	}
}
