package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// jwksTTL is how long an encoded key set is reused. A key rotated in by
// another process is published within it; verifiers cache for max-age.
const jwksTTL = time.Second

// jwksHandler serves the key set pre-encoded, with an ETag, re-reading the
// keys at most once per jwksTTL.
type jwksHandler struct {
	keys *core.KeyRing
	log  *slog.Logger

	mu   sync.Mutex
	body []byte
	etag string
	at   time.Time
	ver  uint64
}

func (h *jwksHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, etag, err := h.current(r)
	if err != nil {
		h.log.ErrorContext(r.Context(), "jwks failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/jwk-set+json")
	// Short, so that a rotated-in key is seen soon by verifiers that cache.
	hdr.Set("Cache-Control", "public, max-age=60")
	hdr.Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body) //nolint:errcheck
}

func (h *jwksHandler) current(r *http.Request) ([]byte, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now, ver := h.keys.Now(), h.keys.Version()
	if h.body != nil && ver == h.ver && now.Sub(h.at) < jwksTTL && !now.Before(h.at) {
		return h.body, h.etag, nil
	}
	set, err := h.keys.JWKS(r.Context())
	if err != nil {
		return nil, "", err
	}
	body, err := json.Marshal(set)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(body)
	h.body, h.etag, h.at, h.ver = body, `"`+hex.EncodeToString(sum[:12])+`"`, now, ver
	return h.body, h.etag, nil
}
