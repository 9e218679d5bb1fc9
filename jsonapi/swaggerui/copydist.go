//go:build ignore

// copydist copies the Swagger UI files that the binary embeds from the npm
// package swagger-ui-dist (pinned in the repository's package.json and
// installed by `npm ci` at the root) into dist/. Run by go generate; CI then
// fails if dist/ differs from what the lock file pins.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

const src = "../../node_modules/swagger-ui-dist"

// files are the ones the page needs, and the package's license notices.
var files = []string{"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png", "LICENSE", "NOTICE"}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "copydist:", err)
		os.Exit(1)
	}
}

func run() error {
	pkg, err := os.ReadFile(filepath.Join(src, "package.json"))
	if os.IsNotExist(err) {
		if os.Getenv("CI") != "" {
			return fmt.Errorf("%s is missing: run npm ci --no-audit --no-fund at the repository root", src)
		}
		fmt.Fprintf(os.Stderr, "copydist: %s is missing (run npm ci at the repository root); dist/ left as it is\n", src)
		return nil
	} else if err != nil {
		return err
	}
	var meta struct{ Version string }
	if err := json.Unmarshal(pkg, &meta); err != nil {
		return fmt.Errorf("%s/package.json: %w", src, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join("dist", f), b, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join("dist", "VERSION"), []byte(meta.Version+"\n"), 0o644)
}
