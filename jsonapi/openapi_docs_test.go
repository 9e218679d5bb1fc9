package jsonapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/jwtgate/jwtgate"
	"github.com/jwtgate/jwtgate/jsonapi"
	"github.com/jwtgate/jwtgate/jsonapi/swaggerui"
)

// TestOpenAPI_Documents: the contract is served as committed (YAML) and as
// the same document in JSON at both JSON paths, with cache validators.
func TestOpenAPI_Documents(t *testing.T) {
	e := newEnv(t)
	e.post("application/json", fmt.Sprintf(`{"expiresAt":%q}`, e.expiresAt(time.Hour)), "?key="+e.apiKey)

	y := e.raw(http.MethodGet, "/openapi.yaml", "", "")
	if y.status != http.StatusOK || !bytes.Equal(y.body, jwtgate.OpenAPI) {
		t.Fatalf("/openapi.yaml: HTTP %d, %d bytes; want the committed document", y.status, len(y.body))
	}
	if mt, _, _ := mime.ParseMediaType(y.header.Get("Content-Type")); mt != "application/yaml" {
		t.Errorf("/openapi.yaml Content-Type = %q", y.header.Get("Content-Type"))
	}
	load := func(name string, data []byte) *openapi3.T {
		t.Helper()
		doc, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return doc
	}
	fromYAML, _ := load("openapi.yaml", y.body).MarshalJSON()

	var first []byte
	for _, path := range []string{"/openapi.json", "/swagger/UserAdmin/swagger.json", "/Swagger/useradmin/SWAGGER.json"} {
		j := e.raw(http.MethodGet, path, "", "")
		if j.status != http.StatusOK {
			t.Fatalf("%s: %v", path, j)
		}
		if mt, _, _ := mime.ParseMediaType(j.header.Get("Content-Type")); mt != "application/json" {
			t.Errorf("%s Content-Type = %q", path, j.header.Get("Content-Type"))
		}
		if first == nil {
			first = j.body
		} else if !bytes.Equal(j.body, first) {
			t.Errorf("%s differs from /openapi.json", path)
		}
		var raw map[string]any
		if err := json.Unmarshal(j.body, &raw); err != nil {
			t.Fatalf("%s is not JSON: %v", path, err)
		}
		fromJSON, _ := load(path, j.body).MarshalJSON()
		if !bytes.Equal(fromJSON, fromYAML) {
			t.Errorf("%s is not the same document as /openapi.yaml", path)
		}
		servers, _ := raw["servers"].([]any)
		if len(servers) != 1 || servers[0].(map[string]any)["url"] != jsonapi.APIBase {
			t.Errorf("%s servers = %v, want the relative %s", path, raw["servers"], jsonapi.APIBase)
		}
		// The largest bound must survive the conversion exactly.
		if !bytes.Contains(j.body, []byte(`"maximum":9007199254740991`)) {
			t.Errorf("%s lost maxCredits' maximum", path)
		}
	}

	for _, path := range []string{"/openapi.yaml", "/openapi.json"} {
		a := e.raw(http.MethodGet, path, "", "")
		etag := a.header.Get("ETag")
		if etag == "" || !strings.Contains(a.header.Get("Cache-Control"), "max-age=") {
			t.Errorf("%s: ETag %q, Cache-Control %q", path, etag, a.header.Get("Cache-Control"))
		}
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.Header.Set("If-None-Match", etag)
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: HTTP %d, want 304", path, res.StatusCode)
		}
	}
	if a := e.raw(http.MethodPost, "/openapi.json", "", ""); a.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /openapi.json: HTTP %d", a.status)
	}
}

// TestOpenAPI_DocsPage: /docs is Swagger UI from embedded files, referring
// to nothing but its own origin, under a CSP that forbids anything else.
func TestOpenAPI_DocsPage(t *testing.T) {
	e := newEnv(t)
	e.post("application/json", fmt.Sprintf(`{"expiresAt":%q}`, e.expiresAt(time.Hour)), "?key="+e.apiKey)

	page := e.raw(http.MethodGet, "/docs", "", "")
	if page.status != http.StatusOK || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("/docs: %v", page)
	}
	csp := page.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "img-src 'self' data:"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "http") || strings.Contains(csp, "*") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP %q allows another origin or eval", csp)
	}
	html := string(page.body)
	if strings.Contains(html, "http://") || strings.Contains(html, "https://") || strings.Contains(html, "//") {
		t.Errorf("the page names another origin:\n%s", html)
	}
	if regexp.MustCompile(`<script(\s[^>]*)?>[^<]`).MatchString(html) || regexp.MustCompile(`<script(?:\s[^>]*)?>`).FindAllString(html, -1) == nil {
		t.Errorf("the page must load its scripts from files (no inline script: the CSP forbids it):\n%s", html)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(html, -1)
	if len(refs) < 3 {
		t.Fatalf("the page refers to %d files", len(refs))
	}
	base, _ := url.Parse(e.srv.URL + "/docs")
	wantType := map[string]string{".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".yaml": "application/yaml"}
	for _, ref := range refs {
		u, err := url.Parse(ref[1])
		if err != nil || u.IsAbs() || u.Host != "" || strings.HasPrefix(ref[1], "/") {
			t.Errorf("the page refers to %q: want a relative URL of this origin", ref[1])
			continue
		}
		abs := base.ResolveReference(u)
		a := e.raw(http.MethodGet, abs.Path, "", "")
		if a.status != http.StatusOK || len(a.body) == 0 {
			t.Errorf("%s (from %q): HTTP %d", abs.Path, ref[1], a.status)
			continue
		}
		ext := abs.Path[strings.LastIndex(abs.Path, "."):]
		if mt, _, _ := mime.ParseMediaType(a.header.Get("Content-Type")); mt != wantType[ext] {
			t.Errorf("%s Content-Type = %q", abs.Path, a.header.Get("Content-Type"))
		}
		if ext == ".js" && a.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s lacks nosniff", abs.Path)
		}
	}
	init := e.raw(http.MethodGet, "/docs/init.js", "", "")
	for _, want := range []string{`"openapi.json"`, "validatorUrl: null"} {
		if !strings.Contains(string(init.body), want) {
			t.Errorf("init.js lacks %s", want)
		}
	}
	if strings.Contains(string(init.body), "http") {
		t.Errorf("init.js names another origin")
	}
	if a := e.raw(http.MethodGet, "/docs/", "", ""); a.status != http.StatusOK || !bytes.Equal(a.body, page.body) {
		t.Errorf("/docs/ does not lead to the page: HTTP %d", a.status)
	}
	for _, path := range []string{"/docs/nope.js", "/docs/page.html", "/docs/LICENSE"} {
		if a := e.raw(http.MethodGet, path, "", ""); a.status != http.StatusNotFound {
			t.Errorf("%s: HTTP %d, want 404", path, a.status)
		}
	}
}

// TestSwaggerUIPinned: the embedded Swagger UI is the version package.json
// pins (go generate ./jsonapi/swaggerui copies it from node_modules).
func TestSwaggerUIPinned(t *testing.T) {
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	b, err := os.ReadFile("../package.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	v, err := os.ReadFile("swaggerui/dist/VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if want := pkg.DevDependencies["swagger-ui-dist"]; strings.TrimSpace(string(v)) != want {
		t.Fatalf("jsonapi/swaggerui/dist holds swagger-ui-dist %s, package.json pins %q: run npm ci and go generate ./jsonapi/swaggerui", v, want)
	}
	if _, err := os.Stat("swaggerui/dist/LICENSE"); err != nil {
		t.Errorf("Swagger UI's license must ship with it: %v", err)
	}
	if !strings.Contains(swaggerui.CSP, "default-src 'none'") {
		t.Errorf("CSP = %q", swaggerui.CSP)
	}
}

// TestOpenAPI_ValidateResponses: with the run-time check on, an answer that
// breaks the document is never sent; it becomes a logged 500.
func TestOpenAPI_ValidateResponses(t *testing.T) {
	// A document that allows only short tokens (its example is one): every
	// real token breaks it.
	broken := bytes.Replace(jwtgate.OpenAPI, []byte("        Jwt:\n          type: string\n"), []byte("        Jwt:\n          type: string\n          maxLength: 100\n"), 1)
	if bytes.Equal(broken, jwtgate.OpenAPI) {
		t.Fatal("the test's edit of openapi.yaml no longer applies")
	}
	spec, err := jsonapi.ParseSpec(context.Background(), broken)
	if err != nil {
		t.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint("ValidateResponses=", on), func(t *testing.T) {
			e := newEnv(t, envOption{openAPI: func(a *jsonapi.OpenAPI) { a.Spec, a.ValidateResponses = spec, on }})
			a := e.post("application/json", fmt.Sprintf(`{"username":%q,"password":%q,"expiresAt":%q}`, alice, alicePassword, e.expiresAt(time.Hour)), "")
			want := http.StatusOK
			if on {
				want = http.StatusInternalServerError
			}
			if a.status != want {
				t.Fatalf("%v, want %d", a, want)
			}
			logged := strings.Contains(e.logs.String(), "answer breaks openapi.yaml")
			if logged != on {
				t.Errorf("logged a broken answer: %v, want %v\n%s", logged, on, e.logs.String())
			}
			if on && (strings.Contains(e.logs.String(), "eyJ") || !strings.Contains(e.logs.String(), "body.Jwt: must be at most 100 characters long")) {
				t.Errorf("the log must name the field and never hold the token:\n%s", e.logs.String())
			}
		})
	}
}

func TestParseSpec(t *testing.T) {
	ctx := context.Background()
	if _, err := jsonapi.LoadSpec(ctx); err != nil {
		t.Fatalf("LoadSpec: %v", err)
	}
	edit := func(old, new string) []byte {
		t.Helper()
		b := bytes.Replace(jwtgate.OpenAPI, []byte(old), []byte(new), 1)
		if bytes.Equal(b, jwtgate.OpenAPI) {
			t.Fatalf("edit %q no longer applies", old)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		doc  []byte
		want string
	}{
		{"NotYAML", []byte("openapi: [3"), "openapi.yaml"},
		{"Invalid", edit("openapi: 3.0.3", "openapi: 3.0.3\nx-broken: {"), "openapi.yaml"},
		{"SchemaError", edit(`pattern: '^[A-Za-z0-9_]+`, `pattern: '^[A-Za-z0-9_+`), "not a valid OpenAPI document"},
		{"AbsoluteServer", edit("url: /api/v1", "url: https://api.example.com/api/v1"), "servers"},
		{"UnknownOperation", edit("operationId: GetJWT", "operationId: GetJWT2"), `"GetJWT2" has no handler`},
		{"PathParameter", edit("/UserAdmin/GetJWT:", "/UserAdmin/{method}:\n    parameters:\n      - {name: method, in: path, required: true, schema: {type: string}}"), "path parameters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := jsonapi.ParseSpec(ctx, tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseSpec: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
