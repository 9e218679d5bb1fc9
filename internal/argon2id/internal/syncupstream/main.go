// Command syncupstream copies the upstream files of golang.org/x/crypto/argon2 that
// the argon2id package carries unchanged (run by go generate in the package
// directory, after an x/crypto upgrade).
package main

import (
	"fmt"
	"os"

	"github.com/jwtgate/jwtgate/internal/argon2id/internal/upstream"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "argon2id sync:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := upstream.Dir(".")
	if err != nil {
		return err
	}
	for _, name := range upstream.Files {
		b, err := upstream.Carried(dir, name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
