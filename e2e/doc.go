// Package e2e holds end-to-end tests of the real jwtgate binary: a crash
// test that SIGKILLs the server under load and checks the ledger after each
// restart, and a soak that drives every operation on every surface for a
// while and watches the server process. It has no code of its own.
package e2e
