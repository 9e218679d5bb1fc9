// Package upstream knows which files of golang.org/x/crypto/argon2 the
// argon2id package carries unchanged, and how they are carried.
package upstream

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Files are copied byte for byte but for the package clause.
var Files = []string{"blake2b.go", "blamka_amd64.go", "blamka_amd64.s", "blamka_generic.go", "blamka_ref.go"}

// Dir is golang.org/x/crypto/argon2 in the module cache, at the version
// go.mod requires. dir is any directory inside this module.
func Dir(dir string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/crypto")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m golang.org/x/crypto: %w", err)
	}
	d := strings.TrimSpace(string(out))
	if d == "" {
		return "", fmt.Errorf("golang.org/x/crypto is not in the module cache (go mod download)")
	}
	return filepath.Join(d, "argon2"), nil
}

// Carried returns the content of an upstream file as the argon2id package
// carries it.
func Carried(upstreamDir, name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(upstreamDir, name))
	if err != nil {
		return nil, err
	}
	// Go files: the package clause; assembly: the generator's comment.
	out := bytes.Replace(b, []byte("\npackage argon2\n"), []byte("\npackage argon2id\n"), 1)
	if strings.HasSuffix(name, ".go") && bytes.Equal(out, b) {
		return nil, fmt.Errorf("%s: no package clause \"package argon2\"", name)
	}
	return out, nil
}
