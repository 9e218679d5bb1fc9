package jsonapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/oasdiff/yaml"

	"github.com/jwtgate/jwtgate"
	"github.com/jwtgate/jwtgate/core"
)

// APIBase is where the strict OpenAPI surface lives; it is the document's
// one (relative) servers entry.
const APIBase = "/api/v1"

// Spec is the OpenAPI contract, loaded and validated once at start-up, with
// the routes the strict surface validates requests against.
type Spec struct {
	yaml   []byte // as committed
	json   []byte // the same document, converted once
	etag   string // of the YAML; the JSON is derived from it
	routes []*routers.Route
}

// LoadSpec loads and validates the embedded openapi.yaml.
func LoadSpec(ctx context.Context) (*Spec, error) {
	return ParseSpec(ctx, jwtgate.OpenAPI)
}

// ParseSpec loads and validates an OpenAPI document, and checks that the
// strict surface implements exactly its operations.
func ParseSpec(ctx context.Context, data []byte) (*Spec, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != APIBase {
		return nil, fmt.Errorf("openapi.yaml: servers must be exactly [{url: %s}]", APIBase)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml to JSON: %w", err)
	}
	sum := sha256.Sum256(data)
	s := &Spec{yaml: data, json: js, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}

	seen := map[string]bool{}
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		if len(item.Parameters) > 0 || strings.Contains(path, "{") {
			return nil, fmt.Errorf("openapi.yaml: path %s: path parameters are not supported by the strict surface yet", path)
		}
		for method, op := range item.Operations() {
			if _, ok := openapiOps[core.OpNamed(op.OperationID)]; !ok {
				return nil, fmt.Errorf("openapi.yaml: %s %s: operationId %q has no handler in jsonapi", method, path, op.OperationID)
			}
			seen[op.OperationID] = true
			s.routes = append(s.routes, &routers.Route{Spec: doc, Server: doc.Servers[0], Path: path, PathItem: item, Method: method, Operation: op})
		}
	}
	for _, op := range core.Ops() {
		if !seen[op.Name] {
			return nil, fmt.Errorf("openapi.yaml: operation %q is not described in the document", op.Name)
		}
	}
	sort.Slice(s.routes, func(i, j int) bool {
		a, b := s.routes[i], s.routes[j]
		return a.Path < b.Path || a.Path == b.Path && a.Method < b.Method
	})
	return s, nil
}

// Routes returns the document's operations, path relative to APIBase.
func (s *Spec) Routes() []*routers.Route { return slices.Clone(s.routes) }

// errNoRoute is returned by Route for a request that names no operation.
var errNoRoute = errors.New("no operation of the OpenAPI document has this method and path")

// Route finds the operation of a request to the strict surface, by its
// method and its full path (APIBase included).
func (s *Spec) Route(method, path string) (*routers.Route, error) {
	rel, ok := strings.CutPrefix(path, APIBase)
	if !ok {
		return nil, errNoRoute
	}
	for _, rt := range s.routes {
		if rt.Path == rel && rt.Method == method {
			return rt, nil
		}
	}
	return nil, errNoRoute
}

// ServeYAML serves the document as committed.
func (s *Spec) ServeYAML(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, "application/yaml", s.yaml, "y")
}

// ServeJSON serves the same document as JSON (also at the Swagger-style path
// /swagger/UserAdmin/swagger.json, where some SDK tools look for it).
func (s *Spec) ServeJSON(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, "application/json", s.json, "j")
}

func (s *Spec) serve(w http.ResponseWriter, r *http.Request, contentType string, body []byte, variant string) {
	h := w.Header()
	h.Set("Content-Type", contentType+"; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	// The document changes only with the binary: let caches keep it a while
	// and revalidate it cheaply by its ETag.
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*") // a public contract that browser tools may fetch
	h.Set("ETag", strings.TrimSuffix(s.etag, `"`)+"-"+variant+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}
