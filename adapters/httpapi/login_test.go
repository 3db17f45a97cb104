package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/safeclose/billing/adapters/httpapi"
)

// loginFrom posts a login to handler from the TCP peer remote ("ip:port"),
// with extra headers in pairs.
func loginFrom(handler http.Handler, remote, email, password string, headers ...string) *httptest.ResponseRecorder {
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req := httptest.NewRequest(http.MethodPost, "/api/auth/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	return rec
}

// concurrently runs fn(i) for i in [0, n) at once and counts the statuses.
func concurrently(n int, fn func(i int) int) map[int]int {
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code := fn(i)
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return codes
}

// Every attempt is counted before its password is checked: 30 wrong
// guesses at once for one email get at most the limit (10) past it.
func TestConcurrentWrongGuessesForOneEmailGetNoMoreThanTheLimit(t *testing.T) {
	h := newHarness(t)
	h.user("victim@example.com")
	codes := concurrently(30, func(i int) int {
		// From 30 addresses: only the email's limit applies.
		return loginFrom(h.handler, fmt.Sprintf("198.51.100.%d:4000", i+1), "victim@example.com", "wrong horse").Code
	})
	if codes[http.StatusUnauthorized] != 10 || codes[http.StatusTooManyRequests] != 20 {
		t.Errorf("answers %v, want 10 × 401 and 20 × 429", codes)
	}
	if rec := loginFrom(h.handler, "198.51.100.99:4000", "victim@example.com", "correct horse"); rec.Code != http.StatusTooManyRequests ||
		!bytes.Contains(rec.Body.Bytes(), []byte(`"rate_limited"`)) || !bytes.Contains(rec.Body.Bytes(), []byte("Too many attempts; wait a minute.")) {
		t.Errorf("the right password within the minute: %d %s, want 429 rate_limited", rec.Code, rec.Body)
	}
}

// Two instances over one database share the counts: 12 failures spread
// over both reach the limit.
func TestLoginLimitsAreSharedByInstances(t *testing.T) {
	h := newHarness(t)
	h.user("victim@example.com")
	instances := []http.Handler{h.handler, h.instance().handler}
	var codes []int
	for i := range 12 {
		codes = append(codes, loginFrom(instances[i%2], "192.0.2.10:5000", "victim@example.com", "wrong horse").Code)
	}
	for i, code := range codes {
		want := http.StatusUnauthorized
		if i >= 10 {
			want = http.StatusTooManyRequests
		}
		if code != want {
			t.Errorf("answers %v: the 10 first should be 401, the others 429", codes)
			break
		}
	}
}

// Behind a trusted proxy each client has its own address bucket: a flood
// of failures with random emails from one client locks out that client,
// and no one else, whatever it writes in X-Forwarded-For.
func TestAFloodFromOneClientLocksOutNoOneElse(t *testing.T) {
	h := newHarness(t, options{trustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	h.user("bob@example.com")
	const proxy, flooder, bob = "10.0.0.2:41000", "203.0.113.7", "198.51.100.8"
	codes := concurrently(120, func(i int) int {
		// The left part is the flooder's to write: it must not count.
		xff := fmt.Sprintf("192.0.2.%d, %s", i%250, flooder)
		return loginFrom(h.handler, proxy, fmt.Sprintf("random%d@example.com", i), "wrong horse", "X-Forwarded-For", xff).Code
	})
	if codes[http.StatusUnauthorized] != 100 || codes[http.StatusTooManyRequests] != 20 {
		t.Errorf("flood answers %v, want 100 × 401 and 20 × 429 (the address limit)", codes)
	}
	if rec := loginFrom(h.handler, proxy, "bob@example.com", "correct horse", "X-Forwarded-For", bob); rec.Code != http.StatusNoContent {
		t.Errorf("bob through the same proxy: %d %s, want 204", rec.Code, rec.Body)
	}
	// Two proxies in a row, both trusted: the client is left of them.
	if rec := loginFrom(h.handler, proxy, "bob@example.com", "correct horse", "X-Forwarded-For", bob+", 10.1.1.1"); rec.Code != http.StatusNoContent {
		t.Errorf("bob through two proxies: %d %s, want 204", rec.Code, rec.Body)
	}
	if rec := loginFrom(h.handler, proxy, "bob@example.com", "correct horse", "X-Forwarded-For", flooder); rec.Code != http.StatusTooManyRequests {
		t.Errorf("bob from the flooding address: %d, want 429", rec.Code)
	}
	// From a peer that is not a trusted proxy, X-Forwarded-For is ignored:
	// the flooder cannot pass for bob.
	if rec := loginFrom(h.handler, flooder+":5000", "bob@example.com", "correct horse", "X-Forwarded-For", bob); rec.Code != http.StatusTooManyRequests {
		t.Errorf("the flooder directly, claiming bob's address: %d, want 429", rec.Code)
	}
}

func TestClientAddress(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"203.0.113.7:5000", nil, "203.0.113.7"},
		{"203.0.113.7:5000", []string{"198.51.100.8"}, "203.0.113.7"}, // not a proxy of ours
		{"10.0.0.2:5000", nil, "10.0.0.2"},
		{"10.0.0.2:5000", []string{"198.51.100.8"}, "198.51.100.8"},
		{"10.0.0.2:5000", []string{"1.2.3.4, 198.51.100.8"}, "198.51.100.8"},
		{"10.0.0.2:5000", []string{"1.2.3.4", "198.51.100.8, 10.9.9.9"}, "198.51.100.8"}, // two headers, two proxies
		{"10.0.0.2:5000", []string{"10.0.0.5, 10.0.0.4"}, "10.0.0.5"},                    // all trusted: the left-most
		{"10.0.0.2:5000", []string{"198.51.100.8, nonsense"}, "10.0.0.2"},                // garbage from our proxy: the proxy
		{"10.0.0.2:5000", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"[::ffff:10.0.0.2]:5000", []string{"::ffff:198.51.100.8"}, "198.51.100.8"},
		{"[2001:db8:ffff::1]:5000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"not an address", []string{"198.51.100.8"}, "invalid IP"},
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		if got := httpapi.ClientAddress(req, trusted).String(); got != tc.want {
			t.Errorf("%s with %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

// The access log names the client as the login limits count it.
func TestAccessLogNamesTheClient(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	h := newHarness(t, options{log: zap.New(core), trustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	for _, tc := range []struct{ remote, xff, want string }{
		{"10.0.0.2:41000", "198.51.100.8", "198.51.100.8"},
		{"203.0.113.7:5000", "198.51.100.8", "203.0.113.7"},
	} {
		logs.TakeAll()
		loginFrom(h.handler, tc.remote, "nobody@example.com", "wrong horse", "X-Forwarded-For", tc.xff)
		lines := logs.FilterMessage("request").All()
		if len(lines) != 1 || lines[0].ContextMap()["client"] != tc.want {
			t.Errorf("from %s with X-Forwarded-For %s: access log %v, want client %s", tc.remote, tc.xff, lines, tc.want)
		}
	}
}
