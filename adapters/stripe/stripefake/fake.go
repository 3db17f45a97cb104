// Package stripefake is a small stateful fake of the Stripe API for tests:
// it serves the subscriptions, checkout sessions and invoices a test puts
// in it, rendered in API version 2023-10-16. stripe-mock, being stateless,
// cannot say what a subscription looks like now. Of the writes it serves
// only the update of a subscription's price or cancel_at_period_end.
package stripefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/safeclose/billing/adapters/stripe"
)

// Server is the fake API. It is safe for concurrent use.
type Server struct {
	*httptest.Server
	factory *stripe.Factory

	mu      sync.Mutex
	objects map[string]map[string]any // "/v1/<kind>/<id>" → object
	queries map[string][]url.Values   // path → the query of each GET

	// Requests counts the API requests served.
	Requests atomic.Int64
	// Down makes every request answer 500.
	Down atomic.Bool
}

// New starts a fake serving objects rendered by factory.
func New(factory *stripe.Factory) *Server {
	s := &Server{factory: factory, objects: map[string]map[string]any{}, queries: map[string][]url.Values{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetSubscription makes the API report the subscription as spec says.
func (s *Server) SetSubscription(spec stripe.SubscriptionSpec) {
	s.put("/v1/subscriptions/"+spec.SubscriptionID, s.factory.Subscription(spec))
}

// SetCheckoutSession makes the API report a completed checkout session.
func (s *Server) SetCheckoutSession(id string, spec stripe.SubscriptionSpec) {
	s.put("/v1/checkout/sessions/"+id, s.factory.CheckoutSession(id, spec))
}

// SetUpcomingInvoice makes GET /v1/invoices/upcoming (which stripe-mock
// does not serve) answer the invoice, whatever its query.
func (s *Server) SetUpcomingInvoice(spec stripe.SubscriptionSpec, in stripe.InvoiceSpec) {
	s.put("/v1/invoices/upcoming", s.factory.Invoice(spec, in))
}

// Queries returns the query of each GET of path served so far.
func (s *Server) Queries(path string) []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.queries[path]...)
}

// SetExpiredCheckoutSession makes the API report a checkout session that
// expired unpaid.
func (s *Server) SetExpiredCheckoutSession(id string, spec stripe.SubscriptionSpec) {
	s.put("/v1/checkout/sessions/"+id, s.factory.ExpiredCheckoutSession(id, spec))
}

// SetInvoice makes the API report an invoice.
func (s *Server) SetInvoice(spec stripe.SubscriptionSpec, in stripe.InvoiceSpec) {
	s.put("/v1/invoices/"+in.InvoiceID, s.factory.Invoice(spec, in))
}

func (s *Server) put(path string, obj map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[path] = obj
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.Requests.Add(1)
	w.Header().Set("Content-Type", "application/json")
	if s.Down.Load() {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"type":"api_error","message":"fake outage"}}`))
		return
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/subscriptions/") && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer sk_") {
		s.update(w, r)
		return
	}
	if r.Method != http.MethodGet || !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer sk_") {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","message":"fake: only authenticated GET, and POST of a subscription"}}`))
		return
	}
	if r.URL.Path == "/v1/subscriptions" {
		_ = json.NewEncoder(w).Encode(s.subscriptionsOf(r.URL.Query().Get("customer")))
		return
	}
	s.mu.Lock()
	obj, ok := s.objects[r.URL.Path]
	s.queries[r.URL.Path] = append(s.queries[r.URL.Path], r.URL.Query())
	s.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such object"}}`))
		return
	}
	_ = json.NewEncoder(w).Encode(obj)
}

// subscriptionsOf is the list GET /v1/subscriptions?customer= answers:
// every subscription put in the fake whose customer is the one asked.
func (s *Server) subscriptionsOf(customer string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	data := []map[string]any{}
	for path, obj := range s.objects {
		if strings.HasPrefix(path, "/v1/subscriptions/") && (customer == "" || obj["customer"] == customer) {
			data = append(data, obj)
		}
	}
	sort.Slice(data, func(i, j int) bool { return fmt.Sprint(data[i]["id"]) < fmt.Sprint(data[j]["id"]) })
	return map[string]any{"object": "list", "url": "/v1/subscriptions", "has_more": false, "data": data}
}

// update applies POST /v1/subscriptions/{id} to the stored subscription,
// as Stripe would for the service's changes: items[0][price] moves its
// item to that price, cancel_at_period_end sets it (and cancel_at). It
// answers the subscription as it now is; other parameters are ignored.
func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","message":"fake: unreadable form"}}`))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, ok := s.objects[r.URL.Path]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such subscription"}}`))
		return
	}
	if price := r.PostForm.Get("items[0][price]"); price != "" {
		if items, ok := obj["items"].(map[string]any); ok {
			if data, ok := items["data"].([]any); ok && len(data) > 0 {
				if item, ok := data[0].(map[string]any); ok {
					if p, ok := item["price"].(map[string]any); ok {
						p["id"] = price
					}
				}
			}
		}
	}
	if v := r.PostForm.Get("cancel_at_period_end"); v != "" {
		cancel := v == "true"
		obj["cancel_at_period_end"], obj["cancel_at"] = cancel, nil
		if cancel {
			obj["cancel_at"] = obj["current_period_end"]
		}
	}
	_ = json.NewEncoder(w).Encode(obj)
}
