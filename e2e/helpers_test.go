package e2e_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/jwtgate/jwtgate/internal/proc"
	"github.com/jwtgate/jwtgate/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// admin runs an admin command of the binary on db, with stdin, and returns
// its standard output.
func admin(t *testing.T, db, stdin string, args ...string) string {
	t.Helper()
	out, err := adminErr(testenv.Binary(t), db, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func adminErr(bin, db, stdin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "JWTGATE_DB="+db)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("jwtgate %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// lastLine is where the admin commands print a new key.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// gate is a running "jwtgate serve" on 127.0.0.1.
type gate struct {
	*proc.Child
	base   string // http://addr
	client *http.Client
}

// startGate runs jwtgate serve on db, its log going to logFile, and waits
// until /readyz answers 200. conns sizes the client's connection pool.
func startGate(t *testing.T, db string, logFile *os.File, conns int, extra ...string) *gate {
	t.Helper()
	c, _, _ := testenv.Start(t, proc.Options{Args: append([]string{"serve"}, extra...),
		Env: []string{"JWTGATE_DB=" + db, "JWTGATE_BOOTSTRAP=false"}, Stdout: logFile, Stderr: logFile})
	return &gate{Child: c, base: c.URL, client: &http.Client{
		Timeout:   10 * time.Second, // a server that hangs fails the test soon
		Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute},
	}}
}

func (g *gate) pid() int { return g.Pid() }

// kill sends SIGKILL and waits until the process is gone.
func (g *gate) kill(t *testing.T) {
	t.Helper()
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	g.client.CloseIdleConnections()
}

// stop sends SIGTERM and expects a clean exit.
func (g *gate) stop(t *testing.T) {
	t.Helper()
	if err := g.Stop(20 * time.Second); err != nil {
		t.Fatalf("jwtgate serve after SIGTERM: %v", err)
	}
	g.client.CloseIdleConnections()
}

// do sends a request and reads the whole answer. header holds name, value
// pairs.
func (g *gate) do(ctx context.Context, method, path, contentType string, body []byte, header ...string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// result is every field the JSON surfaces answer with; each operation uses
// some of them.
type result struct {
	Status struct {
		Success          bool
		ErrorMessage     *string
		CreditsRemaining float64
	}
	Jwt                   *string
	TokenCreditsRemaining *int64
	Replayed              bool
	Jti                   *string
	Username              *string
	Application           *string
	Usage                 []usageRow
}

type usageRow struct {
	Day, Application, Method string
	Calls, Failures, Credits int64
}

func (r *result) message() string {
	if r.Status.ErrorMessage == nil {
		return ""
	}
	return *r.Status.ErrorMessage
}

// postJSON posts body as JSON to path and decodes the answer into a result.
func (g *gate) postJSON(ctx context.Context, path string, body any, header ...string) (int, *result, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	code, raw, err := g.do(ctx, http.MethodPost, path, "application/json", b, header...)
	if err != nil {
		return code, nil, err
	}
	var r result
	if err := json.Unmarshal(raw, &r); err != nil {
		return code, nil, fmt.Errorf("%s: HTTP %d, not JSON: %.200q", path, code, raw)
	}
	return code, &r, nil
}

// SOAP, by hand: the envelopes are short and the point is the wire.
const (
	soapNS11 = "http://schemas.xmlsoap.org/soap/envelope/"
	soapNS12 = "http://www.w3.org/2003/05/soap-envelope"
	soapTNS  = "http://www.data-8.co.uk/integr8"
)

// soapField is one child element of an operation; nil value means xsi:nil.
type soapField struct {
	name  string
	value any // string, int64, *int64, []string, map[string]string (options)
}

func soapBody(op string, fields ...soapField) string {
	var b strings.Builder
	b.WriteString(`<` + op + ` xmlns="` + soapTNS + `">`)
	for _, f := range fields {
		switch v := f.value.(type) {
		case string:
			b.WriteString("<" + f.name + ">")
			xml.EscapeText(&b, []byte(v)) //nolint:errcheck // a strings.Builder does not fail
			b.WriteString("</" + f.name + ">")
		case int64:
			fmt.Fprintf(&b, "<%s>%d</%s>", f.name, v, f.name)
		case *int64:
			if v == nil {
				fmt.Fprintf(&b, `<%s xsi:nil="true"/>`, f.name)
			} else {
				fmt.Fprintf(&b, "<%s>%d</%s>", f.name, *v, f.name)
			}
		case []string:
			b.WriteString("<" + f.name + ">")
			for _, s := range v {
				b.WriteString("<string>" + s + "</string>")
			}
			b.WriteString("</" + f.name + ">")
		case map[string]string:
			b.WriteString("<" + f.name + ">")
			for k, s := range v {
				b.WriteString("<Option><Name>" + k + "</Name><Value>" + s + "</Value></Option>")
			}
			b.WriteString("</" + f.name + ">")
		}
	}
	b.WriteString(`</` + op + `>`)
	return b.String()
}

// soapResult is an operation's <...Result> element.
type soapResult struct {
	Status struct {
		Success          bool
		ErrorMessage     string
		CreditsRemaining float64
	}
	Jwt                   string
	Username, Application string
	TokenCreditsRemaining string // empty when xsi:nil
	Replayed              bool
	Jti                   string
	Usage                 struct {
		Rows []usageRow `xml:"UsageRow"`
	}
}

// callSOAP sends operation op in SOAP version 11 or 12 and decodes the
// result; a fault is an error.
func (g *gate) callSOAP(ctx context.Context, version int, op string, fields ...soapField) (int, *result, error) {
	ns, header := soapNS11, []string{"SOAPAction", `"` + soapTNS + "/" + op + `"`}
	contentType := "text/xml; charset=utf-8"
	if version == 12 {
		ns, header = soapNS12, nil
		contentType = `application/soap+xml; charset=utf-8; action="` + soapTNS + "/" + op + `"`
	}
	env := `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="` + ns +
		`" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Body>` + soapBody(op, fields...) + `</soap:Body></soap:Envelope>`
	code, raw, err := g.do(ctx, http.MethodPost, "/useradmin.asmx", contentType, []byte(env), header...)
	if err != nil {
		return code, nil, err
	}
	var parsed struct {
		Body struct {
			Fault *struct {
				Inner []byte `xml:",innerxml"`
			} `xml:"Fault"`
			Response struct {
				Result soapResult `xml:",any"`
			} `xml:",any"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal(raw, &parsed); err != nil {
		return code, nil, fmt.Errorf("SOAP %d %s: HTTP %d, not XML: %.200q", version, op, code, raw)
	}
	if parsed.Body.Fault != nil {
		return code, nil, fmt.Errorf("SOAP %d %s: HTTP %d, fault: %.300s", version, op, code, parsed.Body.Fault.Inner)
	}
	sr := parsed.Body.Response.Result
	r := &result{Replayed: sr.Replayed, Usage: sr.Usage.Rows}
	r.Status.Success, r.Status.CreditsRemaining = sr.Status.Success, sr.Status.CreditsRemaining
	if sr.Status.ErrorMessage != "" {
		r.Status.ErrorMessage = &sr.Status.ErrorMessage
	}
	if sr.Jwt != "" {
		r.Jwt = &sr.Jwt
	}
	if sr.Jti != "" {
		r.Jti = &sr.Jti
	}
	if sr.Username != "" {
		r.Username, r.Application = &sr.Username, &sr.Application
	}
	if sr.TokenCreditsRemaining != "" {
		n, err := strconv.ParseInt(sr.TokenCreditsRemaining, 10, 64)
		if err != nil {
			return code, nil, fmt.Errorf("SOAP %s: TokenCreditsRemaining %q", op, sr.TokenCreditsRemaining)
		}
		r.TokenCreditsRemaining = &n
	}
	return code, r, nil
}

// jtiOf reads the jti claim of a token without checking it: the server
// has just issued it.
func jtiOf(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.40q", jwt)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.JTI == "" {
		t.Fatalf("token without jti: %s (%v)", payload, err)
	}
	return claims.JTI
}

// openReadOnly opens the database file read-only, for checks made while no
// server runs (or beside one: WAL lets a reader in).
func openReadOnly(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// procStats is what the kernel says about a process (Linux /proc).
type procStats struct {
	RSSKiB  int64
	Threads int64
	FDs     int
}

func (s procStats) String() string {
	return fmt.Sprintf("RSS %.1f MiB, %d threads, %d fds", float64(s.RSSKiB)/1024, s.Threads, s.FDs)
}

func readProcStats(pid int) (procStats, error) {
	var s procStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		name, value, _ := strings.Cut(line, ":")
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		switch name {
		case "VmRSS":
			s.RSSKiB, err = strconv.ParseInt(fields[0], 10, 64)
		case "Threads":
			s.Threads, err = strconv.ParseInt(fields[0], 10, 64)
		}
		if err != nil {
			return s, err
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.FDs = len(fds)
	return s, nil
}

// expires is an expiresAt an hour or two ahead, in whole seconds.
func expires(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
