package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/proc"
	"github.com/jwtgate/jwtgate/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// child is a running "jwtgate serve".
type child struct {
	*proc.Child
	addr           string
	stdout, stderr *testenv.Logs
}

// startServer runs jwtgate serve on db and waits until /readyz answers 200.
func startServer(t *testing.T, db string, extra ...string) *child {
	t.Helper()
	c, stdout, stderr := testenv.Start(t, proc.Options{Args: append([]string{"serve"}, extra...), Env: []string{"JWTGATE_DB=" + db}})
	return &child{Child: c, addr: c.Addr, stdout: stdout, stderr: stderr}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *child) stop(t *testing.T) {
	t.Helper()
	if err := s.Stop(15 * time.Second); err != nil {
		t.Fatalf("jwtgate serve after SIGTERM: %v\nstderr:\n%s", err, s.stderr.String())
	}
}

func getJWTOverHTTP(t *testing.T, addr, body string) map[string]any {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/UserAdmin/GetJWT.json", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestServe_BootstrapAndShutdown(t *testing.T) {
	db := filepath.Join(t.TempDir(), "serve.db")
	s := startServer(t, db)
	s.stdout.WaitFor(t, "Change it with")
	m := regexp.MustCompile(`(?m)^    (\S+)$`).FindAllStringSubmatch(s.stdout.String(), -1)
	if len(m) != 1 {
		t.Fatalf("want the admin password printed once, stdout:\n%s", s.stdout.String())
	}
	password := m[0][1]
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	res := getJWTOverHTTP(t, s.addr, fmt.Sprintf(`{"username":"admin","password":%q,"expiresAt":%q}`, password, expires))
	status, _ := res["Status"].(map[string]any)
	if status["Success"] != true || status["CreditsRemaining"] != 1000.0 {
		t.Fatalf("admin login: %v", res)
	}
	s.stop(t)
	logs := s.stderr.String()
	if !strings.Contains(logs, "jwtgate stopped") {
		t.Errorf("no clean-stop line in the log:\n%s", logs)
	}
	if strings.Contains(logs, password) || strings.Contains(logs, res["Jwt"].(string)) {
		t.Errorf("the log holds the admin password or the token:\n%s", logs)
	}

	// Read once stopped: by then all the child wrote has been copied.
	again := startServer(t, db)
	again.stop(t)
	if out := again.stdout.String(); strings.Contains(out, "password") {
		t.Errorf("second start printed a password again:\n%s", out)
	}

	off := startServer(t, filepath.Join(t.TempDir(), "off.db"), "--bootstrap=false")
	off.stop(t)
	if out := off.stdout.String(); out != "" {
		t.Errorf("--bootstrap=false printed:\n%s", out)
	}
}

// TestREADMETour runs the README's tour block as it is written.
func TestREADMETour(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq", "date"} {
		testenv.RequireTool(t, tool, "Debian package "+tool)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	for _, m := range regexp.MustCompile("(?s)<!-- tour:begin[^>]*-->\\s*```sh\\n(.*?)```\\s*<!-- tour:end -->").FindAllSubmatch(readme, -1) {
		script.Write(m[1])
	}
	if script.Len() == 0 {
		t.Fatal("README.md has no tour block between <!-- tour:begin --> and <!-- tour:end -->")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "tour.db")
	s := startServer(t, db)

	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(testenv.Binary(t))+string(os.PathListSeparator)+os.Getenv("PATH"),
		"JWTGATE_DB="+db, "JWTGATE_ADDR="+s.addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tour failed: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`created user alice in account alice \(250 credits\)`),
		regexp.MustCompile(`\{"Status":\{"Success":true,"ErrorMessage":null,"CreditsRemaining":250\},"Jwt":"eyJ`),
		regexp.MustCompile(`"sub": "alice"`),
		regexp.MustCompile(`"application": "tour"`),
		regexp.MustCompile(`"max_credits": 100`),
		regexp.MustCompile(`"kty":"OKP"`),
		regexp.MustCompile(`"ErrorMessage":"invalid username or password"`),
		regexp.MustCompile(`(?m)^\S+\s+alice\s+-\s+UserAdmin.GetJWT\s+1\s+1\s+0$`),
		regexp.MustCompile(`(?m)^\S+\s+alice\s+tour\s+UserAdmin.GetJWT\s+1\s+0\s+0$`),
		regexp.MustCompile(`(?m)^\S+\s+alice\s+tour-key\s+UserAdmin.GetJWT\s+1\s+0\s+0$`),
		regexp.MustCompile(`\{"Status":\{"Success":true,"ErrorMessage":null,"CreditsRemaining":249\},"TokenCreditsRemaining":1,"Replayed":false\}`),
		regexp.MustCompile(`\{"Status":\{"Success":true,"ErrorMessage":null,"CreditsRemaining":249\},"TokenCreditsRemaining":1,"Replayed":true\}`),
		regexp.MustCompile(`\{"Status":\{"Success":true,"ErrorMessage":null,"CreditsRemaining":248\},"TokenCreditsRemaining":0,"Replayed":false\}`),
		regexp.MustCompile(`\{"Status":\{"Success":false,"ErrorMessage":"token credit limit reached: 2 of 2 spent, 1 more requested","CreditsRemaining":0\},"TokenCreditsRemaining":null,"Replayed":false\}`),
		regexp.MustCompile(`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"[^>]*><soap:Body><GetJWTResponse xmlns="http://www.data-8.co.uk/integr8"><GetJWTResult><Status><Success>true</Success><CreditsRemaining>250</CreditsRemaining></Status><Jwt>eyJ`),
		// The OpenAPI sample: a token, then a schema violation naming its field.
		regexp.MustCompile(`\{"Status":\{"Success":true,"ErrorMessage":null,"CreditsRemaining":250\},"Jwt":"eyJ[^"]+"\}\nHTTP 200\n`),
		regexp.MustCompile(`\{"Status":\{"Success":false,"ErrorMessage":"maxCredits: must be at least 1","CreditsRemaining":0\},"Jwt":null\}\nHTTP 400\n`),
	} {
		if !want.MatchString(text) {
			t.Errorf("tour output lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("tour output:\n%s", text)
	}
	s.stop(t)
	key := regexp.MustCompile(`(?m)^jg_\S+$`).FindString(text)
	logs := s.stderr.String()
	for _, secret := range []string{"correct-horse-battery", key, "eyJ"} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("the server log holds a secret (%.6s…)", secret)
		}
	}
}

// TestServe_OpenAPI: the binary serves the committed contract, /docs and the
// strict surface, with --validate-responses on; a bad flag value is a usage error.
func TestServe_OpenAPI(t *testing.T) {
	s := startServer(t, filepath.Join(t.TempDir(), "openapi.db"), "--bootstrap=false", "--validate-responses=true")
	want, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get("http://" + s.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body) //nolint:errcheck
		return resp, b.Bytes()
	}
	if resp, body := get("/openapi.yaml"); resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
		t.Errorf("/openapi.yaml: HTTP %d, %d bytes; want the committed openapi.yaml", resp.StatusCode, len(body))
	}
	if resp, body := get("/docs"); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "swagger-ui") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("/docs: HTTP %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	resp, err := http.Post("http://"+s.addr+"/api/v1/UserAdmin/GetJWT", "application/json",
		strings.NewReader(fmt.Sprintf(`{"username":"nobody","password":"not the password","expiresAt":%q}`, expires)))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out) //nolint:errcheck
	resp.Body.Close()
	if status, _ := out["Status"].(map[string]any); resp.StatusCode != http.StatusUnauthorized || status["ErrorMessage"] != "invalid username or password" {
		t.Errorf("strict GetJWT with a wrong password: HTTP %d %v", resp.StatusCode, out)
	}
	s.stop(t)
	if logs := s.stderr.String(); strings.Contains(logs, "answer breaks openapi.yaml") {
		t.Errorf("an answer broke the document:\n%s", logs)
	}

	cmd := exec.Command(testenv.Binary(t), "serve", "--validate-responses=maybe")
	cmd.Env = append(os.Environ(), "JWTGATE_DB="+filepath.Join(t.TempDir(), "x.db"))
	out2, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out2), "--validate-responses") {
		t.Errorf("serve --validate-responses=maybe: %v\n%s", err, out2)
	}
}
