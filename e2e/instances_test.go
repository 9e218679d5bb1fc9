package e2e_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/postgres"
)

// What must hold across instances: each test runs three jwtgate serve
// processes on one PostgreSQL database (a schema of its own).

// cluster is three instances on one database, and that database opened by
// the test itself (the operator's view, for checks).
type cluster struct {
	t     *testing.T
	url   string
	gates []*gate
	db    *postgres.DB
	admin *core.Admin
	// a user with credits, a service key, an API key
	user, password, serviceKey, apiKey string
}

const clusterPassword = "three instances, one database"

func newCluster(t *testing.T, extra ...string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts three servers")
	}
	c := &cluster{t: t, url: testenv.Postgres(t), user: "multi", password: clusterPassword}
	db, err := postgres.Open(t.Context(), c.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c.db = db
	svc := core.New(testenv.Config(db))
	c.admin = svc.Admin
	if _, err := svc.KeyRing.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.admin.CreateUser(t.Context(), core.CreateUserRequest{Username: c.user, Password: c.password, Credits: 1000}); err != nil {
		t.Fatal(err)
	}
	if c.serviceKey, _, err = c.admin.CreateServiceKey(t.Context(), "billing"); err != nil {
		t.Fatal(err)
	}
	if c.apiKey, _, err = c.admin.CreateAPIKey(t.Context(), c.user); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i := range 3 {
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("instance-%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { logf.Close() })
		c.gates = append(c.gates, startGate(t, c.url, logf, 64, extra...))
	}
	return c
}

// token gets a token from instance i.
func (c *cluster) token(ctx context.Context, i int, body map[string]any) (string, error) {
	b := map[string]any{"username": c.user, "password": c.password, "expiresAt": expires(time.Hour)}
	for k, v := range body {
		b[k] = v
	}
	_, r, err := c.gates[i].postJSON(ctx, "/UserAdmin/GetJWT.json", b)
	if err != nil {
		return "", err
	}
	if !r.Status.Success {
		return "", fmt.Errorf("GetJWT on instance %d: %s", i, r.message())
	}
	return *r.Jwt, nil
}

func (c *cluster) mustToken(body map[string]any) string {
	c.t.Helper()
	tok, err := c.token(c.t.Context(), 0, body)
	if err != nil {
		c.t.Fatal(err)
	}
	return tok
}

func (c *cluster) charge(ctx context.Context, i int, tok, requestID string) (*result, error) {
	_, r, err := c.gates[i].postJSON(ctx, "/UserAdmin/ChargeJWT.json", map[string]any{
		"serviceKey": c.serviceKey, "jwt": tok, "method": "Multi.Call", "credits": 1, "requestId": requestID})
	return r, err
}

func (c *cluster) verify(ctx context.Context, i int, tok string) (*result, error) {
	_, r, err := c.gates[i].postJSON(ctx, "/UserAdmin/VerifyJWT.json", map[string]any{
		"serviceKey": c.serviceKey, "jwt": tok, "method": "Multi.Call"})
	return r, err
}

func (c *cluster) balance() int64 {
	c.t.Helper()
	a, err := c.admin.Account(c.t.Context(), c.user)
	if err != nil {
		c.t.Fatal(err)
	}
	return a.Credits
}

// charged counts the ledger's successful charges of the test's method.
func (c *cluster) charged() int {
	c.t.Helper()
	lines, err := c.admin.UsageLines(c.t.Context(), core.UsageQuery{Account: c.user}, core.Page{})
	if err != nil {
		c.t.Fatal(err)
	}
	n := 0
	for _, l := range lines {
		if l.Method == "Multi.Call" && l.Outcome == core.OutcomeOK {
			n++
		}
	}
	return n
}

// TestInstances_Credits: 200 concurrent charges of one credit on a token
// limited to 50, spread over three instances, succeed exactly 50 times;
// the balance drops by 50 and the ledger holds 50 charges; a requestId
// retried on another instance replays and charges nothing more.
func TestInstances_Credits(t *testing.T) {
	c := newCluster(t)
	tok := c.mustToken(map[string]any{"maxCredits": 50})
	before := c.balance()
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 200 {
		wg.Go(func() {
			<-start
			r, err := c.charge(t.Context(), i%3, tok, fmt.Sprintf("req-%d", i))
			switch {
			case err != nil:
				t.Errorf("charge %d: %v", i, err)
			case r.Status.Success:
				ok.Add(1)
			case strings.Contains(r.message(), "token credit limit reached"):
				refused.Add(1)
			default:
				t.Errorf("charge %d: %s", i, r.message())
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load() != 50 || refused.Load() != 150 {
		t.Fatalf("%d charged, %d refused; want 50 and 150", ok.Load(), refused.Load())
	}
	if got := c.balance(); got != before-50 {
		t.Errorf("balance %d → %d, want a drop of exactly 50", before, got)
	}
	if n := c.charged(); n != 50 {
		t.Errorf("the ledger holds %d charges, want 50", n)
	}

	// A retry of an acknowledged charge, on each other instance, replays.
	tok2 := c.mustToken(map[string]any{"maxCredits": 10})
	first, err := c.charge(t.Context(), 0, tok2, "once")
	if err != nil || !first.Status.Success || first.Replayed {
		t.Fatalf("first charge: %+v, %v", first, err)
	}
	mid := c.balance()
	for i := 1; i < 3; i++ {
		r, err := c.charge(t.Context(), i, tok2, "once")
		if err != nil || !r.Status.Success || !r.Replayed || *r.TokenCreditsRemaining != *first.TokenCreditsRemaining {
			t.Errorf("the retry on instance %d: %+v, %v; want the first outcome, replayed", i, r, err)
		}
	}
	if got := c.balance(); got != mid {
		t.Errorf("retries on other instances charged again: balance %d → %d", mid, got)
	}
}

// TestInstances_Throttle: the failed-login counters are the database's, so
// a guesser gets the same free attempts and the same back-off whichever
// instance it reaches.
func TestInstances_Throttle(t *testing.T) {
	c := newCluster(t)
	login := func(i int, password string) (int, *result) {
		t.Helper()
		code, r, err := c.gates[i].postJSON(t.Context(), "/api/v1/UserAdmin/GetJWT", map[string]any{
			"username": c.user, "password": password, "expiresAt": expires(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return code, r
	}
	// Five free failures (the default), one instance after the other.
	for i := range 5 {
		if code, r := login(i%3, "wrong password"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d on instance %d: HTTP %d %s; want 401", i+1, i%3, code, r.message())
		}
	}
	// The sixth failure locks the user out of this address on every
	// instance, the right password included.
	if code, r := login(2, "wrong again"); code != http.StatusUnauthorized {
		t.Fatalf("the sixth failure: HTTP %d %s", code, r.message())
	}
	for i := range 3 {
		code, r := login(i, c.password)
		if code != http.StatusTooManyRequests || !strings.Contains(r.message(), "too many failed attempts") {
			t.Errorf("instance %d after six failures elsewhere: HTTP %d %s; want 429", i, code, r.message())
		}
	}
	// The back-off is one second: then the right password gets in again,
	// on any instance, and clears the counter for all.
	time.Sleep(1100 * time.Millisecond) // the lockout's own length: the state is the server's clock
	if code, r := login(1, c.password); code != http.StatusOK {
		t.Fatalf("the right password after the back-off: HTTP %d %s", code, r.message())
	}
	for i := range 3 {
		if code, r := login(i, "wrong once more"); code != http.StatusUnauthorized {
			t.Errorf("instance %d after a success cleared the counter: HTTP %d %s; want a plain 401", i, code, r.message())
		}
	}
}

// kidOf reads a token's kid header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	head, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// TestInstances_KeyRotation: `jwtgate keys rotate`, run once, makes every
// instance sign with the new key within 5 s, and every instance's JWKS
// publishes it before any instance signs with it; tokens signed by one
// instance verify on the others.
func TestInstances_KeyRotation(t *testing.T) {
	c := newCluster(t)
	old := kidOf(t, c.mustToken(nil))
	out := admin(t, c.url, "", "keys", "rotate")
	rotated := time.Now()
	if !strings.Contains(out, "published now") {
		t.Fatalf("keys rotate: %s", out)
	}
	var newKid string
	published := make([]time.Time, 3) // when each instance's JWKS first held a key it does not sign with
	signing := make([]time.Time, 3)   // when each instance first signed with a new key
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (signing[0].IsZero() || signing[1].IsZero() || signing[2].IsZero()) {
		for i, g := range c.gates {
			now := time.Now()
			_, raw, err := g.do(t.Context(), http.MethodGet, "/.well-known/jwks.json", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			var set core.JWKSet
			if err := json.Unmarshal(raw, &set); err != nil {
				t.Fatal(err)
			}
			for _, k := range set.Keys {
				if k.Kid != old && published[i].IsZero() {
					published[i], newKid = now, k.Kid
				}
			}
			tok, err := c.token(t.Context(), i, nil)
			if err != nil {
				t.Fatal(err)
			}
			if kid := kidOf(t, tok); kid != old && signing[i].IsZero() {
				signing[i] = time.Now()
				if kid != newKid && newKid != "" {
					t.Errorf("instance %d signs with %s, not the key published, %s", i, kid, newKid)
				}
				// Signed here, it verifies on every instance.
				for j := range c.gates {
					if r, err := c.verify(t.Context(), j, tok); err != nil || !r.Status.Success {
						t.Errorf("a token of instance %d on instance %d: %+v %v", i, j, r, err)
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond) // a poll: the rotation's bound is the subject
	}
	firstSigning := signing[0]
	for i := range 3 {
		if signing[i].IsZero() {
			t.Fatalf("instance %d still signs with the old key %v after the rotation", i, time.Since(rotated))
		}
		firstSigning = minTime(firstSigning, signing[i])
		t.Logf("instance %d: published after %v, signing after %v", i, published[i].Sub(rotated), signing[i].Sub(rotated))
	}
	for i := range 3 {
		if published[i].IsZero() || !published[i].Before(firstSigning) {
			t.Errorf("instance %d's JWKS published the new key at %v, not before the first token it signed (%v)", i, published[i].Sub(rotated), firstSigning.Sub(rotated))
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// TestInstances_Revocation: revoking a token, disabling a user, revoking an
// API key or a service key on one instance (or with the CLI) takes effect
// on every instance, at once for the first three and within the service
// key cache's 2 s for the last.
func TestInstances_Revocation(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	refusedEverywhere := func(what, tok, want string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for i := range c.gates {
			for {
				r, err := c.verify(ctx, i, tok)
				if err != nil {
					t.Fatal(err)
				}
				if !r.Status.Success && strings.Contains(r.message(), want) {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%s: instance %d still answers %+v (%s) after %v", what, i, r.Status, r.message(), within)
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	// Warm every instance's caches first: signature, record, service key.
	warm := func(tok string) {
		for i := range c.gates {
			if r, err := c.verify(ctx, i, tok); err != nil || !r.Status.Success {
				t.Fatalf("instance %d: %+v %v", i, r, err)
			}
		}
	}

	tok := c.mustToken(nil)
	warm(tok)
	if _, r, err := c.gates[1].postJSON(ctx, "/UserAdmin/RevokeJWT.json", map[string]any{"jwt": tok}); err != nil || !r.Status.Success {
		t.Fatalf("RevokeJWT: %+v %v", r, err)
	}
	refusedEverywhere("a token revoked on instance 1", tok, "revoked", 0)

	_, r, err := c.gates[0].postJSON(ctx, "/UserAdmin/GetJWT.json?key="+c.apiKey, map[string]any{"expiresAt": expires(time.Hour)})
	if err != nil || !r.Status.Success {
		t.Fatalf("GetJWT with the API key: %+v %v", r, err)
	}
	keyTok := *r.Jwt
	warm(keyTok)
	admin(t, c.url, "", "apikey", "revoke", c.apiKey)
	refusedEverywhere("a token of an API key revoked by the CLI", keyTok, "API key that has since been revoked", 0)

	tok = c.mustToken(nil)
	warm(tok)
	admin(t, c.url, "", "user", "disable", c.user)
	refusedEverywhere("a token of a user disabled by the CLI", tok, "user has been disabled", 0)
	admin(t, c.url, "", "user", "enable", c.user)
	warm(tok)

	admin(t, c.url, "", "servicekey", "revoke", "billing")
	refusedEverywhere("a service key revoked by the CLI", tok, "service key", 2*time.Second+500*time.Millisecond)
}

// TestInstances_SIGKILL: one instance killed under load loses no
// acknowledged charge, and the others keep serving.
func TestInstances_SIGKILL(t *testing.T) {
	c := newCluster(t)
	tok := c.mustToken(nil)
	before := c.balance()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var acked atomic.Int64
	var afterKill atomic.Int64
	var killed atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	for w := range 12 {
		wg.Go(func() {
			for n := 0; n < 60 && ctx.Err() == nil; n++ {
				i := (w + n) % 3
				if killed.Load() && i == 0 {
					continue // the killed instance
				}
				r, err := c.charge(ctx, i, tok, fmt.Sprintf("w%d-%d", w, n))
				switch {
				case err != nil && i == 0:
					// In flight when instance 0 died: its outcome is
					// whatever the database committed, checked below.
				case err != nil:
					mu.Lock()
					errs = append(errs, fmt.Sprintf("instance %d: %v", i, err))
					mu.Unlock()
				case r.Status.Success:
					acked.Add(1)
					if killed.Load() {
						afterKill.Add(1)
					}
				default:
					mu.Lock()
					errs = append(errs, fmt.Sprintf("instance %d refused: %s", i, r.message()))
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // let the load build
	c.gates[0].kill(t)
	killed.Store(true)
	wg.Wait()
	if len(errs) > 0 {
		t.Errorf("the surviving instances failed %d calls: %v", len(errs), errs[:min(len(errs), 5)])
	}
	if afterKill.Load() == 0 {
		t.Error("no charge succeeded after the kill: the others did not keep serving")
	}
	spent := before - c.balance()
	charged := int64(c.charged())
	if spent != charged {
		t.Errorf("the balance dropped by %d, the ledger holds %d charges", spent, charged)
	}
	if charged < acked.Load() {
		t.Errorf("%d charges were acknowledged, the database holds %d: acknowledged charges were lost", acked.Load(), charged)
	}
	t.Logf("%d acknowledged (%d after the kill), %d in the database", acked.Load(), afterKill.Load(), charged)
}

// TestDBCopy_SQLiteToPostgres moves a deployment: jwtgate db copy copies a
// SQLite file into PostgreSQL, refuses a target that is not empty, and a
// server started on the copy accepts the tokens issued before it — their
// keys, records, spend and idempotency records came along.
func TestDBCopy_SQLiteToPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "before.db")
	url := testenv.Postgres(t)
	admin(t, file, clusterPassword+"\n", "user", "add", "mover", "--credits", "100")
	serviceKey := lastLine(admin(t, file, "", "servicekey", "create", "billing"))
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()

	g := startGate(t, file, logf, 4)
	_, r, err := g.postJSON(t.Context(), "/UserAdmin/GetJWT.json", map[string]any{
		"username": "mover", "password": clusterPassword, "expiresAt": expires(time.Hour), "maxCredits": 5})
	if err != nil || !r.Status.Success {
		t.Fatalf("GetJWT: %+v %v", r, err)
	}
	tok := *r.Jwt
	charge := func(g *gate) *result {
		t.Helper()
		_, r, err := g.postJSON(t.Context(), "/UserAdmin/ChargeJWT.json", map[string]any{
			"serviceKey": serviceKey, "jwt": tok, "method": "Move.Call", "credits": 2, "requestId": "before-the-move"})
		if err != nil || !r.Status.Success {
			t.Fatalf("ChargeJWT: %+v %v", r, err)
		}
		return r
	}
	first := charge(g)
	g.stop(t)

	out := admin(t, file, "", "db", "copy", "--from", file, "--to", url)
	for _, table := range core.Tables() {
		if !strings.Contains(out, table) {
			t.Errorf("db copy does not report %s:\n%s", table, out)
		}
	}
	if _, err := adminErr(testenv.Binary(t), file, "", "db", "copy", "--from", file, "--to", url); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a second copy into the same database: %v, want a refusal", err)
	}

	g = startGate(t, url, logf, 4)
	_, r, err = g.postJSON(t.Context(), "/UserAdmin/VerifyJWT.json", map[string]any{"serviceKey": serviceKey, "jwt": tok, "method": "Move.Call"})
	if err != nil || !r.Status.Success || *r.TokenCreditsRemaining != 3 {
		t.Fatalf("VerifyJWT of a token issued before the copy: %+v %v; want it valid with 3 credits left", r, err)
	}
	if again := charge(g); !again.Replayed || *again.TokenCreditsRemaining != *first.TokenCreditsRemaining {
		t.Errorf("a retry after the copy: %+v; want the first outcome, replayed", again)
	}
	_, r, err = g.postJSON(t.Context(), "/UserAdmin/GetJWT.json", map[string]any{
		"username": "mover", "password": clusterPassword, "expiresAt": expires(time.Hour)})
	if err != nil || !r.Status.Success || r.Status.CreditsRemaining != 98 {
		t.Errorf("GetJWT on the copy: %+v %v; want the password and the balance (98) moved", r, err)
	}
}
