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
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	once    sync.Once
	mockURL string
	mockErr error
)

// URL returns stripe-mock's base URL.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if u := os.Getenv("STRIPE_MOCK_URL"); u != "" {
			mockURL = u
			return
		}
		root, err := os.Getwd()
		for err == nil {
			if _, serr := os.Stat(filepath.Join(root, "go.mod")); serr == nil {
				break
			}
			if filepath.Dir(root) == root {
				err = os.ErrNotExist
			}
			root = filepath.Dir(root)
		}
		if err != nil {
			mockErr = err
			return
		}
		dir := filepath.Join(root, ".data", "test-mock")
		out, err := exec.Command("flock", "-o", dir+".lock", filepath.Join(root, "scripts", "stack.sh"), "mock-start", dir).Output()
		mockURL, mockErr = strings.TrimSpace(string(out)), err
	})
	if mockErr != nil {
		t.Fatalf("start stripe-mock (`make test` installs it): %v", mockErr)
	}
	return mockURL
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
