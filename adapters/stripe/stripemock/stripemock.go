// Package stripemock gives tests stripe-mock: the instance named by
// STRIPE_MOCK_URL (make test starts one), or one it starts under
// .data/test-mock; and a recording proxy in front of it, to inspect the
// exact requests that reach Stripe.
package stripemock

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/safeclose/billing/adapters/localstack"
)

// URL returns stripe-mock's base URL.
func URL(t testing.TB) string {
	t.Helper()
	u, err := localstack.URL("STRIPE_MOCK_URL", "mock-start", "test-mock")
	if err != nil {
		t.Fatalf("start stripe-mock (`make test` installs it): %v", err)
	}
	return u
}

// Request is one request that went through the proxy.
type Request struct {
	Method, Path string
	Header       http.Header
	Form         url.Values
}

// Recorder is a reverse proxy to stripe-mock that keeps every request.
type Recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []Request
}

// NewRecorder starts a recording proxy in front of stripe-mock.
func NewRecorder(t testing.TB) *Recorder {
	target, err := url.Parse(URL(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := &Recorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Form: form})
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.Close)
	return rec
}

// Requests returns the requests recorded to path, oldest first.
func (r *Recorder) Requests(path string) []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Request
	for _, q := range r.reqs {
		if q.Path == path {
			out = append(out, q)
		}
	}
	return out
}
