package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jwtgate/jwtgate/core"
)

// dbCopy copies every row of one store into another, empty one: moving a
// deployment from SQLite to PostgreSQL (or back).
func dbCopy(ctx context.Context, name string, args []string, e *env) error {
	fs := newFlags(e, name)
	from := fs.String("from", "", "the store to copy: a SQLite file (a path, or sqlite:PATH) or postgres://…")
	to := fs.String("to", "", "the store to copy into; it must hold no row (its tables are created if need be)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *from == "" || *to == "" {
		return fmt.Errorf("%w: db copy takes --from and --to, and no arguments", errUsage)
	}
	src, err := openStore(ctx, *from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := openStore(ctx, *to)
	if err != nil {
		return err
	}
	defer dst.Close()
	dump, ok1 := src.(core.Dumper)
	load, ok2 := dst.(core.Loader)
	if !ok1 || !ok2 {
		return fmt.Errorf("%w: these stores cannot be copied", errUsage)
	}
	before, err := dump.TableCounts(ctx)
	if err != nil {
		return err
	}
	if err := load.Load(ctx, dump.Dump(ctx)); errors.Is(err, core.ErrConflict) {
		return fmt.Errorf("%s is not empty (%v): copy into a new database", redact(*to), err)
	} else if err != nil {
		return err
	}
	after, err := dump.TableCounts(ctx)
	if err != nil {
		return err
	}
	copied, err := load.TableCounts(ctx)
	if err != nil {
		return err
	}
	tw := table(e.stdout, "TABLE", "ROWS", "COPIED")
	var mismatch []string
	for _, t := range core.Tables() {
		row(tw, t, strconv.FormatInt(before[t], 10), strconv.FormatInt(copied[t], 10))
		if before[t] != copied[t] || after[t] != before[t] {
			mismatch = append(mismatch, t)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(mismatch) > 0 {
		return fmt.Errorf("the row counts of %v differ: was the source written to during the copy? Stop the servers on it and copy into a new database again", mismatch)
	}
	fmt.Fprintf(e.stdout, "copied %s to %s\n", redact(*from), redact(*to))
	return nil
}
