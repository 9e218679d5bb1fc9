package meter_test

import (
	"fmt"
	"net/http"
	"os"

	"github.com/jwtgate/jwtgate/meter"
)

func validateEmail(w http.ResponseWriter, r *http.Request) {
	c, _ := meter.FromContext(r.Context())
	fmt.Fprintf(w, "charged %d credits for %s\n", c.Credits, c.Method)
}

// The README's example: each POST /email/validate costs the caller's token
// one credit of Email.IsValid.
func Example() {
	m := &meter.Meter{URL: "http://127.0.0.1:8080", ServiceKey: os.Getenv("JWTGATE_SERVICE_KEY")}
	mux := http.NewServeMux()
	mux.Handle("POST /email/validate", m.Protect("Email.IsValid", 1, http.HandlerFunc(validateEmail)))
	_ = mux // http.ListenAndServe(":9000", mux)
}
