package storetest

import (
	"fmt"
	"testing"

	"github.com/jwtgate/jwtgate/core"
)

var accountTests = []test{
	{"CreateAccount/OK", testCreateAccount},
	{"CreateAccount/ErrConflict", testCreateAccountErrConflict},
	{"CreateAccount/ErrOutOfRange", testCreateAccountErrOutOfRange},
	{"AccountByName/CaseInsensitive", testAccountByNameCaseInsensitive},
	{"AccountByName/ErrNotFound", testAccountByNameErrNotFound},
	{"AccountByID/ErrNotFound", testAccountByIDErrNotFound},
	{"ListAccounts/Empty", testListAccountsEmpty},
	{"ListAccounts/OrderedByName", testListAccountsOrdered},
	{"ListAccounts/Paged", testListAccountsPaged},
	{"AddCredits/OK", testAddCredits},
	{"AddCredits/ErrOutOfRange", testAddCreditsErrOutOfRange},
	{"AddCredits/ErrNotFound", testAddCreditsErrNotFound},
}

func testCreateAccount(t *testing.T, s core.Store) {
	a := &core.Account{Name: "Acme", Credits: 250, Created: base.In(east)}
	must(t, s.CreateAccount(t.Context(), a))
	if a.ID == 0 {
		t.Fatal("CreateAccount did not set ID")
	}
	got, err := s.AccountByID(t.Context(), a.ID)
	must(t, err)
	check(t, "AccountByID", got, a)

	b := newAccount(t, s, "Globex", core.MaxCreditsLimit)
	if b.ID == a.ID {
		t.Errorf("two accounts share ID %d", a.ID)
	}
	got, err = s.AccountByID(t.Context(), b.ID)
	must(t, err)
	check(t, "AccountByID", got, b)
}

func testCreateAccountErrConflict(t *testing.T, s core.Store) {
	acme := newAccount(t, s, "Acme", 10)
	for _, name := range []string{"Acme", "ACME", "acme"} {
		err := s.CreateAccount(t.Context(), &core.Account{Name: name, Created: base})
		wantErr(t, err, core.ErrConflict)
	}
	checkAccounts(t, s, acme)
}

func testCreateAccountErrOutOfRange(t *testing.T, s core.Store) {
	for _, credits := range []int64{-1, core.MaxCreditsLimit + 1} {
		err := s.CreateAccount(t.Context(), &core.Account{Name: fmt.Sprint("acme", credits), Credits: credits, Created: base})
		wantErr(t, err, core.ErrOutOfRange)
	}
	checkAccounts(t, s)
}

func testAccountByNameCaseInsensitive(t *testing.T, s core.Store) {
	a := newAccount(t, s, "Acme", 5)
	for _, name := range []string{"Acme", "acme", "ACME", "aCmE"} {
		got, err := s.AccountByName(t.Context(), name)
		must(t, err)
		check(t, "AccountByName("+name+")", got, a) // keeps the spelling it was created with
	}
}

func testAccountByNameErrNotFound(t *testing.T, s core.Store) {
	_, err := s.AccountByName(t.Context(), "nobody")
	wantErr(t, err, core.ErrNotFound)
	newAccount(t, s, "Acme", 0)
	for _, name := range []string{"Acm", "Acme2", ""} {
		_, err = s.AccountByName(t.Context(), name)
		wantErr(t, err, core.ErrNotFound)
	}
}

func testAccountByIDErrNotFound(t *testing.T, s core.Store) {
	_, err := s.AccountByID(t.Context(), 1)
	wantErr(t, err, core.ErrNotFound)
	a := newAccount(t, s, "Acme", 0)
	_, err = s.AccountByID(t.Context(), a.ID+1000)
	wantErr(t, err, core.ErrNotFound)
}

func testListAccountsEmpty(t *testing.T, s core.Store) {
	checkAccounts(t, s)
	as, err := s.ListAccounts(t.Context(), core.Page{Offset: 1, Limit: 1})
	must(t, err)
	check(t, "ListAccounts page 2 of an empty store", as, []*core.Account{})
}

func testListAccountsOrdered(t *testing.T, s core.Store) {
	c := newAccount(t, s, "charlie", 3)
	a := newAccount(t, s, "Alpha", 1)
	b := newAccount(t, s, "bravo", 2)
	checkAccounts(t, s, a, b, c)
}

func testListAccountsPaged(t *testing.T, s core.Store) {
	var all []*core.Account
	for _, name := range []string{"echo", "Delta", "alpha", "Charlie", "bravo"} {
		newAccount(t, s, name, int64(len(name)))
	}
	for _, name := range []string{"alpha", "bravo", "Charlie", "Delta", "echo"} {
		a, err := s.AccountByName(t.Context(), name)
		must(t, err)
		all = append(all, a)
	}
	checkPages(t, "ListAccounts", all, func(p core.Page) ([]*core.Account, error) { return s.ListAccounts(t.Context(), p) })
}

func testAddCredits(t *testing.T, s core.Store) {
	a := newAccount(t, s, "Acme", 0)
	other := newAccount(t, s, "Globex", 7)
	for _, step := range []struct{ delta, want int64 }{
		{100, 100}, {-30, 70}, {0, 70}, {-70, 0}, {5, 5}, {core.MaxCreditsLimit - 5, core.MaxCreditsLimit}, {-core.MaxCreditsLimit + 5, 5},
	} {
		got, err := s.AddCredits(t.Context(), a.ID, step.delta)
		must(t, err)
		if got != step.want {
			t.Errorf("AddCredits(%d) = %d, want %d", step.delta, got, step.want)
		}
	}
	checkCredits(t, s, a.ID, 5)
	checkCredits(t, s, other.ID, 7)
}

// A balance stays within 0 … MaxCreditsLimit; a change that would leave it
// changes nothing.
func testAddCreditsErrOutOfRange(t *testing.T, s core.Store) {
	a := newAccount(t, s, "Acme", 10)
	for _, delta := range []int64{-11, core.MaxCreditsLimit - 9} {
		_, err := s.AddCredits(t.Context(), a.ID, delta)
		wantErr(t, err, core.ErrOutOfRange)
		checkCredits(t, s, a.ID, 10)
	}

	empty := newAccount(t, s, "Empty", 0)
	_, err := s.AddCredits(t.Context(), empty.ID, -1)
	wantErr(t, err, core.ErrOutOfRange)
	checkCredits(t, s, empty.ID, 0)

	full := newAccount(t, s, "Full", core.MaxCreditsLimit)
	_, err = s.AddCredits(t.Context(), full.ID, 1)
	wantErr(t, err, core.ErrOutOfRange)
	checkCredits(t, s, full.ID, core.MaxCreditsLimit)
}

func testAddCreditsErrNotFound(t *testing.T, s core.Store) {
	a := newAccount(t, s, "Acme", 10)
	_, err := s.AddCredits(t.Context(), a.ID+1000, 1)
	wantErr(t, err, core.ErrNotFound)
	_, err = s.AddCredits(t.Context(), a.ID+1000, -1)
	wantErr(t, err, core.ErrNotFound)
	checkCredits(t, s, a.ID, 10)
}
