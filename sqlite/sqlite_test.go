package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/sqlite"
	"github.com/jwtgate/jwtgate/storetest"
)

func TestDB(t *testing.T) {
	storetest.Run(t, func(t *testing.T) core.Store {
		return open(t, filepath.Join(t.TempDir(), "test.db"))
	})
}

// open opens path and closes it when the test ends.
func open(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

var created = time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)

// appliedMigrations returns how many times each migration is recorded in the file.
func appliedMigrations(t *testing.T, path string) map[string]int {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.QueryContext(t.Context(), `SELECT name, count(*) FROM schema_migrations GROUP BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	applied := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		applied[name] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return applied
}

// checkMigrations requires every migration file to be recorded exactly once.
func checkMigrations(t *testing.T, path string) {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migration files found: %v", err)
	}
	applied := appliedMigrations(t, path)
	if len(applied) != len(files) {
		t.Errorf("%d migrations recorded (%v), want %d", len(applied), applied, len(files))
	}
	for _, f := range files {
		if n := applied["migrations/"+filepath.Base(f)]; n != 1 {
			t.Errorf("migration %s recorded %d times, want 1 (recorded: %v)", f, n, applied)
		}
	}
}

func TestOpen_Reopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	a := &core.Account{Name: "acme", Credits: 42, Created: created}
	if err := db.CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		db = open(t, path)
		got, err := db.AccountByName(t.Context(), "acme")
		if err != nil {
			t.Fatalf("after re-opening: %v", err)
		}
		if got.ID != a.ID || got.Credits != 42 || !got.Created.Equal(created) {
			t.Errorf("after re-opening: account = %+v, want %+v", got, a)
		}
		checkMigrations(t, path)
	}
}

func TestOpen_ErrPath(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{
		"",
		":memory:",
		"file::memory:",
		"file:" + filepath.Join(dir, "a.db"),
		filepath.Join(dir, "b.db") + "?mode=memory",
		filepath.Join(dir, "c.db?_foreign_keys=off"),
	} {
		db, err := sqlite.Open(t.Context(), path)
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused opens left files behind: %v", entries)
	}
	if _, err := os.Stat(":memory:"); err == nil {
		t.Error(`Open created a file named ":memory:"`)
	}
}

// Keys and password hashes live in the file and its WAL: only the owner may read them.
func TestOpen_FileMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "test.db")
	db := open(t, path)
	k, err := core.NewSigningKey(core.AlgEdDSA, created)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RotateSigningKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", e.Name(), perm)
		}
	}
	if len(names) == 0 || names[0] != "test.db" {
		t.Errorf("files = %v, want test.db first", names)
	}
}

// Two handles on one file stand for two processes (a server and an admin command).
func TestDB_TwoHandles(t *testing.T) {
	const n = 25
	path := filepath.Join(t.TempDir(), "test.db")
	db1, db2 := open(t, path), open(t, path)
	a := &core.Account{Name: "acme", Created: created}
	if err := db1.CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if _, err := db2.AccountByID(t.Context(), a.ID); err != nil {
		t.Fatalf("the second handle does not see the first one's write: %v", err)
	}

	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, db := range []*sqlite.DB{db1, db2} {
		for range n {
			wg.Go(func() {
				<-start
				if _, err := db.AddCredits(t.Context(), a.ID, 1); err != nil {
					t.Errorf("AddCredits: %v", err)
				}
			})
		}
	}
	close(start)
	wg.Wait()

	for i, db := range []*sqlite.DB{db1, db2} {
		got, err := db.AccountByID(t.Context(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Credits != 2*n {
			t.Errorf("handle %d sees %d credits, want %d", i+1, got.Credits, 2*n)
		}
	}
}

// Several processes starting on a new file at once apply each migration once.
func TestOpen_Concurrent(t *testing.T) {
	const n = 8
	path := filepath.Join(t.TempDir(), "test.db")
	dbs := make([]*sqlite.DB, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			db, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			dbs[i] = db
		})
	}
	close(start)
	wg.Wait()
	for _, db := range dbs {
		if db != nil {
			t.Cleanup(func() { db.Close() })
		}
	}
	if t.Failed() {
		return
	}
	checkMigrations(t, path)
	for i, db := range dbs {
		if _, err := db.AddCredits(t.Context(), 1, 1); core.ErrorCode(err) != core.ENOTFOUND {
			t.Errorf("handle %d: AddCredits on an empty store = %v, want %s", i, err, core.ENOTFOUND)
		}
	}
}
