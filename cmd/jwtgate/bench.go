package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/argon2id"
	"github.com/jwtgate/jwtgate/internal/proc"
	"github.com/jwtgate/jwtgate/postgres"
	"github.com/jwtgate/jwtgate/token"
)

// bench measures jwtgate against its physical limits: it starts "jwtgate
// serve" on a fresh store (a SQLite file; with --db, also PostgreSQL, with
// --instances servers on it), and a bare net/http server as the baseline,
// each as a child process on loopback, drives every scenario with a bounded
// closed loop of N connections for T (spread over the instances), and
// prints one table.
func bench(ctx context.Context, name string, args []string, e *env) error {
	fs := newFlags(e, name)
	var dbs []string
	fs.Func("db", "a `store` to measure besides the default SQLite file, e.g. postgres://… (a throw-away schema is made in it); repeatable", func(v string) error {
		dbs = append(dbs, v)
		return nil
	})
	instances := fs.String("instances", "1", "comma-separated `counts` of jwtgate serve processes on each --db store, e.g. 1,3")
	conns := fs.Int("c", 32, "connections (closed-loop clients) per scenario")
	dur := fs.Duration("t", 8*time.Second, "duration of each scenario")
	smoke := fs.Bool("smoke", false, "a few requests per scenario: checks the harness, measures nothing")
	only := fs.String("run", "", "run only the scenarios matching this regular expression (the baselines they need always run)")
	tokens := fs.Int("tokens", 0, "issued tokens to add to the database before measuring (live-token scaling)")
	serverArgs := fs.String("server-args", "", "extra flags for jwtgate serve, space-separated")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: bench takes no arguments", errUsage)
	}
	filter, err := regexp.Compile(*only)
	if err != nil {
		return fmt.Errorf("%w: -run: %v", errUsage, err)
	}
	var counts []int
	for _, f := range strings.Split(*instances, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 16 {
			return fmt.Errorf("%w: --instances %q: give counts from 1 to 16, e.g. 1,3", errUsage, *instances)
		}
		counts = append(counts, n)
	}
	if *smoke {
		*dur, *conns = 0, min(*conns, 4)
	}
	b := &benchRun{out: e.stdout, log: e.stderr, conns: *conns, dur: *dur, smoke: *smoke}
	defer b.close()
	if err := b.setup(ctx, *tokens, strings.Fields(*serverArgs), dbs, counts); err != nil {
		return err
	}
	return b.run(ctx, filter)
}

// benchRun holds one run's servers and results.
type benchRun struct {
	out, log io.Writer
	conns    int
	dur      time.Duration
	smoke    bool

	dir     string
	bare    *benchChild
	setups  []*benchSetup // the SQLite default first
	client  *http.Client
	rows    []benchRow
	cleanup []func()
}

// benchSetup is one store with the jwtgate servers the bench runs on it.
type benchSetup struct {
	label             string // "" for the SQLite default, else e.g. "PostgreSQL ×3"
	gates             []*benchChild
	token, serviceKey string
	next              atomic.Uint64 // round robin over gates
}

// url is the next server's address for a request, in turn.
func (st *benchSetup) url() string {
	return st.gates[st.next.Add(1)%uint64(len(st.gates))].URL
}

// name labels a scenario of st.
func (st *benchSetup) name(scenario string) string {
	if st.label == "" {
		return scenario
	}
	return scenario + " [" + st.label + "]"
}

const (
	benchUser     = "bench"
	benchPassword = "bench-password-123"
)

// benchChild is a server process the bench measures.
type benchChild = proc.Child

func (b *benchRun) setup(ctx context.Context, tokens int, serverArgs, dbs []string, counts []int) error {
	var err error
	if b.dir, err = os.MkdirTemp("", "jwtgate-bench-"); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: b.conns, MaxConnsPerHost: b.conns, DisableCompression: true}, Timeout: 30 * time.Second}
	if b.bare, err = proc.Start(ctx, self, proc.Options{Args: []string{"bench-bare"}, Stdout: b.log, Stderr: b.log, Timeout: 20 * time.Second}); err != nil {
		return err
	}
	if err := b.addSetup(ctx, self, "", filepath.Join(b.dir, "bench.db"), 1, tokens, serverArgs); err != nil {
		return err
	}
	for _, db := range dbs {
		for _, n := range counts {
			// Each setup on a schema of its own: nothing measured before
			// weighs on the next.
			url, drop, err := postgres.NewSchema(ctx, db, "bench")
			if err != nil {
				return fmt.Errorf("--db %s: %w", redact(db), err)
			}
			b.cleanup = append(b.cleanup, func() { drop(context.Background()) }) //nolint:errcheck // best effort
			if err := b.addSetup(ctx, self, fmt.Sprintf("PostgreSQL ×%d", n), url, n, tokens, serverArgs); err != nil {
				return err
			}
		}
	}
	return nil
}

// addSetup seeds the store at dsn and starts n servers on it.
func (b *benchRun) addSetup(ctx context.Context, self, label, dsn string, n, tokens int, serverArgs []string) error {
	st := &benchSetup{label: label}
	var err error
	if st.serviceKey, err = b.seed(ctx, dsn, tokens); err != nil {
		return err
	}
	for range n {
		opts := proc.Options{Args: append([]string{"serve", "--db", dsn, "--bootstrap=false", "--log-level", "warn"}, serverArgs...),
			Stdout: b.log, Stderr: b.log, Timeout: 20 * time.Second}
		g, err := proc.Start(ctx, self, opts)
		if err != nil {
			return err
		}
		st.gates = append(st.gates, g)
	}
	b.setups = append(b.setups, st)
	// One token for the metered scenarios: no limits, so that it never runs out.
	body := fmt.Sprintf(`{"username":%q,"password":%q,"expiresAt":%q}`, benchUser, benchPassword, time.Now().Add(23*time.Hour).UTC().Format(time.RFC3339))
	var res struct{ Jwt string }
	if err := postJSON(ctx, b.client, st.gates[0].URL+"/UserAdmin/GetJWT.json", body, &res); err != nil || res.Jwt == "" {
		return fmt.Errorf("getting the bench token: %v", err)
	}
	st.token = res.Jwt
	return nil
}

// seed creates the bench's user, service key and (tokens > 0) that many
// extra live tokens in the new store at dsn, and returns the service key.
func (b *benchRun) seed(ctx context.Context, dsn string, tokens int) (string, error) {
	db, err := openStore(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer db.Close()
	c := core.DefaultConfig()
	c.Store, c.Tokens, c.Logger = db, token.Strategy{}, slog.New(slog.NewTextHandler(b.log, nil))
	svc := core.New(c)
	k, err := svc.KeyRing.Ensure(ctx)
	if err != nil {
		return "", err
	}
	u, err := svc.Admin.CreateUser(ctx, core.CreateUserRequest{Username: benchUser, Password: benchPassword, Credits: core.MaxCreditsLimit})
	if err != nil {
		return "", err
	}
	key, _, err := svc.Admin.CreateServiceKey(ctx, "bench")
	if err != nil {
		return "", err
	}
	if tokens > 0 {
		seeder, ok := db.(interface {
			SeedTokens(context.Context, int, *core.IssuedToken) error
		})
		if !ok {
			return "", fmt.Errorf("-tokens: the store at %s cannot be seeded", redact(dsn))
		}
		fmt.Fprintf(b.log, "adding %d tokens...\n", tokens)
		now := time.Now().UTC()
		return key, seeder.SeedTokens(ctx, tokens, &core.IssuedToken{Kid: k.Kid, AccountID: u.AccountID, UserID: u.ID, Application: "seed",
			IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	}
	return key, nil
}

func (b *benchRun) close() {
	children := []*benchChild{b.bare}
	for _, st := range b.setups {
		children = append(children, st.gates...)
	}
	for _, c := range children {
		if c != nil {
			c.Kill() //nolint:errcheck // best effort
		}
	}
	for _, f := range b.cleanup {
		f()
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// scenario is one measured load.
type scenario struct {
	name     string
	baseline string // the name of the row this one is compared with
	target   float64
	servers  []*benchChild // whose CPU and memory are measured
	request  func(b *benchRun) (*http.Request, error)
	check    func(status int, body []byte) bool
	inProc   func(ctx context.Context, b *benchRun) (count int64, lat []time.Duration, errs int64) // instead of HTTP
}

// benchRow is one line of the table.
type benchRow struct {
	name, baseline string
	target         float64
	rps            float64
	p50, p99       time.Duration
	errors         int64
	cpuPerReq      float64 // server CPU seconds per request
	peakRSS        int64   // server peak RSS, bytes
}

func successBody(status int, body []byte) bool {
	return status == http.StatusOK && bytes.Contains(body, []byte(`"Success":true`))
}

func soapSuccess(status int, body []byte) bool {
	return status == http.StatusOK && bytes.Contains(body, []byte(`<Success>true</Success>`))
}

// scenarios lists every scenario of every setup, each group after its
// baseline: the hash for GetJWT, the bare handler for the metered calls
// and for the JWKS.
func (b *benchRun) scenarios() []scenario {
	bare := []*benchChild{b.bare}
	expires := func() string { return time.Now().Add(time.Hour).UTC().Format(time.RFC3339) }
	post := func(st *benchSetup, path, contentType string, body func(st *benchSetup) string, header ...string) func(b *benchRun) (*http.Request, error) {
		return func(b *benchRun) (*http.Request, error) {
			r, err := http.NewRequest(http.MethodPost, st.url()+path, strings.NewReader(body(st)))
			if err == nil {
				r.Header.Set("Content-Type", contentType)
				for i := 0; i+1 < len(header); i += 2 {
					r.Header.Set(header[i], header[i+1])
				}
			}
			return r, err
		}
	}
	get := func(url func() string, path string) func(b *benchRun) (*http.Request, error) {
		return func(b *benchRun) (*http.Request, error) { return http.NewRequest(http.MethodGet, url()+path, nil) }
	}
	getJWT := func(*benchSetup) string {
		return fmt.Sprintf(`{"username":%q,"password":%q,"expiresAt":%q}`, benchUser, benchPassword, expires())
	}
	soapEnv := func(op, inner string) string {
		return `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><` +
			op + ` xmlns="http://www.data-8.co.uk/integr8">` + inner + `</` + op + `></soap:Body></soap:Envelope>`
	}
	soapAction := func(op string) []string {
		return []string{"SOAPAction", `"http://www.data-8.co.uk/integr8/` + op + `"`}
	}
	var seq atomic.Int64
	reqID := func() string { return "bench-" + strconv.FormatInt(seq.Add(1), 36) }
	verify := func(st *benchSetup) string {
		return fmt.Sprintf(`{"serviceKey":%q,"jwt":%q,"method":"Bench.Call"}`, st.serviceKey, st.token)
	}
	charge := func(st *benchSetup) string {
		return fmt.Sprintf(`{"serviceKey":%q,"jwt":%q,"method":"Bench.Call","credits":1,"requestId":%q}`, st.serviceKey, st.token, reqID())
	}
	const (
		hashBase   = "argon2id verify (baseline)"
		chargeBase = "bare handler, charge-size body (baseline)"
		jwksBase   = "bare handler, JWKS-size body (baseline)"
	)
	all := []scenario{{name: hashBase, inProc: hashBaseline}}
	for _, st := range b.setups {
		all = append(all,
			scenario{name: st.name("GetJWT plain JSON"), baseline: hashBase, target: 0.9, servers: st.gates,
				request: post(st, "/UserAdmin/GetJWT.json", "application/json", getJWT), check: successBody},
			scenario{name: st.name("GetJWT OpenAPI"), baseline: hashBase, target: 0.9, servers: st.gates,
				request: post(st, "/api/v1/UserAdmin/GetJWT", "application/json", getJWT), check: successBody},
			scenario{name: st.name("GetJWT SOAP"), baseline: hashBase, target: 0.9, servers: st.gates,
				request: post(st, "/useradmin.asmx", "text/xml; charset=utf-8", func(*benchSetup) string {
					return soapEnv("GetJWT", "<username>"+benchUser+"</username><password>"+benchPassword+"</password><expiresAt>"+expires()+"</expiresAt>")
				}, soapAction("GetJWT")...), check: soapSuccess})
	}
	all = append(all, scenario{name: chargeBase, servers: bare, request: get(func() string { return b.bare.URL }, "/charge"), check: okStatus})
	for _, st := range b.setups {
		target := 0.3
		if st.label != "" {
			target = 0 // the SQLite row's target; PostgreSQL's is against it (docs/PERFORMANCE.md)
		}
		all = append(all,
			scenario{name: st.name("VerifyJWT plain JSON"), baseline: chargeBase, servers: st.gates,
				request: post(st, "/UserAdmin/VerifyJWT.json", "application/json", verify), check: successBody},
			scenario{name: st.name("VerifyJWT SOAP"), baseline: chargeBase, servers: st.gates,
				request: post(st, "/useradmin.asmx", "text/xml; charset=utf-8", func(st *benchSetup) string {
					return soapEnv("VerifyJWT", "<serviceKey>"+st.serviceKey+"</serviceKey><jwt>"+st.token+"</jwt><method>Bench.Call</method>")
				}, soapAction("VerifyJWT")...), check: soapSuccess},
			scenario{name: st.name("ChargeJWT plain JSON"), baseline: chargeBase, target: target, servers: st.gates,
				request: post(st, "/UserAdmin/ChargeJWT.json", "application/json", charge), check: successBody},
			scenario{name: st.name("ChargeJWT SOAP"), baseline: chargeBase, servers: st.gates,
				request: post(st, "/useradmin.asmx", "text/xml; charset=utf-8", func(st *benchSetup) string {
					return soapEnv("ChargeJWT", "<serviceKey>"+st.serviceKey+"</serviceKey><jwt>"+st.token+"</jwt><method>Bench.Call</method><credits>1</credits><requestId>"+reqID()+"</requestId>")
				}, soapAction("ChargeJWT")...), check: soapSuccess})
	}
	all = append(all, scenario{name: jwksBase, servers: bare, request: get(func() string { return b.bare.URL }, "/jwks"), check: okStatus})
	for _, st := range b.setups {
		all = append(all, scenario{name: st.name("JWKS"), baseline: jwksBase, target: 0.8, servers: st.gates,
			request: get(st.url, "/.well-known/jwks.json"), check: okStatus})
	}
	return all
}

func okStatus(status int, _ []byte) bool { return status == http.StatusOK }

func (b *benchRun) run(ctx context.Context, filter *regexp.Regexp) error {
	all := b.scenarios()
	wanted := map[string]bool{}
	for _, s := range all {
		if filter.MatchString(s.name) {
			wanted[s.name], wanted[s.baseline] = true, true
		}
	}
	fmt.Fprintf(b.log, "bench: %d connections, %s per scenario, GOMAXPROCS %d\n", b.conns, b.dur, runtime.GOMAXPROCS(0))
	// A baseline is measured twice, right before its first scenario and
	// right after its last, and the two halves pooled: the machine's speed
	// drifts (it is shared), and a ratio should compare like with like.
	var open *scenario // the baseline whose scenarios are running
	var openRow int    // and its row, filled in when it closes
	var first measurement
	closeBaseline := func() {
		if open != nil {
			b.rows[openRow] = b.row(*open, first.merge(b.measure(ctx, *open)))
		}
	}
	for i := range all {
		s := all[i]
		if !wanted[s.name] {
			continue
		}
		if s.baseline == "" {
			closeBaseline()
			open, openRow, first = &all[i], len(b.rows), b.measure(ctx, s)
			b.rows = append(b.rows, benchRow{name: s.name})
			continue
		}
		b.rows = append(b.rows, b.row(s, b.measure(ctx, s)))
	}
	closeBaseline()
	b.print()
	return nil
}

// measurement is what one load of a scenario gave.
type measurement struct {
	count, errs int64
	lat         []time.Duration
	elapsed     time.Duration
	cpu         float64 // server CPU seconds
	peakRSS     int64
}

func (m measurement) merge(o measurement) measurement {
	return measurement{count: m.count + o.count, errs: m.errs + o.errs, lat: append(m.lat, o.lat...),
		elapsed: m.elapsed + o.elapsed, cpu: m.cpu + o.cpu, peakRSS: max(m.peakRSS, o.peakRSS)}
}

func (b *benchRun) measure(ctx context.Context, s scenario) measurement {
	fmt.Fprintf(b.log, "  %s...\n", s.name)
	var m measurement
	start := time.Now()
	if s.inProc != nil {
		m.count, m.lat, m.errs = s.inProc(ctx, b)
	} else {
		cpu := func() (sum float64) {
			for _, srv := range s.servers {
				sum += procCPU(srv.Pid())
			}
			return sum
		}
		cpu0 := cpu()
		m.count, m.lat, m.errs = b.load(ctx, s)
		m.cpu = cpu() - cpu0
		for _, srv := range s.servers {
			m.peakRSS = max(m.peakRSS, procPeakRSS(srv.Pid()))
		}
	}
	m.elapsed = time.Since(start)
	return m
}

// row turns a scenario's measurements into its line of the table.
func (b *benchRun) row(s scenario, m measurement) benchRow {
	r := benchRow{name: s.name, baseline: s.baseline, target: s.target, errors: m.errs, peakRSS: m.peakRSS}
	// Requests per second counts answers that succeeded.
	r.rps = float64(max(m.count-m.errs, 0)) / m.elapsed.Seconds()
	if m.count > 0 {
		r.cpuPerReq = m.cpu / float64(m.count)
	}
	r.p50, r.p99 = percentile(m.lat, 0.50), percentile(m.lat, 0.99)
	return r
}

// load runs a closed loop of b.conns clients for b.dur (in smoke mode, a
// few requests each) and returns the count, latencies and errors.
func (b *benchRun) load(ctx context.Context, s scenario) (int64, []time.Duration, int64) {
	ctx, cancel := context.WithTimeout(ctx, max(b.dur, time.Second)+30*time.Second)
	defer cancel()
	deadline := time.Now().Add(b.dur)
	var mu sync.Mutex
	var all []time.Duration
	var count, errs atomic.Int64
	var wg sync.WaitGroup
	for range b.conns {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1024)
			for i := 0; ctx.Err() == nil; i++ {
				if b.smoke && i >= 3 || !b.smoke && !time.Now().Before(deadline) {
					break
				}
				req, err := s.request(b)
				if err != nil {
					errs.Add(1)
					continue
				}
				t0 := time.Now()
				resp, err := b.client.Do(req.WithContext(ctx))
				if err != nil {
					errs.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				count.Add(1)
				if !s.check(resp.StatusCode, body) {
					if errs.Add(1) == 1 {
						fmt.Fprintf(b.log, "    first error in %s: HTTP %d %.300s\n", s.name, resp.StatusCode, body)
					}
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return count.Load(), all, errs.Load()
}

// hashBaseline measures argon2id verifications/s with the production
// hasher and parameters, one goroutine per core, each reusing its working
// memory as the server's hash slots do: the floor every login pays.
func hashBaseline(ctx context.Context, b *benchRun) (int64, []time.Duration, int64) {
	h := core.PasswordHasher{Params: core.DefaultArgon2Params}
	enc, err := h.Hash(benchPassword)
	if err != nil {
		return 0, nil, 1
	}
	deadline := time.Now().Add(b.dur)
	var mu sync.Mutex
	var all []time.Duration
	var count atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var lat []time.Duration
			var m argon2id.Memory // reused, as the server's hash gate does
			for i := 0; ctx.Err() == nil; i++ {
				if b.smoke && i >= 2 || !b.smoke && !time.Now().Before(deadline) {
					break
				}
				t0 := time.Now()
				h.VerifyWith(&m, enc, benchPassword) //nolint:errcheck // measured, not checked
				lat = append(lat, time.Since(t0))
				count.Add(1)
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return count.Load(), all, 0
}

func percentile(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[min(len(lat)-1, int(float64(len(lat))*p))]
}

func (b *benchRun) print() {
	byName := map[string]benchRow{}
	for _, r := range b.rows {
		byName[r.name] = r
	}
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treq/s\tp50\tp99\terrors\tCPU/req\tpeak RSS\t× baseline\ttarget\t")
	for _, r := range b.rows {
		ratio, target := "", ""
		if base, ok := byName[r.baseline]; ok && base.rps > 0 {
			ratio = fmt.Sprintf("%.2f", r.rps/base.rps)
		}
		if r.target > 0 {
			target = fmt.Sprintf("≥ %.1f", r.target)
		}
		cpu, rss := "", ""
		if r.cpuPerReq > 0 {
			cpu = fmt.Sprintf("%.0f µs", r.cpuPerReq*1e6)
		}
		if r.peakRSS > 0 {
			rss = fmt.Sprintf("%.0f MB", float64(r.peakRSS)/1e6)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", r.name, r.rps, round(r.p50), round(r.p99), r.errors, cpu, rss, ratio, target)
	}
	tw.Flush()
	if len(b.setups) > 0 && len(b.setups[0].gates) > 0 {
		fmt.Fprintf(b.out, "\njwtgate serve peak RSS over the run: %.0f MB\n", float64(procPeakRSS(b.setups[0].gates[0].Pid()))/1e6)
	}
	if len(b.setups) > 1 {
		fmt.Fprintln(b.out, "CPU/req and peak RSS are jwtgate's, summed over a setup's instances; PostgreSQL's own are not counted.")
	}
}

func round(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= 100*time.Microsecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// procCPU returns a process's user+system CPU seconds (Linux /proc).
func procCPU(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the whole line.
	rest := raw[bytes.LastIndexByte(raw, ')')+2:]
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// procPeakRSS returns a process's peak resident set size (VmHWM) in bytes.
func procPeakRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func postJSON(ctx context.Context, c *http.Client, url, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// benchBare is the baseline: a bare net/http server answering the same
// body sizes as ChargeJWT and the JWKS, with nothing else.
func benchBare(ctx context.Context, _ string, _ []string, e *env) error {
	charge := []byte(`{"Status":{"Success":true,"ErrorMessage":null,"CreditsRemaining":9007199254740990},"TokenCreditsRemaining":null,"Replayed":false}` + "\n")
	jwks := []byte(`{"keys":[{"kty":"OKP","kid":"0123456789abcdef","use":"sig","alg":"EdDSA","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	mux := http.NewServeMux()
	serve := func(body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body) //nolint:errcheck
		}
	}
	mux.HandleFunc("/charge", serve(charge))
	mux.HandleFunc("/jwks", serve(jwks))
	mux.HandleFunc("/healthz", serve([]byte("ok\n")))
	l, err := listen("127.0.0.1:8081", e.getenv)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
