package swaggerui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Path is where the page is served; its files are under Path + "/".
const Path = "/docs"

// CSP lets the page load scripts, styles and images from its own origin only
// and talk to nothing else ('unsafe-inline' styles: Swagger UI sets style
// attributes; data: images: its icons).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed page.html init.js dist
var files embed.FS

// asset is one embedded file with its precomputed validator.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the page at Path and its assets below it.
type Handler struct {
	page   asset
	assets map[string]asset // by name under Path + "/"
}

// New returns the handler; the embedded files are read once.
func New() *Handler {
	h := &Handler{assets: map[string]asset{}}
	read := func(name, contentType string) asset {
		b, err := files.ReadFile(name)
		if err != nil {
			panic("swaggerui: embedded file missing: " + name) // a build defect, caught by the tests
		}
		sum := sha256.Sum256(b)
		return asset{body: b, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	h.page = read("page.html", "text/html; charset=utf-8")
	h.assets["init.js"] = read("init.js", "text/javascript; charset=utf-8")
	entries, _ := fs.ReadDir(files, "dist")
	for _, e := range entries {
		ct := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}[path.Ext(e.Name())]
		if ct != "" {
			h.assets[e.Name()] = read("dist/"+e.Name(), ct)
		}
	}
	return h
}

// ServeHTTP serves GET and HEAD of the page and its assets.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	var a asset
	var ok bool
	switch name, sub := strings.CutPrefix(r.URL.Path, Path+"/"); {
	case r.URL.Path == Path:
		a, ok = h.page, true
		w.Header().Set("Cache-Control", "no-cache")
	case sub && name == "":
		// The page's relative links assume it is at Path exactly.
		http.Redirect(w, r, "../docs", http.StatusMovedPermanently)
		return
	case sub:
		a, ok = h.assets[name]
		w.Header().Set("Cache-Control", "public, max-age=86400")
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
