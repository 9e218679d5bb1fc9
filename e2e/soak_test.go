package e2e_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/testenv"
)

var (
	soakOn       = flag.Bool("soak", false, "run TestSoak for -soak.duration (as CI=true does)")
	soakDuration = flag.Duration("soak.duration", 2*time.Minute, "length of TestSoak with -soak or CI=true")
)

// What the server process may gain between the end of the warm-up and the
// end of the load (measured from /proc: jwtgate has no goroutine gauge). A leak of one goroutine, connection or buffer per
// request grows past these within seconds at the soak's rate (hundreds of
// requests a second).
const (
	maxRSSGrowthMiB = 64 // the heap, SQLite's page caches and argon2's 19 MiB per hash are warm by then
	maxThreadGrowth = 8  // threads are a high-water mark: cgo calls into SQLite each hold one
	maxFDGrowth     = 8  // the listener, the database files and the soak's kept-alive connections
)

const (
	soakUser     = "soak"
	soakPassword = "soak-test-password"
	soakCredits  = 1_000_000_000
	soakWorkers  = 6
	// hashEvery paces the calls that hash a password or an API key
	// (argon2id, tens of milliseconds of a core each): one lane, 4 a second.
	hashEvery = 250 * time.Millisecond
	poolSize  = 16 // tokens kept per application
)

type surface string

const (
	plainJSON  surface = "plain"
	strictJSON surface = "strict"
	soap11     surface = "soap1.1"
	soap12     surface = "soap1.2"
	httpGET    surface = "GET"
)

var (
	apiSurfaces  = []surface{plainJSON, strictJSON, soap11, soap12}
	jsonSurfaces = []surface{plainJSON, strictJSON}
	soakMethods  = []string{"Email.IsValid", "Phone.IsValid"}
)

// appOf is the application whose tokens a surface charges.
func appOf(s surface) string { return "soak-" + strings.ReplaceAll(string(s), ".", "") }

type soakToken struct {
	jwt, jti, app string
	max           *int64
}

// ledgerKey is a line of the usage report, summed over days.
type ledgerKey struct{ app, method string }

type ledgerLine struct{ Calls, Failures, Credits int64 }

type tally struct{ requests, ok, client, server, transport int }

// soak is the load and what it was told.
type soak struct {
	t                  *testing.T
	g                  *gate
	serviceKey, apiKey string
	reader             string // a bearer token for the account operations
	strict             map[string]bool
	expiry             time.Duration
	seq                atomic.Int64

	mu       sync.Mutex
	tallies  map[string]*tally // by "op surface"
	pools    map[string][]*soakToken
	revoked  []*soakToken
	want     map[ledgerKey]*ledgerLine
	charged  int64
	replays  int
	problems []string       // the first 20 unexpected answers
	kinds    map[string]int // all of them, by the kind of check that failed
}

// TestSoak drives every operation on every surface of the real binary for a
// while and checks that nothing failed with 5xx, that the server process
// did not grow, and that the usage ledger is exactly the requests made.
func TestSoak(t *testing.T) {
	d := *soakDuration
	switch {
	case *soakOn || os.Getenv("CI") != "":
	case testing.Short():
		t.Skip("soak skipped in -short mode; run it with -soak [-soak.duration=10m] (CI=true runs it too)")
	default:
		d = 20 * time.Second
		t.Logf("quick soak of %v; -soak (or CI=true) runs it for -soak.duration (%v)", d, *soakDuration)
	}
	if _, err := readProcStats(os.Getpid()); err != nil {
		testenv.Missing(t, "/proc", "the soak measures the server through Linux's /proc", err)
	}
	if d < 5*time.Second {
		t.Fatalf("-soak.duration %v: give at least 5s", d)
	}
	warmUp := min(20*time.Second, d/6)

	dir := t.TempDir()
	db := filepath.Join(dir, "soak.db")
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	admin(t, db, soakPassword+"\n", "user", "add", soakUser, "--credits", strconv.Itoa(soakCredits))
	s := &soak{t: t, tallies: map[string]*tally{}, kinds: map[string]int{}, pools: map[string][]*soakToken{}, want: map[ledgerKey]*ledgerLine{},
		expiry: d + time.Hour}
	s.apiKey = lastLine(admin(t, db, "", "apikey", "create", soakUser))
	s.serviceKey = lastLine(admin(t, db, "", "servicekey", "create", "soak"))
	s.g = startGate(t, db, logf, soakWorkers+4, "--max-lifetime", (s.expiry + time.Hour).String())
	s.readStrictOps()

	ctx := t.Context()
	setup := func(app string, limit *int64, methods ...string) *soakToken {
		tok := s.getJWT(ctx, plainJSON, false, app, limit, methods)
		if tok == nil {
			t.Fatalf("GetJWT before the load: %v", s.problems)
		}
		return tok
	}
	s.reader = setup("soak-reader", nil, "UserAdmin").jwt
	for _, surf := range s.surfaces("ChargeJWT") {
		setup(appOf(surf), nil, "Email", "Phone")
		setup(appOf(surf), ptr[int64](50), "Email", "Phone")
	}

	// The load: soakWorkers closed loops of cheap calls, and one paced lane
	// of calls that hash a password or an API key.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	seed := uint64(time.Now().UnixNano())
	t.Logf("soak of %v (warm-up %v), %d workers and one hashing lane every %v, seed %d", d, warmUp, soakWorkers, hashEvery, seed)
	var wg sync.WaitGroup
	for w := range soakWorkers {
		r := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Go(func() {
			// Stopping the load lets the calls in flight finish: each is
			// counted in the ledger the soak expects.
			for loadCtx.Err() == nil {
				s.step(ctx, r)
			}
		})
	}
	lane := rand.New(rand.NewPCG(seed, soakWorkers))
	wg.Go(func() { s.hashLane(loadCtx, ctx, lane) })

	// The server process, sampled every 2 s. Argon2 allocates 19 MiB a
	// hash, so RSS swings: the baseline is the median of the three samples
	// from the end of the warm-up, the end the median of the last three.
	start := time.Now()
	var samples []procStats
	var at []time.Duration
	first := -1 // the first sample after the warm-up
	tick := time.NewTicker(min(2*time.Second, d/10))
	for time.Since(start) < d {
		<-tick.C
		st, err := readProcStats(s.g.pid())
		if err != nil {
			t.Fatalf("server process: %v", err)
		}
		samples, at = append(samples, st), append(at, time.Since(start).Round(time.Second))
		if first < 0 && time.Since(start) >= warmUp {
			first = len(samples) - 1
		}
	}
	tick.Stop()
	stopLoad()
	wg.Wait()
	elapsed := time.Since(start)

	s.report(elapsed)
	var series []string
	for i, sm := range samples {
		series = append(series, fmt.Sprintf("%v %.0f MiB/%d thr/%d fd", at[i], float64(sm.RSSKiB)/1024, sm.Threads, sm.FDs))
	}
	t.Logf("server process samples: %s", strings.Join(series, "; "))
	base := median(samples[first:min(first+3, len(samples))])
	end := median(samples[max(first, len(samples)-3):])
	t.Logf("server process after the warm-up (%v): %v; at the end (%v): %v; bounds: RSS +%d MiB, threads +%d, fds +%d",
		at[first], base, at[len(at)-1], end, maxRSSGrowthMiB, maxThreadGrowth, maxFDGrowth)
	if grew := (end.RSSKiB - base.RSSKiB) / 1024; grew > maxRSSGrowthMiB {
		t.Errorf("the server's RSS grew by %d MiB under steady load (bound %d MiB)", grew, maxRSSGrowthMiB)
	}
	if grew := end.Threads - base.Threads; grew > maxThreadGrowth {
		t.Errorf("the server gained %d threads under steady load (bound %d)", grew, maxThreadGrowth)
	}
	if grew := end.FDs - base.FDs; grew > maxFDGrowth {
		t.Errorf("the server gained %d open files under steady load (bound %d)", grew, maxFDGrowth)
	}

	s.checkLedgerOverTheWire(ctx)
	s.g.stop(t)
	s.checkLedgerInTheFile(db)

	logs, err := os.ReadFile(logf.Name())
	if err != nil {
		t.Fatal(err)
	}
	if bad := regexp.MustCompile(`(?m)^.*(level=ERROR|panic).*$`).FindAll(logs, 10); len(bad) > 0 {
		t.Errorf("the server logged errors:\n%s", bad)
	}
	if len(s.kinds) > 0 {
		var kinds []string
		for k, n := range s.kinds {
			kinds = append(kinds, fmt.Sprintf("%6d × %s", n, k))
		}
		slices.Sort(kinds)
		t.Errorf("unexpected answers by kind:\n%s\nthe first:\n%s", strings.Join(kinds, "\n"), strings.Join(s.problems, "\n"))
	}
}

// median takes the median of each measure of samples (at most three).
func median(samples []procStats) procStats {
	mid := func(v []int64) int64 {
		slices.Sort(v)
		return v[len(v)/2]
	}
	var rss, threads, fds []int64
	for _, s := range samples {
		rss, threads, fds = append(rss, s.RSSKiB), append(threads, s.Threads), append(fds, int64(s.FDs))
	}
	return procStats{RSSKiB: mid(rss), Threads: mid(threads), FDs: int(mid(fds))}
}

// readStrictOps reads which operations the strict surface has from the
// served document: the soak follows the contract as it stands.
func (s *soak) readStrictOps() {
	t := s.t
	code, raw, err := s.g.do(t.Context(), http.MethodGet, "/openapi.json", "", nil)
	if err != nil || code != 200 {
		t.Fatalf("GET /openapi.json: %d %v", code, err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	s.strict = map[string]bool{}
	for _, ops := range doc.Paths {
		if op, ok := ops["post"]; ok {
			s.strict[op.OperationID] = true
		}
	}
	var missing []string
	for _, op := range []string{"GetJWT", "VerifyJWT", "ChargeJWT", "RevokeJWT", "GetCreditsRemaining", "GetUsage"} {
		if !s.strict[op] {
			missing = append(missing, op)
		}
	}
	if !s.strict["GetJWT"] {
		t.Fatalf("openapi.json has no GetJWT: %v", s.strict)
	}
	if len(missing) > 0 {
		t.Logf("the strict surface does not have %v yet: the soak calls them on the other surfaces only", missing)
	}
}

// surfaces are those of surfs (all API surfaces by default) that have op.
func (s *soak) surfaces(op string, surfs ...surface) []surface {
	if len(surfs) == 0 {
		surfs = apiSurfaces
	}
	var out []surface
	for _, surf := range surfs {
		if surf != strictJSON || s.strict[op] {
			out = append(out, surf)
		}
	}
	return out
}

func (s *soak) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noteProblem(format, fmt.Sprintf(format, args...))
}

// noteProblem records an unexpected answer; s.mu is held.
func (s *soak) noteProblem(kind, msg string) {
	s.kinds[kind]++
	if len(s.problems) < 20 {
		s.problems = append(s.problems, msg)
	}
}

// call is one operation: its fields in the WSDL's order (the JSON surfaces
// send them as properties, leaving out empty ones), and credentials.
type call struct {
	op     string
	fields []soapField
	bearer string // Authorization: Bearer, on the JSON surfaces
	key    string // an API key: ?key= on the JSON surfaces, apikey-KEY on SOAP
}

func (s *soak) do(ctx context.Context, surf surface, c call) (int, *result, error) {
	var code int
	var res *result
	var err error
	switch surf {
	case plainJSON, strictJSON:
		path := "/UserAdmin/" + c.op + ".json"
		if surf == strictJSON {
			path = "/api/v1/UserAdmin/" + c.op
		}
		if c.key != "" {
			path += "?key=" + c.key
		}
		body := map[string]any{}
		for _, f := range c.fields {
			switch v := f.value.(type) {
			case *int64:
				if v != nil {
					body[f.name] = *v
				}
			case string:
				if v != "" {
					body[f.name] = v
				}
			default:
				body[f.name] = v
			}
		}
		var header []string
		if c.bearer != "" {
			header = []string{"Authorization", "Bearer " + c.bearer}
		}
		code, res, err = s.g.postJSON(ctx, path, body, header...)
	case soap11, soap12:
		fields := c.fields
		if c.key != "" {
			fields = append([]soapField{{"username", "apikey-" + c.key}, {"password", ""}}, fields...)
		}
		version := 11
		if surf == soap12 {
			version = 12
		}
		code, res, err = s.g.callSOAP(ctx, version, c.op, fields...)
	}
	s.count(c.op, surf, code, err)
	return code, res, err
}

// count tallies an answer; anything but an answer with a body we could read
// is a problem, unless the load is being stopped.
func (s *soak) count(op string, surf surface, code int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && code == 0 && ctxDone(err) {
		return
	}
	k := op + " " + string(surf)
	tl := s.tallies[k]
	if tl == nil {
		tl = &tally{}
		s.tallies[k] = tl
	}
	tl.requests++
	switch {
	case code == 0:
		tl.transport++
	case code >= 500:
		tl.server++
	case code >= 400:
		tl.client++
	default:
		tl.ok++
	}
	if err != nil {
		s.noteProblem("%s: HTTP %d: %v", fmt.Sprintf("%s: HTTP %d: %v", k, code, err))
	}
}

func ctxDone(err error) bool {
	return strings.Contains(err.Error(), context.Canceled.Error())
}

// expect adds a call to the usage ledger the server should have.
func (s *soak) expect(app, method string, ok bool, credits int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := ledgerKey{app, strings.ToLower(method)}
	l := s.want[k]
	if l == nil {
		l = &ledgerLine{}
		s.want[k] = l
	}
	l.Calls++
	if ok {
		l.Credits += credits
	} else {
		l.Failures++
	}
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// step is one call of a worker, chosen by weight (per mille).
func (s *soak) step(ctx context.Context, r *rand.Rand) {
	switch n := r.IntN(1000); {
	case n < 500:
		s.charge(ctx, pick(r, s.surfaces("ChargeJWT")), r)
	case n < 680:
		s.verify(ctx, pick(r, s.surfaces("VerifyJWT")), r)
	case n < 700:
		s.revoke(ctx, pick(r, s.surfaces("RevokeJWT")), r, call{bearer: s.reader})
	case n < 760:
		surf := pick(r, s.surfaces("GetCreditsRemaining", jsonSurfaces...))
		s.account(ctx, surf, call{op: "GetCreditsRemaining", bearer: s.reader})
	case n < 765:
		// GetUsage reads the whole ledger of the account: a small share.
		surf := pick(r, s.surfaces("GetUsage", jsonSurfaces...))
		s.account(ctx, surf, call{op: "GetUsage", bearer: s.reader})
	case n < 900:
		s.get(ctx, "JWKS", "/.well-known/jwks.json", `"keys":[{`)
	case n < 960:
		s.get(ctx, "healthz", "/healthz", "")
	default:
		s.get(ctx, "readyz", "/readyz", "")
	}
}

// hashLane makes, at a fixed pace, the calls that hash a password or an
// API key: GetJWT both ways on every surface, and the account operations
// with credentials (SOAP has no bearer tokens).
// It stops when load is done, letting its last call finish on ctx.
func (s *soak) hashLane(load, ctx context.Context, r *rand.Rand) {
	tick := time.NewTicker(hashEvery)
	defer tick.Stop()
	apps := s.surfaces("ChargeJWT")
	limits := []*int64{nil, ptr[int64](50), nil, ptr[int64](200), ptr[int64](1000)}
	issued := 0
	getJWT := func(surf surface, byKey bool) {
		app := appOf(apps[issued%len(apps)])
		s.getJWT(ctx, surf, byKey, app, limits[(issued/len(apps))%len(limits)], []string{"Email", "Phone"})
		issued++
	}
	withPassword := func(op string) call {
		return call{op: op, fields: []soapField{{"username", soakUser}, {"password", soakPassword}}}
	}
	withKey := func(op string) call { return call{op: op, key: s.apiKey} }
	steps := []func(){
		func() { getJWT(plainJSON, false) },
		func() { getJWT(plainJSON, true) },
		func() { getJWT(strictJSON, false) },
		func() { getJWT(strictJSON, true) },
		func() { getJWT(soap11, false) },
		func() { getJWT(soap12, true) },
		func() { getJWT(soap11, true) },
		func() { getJWT(soap12, false) },
		func() { s.account(ctx, soap11, withPassword("GetCreditsRemaining")) },
		func() { s.account(ctx, soap12, withKey("GetCreditsRemaining")) },
		func() { s.account(ctx, soap11, withPassword("GetUsage")) },
		func() { s.account(ctx, soap12, withKey("GetUsage")) },
		func() { s.account(ctx, plainJSON, withPassword("GetCreditsRemaining")) },
		func() { s.revoke(ctx, soap11, r, withPassword("")) },
		func() { s.revoke(ctx, soap12, r, withKey("")) },
		func() { s.revoke(ctx, pick(r, s.surfaces("RevokeJWT", jsonSurfaces...)), r, withKey("")) },
	}
	for i := 0; ; i++ {
		select {
		case <-load.Done():
			return
		case <-tick.C:
			steps[i%len(steps)]()
		}
	}
}

// getJWT asks for a token and puts it in its application's pool.
func (s *soak) getJWT(ctx context.Context, surf surface, byKey bool, app string, limit *int64, methods []string) *soakToken {
	c := call{op: "GetJWT", fields: []soapField{{"clientIp", ""}, {"expiresAt", expires(s.expiry)}, {"allowedMethods", methods},
		{"maxCredits", limit}, {"options", map[string]string{"ApplicationName": app}}}}
	if byKey {
		c.key = s.apiKey
	} else {
		c.fields = append([]soapField{{"username", soakUser}, {"password", soakPassword}}, c.fields...)
	}
	code, res, err := s.do(ctx, surf, c)
	if err != nil {
		return nil
	}
	s.expect(app, "UserAdmin.GetJWT", res.Status.Success, 0)
	if code != 200 || !res.Status.Success || res.Jwt == nil {
		s.problem("GetJWT %s: HTTP %d %q", surf, code, res.message())
		return nil
	}
	tok := &soakToken{jwt: *res.Jwt, jti: jtiOf(s.t, *res.Jwt), app: app, max: limit}
	if app != "soak-reader" {
		s.mu.Lock()
		pool := append(s.pools[app], tok)
		s.pools[app] = pool[max(0, len(pool)-poolSize):]
		s.mu.Unlock()
	}
	return tok
}

// token picks a token of app (any application when app is empty), or
// with revoked one that has been revoked, when there is one; it says which.
func (s *soak) token(r *rand.Rand, app string, revoked bool) (*soakToken, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if revoked && len(s.revoked) > 0 {
		return pick(r, s.revoked), true
	}
	if app == "" {
		apps := make([]string, 0, len(s.pools))
		for a := range s.pools {
			apps = append(apps, a)
		}
		slices.Sort(apps)
		app = pick(r, apps)
	}
	return pick(r, s.pools[app]), false
}

func chargeFields(serviceKey string, tok *soakToken, method string, credits int64, requestID string) []soapField {
	return []soapField{{"serviceKey", serviceKey}, {"jwt", tok.jwt}, {"method", method}, {"credits", credits},
		{"clientIp", ""}, {"requestId", requestID}}
}

// strictCode is what the strict surface answers a refusal with.
func wantCode(surf surface, strictCode int) int {
	if surf == strictJSON {
		return strictCode
	}
	return http.StatusOK
}

// charge charges a token of surf's application: mostly allowed calls,
// some for a method the token does not allow, some with a revoked token;
// limited tokens run out. Some successes and refusals are retried with the
// same requestId, on any surface.
func (s *soak) charge(ctx context.Context, surf surface, r *rand.Rand) {
	tok, revoked := s.token(r, appOf(surf), r.IntN(25) == 0)
	method := pick(r, soakMethods)
	wrongMethod := r.IntN(20) == 0
	if wrongMethod {
		method = "Address.Find"
	}
	credits := 1 + r.Int64N(3)
	requestID := ""
	if r.IntN(10) < 7 {
		requestID = fmt.Sprintf("soak-%d", s.seq.Add(1))
	}
	c := call{op: "ChargeJWT", fields: chargeFields(s.serviceKey, tok, method, credits, requestID)}
	code, res, err := s.do(ctx, surf, c)
	if err != nil {
		return
	}
	ok, msg := res.Status.Success, res.message()
	s.expect(tok.app, method, ok, credits)
	switch {
	case ok:
		if code != 200 || res.Replayed || wrongMethod || revoked {
			s.problem("ChargeJWT %s of %s (revoked %v, wrong method %v): HTTP %d %+v", surf, method, revoked, wrongMethod, code, res)
			return
		}
		s.mu.Lock()
		s.charged += credits
		s.mu.Unlock()
		if requestID != "" && r.IntN(4) == 0 {
			again := pick(r, s.surfaces("ChargeJWT"))
			code2, res2, err := s.do(ctx, again, c)
			if err == nil && (code2 != 200 || !res2.Status.Success || !res2.Replayed ||
				!equalPtr(res2.TokenCreditsRemaining, res.TokenCreditsRemaining) || res2.Status.CreditsRemaining != res.Status.CreditsRemaining) {
				s.problem("retry of %s on %s after %s: HTTP %d %+v, first %+v", requestID, again, surf, code2, res2, res)
			}
			s.countReplay()
		}
	case msg == "token has been revoked":
		if code != wantCode(surf, 401) {
			s.problem("ChargeJWT %s of a revoked token: HTTP %d", surf, code)
		}
	case revoked:
		// VerifyJWT answers this; ChargeJWT makes "the same checks".
		s.problem("ChargeJWT %s of a revoked token for %s: HTTP %d %q, want %d \"token has been revoked\"", surf, method, code, msg, wantCode(surf, 401))
	case wrongMethod:
		if code != wantCode(surf, 403) || !strings.Contains(msg, "does not allow method Address.Find") {
			s.problem("ChargeJWT %s of a method not allowed: HTTP %d %q", surf, code, msg)
		}
	case strings.HasPrefix(msg, "token credit limit reached"):
		if code != wantCode(surf, 402) || tok.max == nil {
			s.problem("ChargeJWT %s over the limit: HTTP %d %q (limit %v)", surf, code, msg, fmtPtr(tok.max))
		}
		if requestID != "" && r.IntN(4) == 0 {
			again := pick(r, s.surfaces("ChargeJWT"))
			code2, res2, err := s.do(ctx, again, c)
			if err == nil && (code2 != wantCode(again, 402) || res2.Status.Success || res2.message() != msg) {
				s.problem("retry of refused %s on %s: HTTP %d %+v, first %q", requestID, again, code2, res2, msg)
			}
			s.countReplay()
		}
	default:
		s.problem("ChargeJWT %s: HTTP %d %q", surf, code, msg)
	}
}

func (s *soak) countReplay() {
	s.mu.Lock()
	s.replays++
	s.mu.Unlock()
}

// verify checks a token, now and then a revoked one.
func (s *soak) verify(ctx context.Context, surf surface, r *rand.Rand) {
	tok, revoked := s.token(r, "", r.IntN(20) == 0)
	c := call{op: "VerifyJWT", fields: []soapField{{"serviceKey", s.serviceKey}, {"jwt", tok.jwt}, {"method", pick(r, soakMethods)}, {"clientIp", ""}}}
	code, res, err := s.do(ctx, surf, c)
	switch {
	case err != nil:
	case res.Status.Success && code == 200 && !revoked && res.Application != nil && *res.Application == tok.app:
	case !res.Status.Success && res.message() == "token has been revoked" && code == wantCode(surf, 401):
	default:
		s.problem("VerifyJWT %s of a token of %s: HTTP %d %+v", surf, tok.app, code, res)
	}
}

// revoke takes a token out of its pool and revokes it: by itself, or by
// jti with the account's credentials in c.
func (s *soak) revoke(ctx context.Context, surf surface, r *rand.Rand, c call) {
	s.mu.Lock()
	var apps []string
	for app, pool := range s.pools {
		if len(pool) > 2 {
			apps = append(apps, app)
		}
	}
	slices.Sort(apps)
	var tok *soakToken
	if len(apps) > 0 {
		app := pick(r, apps)
		pool := s.pools[app]
		i := r.IntN(len(pool))
		tok = pool[i]
		s.pools[app] = slices.Delete(slices.Clone(pool), i, i+1)
	}
	s.mu.Unlock()
	if tok == nil {
		return
	}
	c.op = "RevokeJWT"
	if c.bearer != "" && (surf == soap11 || surf == soap12 || r.IntN(2) == 0) {
		c.bearer = "" // the token itself is the credential
	}
	if c.bearer == "" && c.key == "" && len(c.fields) == 0 {
		c.fields = []soapField{{"jwt", tok.jwt}}
	} else {
		c.fields = append(slices.Clone(c.fields), soapField{"jti", tok.jti})
	}
	code, res, err := s.do(ctx, surf, c)
	if err != nil {
		return
	}
	if code != 200 || !res.Status.Success || res.Jti == nil || *res.Jti != tok.jti {
		s.problem("RevokeJWT %s: HTTP %d %+v", surf, code, res)
		return
	}
	s.mu.Lock()
	s.revoked = append(s.revoked, tok)
	if len(s.revoked) > 64 {
		s.revoked = slices.Delete(s.revoked, 0, 1)
	}
	s.mu.Unlock()
}

// account runs GetCreditsRemaining or GetUsage, which must succeed.
func (s *soak) account(ctx context.Context, surf surface, c call) {
	code, res, err := s.do(ctx, surf, c)
	if err != nil {
		return
	}
	if code != 200 || !res.Status.Success || res.Status.CreditsRemaining <= 0 || res.Status.CreditsRemaining > soakCredits ||
		(c.op == "GetUsage" && len(res.Usage) == 0) {
		s.problem("%s %s: HTTP %d %+v", c.op, surf, code, res)
	}
}

func (s *soak) get(ctx context.Context, name, path, want string) {
	code, body, err := s.g.do(ctx, http.MethodGet, path, "", nil)
	s.count(name, httpGET, code, err)
	if err == nil && (code != 200 || !strings.Contains(string(body), want)) {
		s.problem("GET %s: HTTP %d %.200q", path, code, body)
	}
}

// report logs the requests by operation and surface, and fails on any
// 5xx, any transport error and any combination never exercised.
func (s *soak) report(elapsed time.Duration) {
	t := s.t
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range s.tallies {
			if !yield(k) {
				return
			}
		}
	})
	var total, server, transport int
	var lines []string
	for _, k := range keys {
		tl := s.tallies[k]
		total += tl.requests
		server += tl.server
		transport += tl.transport
		lines = append(lines, fmt.Sprintf("  %-30s %7d  (2xx %d, 4xx %d, 5xx %d, no answer %d)", k, tl.requests, tl.ok, tl.client, tl.server, tl.transport))
	}
	var charges, refused int64
	for k, l := range s.want {
		if k.method != "useradmin.getjwt" {
			charges += l.Calls
			refused += l.Failures
		}
	}
	t.Logf("%d requests in %v (%.0f/s), %d 5xx, %d without an answer; %d charges (%d refused, %d credits charged), %d retries answered from the ledger:\n%s",
		total, elapsed.Round(time.Second), float64(total)/elapsed.Seconds(), server, transport, charges, refused, s.charged, s.replays, strings.Join(lines, "\n"))
	if server > 0 || transport > 0 {
		t.Errorf("%d answers were 5xx and %d requests got no answer", server, transport)
	}
	for _, op := range []string{"GetJWT", "VerifyJWT", "ChargeJWT", "RevokeJWT", "GetCreditsRemaining", "GetUsage"} {
		for _, surf := range s.surfaces(op) {
			if s.tallies[op+" "+string(surf)] == nil {
				t.Errorf("the soak never called %s on the %s surface", op, surf)
			}
		}
	}
}

// sum folds usage rows (by day) into lines by application and method.
func sum(rows []usageRow) map[ledgerKey]ledgerLine {
	out := map[ledgerKey]ledgerLine{}
	for _, r := range rows {
		k := ledgerKey{r.Application, strings.ToLower(r.Method)}
		l := out[k]
		l.Calls += r.Calls
		l.Failures += r.Failures
		l.Credits += r.Credits
		out[k] = l
	}
	return out
}

// diffLedger compares a usage report with what the soak did.
func (s *soak) diffLedger(got map[ledgerKey]ledgerLine) []string {
	var diffs []string
	for k, w := range s.want {
		if got[k] != *w {
			diffs = append(diffs, fmt.Sprintf("%s %s: got %+v, want %+v", k.app, k.method, got[k], *w))
		}
	}
	for k, g := range got {
		if s.want[k] == nil {
			diffs = append(diffs, fmt.Sprintf("%s %s: got %+v, want nothing", k.app, k.method, g))
		}
	}
	slices.Sort(diffs)
	return diffs
}

// checkLedgerOverTheWire compares GetUsage on every surface, and the
// balance, with what the soak did.
func (s *soak) checkLedgerOverTheWire(ctx context.Context) {
	t := s.t
	views := []struct {
		surf surface
		c    call
	}{
		{plainJSON, call{bearer: s.reader}},
		{strictJSON, call{key: s.apiKey}},
		{soap11, call{fields: []soapField{{"username", soakUser}, {"password", soakPassword}}}},
		{soap12, call{key: s.apiKey}},
	}
	for _, v := range views {
		if v.surf == strictJSON && !s.strict["GetUsage"] {
			continue
		}
		v.c.op = "GetUsage"
		code, res, err := s.do(ctx, v.surf, v.c)
		if err != nil || code != 200 || !res.Status.Success {
			t.Errorf("GetUsage %s after the load: HTTP %d %+v %v", v.surf, code, res, err)
			continue
		}
		if diffs := s.diffLedger(sum(res.Usage)); len(diffs) > 0 {
			t.Errorf("GetUsage %s does not match the requests made:\n%s", v.surf, strings.Join(diffs, "\n"))
		} else {
			t.Logf("GetUsage %s: %d lines, all equal to the requests made", v.surf, len(s.want))
		}
	}
	code, res, err := s.do(ctx, plainJSON, call{op: "GetCreditsRemaining", bearer: s.reader})
	if err != nil || code != 200 || int64(res.Status.CreditsRemaining) != soakCredits-s.charged {
		t.Errorf("balance after the load: HTTP %d %+v %v; want %d - %d", code, res, err, soakCredits, s.charged)
	}
}

// checkLedgerInTheFile compares the usage table, the tokens' spending and
// the balance with what the soak did, on the stopped server's file.
func (s *soak) checkLedgerInTheFile(path string) {
	t := s.t
	db := openReadOnly(t, path)
	ctx := t.Context()
	var integrity string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("integrity_check: %q %v", integrity, err)
	}
	rows, err := db.QueryContext(ctx, `SELECT u.application, u.method, count(*), sum(u.outcome <> 'ok'), sum(u.credits)
		FROM usage u JOIN accounts a ON a.id = u.account_id WHERE a.name = ? GROUP BY u.application, u.method`, soakUser)
	if err != nil {
		t.Fatal(err)
	}
	var usage []usageRow
	for rows.Next() {
		var r usageRow
		if err := rows.Scan(&r.Application, &r.Method, &r.Calls, &r.Failures, &r.Credits); err != nil {
			t.Fatal(err)
		}
		usage = append(usage, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if diffs := s.diffLedger(sum(usage)); len(diffs) > 0 {
		t.Errorf("the usage table does not match the requests made:\n%s", strings.Join(diffs, "\n"))
	}
	var spent, over, balance, lines int64
	if err := db.QueryRowContext(ctx, `SELECT coalesce(sum(credits_spent), 0), count(*) FILTER (WHERE credits_spent > max_credits) FROM tokens`).
		Scan(&spent, &over); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT credits FROM accounts WHERE name = ?`, soakUser).Scan(&balance); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM usage`).Scan(&lines); err != nil {
		t.Fatal(err)
	}
	if spent != s.charged || over != 0 || balance != soakCredits-s.charged {
		t.Errorf("tokens spent %d credits (%d past their limit), balance %d; the soak was charged %d of %d", spent, over, balance, s.charged, soakCredits)
	}
	t.Logf("the file: %d usage lines, equal to the requests made; tokens spent %d credits, none past its limit; balance %d; integrity_check %s",
		lines, spent, balance, integrity)
}
